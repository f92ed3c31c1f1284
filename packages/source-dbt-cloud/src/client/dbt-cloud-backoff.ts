/**
 * Retry timing for the dbt Cloud client. Kept apart from the HTTP code so it can be unit-tested.
 *
 * Why not `p-retry`: its delay is a function of the attempt number only, while dbt Cloud (and proxies in
 * front of it) can say how long to wait with `Retry-After`, and a 429 must pause *every* request of the
 * client, not just the one that got it. Both fit in the ~40 lines below; p-retry would need the same code
 * around it.
 */

/**
 * Parse a `Retry-After` header into milliseconds. Accepts delta-seconds (integer or decimal) and HTTP
 * dates. Returns undefined for a missing, unparseable, zero or negative value: dlt retried immediately on
 * `Retry-After: 0` (#4036); here that means "no hint", so the client's own backoff applies.
 */
export function parseRetryAfter(header: string | null | undefined, nowMs = Date.now()): number | undefined {
  if (header === null || header === undefined) return undefined;
  const text = header.trim();
  if (text === '') return undefined;
  if (/^-?\d+(\.\d+)?$/.test(text)) {
    const seconds = Number(text);
    return seconds > 0 ? Math.ceil(seconds * 1000) : undefined;
  }
  const at = Date.parse(text);
  if (Number.isNaN(at)) return undefined;
  const ms = at - nowMs;
  return ms > 0 ? ms : undefined;
}

/** Backoff settings. */
export interface BackoffOptions {
  /** First delay before jitter, ms. Default 1,000. */
  baseDelayMs: number;
  /** Largest delay, ms; also caps `Retry-After`. Default 300,000 (dbt's 5-minute rate-limit cooldown). */
  maxDelayMs: number;
}

/**
 * Delay before retry number `attempt` (1 = first retry): the server's hint when there is one (capped at
 * `maxDelayMs`), else exponential backoff `base·2^(attempt−1)` capped at `maxDelayMs`, with "equal jitter"
 * (between half and all of it) so that concurrent workers do not retry in lockstep.
 */
export function retryDelayMs(
  attempt: number,
  hintMs: number | undefined,
  options: BackoffOptions,
  random = Math.random,
): number {
  if (hintMs !== undefined && hintMs > 0) return Math.min(hintMs, options.maxDelayMs);
  const exp = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** Math.max(0, attempt - 1));
  return Math.round(exp / 2 + (exp / 2) * random());
}

/** Sleep that ends early (rejecting) when `signal` aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason as Error);
      return;
    }
    const onAbort = (): void => {
      clearTimeout(timer);
      reject(signal?.reason as Error);
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
