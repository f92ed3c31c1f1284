import { jsonReplacer } from '../output/reporter.ts';

/** Default cap on one tool result, bytes of JSON: a page an agent can read without flooding its context. */
export const DEFAULT_MAX_RESULT_BYTES = 100_000;

/** Longest string kept whole in a row or message when a result is over its cap. */
const MAX_STRING_CHARS = 2_000;

/** Plain JSON: bigint as exact text, Date as ISO text, undefined dropped. */
export function toPlainJson(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value, jsonReplacer) ?? '{}') as Record<string, unknown>;
}

function size(value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value));
}

function clipStrings(value: unknown): unknown {
  if (typeof value === 'string')
    return value.length > MAX_STRING_CHARS
      ? `${value.slice(0, MAX_STRING_CHARS)}… (${value.length - MAX_STRING_CHARS} more characters)`
      : value;
  if (Array.isArray(value)) return value.map(clipStrings);
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, clipStrings(v)]));
  return value;
}

/** The longest array directly under the result (rows, tables, problems…), with its key. */
function longestArray(result: Record<string, unknown>): string | undefined {
  let best: string | undefined;
  let bestSize = 0;
  for (const [k, v] of Object.entries(result)) {
    if (Array.isArray(v) && v.length > 1 && size(v) > bestSize) {
      best = k;
      bestSize = size(v);
    }
  }
  return best;
}

/**
 * Keep a tool result under `maxBytes` of JSON: first clip long strings, then drop items from the end of
 * the longest top-level array (halving, then one by one), and say so with `truncated: true` and how many
 * items were left out. A result that still does not fit is replaced by a note that says what to narrow.
 */
export function boundResult(
  result: Record<string, unknown>,
  maxBytes: number = DEFAULT_MAX_RESULT_BYTES,
): Record<string, unknown> {
  if (size(result) <= maxBytes) return result;
  let out = clipStrings(result) as Record<string, unknown>;
  out['truncated'] = true;
  for (let guard = 0; guard < 8 && size(out) > maxBytes; guard++) {
    const key = longestArray(out);
    if (key === undefined) break;
    const items = out[key] as unknown[];
    let keep = items.length;
    while (keep > 1) {
      const next = Math.max(1, Math.floor(keep / 2));
      const trial = { ...out, [key]: items.slice(0, next) };
      keep = next;
      if (size(trial) <= maxBytes) break;
    }
    // grow back one by one towards the cap (the halving may have overshot)
    while (keep < items.length && size({ ...out, [key]: items.slice(0, keep + 1) }) <= maxBytes) keep++;
    const omitted = (Number(out['omitted'] ?? 0) || 0) + items.length - keep;
    out = { ...out, [key]: items.slice(0, keep), omitted, omittedFrom: key };
  }
  if (size(out) > maxBytes)
    return {
      truncated: true,
      error: `the result is larger than ${maxBytes} bytes even when shortened; ask for fewer rows or columns`,
    };
  return out;
}
