/**
 * JSON parsing that keeps integers past 2^53 exact. dbt Cloud ids are int64; cell-based accounts already
 * use 14-digit ids (still below 2^53) and nothing stops them growing. `JSON.parse` with a reviver that
 * reads the literal's source text (Node >= 21) turns only unsafe integers into `bigint`; safe ones stay
 * `number`, so ordinary code keeps working.
 */

type ReviverContext = { source?: string } | undefined;
type ReviverWithContext = (this: unknown, key: string, value: unknown, context?: ReviverContext) => unknown;

const INTEGER_LITERAL = /^-?\d+$/;
// A number token of 16+ digits (after `:`, `[` or `,`) may be an unsafe integer; without one the plain
// (fast) parse is exact. Digits inside strings (git SHAs) rarely match this and then only cost the slow path.
const LONG_NUMBER = /[:[,]\s*-?\d{16,}/;

const reviver: ReviverWithContext = (_key, value, context) => {
  if (
    typeof value === 'number' &&
    !Number.isSafeInteger(value) &&
    context?.source &&
    INTEGER_LITERAL.test(context.source)
  ) {
    return BigInt(context.source);
  }
  return value;
};

/** Parse JSON text; integers outside ±(2^53−1) become `bigint`, everything else is plain `JSON.parse`. */
export function parseJsonExact(text: string): unknown {
  if (!LONG_NUMBER.test(text)) return JSON.parse(text);
  return JSON.parse(text, reviver as (this: unknown, key: string, value: unknown) => unknown);
}

/** `JSON.stringify` that writes `bigint` as a bare integer literal (the inverse of {@link parseJsonExact}). */
export function stringifyJsonExact(value: unknown): string {
  const marks: string[] = [];
  const text = JSON.stringify(value, (_k, v: unknown) => {
    if (typeof v === 'bigint') {
      marks.push(v.toString());
      return `\u0000big${marks.length - 1}\u0000`;
    }
    return v;
  });
  if (marks.length === 0) return text;
  return text.replace(/"\\u0000big(\d+)\\u0000"/g, (_m, i: string) => marks[Number(i)] ?? '0');
}
