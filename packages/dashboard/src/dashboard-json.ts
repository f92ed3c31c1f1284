/**
 * JSON for the dashboard's API: exact bigints as strings, dates as ISO strings, bytes as hex, and
 * secret-looking keys of free-form documents (resource state extras) replaced before they leave the process.
 */

/** Keys whose values are never sent, whatever the document (state extras are free-form). */
const SECRET_KEY =
  /pass(word)?|secret|token|credential|api[_-]?key|private[_-]?key|authorization|cookie|session/i;

/** Placeholder sent instead of a secret-looking value. */
export const REDACTED = '[redacted]';

/** A JSON replacer that keeps what JSON.stringify cannot express: bigint → string, bytes → hex, Map → object. */
function replacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Uint8Array)
    return `\\x${Buffer.from(value.subarray(0, 256)).toString('hex')}${value.length > 256 ? '…' : ''}`;
  if (value instanceof Map) return Object.fromEntries(value);
  if (value instanceof Set) return [...value];
  return value;
}

/** Serialize an API payload (`Date` goes through its own `toJSON`, i.e. ISO 8601 UTC). */
export function toJson(value: unknown): string {
  return JSON.stringify(value, replacer);
}

/** A deep copy with the values of secret-looking keys replaced by {@link REDACTED}. */
export function redactSecrets(value: unknown, depth = 0): unknown {
  if (depth > 20 || value === null || typeof value !== 'object') return value;
  if (value instanceof Date) return value;
  if (Array.isArray(value)) return value.map((v) => redactSecrets(v, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value))
    out[k] = SECRET_KEY.test(k) ? REDACTED : redactSecrets(v, depth + 1);
  return out;
}
