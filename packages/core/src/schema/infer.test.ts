import { describe, expect, it } from 'vitest';
import { NOT_COERCIBLE, coerceValue, inferDataType, parseTimestamp, widenType } from './infer.ts';

describe('inferDataType', () => {
  it.each([
    [1, 'bigint'],
    [-42, 'bigint'],
    [2 ** 53 - 1, 'bigint'],
    [2 ** 53, 'double'],
    [1.5, 'double'],
    [10n ** 18n, 'bigint'],
    [2n ** 64n, 'decimal'],
    [true, 'bool'],
    ['hello', 'text'],
    ['2023-05-27 21:05:16.109548+00:00', 'timestamp'],
    ['2024-03-25', 'date'],
    ['2024-02-30', 'text'],
    ['1234567890', 'text'],
    [new Date('2024-01-01T00:00:00Z'), 'timestamp'],
    [{ a: 1 }, 'json'],
    [[1, 2], 'json'],
  ])('%s → %s', (value, expected) => {
    expect(inferDataType(value)).toBe(expected);
  });

  it('returns undefined for null, undefined and invalid dates', () => {
    expect(inferDataType(null)).toBeUndefined();
    expect(inferDataType(undefined)).toBeUndefined();
    expect(inferDataType(new Date('nope'))).toBeUndefined();
  });
});

describe('parseTimestamp', () => {
  it.each([
    // every form the dbt Cloud API sends
    ['2023-05-27 21:05:16.109548+00:00', '2023-05-27T21:05:16.109548Z'],
    ['2021-11-18T15:19:03.185668+00:00', '2021-11-18T15:19:03.185668Z'],
    ['2024-03-25T13:47:20.129690Z', '2024-03-25T13:47:20.129690Z'],
    ['2022-05-05 06:51:10+00:00', '2022-05-05T06:51:10.000000Z'],
    // fractions of 1–9 digits
    ['2024-01-01T00:00:00.1Z', '2024-01-01T00:00:00.100000Z'],
    ['2024-01-01T00:00:00.12Z', '2024-01-01T00:00:00.120000Z'],
    ['2024-01-01T00:00:00.123Z', '2024-01-01T00:00:00.123000Z'],
    ['2024-01-01T00:00:00.1234567Z', '2024-01-01T00:00:00.123456Z'],
    ['2024-01-01T00:00:00.123456789Z', '2024-01-01T00:00:00.123456Z'],
    ['2024-01-01T00:00:00,5Z', '2024-01-01T00:00:00.500000Z'],
    // zone forms
    ['2024-01-01t10:00:00z', '2024-01-01T10:00:00.000000Z'],
    ['2024-01-01T10:00:00', '2024-01-01T10:00:00.000000Z'],
    ['2024-01-01T10:00:00+0200', '2024-01-01T08:00:00.000000Z'],
    ['2024-01-01T10:00:00+02', '2024-01-01T08:00:00.000000Z'],
    ['2024-01-01T10:00:00-05:00', '2024-01-01T15:00:00.000000Z'],
    // microsecond-exact conversion across midnight, month, year and leap day
    ['2024-01-01T03:00:00.654321+05:30', '2023-12-31T21:30:00.654321Z'],
    ['2023-12-31T23:59:59.999999-00:01', '2024-01-01T00:00:59.999999Z'],
    ['2024-02-28T22:00:00.000001-03:00', '2024-02-29T01:00:00.000001Z'],
    ['2023-02-28T22:00:00.000001-03:00', '2023-03-01T01:00:00.000001Z'],
  ])('%s → %s', (input, expected) => {
    expect(parseTimestamp(input)).toBe(expected);
  });

  it('converts +05:30 to UTC exactly, microseconds kept', () => {
    expect(parseTimestamp('2023-05-27 21:05:16.109548+05:30')).toBe('2023-05-27T15:35:16.109548Z');
  });

  it.each([
    '2024-13-01T00:00:00Z',
    '2023-02-29T00:00:00Z',
    '2024-02-30T00:00:00Z',
    '2024-01-01T24:00:00Z',
    '2024-01-01T23:60:00Z',
    '2024-01-01T23:00:61Z',
    '2024-01-01T10:00:00.Z',
    '2024-01-01T10:00:00.1234567890Z',
    '2024-01-01T10:00:00+5',
    '2024-01-01T10:00:00+05:3',
    '2024-01-01T10:00:00Zx',
    '2024-01-01X10:00:00Z',
    '20240101T100000Z',
    '1700000000',
    '1700000000.123456789',
    'not a timestamp at all',
    '2024-01-01',
  ])('rejects %s', (input) => {
    expect(parseTimestamp(input)).toBeUndefined();
  });
});

