import type { DataType } from './types.ts';

/** Returned by {@link coerceValue} when a value cannot be represented in the requested type. */
export const NOT_COERCIBLE: unique symbol = Symbol('ferry.notCoercible');

const INT64_MIN = -(2n ** 63n);
const INT64_MAX = 2n ** 63n - 1n;

/**
 * Data type of a JS value, or undefined for null/undefined. number: safe integer → 'bigint', other finite →
 * 'double'; bigint → 'bigint' ('decimal' past the int64 range, which no warehouse bigint holds); boolean →
 * 'bool'; Date → 'timestamp' (an invalid Date counts as null); string: ISO timestamp → 'timestamp',
 * 'YYYY-MM-DD' → 'date', else 'text'; object/array → 'json'.
 */
export function inferDataType(value: unknown): DataType | undefined {
  switch (typeof value) {
    case 'string':
      return inferStringType(value);
    case 'number':
      return Number.isSafeInteger(value) ? 'bigint' : 'double';
    case 'boolean':
      return 'bool';
    case 'bigint':
      return value >= INT64_MIN && value <= INT64_MAX ? 'bigint' : 'decimal';
    case 'object':
      if (value === null) return undefined;
      if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : 'timestamp';
      return 'json';
    case 'undefined':
      return undefined;
    default:
      // functions and symbols are not data; text is the least surprising home for them
      return 'text';
  }
}

function inferStringType(value: string): DataType {
  const len = value.length;
  // Fast path: only strings shaped like `YYYY-MM-...` can be dates or timestamps.
  if (len >= 10 && value.charCodeAt(4) === 45 && value.charCodeAt(7) === 45) {
    if (len === 10) {
      if (isIsoDate(value)) return 'date';
    } else if (len >= 19 && parseTimestamp(value) !== undefined) {
      return 'timestamp';
    }
  }
  return 'text';
}

function digit(text: string, i: number): number {
  const c = text.charCodeAt(i) - 48;
  return c >= 0 && c <= 9 ? c : -1;
}

/** Reads `n` digits at `i` as a number, or -1 when any is not a digit. */
function digits(text: string, i: number, n: number): number {
  let v = 0;
  for (let k = 0; k < n; k++) {
    const d = digit(text, i + k);
    if (d < 0) return -1;
    v = v * 10 + d;
  }
  return v;
}

