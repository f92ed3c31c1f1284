/**
 * JSON that keeps integers past 2^53 exact. Parsing uses the reviver's `context.source` (Node ≥ 21) but
 * only for text that contains a long digit run, so the common case stays at `JSON.parse` speed.
 */

const LONG_DIGITS = /\d{16,}/;

interface ReviverContext {
  source?: string;
}

function bigReviver(this: unknown, _key: string, value: unknown, context?: ReviverContext): unknown {
  if (
    typeof value === 'number' &&
    !Number.isSafeInteger(value) &&
    Number.isInteger(value) &&
    context?.source
  ) {
    const src = context.source;
    if (/^-?\d+$/.test(src)) return BigInt(src);
  }
  return value;
}

/** Parse JSON; integers beyond `Number.MAX_SAFE_INTEGER` become `bigint` (exact), others stay numbers. */
export function parseJson(text: string): unknown {
  if (!LONG_DIGITS.test(text)) return JSON.parse(text);
  return JSON.parse(text, bigReviver as (this: unknown, key: string, value: unknown) => unknown);
}

function bigReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'bigint'
    ? (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(value.toString())
    : value;
}

/** JSON.stringify with bigint values as exact integer literals; always takes the replacer path. */
export function stringifyJsonWithBigints(value: unknown): string {
  return JSON.stringify(value, bigReplacer);
}

/** Stringify JSON; `bigint` values are written as exact integer literals (not strings). */
export function stringifyJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch (error) {
    if (error instanceof TypeError && /BigInt/i.test(error.message))
      return JSON.stringify(value, bigReplacer);
    throw error;
  }
}

/** Stable JSON (sorted object keys) for hashing. */
export function stableStringify(value: unknown): string {
  if (value === null || typeof value !== 'object') {
    return typeof value === 'bigint' ? value.toString() : (JSON.stringify(value) ?? 'null');
  }
  if (Array.isArray(value)) return `[${value.map(stableStringify).join(',')}]`;
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj)
    .filter((k) => obj[k] !== undefined)
    .sort();
  return `{${keys.map((k) => `${JSON.stringify(k)}:${stableStringify(obj[k])}`).join(',')}}`;
}
