import { describe, expect, it } from 'vitest';
import {
  formatNaiveUtc,
  normalizeDatetimesDeep,
  normalizeDbtDatetime,
  parseDbtDatetime,
} from './dbt-cloud-datetime.ts';
import { parseJsonExact, stringifyJsonExact } from './dbt-cloud-json.ts';

describe('dbt Cloud datetimes', () => {
  it('normalizes every observed form to UTC ISO with microseconds', () => {
    expect(normalizeDbtDatetime('2023-05-27 21:05:16.109548+00:00')).toBe('2023-05-27T21:05:16.109548Z');
    expect(normalizeDbtDatetime('2021-11-18T15:19:03.185668+00:00')).toBe('2021-11-18T15:19:03.185668Z');
    expect(normalizeDbtDatetime('2024-03-25T13:47:20.129690Z')).toBe('2024-03-25T13:47:20.129690Z');
    expect(normalizeDbtDatetime('2022-05-05 06:51:10+00:00')).toBe('2022-05-05T06:51:10.000000Z');
    expect(normalizeDbtDatetime('2022-05-05T08:51:10.5+02:00')).toBe('2022-05-05T06:51:10.500000Z');
    expect(normalizeDbtDatetime('2022-05-05T06:51:10')).toBe('2022-05-05T06:51:10.000000Z');
    expect(normalizeDbtDatetime('00:01:50')).toBe('00:01:50');
    expect(parseDbtDatetime('2 weeks ago')).toBeUndefined();
    expect(formatNaiveUtc(parseDbtDatetime('2024-09-09 11:01:05.436229+00:00')!)).toBe(
      '2024-09-09T11:01:05.436229',
    );
  });

  it('walks nested rows, leaving durations and humanized text alone', () => {
    expect(
      normalizeDatetimesDeep({
        a: '2022-05-05 06:51:10+00:00',
        d: '00:07:42',
        h: '3 hours ago',
        n: [{ t: '2024-03-25T13:47:20.129690Z' }],
        x: 5,
      }),
    ).toEqual({
      a: '2022-05-05T06:51:10.000000Z',
      d: '00:07:42',
      h: '3 hours ago',
      n: [{ t: '2024-03-25T13:47:20.129690Z' }],
      x: 5,
    });
  });
});

describe('exact JSON', () => {
  it('keeps integers past 2^53 as bigint and safe ones as number', () => {
    const v = parseJsonExact(
      '{"big":9007199254740993,"neg":-9007199254740993,"id":70403104191314,"f":1.5,"e":1e300}',
    ) as Record<string, unknown>;
    expect(v).toEqual({
      big: 9007199254740993n,
      neg: -9007199254740993n,
      id: 70403104191314,
      f: 1.5,
      e: 1e300,
    });
    expect(stringifyJsonExact(v)).toBe(
      '{"big":9007199254740993,"neg":-9007199254740993,"id":70403104191314,"f":1.5,"e":1e+300}',
    );
  });
});
