import { describe, expect, it } from 'vitest';
import { parseJson, stableStringify, stringifyJson } from './json.ts';

describe('lossless JSON', () => {
  it('keeps integers past 2^53 exact as bigint and leaves safe ones as numbers', () => {
    const v = parseJson(
      '{"big": 12345678901234567890, "id": 70403104191314, "f": 1.5, "neg": -9007199254740993}',
    ) as Record<string, unknown>;
    expect(v.big).toBe(12345678901234567890n);
    expect(v.id).toBe(70403104191314);
    expect(v.f).toBe(1.5);
    expect(v.neg).toBe(-9007199254740993n);
  });

  it('writes bigint as an exact literal and round-trips', () => {
    const text = stringifyJson({ big: 12345678901234567890n, nested: [1n, { x: 2 }] });
    expect(text).toBe('{"big":12345678901234567890,"nested":[1,{"x":2}]}');
    expect(parseJson(text)).toEqual({ big: 12345678901234567890n, nested: [1, { x: 2 }] });
  });

  it('stable stringify sorts keys', () => {
    expect(stableStringify({ b: 1, a: [2, { d: 1, c: 2 }] })).toBe('{"a":[2,{"c":2,"d":1}],"b":1}');
  });
});