function isLeapYear(y: number): boolean {
  return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0;
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(y: number, m: number): number {
  return m === 2 && isLeapYear(y) ? 29 : DAYS_IN_MONTH[m - 1]!;
}

/** True for a valid calendar date written exactly `YYYY-MM-DD`. */
export function isIsoDate(text: string): boolean {
  if (text.length !== 10 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return false;
  const y = digits(text, 0, 4);
  const m = digits(text, 5, 2);
  const d = digits(text, 8, 2);
  return y >= 0 && m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

/**
 * Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's days_from_civil): exact integer
 * calendar arithmetic, used for offset shifts here and by binary writers that encode dates as day counts.
 */
export function daysFromCivil(y: number, m: number, d: number): number {
  y -= m <= 2 ? 1 : 0;
  const era = Math.floor(y / 400);
  const yoe = y - era * 400;
  const doy = Math.floor((153 * (m + (m > 2 ? -3 : 9)) + 2) / 5) + d - 1;
  const doe = yoe * 365 + Math.floor(yoe / 4) - Math.floor(yoe / 100) + doy;
  return era * 146097 + doe - 719468;
}

function civilFromDays(z: number): [number, number, number] {
  z += 719468;
  const era = Math.floor(z / 146097);
  const doe = z - era * 146097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36524) - Math.floor(doe / 146096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const d = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const m = mp < 10 ? mp + 3 : mp - 9;
  return [yoe + era * 400 + (m <= 2 ? 1 : 0), m, d];
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/**
 * Any ISO-like timestamp → canonical UTC 'YYYY-MM-DDTHH:MM:SS.ffffffZ' (always 6 fraction digits), or
 * undefined. Accepts `T`/`t`/space as separator, 0–9 fraction digits after `.` or `,` (truncated past 6),
 * `Z`/`z`, `±HH:MM`, `±HHMM`, `±HH` or no offset (UTC). Offsets are applied with integer arithmetic, so
 * microseconds survive exactly (a JS Date would keep milliseconds only).
 */
export function parseTimestamp(text: string): string | undefined {
  const len = text.length;
  if (len < 19 || text.charCodeAt(4) !== 45 || text.charCodeAt(7) !== 45) return undefined;
  const sep = text.charCodeAt(10);
  if ((sep !== 84 && sep !== 32 && sep !== 116) || text.charCodeAt(13) !== 58 || text.charCodeAt(16) !== 58) {
    return undefined;
  }
  // Already canonical (the common case on re-normalize): validate and return the same string.
  const canonical = len === 27 && sep === 84 && text.charCodeAt(19) === 46 && text.charCodeAt(26) === 90;
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 0 || month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return undefined;
  let i = 19;
  let micros = 0;
  let fracDigits = 0;
  const dot = text.charCodeAt(19);
  if (dot === 46 || dot === 44) {
    i = 20;
    while (i < len) {
      const d = digit(text, i);
      if (d < 0) break;
      if (fracDigits < 6) micros = micros * 10 + d;
      fracDigits++;
      i++;
    }
    if (fracDigits === 0 || fracDigits > 9) return undefined;
    for (let k = fracDigits; k < 6; k++) micros *= 10;
  }
  let offsetMinutes = 0;
  if (i < len) {
    const c = text.charCodeAt(i);
    if (c === 90 || c === 122) {
      if (i + 1 !== len) return undefined;
    } else if (c === 43 || c === 45) {
      const rest = len - i - 1;
      const oh = digits(text, i + 1, 2);
      let om: number;
      if (rest === 2) om = 0;
      else if (rest === 4) om = digits(text, i + 3, 2);
      else if (rest === 5 && text.charCodeAt(i + 3) === 58) om = digits(text, i + 4, 2);
      else return undefined;
      if (oh < 0 || oh > 23 || om < 0 || om > 59) return undefined;
      offsetMinutes = (c === 45 ? -1 : 1) * (oh * 60 + om);
    } else {
      return undefined;
    }
  }
  if (canonical) return text;
  const micros6 = fracDigits === 6 ? text.slice(20, 26) : String(1_000_000 + micros).slice(1);
  // UTC input (the usual `+00:00`/`Z`): the validated date and time text is reused as it is.
  if (offsetMinutes === 0) return `${text.slice(0, 10)}T${text.slice(11, 19)}.${micros6}Z`;
  let y = year;
  let mo = month;
  let d = day;
  let h = hour;
  let mi = minute;
  if (offsetMinutes !== 0) {
    const total = daysFromCivil(year, month, day) * 1440 + hour * 60 + minute - offsetMinutes;
    const days = Math.floor(total / 1440);
    const inDay = total - days * 1440;
    [y, mo, d] = civilFromDays(days);
    h = Math.floor(inDay / 60);
    mi = inDay % 60;
  }
  return `${pad(y, 4)}-${pad(mo, 2)}-${pad(d, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(second, 2)}.${micros6}Z`;
}

/** A valid Date → canonical timestamp (`000` microseconds appended to its milliseconds). */
export function dateToTimestamp(value: Date): string | undefined {
  if (Number.isNaN(value.getTime())) return undefined;
  const iso = value.toISOString();
  return `${iso.slice(0, -1)}000Z`;
}

const INTEGER_TEXT = /^[+-]?\d+$/;
const NUMERIC_TEXT = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

function toCanonicalBigint(value: bigint): number | bigint {
  return value >= -9007199254740991n && value <= 9007199254740991n ? Number(value) : value;
}

/** A number's exact decimal digits without exponent notation (`1e-7` → `0.0000001`). */
function plainDecimal(text: string): string {
  const e = text.search(/[eE]/);
  if (e < 0) return text;
  let mantissa = text.slice(0, e);
  const exponent = Number(text.slice(e + 1));
  let sign = '';
  if (mantissa[0] === '-' || mantissa[0] === '+') {
    if (mantissa[0] === '-') sign = '-';
    mantissa = mantissa.slice(1);
  }
  const dotAt = mantissa.indexOf('.');
  const intPart = dotAt < 0 ? mantissa : mantissa.slice(0, dotAt);
  const fracPart = dotAt < 0 ? '' : mantissa.slice(dotAt + 1);
  const all = intPart + fracPart;
  const point = intPart.length + exponent;
  let out: string;
  if (point <= 0) out = `0.${'0'.repeat(-point)}${all}`;
  else if (point >= all.length) out = all + '0'.repeat(point - all.length);
  else out = `${all.slice(0, point)}.${all.slice(point)}`;
  out = out.replace(/^0+(?=\d)/, '');
  return sign + out;
}

function jsonText(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    // bigints nested in json: JSON.stringify refuses them; write their digits
    return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
  }
}

/**
 * Coerce a value into a column type, returning its canonical form (see {@link inferDataType}): bigint → JS
 * number when safe, else JS bigint; double → number; bool → boolean; text → string; timestamp → canonical
 * string; date → 'YYYY-MM-DD'; decimal → digit string; json → the value. Returns NOT_COERCIBLE (an exported
 * unique symbol) when it cannot; the caller then widens the column or writes a variant column.
 */
export function coerceValue(value: unknown, to: DataType): unknown {
  if (value === null || value === undefined) return value;
  switch (to) {
    case 'text':
      switch (typeof value) {
        case 'string':
          return value;
        case 'number':
        case 'boolean':
        case 'bigint':
          return String(value);
        case 'object':
          if (value instanceof Date) return dateToTimestamp(value) ?? NOT_COERCIBLE;
          return jsonText(value);
        default:
          return NOT_COERCIBLE;
      }
    case 'bigint':
      if (typeof value === 'number') {
        if (Number.isSafeInteger(value)) return value;
        return Number.isInteger(value) ? inInt64(BigInt(value)) : NOT_COERCIBLE;
      }
      if (typeof value === 'bigint') return inInt64(value);
      if (typeof value === 'string' && value.length > 0 && value.length <= 21 && INTEGER_TEXT.test(value)) {
        return value.length <= 15 ? Number(value) : inInt64(BigInt(value));
      }
      return NOT_COERCIBLE;
    case 'double':
      if (typeof value === 'number') return Number.isFinite(value) ? value : NOT_COERCIBLE;
      if (typeof value === 'bigint') return Number(value);
      if (typeof value === 'string' && NUMERIC_TEXT.test(value)) {
        const n = Number(value);
        return Number.isFinite(n) ? n : NOT_COERCIBLE;
      }
      return NOT_COERCIBLE;
    case 'bool':
      if (typeof value === 'boolean') return value;
      if (typeof value === 'string') {
        const lower = value.length === 4 || value.length === 5 ? value.toLowerCase() : '';
        if (lower === 'true') return true;
        if (lower === 'false') return false;
      }
      return NOT_COERCIBLE;
    case 'timestamp':
      if (typeof value === 'string') {
        if (value.length === 10) return isIsoDate(value) ? `${value}T00:00:00.000000Z` : NOT_COERCIBLE;
        return parseTimestamp(value) ?? NOT_COERCIBLE;
      }
      if (value instanceof Date) return dateToTimestamp(value) ?? NOT_COERCIBLE;
      return NOT_COERCIBLE;
    case 'date':
      return typeof value === 'string' && isIsoDate(value) ? value : NOT_COERCIBLE;
    case 'decimal':
      if (typeof value === 'number') {
        if (!Number.isFinite(value)) return NOT_COERCIBLE;
        return Number.isInteger(value) && !Number.isSafeInteger(value)
          ? BigInt(value).toString()
          : plainDecimal(String(value));
      }
      if (typeof value === 'bigint') return value.toString();
      if (typeof value === 'string' && NUMERIC_TEXT.test(value)) {
        const text = value[0] === '+' ? value.slice(1) : value;
        return plainDecimal(text);
      }
      return NOT_COERCIBLE;
    case 'json':
      // A json column holds any JSON value; nested data stays as it came.
      if (typeof value === 'function' || typeof value === 'symbol') return NOT_COERCIBLE;
      return value instanceof Date ? (dateToTimestamp(value) ?? NOT_COERCIBLE) : value;
    default:
      return NOT_COERCIBLE;
  }
}

function inInt64(value: bigint): number | bigint | typeof NOT_COERCIBLE {
  return value >= INT64_MIN && value <= INT64_MAX ? toCanonicalBigint(value) : NOT_COERCIBLE;
}

/**
 * The type a column of type `from` should widen to when a value of type `to` arrives, or undefined (→ a
 * variant column). bigint+double → double; date+timestamp → timestamp; anything else would lose
 * information, so it is not widened.
 */
export function widenType(from: DataType, to: DataType): DataType | undefined {
  if (from === to) return from;
  if ((from === 'bigint' && to === 'double') || (from === 'double' && to === 'bigint')) return 'double';
  if ((from === 'date' && to === 'timestamp') || (from === 'timestamp' && to === 'date')) return 'timestamp';
  return undefined;
}