describe('coerceValue', () => {
  it('coerces anything to text', () => {
    expect(coerceValue(5, 'text')).toBe('5');
    expect(coerceValue(1.5, 'text')).toBe('1.5');
    expect(coerceValue(true, 'text')).toBe('true');
    expect(coerceValue(2n ** 70n, 'text')).toBe('1180591620717411303424');
    expect(coerceValue({ a: [1, 'x'] }, 'text')).toBe('{"a":[1,"x"]}');
    expect(coerceValue({ big: 2n ** 70n }, 'text')).toBe('{"big":"1180591620717411303424"}');
  });

  it('keeps integers past 2^53 exact as bigint', () => {
    expect(coerceValue('9007199254740993', 'bigint')).toBe(9007199254740993n);
    expect(coerceValue('9223372036854775807', 'bigint')).toBe(9223372036854775807n);
    expect(coerceValue(9007199254740993n, 'bigint')).toBe(9007199254740993n);
    expect(coerceValue(70403104191314n, 'bigint')).toBe(70403104191314);
    expect(coerceValue('70403104191314', 'bigint')).toBe(70403104191314);
    expect(coerceValue('9223372036854775808', 'bigint')).toBe(NOT_COERCIBLE);
    expect(coerceValue('12.5', 'bigint')).toBe(NOT_COERCIBLE);
    expect(coerceValue(12.5, 'bigint')).toBe(NOT_COERCIBLE);
    expect(coerceValue(true, 'bigint')).toBe(NOT_COERCIBLE);
  });

  it('coerces numbers to double', () => {
    expect(coerceValue(3, 'double')).toBe(3);
    expect(coerceValue(3n, 'double')).toBe(3);
    expect(coerceValue('3.25', 'double')).toBe(3.25);
    expect(coerceValue('abc', 'double')).toBe(NOT_COERCIBLE);
    expect(coerceValue(Number.NaN, 'double')).toBe(NOT_COERCIBLE);
  });

  it('coerces booleans and their text', () => {
    expect(coerceValue(true, 'bool')).toBe(true);
    expect(coerceValue('true', 'bool')).toBe(true);
    expect(coerceValue('FALSE', 'bool')).toBe(false);
    expect(coerceValue('yes', 'bool')).toBe(NOT_COERCIBLE);
    expect(coerceValue(1, 'bool')).toBe(NOT_COERCIBLE);
  });

  it('coerces timestamps, dates and Date objects', () => {
    expect(coerceValue('2022-05-05 06:51:10+00:00', 'timestamp')).toBe('2022-05-05T06:51:10.000000Z');
    expect(coerceValue('2022-05-05', 'timestamp')).toBe('2022-05-05T00:00:00.000000Z');
    expect(coerceValue(new Date(Date.UTC(2024, 0, 2, 3, 4, 5, 678)), 'timestamp')).toBe(
      '2024-01-02T03:04:05.678000Z',
    );
    expect(coerceValue(1700000000, 'timestamp')).toBe(NOT_COERCIBLE);
    expect(coerceValue('yesterday', 'timestamp')).toBe(NOT_COERCIBLE);
    expect(coerceValue('2022-05-05', 'date')).toBe('2022-05-05');
    expect(coerceValue('2022-05-05T00:00:00Z', 'date')).toBe(NOT_COERCIBLE);
  });

  it('coerces numbers to decimal digit strings', () => {
    expect(coerceValue('12.50', 'decimal')).toBe('12.50');
    expect(coerceValue('+3', 'decimal')).toBe('3');
    expect(coerceValue(12.5, 'decimal')).toBe('12.5');
    expect(coerceValue(1e-7, 'decimal')).toBe('0.0000001');
    expect(coerceValue(1e21, 'decimal')).toBe('1000000000000000000000');
    expect(coerceValue(2n ** 70n, 'decimal')).toBe('1180591620717411303424');
    expect(coerceValue('1.5e3', 'decimal')).toBe('1500');
    expect(coerceValue('abc', 'decimal')).toBe(NOT_COERCIBLE);
  });

  it('keeps json values as they are', () => {
    const value = { a: [1, 2] };
    expect(coerceValue(value, 'json')).toBe(value);
    expect(coerceValue('text', 'json')).toBe('text');
  });
});

describe('widenType', () => {
  it('widens bigint to double and date to timestamp', () => {
    expect(widenType('bigint', 'double')).toBe('double');
    expect(widenType('double', 'bigint')).toBe('double');
    expect(widenType('date', 'timestamp')).toBe('timestamp');
    expect(widenType('timestamp', 'date')).toBe('timestamp');
    expect(widenType('text', 'text')).toBe('text');
  });

  it('does not widen where information would be lost', () => {
    expect(widenType('bigint', 'text')).toBeUndefined();
    expect(widenType('bool', 'bigint')).toBeUndefined();
    expect(widenType('timestamp', 'text')).toBeUndefined();
    expect(widenType('json', 'text')).toBeUndefined();
  });
});
