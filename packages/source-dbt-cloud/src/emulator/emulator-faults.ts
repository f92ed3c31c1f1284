/** A fault the emulator can inject into one response. */
export type EmulatorFault =
  /**
   * Answer with this status. 429 gets the dbt envelope; 5xx an nginx-style HTML page when `html` (default
   * true). With `afterSideEffect` the request is served first (a POST creates its run) and the answer then
   * replaced, as when a proxy times out on an upstream that went on: the fault that makes a blind retry of a
   * trigger start the job twice.
   */
  | { kind: 'status'; status: number; retryAfter?: string | null; html?: boolean; afterSideEffect?: boolean }
  /** Destroy the connection without answering (ECONNRESET at the client); after serving it with `afterSideEffect`. */
  | { kind: 'reset'; afterSideEffect?: boolean }
  /** Answer 200 with an HTML page instead of JSON (dbt-core#2836). */
  | { kind: 'html200' }
  /** Add this much latency to the response. */
  | { kind: 'delay'; ms: number };

interface Scripted {
  fault: EmulatorFault;
  remaining: number;
  path: RegExp | undefined;
  method: string | undefined;
}

interface MidPagination {
  path: RegExp;
  afterRequests: number;
  count: number;
}

/**
 * Fault injection, mutable while the emulator runs: base latency, a per-token rate limit (fixed
 * one-minute window, like dbt's 5,000 requests/minute), scripted faults consumed by matching requests,
 * and rows inserted mid-pagination.
 */
export class EmulatorFaults {
  /** Latency added to every response, ms. Default 0. */
  latencyMs = 0;
  /** Requests per minute per token before 429; undefined = no limit. Default undefined. */
  rateLimitPerMinute: number | undefined;
  /**
   * `Retry-After` on rate-limit 429s: seconds as text, or null for no header (the Admin API documents
   * none). Default `'1'`.
   */
  rateLimitRetryAfter: string | null = '1';
  /**
   * Once {@link rateLimitPerMinute} is spent, every request answers 429 for this long, ms, as dbt Cloud's
   * Admin API does (a five-minute cooldown; not in the OpenAPI spec: see docs/dbt-cloud-behaviour.md).
   * Default 300,000.
   */
  rateLimitCooldownMs = 300_000;
  /** 429s sent because of {@link rateLimitPerMinute}. */
  rateLimited = 0;
  #cooldownUntil = 0;
  /** Faults injected so far (scripted ones). */
  injected = 0;
  readonly #script: Scripted[] = [];
  readonly #midPagination: MidPagination[] = [];
  #windowStart = 0;
  #windowCount = 0;

  /**
   * Inject `fault` into the next `times` (default 1) requests matching `path` (a RegExp on the URL path,
   * default any) and `method`.
   */
  inject(fault: EmulatorFault, options: { times?: number; path?: RegExp; method?: string } = {}): this {
    this.#script.push({ fault, remaining: options.times ?? 1, path: options.path, method: options.method });
    return this;
  }

  /**
   * After `afterRequests` more requests to a path matching `path` (default the runs list), insert `count`
   * new finished runs, as happens when runs finish while a client pages.
   */
  insertRunsMidPagination(options: { afterRequests: number; count: number; path?: RegExp }): this {
    this.#midPagination.push({
      path: options.path ?? /\/runs\/?$/,
      afterRequests: options.afterRequests,
      count: options.count,
    });
    return this;
  }

  /** Remove every scripted fault and the rate limit; latency back to 0. */
  clear(): void {
    this.#script.length = 0;
    this.#midPagination.length = 0;
    this.latencyMs = 0;
    this.rateLimitPerMinute = undefined;
    this.rateLimitRetryAfter = '1';
    this.rateLimitCooldownMs = 300_000;
    this.#cooldownUntil = 0;
  }

  /** @internal The scripted fault for this request, if any (consumes it). */
  take(method: string, path: string): EmulatorFault | undefined {
    const i = this.#script.findIndex(
      (s) => (!s.path || s.path.test(path)) && (!s.method || s.method === method),
    );
    if (i < 0) return undefined;
    const s = this.#script[i]!;
    s.remaining--;
    if (s.remaining <= 0) this.#script.splice(i, 1);
    this.injected++;
    return s.fault;
  }

  /** @internal True when this request exceeds the rate limit. */
  overLimit(nowMs: number): boolean {
    if (this.rateLimitPerMinute === undefined) return false;
    if (nowMs < this.#cooldownUntil) {
      this.rateLimited++;
      return true;
    }
    if (this.#cooldownUntil > 0) {
      // Cooldown over: a fresh window.
      this.#cooldownUntil = 0;
      this.#windowStart = nowMs;
      this.#windowCount = 0;
    }
    if (nowMs - this.#windowStart >= 60_000) {
      this.#windowStart = nowMs;
      this.#windowCount = 0;
    }
    this.#windowCount++;
    if (this.#windowCount > this.rateLimitPerMinute) {
      this.#cooldownUntil = nowMs + this.rateLimitCooldownMs;
      this.rateLimited++;
      return true;
    }
    return false;
  }

  /** @internal Runs to insert now for a request to `path` (after it was served). */
  insertionsDue(path: string): number {
    let total = 0;
    for (let i = this.#midPagination.length - 1; i >= 0; i--) {
      const m = this.#midPagination[i]!;
      if (!m.path.test(path)) continue;
      m.afterRequests--;
      if (m.afterRequests <= 0) {
        total += m.count;
        this.#midPagination.splice(i, 1);
      }
    }
    return total;
  }
}
