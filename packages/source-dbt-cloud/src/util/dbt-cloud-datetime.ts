/**
 * dbt Cloud writes datetimes in several forms depending on the endpoint (API reference §5):
 * `2023-05-27 21:05:16.109548+00:00`, `2021-11-18T15:19:03.185668+00:00`, `2024-03-25T13:47:20.129690Z`,
 * `2022-05-05 06:51:10+00:00`. `Date.parse` handles some of them inconsistently, so this parser is
 * explicit: `T` or space, an optional 1–9 digit fraction, and `Z`, `±HH:MM`, `±HHMM` or nothing (UTC).
 */

const DATETIME =
  /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(Z|z|[+-]\d{2}(?::?\d{2})?)?$/;

/** A parsed datetime: epoch milliseconds plus the microseconds below the millisecond (0–999). */
export interface ParsedDatetime {
  /** Milliseconds since the epoch (UTC). */
  ms: number;
  /** Sub-millisecond microseconds, 0–999, so microsecond precision survives. */
  micros: number;
}

/** Parse a dbt Cloud datetime string; undefined when it is not one. */
export function parseDbtDatetime(text: string): ParsedDatetime | undefined {
  const m = DATETIME.exec(text);
  if (!m) return undefined;
  const [, y, mo, d, h, mi, s, frac, tz] = m;
  const fraction = (frac ?? '').padEnd(9, '0');
  const ms0 = Date.UTC(
    Number(y),
    Number(mo) - 1,
    Number(d),
    Number(h),
    Number(mi),
    Number(s ?? 0),
    Number(fraction.slice(0, 3)),
  );
  if (Number.isNaN(ms0)) return undefined;
  let offsetMin = 0;
  if (tz && tz !== 'Z' && tz !== 'z') {
    const sign = tz.startsWith('-') ? -1 : 1;
    const digits = tz.slice(1).replace(':', '');
    offsetMin = sign * (Number(digits.slice(0, 2)) * 60 + Number(digits.slice(2, 4) || 0));
  }
  return { ms: ms0 - offsetMin * 60_000, micros: Number(fraction.slice(3, 6)) };
}

/** Format as canonical UTC ISO-8601 with microseconds: `2023-05-27T21:05:16.109548Z` (sorts as text). */
export function formatIsoMicros(p: ParsedDatetime): string {
  const base = new Date(p.ms).toISOString(); // 2023-05-27T21:05:16.109Z
  return `${base.slice(0, 23)}${String(p.micros).padStart(3, '0')}Z`;
}

/** Normalize any observed dbt Cloud datetime form to {@link formatIsoMicros}; other strings pass through. */
export function normalizeDbtDatetime(text: string): string {
  const p = parseDbtDatetime(text);
  return p ? formatIsoMicros(p) : text;
}

/** Naive UTC form for `*__range` filters (`YYYY-MM-DDTHH:MM:SS.ffffff`): a tz offset there made the API fall back to day granularity. */
export function formatNaiveUtc(p: ParsedDatetime): string {
  return formatIsoMicros(p).slice(0, -1);
}

/** Compare two datetimes (negative, 0, positive). */
export function compareDatetimes(a: ParsedDatetime, b: ParsedDatetime): number {
  return a.ms - b.ms || a.micros - b.micros;
}

/** Subtract milliseconds from a parsed datetime. */
export function minusMs(p: ParsedDatetime, ms: number): ParsedDatetime {
  return { ms: p.ms - ms, micros: p.micros };
}

const LOOKS_LIKE_DATETIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}/;

/**
 * Walk a JSON value and normalize every datetime string in place-free fashion (returns a new value).
 * Only values that parse fully are touched; `*_humanized` strings and durations (`00:01:50`) are left alone.
 */
export function normalizeDatetimesDeep<T>(value: T): T {
  if (typeof value === 'string') {
    return (LOOKS_LIKE_DATETIME.test(value) ? normalizeDbtDatetime(value) : value) as T;
  }
  if (Array.isArray(value)) return value.map((v) => normalizeDatetimesDeep(v)) as T;
  if (value !== null && typeof value === 'object' && Object.getPrototypeOf(value) === Object.prototype) {
    // fromEntries defines own properties: a `__proto__` key from the API stays a key (an assignment
    // `out['__proto__'] = …` would set the prototype and drop it).
    return Object.fromEntries(
      Object.entries(value as Record<string, unknown>).map(([k, v]) => [k, normalizeDatetimesDeep(v)]),
    ) as T;
  }
  return value;
}
