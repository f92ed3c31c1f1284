import type { VersionedObject } from './filesystem-store.ts';

/**
 * Helpers shared by the cloud object stores (S3, Azure, GCS): bounded parallelism for per-object calls,
 * the redaction of credentials from SDK messages, and an object read as a versioned text.
 */

/** An object read with its ETag, as the text and version `getVersioned` returns (undefined: absent). */
export function asVersioned(
  object: { bytes: Buffer; etag?: string } | undefined,
): VersionedObject | undefined {
  if (object === undefined) return undefined;
  const text = object.bytes.toString('utf8');
  return object.etag ? { text, etag: object.etag } : { text };
}

/**
 * Run `fn` over `items` with at most `limit` calls in flight; rejects with the first error (calls already
 * started finish first, so nothing runs after the promise settles).
 */
export async function mapLimit<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  let failed: { error: unknown } | undefined;
  const worker = async () => {
    while (failed === undefined && next < items.length) {
      const item = items[next++]!;
      try {
        await fn(item);
      } catch (error) {
        failed ??= { error };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failed) throw failed.error;
}

/**
 * `text` with each secret value, and anything shaped like a SAS signature, an account key or a private key,
 * replaced by `***` (SDK errors can quote request URLs and connection strings).
 */
export function redactSecrets(text: string, secrets: readonly string[]): string {
  let out = text;
  for (const secret of secrets) if (secret.length >= 4) out = out.split(secret).join('***');
  return out
    .replace(/([?&]sig=)[^&\s"']+/gi, '$1***')
    .replace(/(AccountKey=)[^;\s"']+/gi, '$1***')
    .replace(/(SharedAccessSignature=)[^;\s"']+/gi, '$1***')
    .replace(/-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(-----END [A-Z ]*PRIVATE KEY-----|$)/g, '***');
}
