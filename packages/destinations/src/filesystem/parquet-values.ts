/** Decimal precision every Ferry decimal column is written with (the writer gets no per-column precision). */
export const DECIMAL_PRECISION = 38;
/** Decimal scale, matching the SQL destinations' `DECIMAL(38, 9)` default. */
export const DECIMAL_SCALE = 9;

const MS_PER_DAY = 86_400_000;

function num(text: string, start: number, width: number): number {
  let n = 0;
  for (let i = start; i < start + width; i++) n = n * 10 + (text.charCodeAt(i) - 48);
  return n;
}

function utcMillis(year: number, month: number, day: number, h = 0, m = 0, s = 0): number {
  const ms = Date.UTC(year, month - 1, day, h, m, s);
  if (year >= 100) return ms;
  // Date.UTC maps years 0–99 to 1900–1999; set the year explicitly.
  const d = new Date(ms);
  d.setUTCFullYear(year);
  return d.getTime();
}

/**
 * Canonical timestamp text ('YYYY-MM-DDTHH:MM:SS.ffffffZ', what the normalizer writes) → microseconds
 * since the epoch as a bigint, exactly (a JS Date would drop the microseconds).
 */
export function timestampMicros(text: string): bigint {
  if (text.length !== 27 || text.charCodeAt(10) !== 84 || text.charCodeAt(26) !== 90) {
    throw new TypeError(`'${text}' is not a canonical UTC timestamp (YYYY-MM-DDTHH:MM:SS.ffffffZ)`);
  }
  const ms = utcMillis(
    num(text, 0, 4),
    num(text, 5, 2),
    num(text, 8, 2),
    num(text, 11, 2),
    num(text, 14, 2),
    num(text, 17, 2),
  );
  const micros = num(text, 20, 6);
  const total = ms * 1000 + micros;
  return Number.isSafeInteger(total) ? BigInt(total) : BigInt(ms) * 1000n + BigInt(micros);
}

/** 'YYYY-MM-DD' → days since the epoch (Parquet DATE). */
export function dateDays(text: string): number {
  return Math.floor(utcMillis(num(text, 0, 4), num(text, 5, 2), num(text, 8, 2)) / MS_PER_DAY);
}

/**
 * Decimal digit text → the unscaled integer at `scale` (`'12.5'` at scale 2 → `1250n`). Digits past the
 * scale are truncated toward zero, as a cast to DECIMAL(38, 9) would round them away anyway.
 */
export function decimalUnscaled(text: string, scale = DECIMAL_SCALE): bigint {
  let t = text;
  let sign = '';
  if (t[0] === '-' || t[0] === '+') {
    if (t[0] === '-') sign = '-';
    t = t.slice(1);
  }
  const dot = t.indexOf('.');
  const intPart = dot < 0 ? t : t.slice(0, dot);
  const frac = dot < 0 ? '' : t.slice(dot + 1);
  const digits = `${intPart || '0'}${frac.slice(0, scale).padEnd(scale, '0')}`;
  if (!/^\d+$/.test(digits)) throw new TypeError(`'${text}' is not a decimal number`);
  return BigInt(sign + digits);
}

/** A bigint column value (JS number or bigint) → bigint, as INT64 writers need. */
export function int64(value: unknown): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isInteger(value)) return BigInt(value);
  if (typeof value === 'string' && /^[+-]?\d+$/.test(value)) return BigInt(value);
  throw new TypeError(`${String(value)} is not an integer`);
}
