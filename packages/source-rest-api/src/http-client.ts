import pThrottle from 'p-throttle';
import type { Auth, TokenFetch } from './auth.ts';
import { RestApiError } from './errors.ts';
import type { Redactor } from './redact.ts';

/** Settings of {@link RestClient}. */
export interface RestClientOptions {
  /** Headers on every request. Default none (plus `accept: application/json`). */
  headers?: Record<string, string>;
  /** Per-attempt timeout, ms. Default 30,000: long enough for a slow page, short enough to retry a hung one. */
  timeoutMs?: number;
  /** Retries on 429, 5xx (except 501), network errors and timeouts. Default 5. */
  maxRetries?: number;
  /** First backoff delay, ms; doubled per retry with ±50% jitter. Default 1,000. */
  backoffMs?: number;
  /** Largest delay between attempts (and the cap on `Retry-After`), ms. Default 60,000. */
  maxDelayMs?: number;
  /** Requests per interval, shared by every request of this client. Default unlimited. */
  budget?: { requests: number; intervalMs: number };
  /** Hides secrets in errors. */
  redactor: Redactor;
  /** Receives one event per attempt (URL redacted). Default none. */
  onRequest?: (event: RestRequestEvent) => void;
  /** Sleep used between attempts (tests pass a fast one). Default a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

/** One HTTP attempt, as reported to {@link RestClientOptions.onRequest}. */
export interface RestRequestEvent {
  /** Resource making the request. */
  resource: string;
  /** Method. */
  method: string;
  /** Redacted URL. */
  url: string;
  /** HTTP status, or undefined for a network error or timeout. */
  status: number | undefined;
  /** 1-based attempt number. */
  attempt: number;
  /** Delay before the next attempt, ms, when one follows. */
  retryInMs?: number;
}

/** A request as the source builds it. */
export interface RestRequest {
  /** Resource name, for errors. */
  resource: string;
  /** Method. */
  method: 'GET' | 'POST';
  /** Absolute URL (may already carry a query). */
  url: string;
  /** Query parameters added to the URL. */
  params: Record<string, string>;
  /** JSON body. */
  json?: unknown;
  /** Form body (object) or raw text body. */
  data?: string | Record<string, string | number | boolean>;
  /** Extra headers. */
  headers?: Record<string, string>;
  /** Credentials, if any. */
  auth?: Auth | undefined;
  /** `ignore` rules: a matching response is returned as `ignored` instead of failing. */
  responseActions?: readonly {
    status_code?: number | undefined;
    content?: string | undefined;
    action: 'ignore';
  }[];
  /** Cancels the request and any wait. */
  signal?: AbortSignal;
}

/** A response the source can page through. */
export interface RestResponse {
  /** HTTP status. */
  status: number;
  /** Final URL (after redirects). */
  url: string;
  /** Headers. */
  headers: Headers;
  /** Parsed JSON body; undefined when empty. */
  body: unknown;
  /** A response action said to ignore this response. */
  ignored: boolean;
}

const RETRY_STATUS = new Set([408, 425, 429, 500, 502, 503, 504]);

/** `Retry-After` as ms: delta-seconds or an HTTP date; undefined when absent or unreadable. */
export function parseRetryAfter(value: string | null, now = Date.now()): number | undefined {
  if (value === null || value.trim() === '') return undefined;
  if (/^\d+(?:\.\d+)?$/.test(value.trim())) return Number(value.trim()) * 1000;
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, at - now);
}

const defaultSleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason as Error);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason as Error);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });

/**
 * The HTTP side of the REST source: one per source, so its request budget is shared by every resource
 * and every concurrent child request. Retries 429/5xx/network errors with exponential backoff, honouring
 * `Retry-After`; errors name the resource and the redacted URL.
 */
export class RestClient {
  readonly #o: Required<Omit<RestClientOptions, 'budget' | 'onRequest'>> &
    Pick<RestClientOptions, 'onRequest'>;
  readonly #acquire: () => Promise<void>;

  constructor(options: RestClientOptions) {
    this.#o = {
      headers: options.headers ?? {},
      timeoutMs: options.timeoutMs ?? 30_000,
      maxRetries: options.maxRetries ?? 5,
      backoffMs: options.backoffMs ?? 1_000,
      maxDelayMs: options.maxDelayMs ?? 60_000,
      redactor: options.redactor,
      onRequest: options.onRequest,
      sleep: options.sleep ?? defaultSleep,
    };
    const b = options.budget;
    this.#acquire = b
      ? pThrottle({ limit: b.requests, interval: b.intervalMs, strict: true })(async () => {})
      : async () => {};
  }

  /** Hides secrets in text (the source uses it for its own errors). */
  get redactor(): Redactor {
    return this.#o.redactor;
  }

  /** Send a request with retries; resolves with a 2xx (or ignored) response, else throws {@link RestApiError}. */
  async request(req: RestRequest): Promise<RestResponse> {
    const o = this.#o;
    let refreshed = false;
    for (let attempt = 1; ; attempt++) {
      const headers = new Headers({ accept: 'application/json', ...o.headers, ...req.headers });
      const params = { ...req.params };
      await req.auth?.apply(headers, params, this.#tokenFetch(req));
      const url = new URL(req.url);
      for (const [k, v] of Object.entries(params)) url.searchParams.set(k, v);
      const shownUrl = o.redactor.url(url);
      let body: string | undefined;
      if (req.json !== undefined) {
        headers.set('content-type', 'application/json');
        body = JSON.stringify(req.json);
      } else if (typeof req.data === 'string') body = req.data;
      else if (req.data !== undefined) {
        headers.set('content-type', 'application/x-www-form-urlencoded');
        body = new URLSearchParams(
          Object.entries(req.data).map(([k, v]) => [k, String(v)] as [string, string]),
        ).toString();
      }
      const context = { resource: req.resource, url: shownUrl, method: req.method, attempts: attempt };
      await this.#acquire();
      let res: Response;
      let text: string;
      try {
        const timeout = AbortSignal.timeout(o.timeoutMs);
        res = await fetch(url, {
          method: req.method,
          headers,
          ...(body === undefined ? {} : { body }),
          signal: req.signal ? AbortSignal.any([req.signal, timeout]) : timeout,
        });
        text = await res.text();
      } catch (error) {
        if (req.signal?.aborted) throw req.signal.reason;
        const timedOut = (error as Error).name === 'TimeoutError';
        const why = timedOut
          ? `timed out after ${o.timeoutMs} ms`
          : `failed: ${o.redactor.text(String((error as Error).message))}`;
        if (attempt <= o.maxRetries) {
          const wait = this.#backoff(attempt);
          o.onRequest?.({
            resource: req.resource,
            method: req.method,
            url: shownUrl,
            status: undefined,
            attempt,
            retryInMs: wait,
          });
          await o.sleep(wait, req.signal);
          continue;
        }
        throw new RestApiError(
          `resource '${req.resource}': ${req.method} ${shownUrl} ${why} (after ${attempt} attempts); check the URL and network, or raise client.timeout`,
          context,
          error,
        );
      }
      const status = res.status;
      const action = req.responseActions?.find(
        (a) =>
          (a.status_code === undefined || a.status_code === status) &&
          (a.content === undefined || text.includes(a.content)),
      );
      if (action) {
        o.onRequest?.({ resource: req.resource, method: req.method, url: shownUrl, status, attempt });
        return {
          status,
          url: res.url || url.toString(),
          headers: res.headers,
          body: undefined,
          ignored: true,
        };
      }
      if (status === 401 && req.auth && !refreshed && req.auth.invalidate()) {
        refreshed = true;
        o.onRequest?.({
          resource: req.resource,
          method: req.method,
          url: shownUrl,
          status,
          attempt,
          retryInMs: 0,
        });
        attempt--;
        continue;
      }
      if (RETRY_STATUS.has(status) && attempt <= o.maxRetries) {
        const after = parseRetryAfter(res.headers.get('retry-after'));
        const wait = Math.min(o.maxDelayMs, after ?? this.#backoff(attempt));
        o.onRequest?.({
          resource: req.resource,
          method: req.method,
          url: shownUrl,
          status,
          attempt,
          retryInMs: wait,
        });
        await o.sleep(wait, req.signal);
        continue;
      }
      o.onRequest?.({ resource: req.resource, method: req.method, url: shownUrl, status, attempt });
      if (status < 200 || status >= 300) {
        const excerpt = o.redactor.text(text.slice(0, 300)).replace(/\s+/g, ' ').trim();
        throw new RestApiError(
          `resource '${req.resource}': ${req.method} ${shownUrl} answered HTTP ${status}${RETRY_STATUS.has(status) ? ` after ${attempt} attempts` : ''}${excerpt ? `: ${excerpt}` : ''}. ${hint(status)}`,
          { ...context, status },
        );
      }
      let parsed: unknown;
      if (text.trim() !== '') {
        try {
          parsed = JSON.parse(text);
        } catch (error) {
          throw new RestApiError(
            `resource '${req.resource}': ${req.method} ${shownUrl} answered HTTP ${status} with a body that is not JSON (content-type ${res.headers.get('content-type') ?? 'none'}); check the path`,
            { ...context, status },
            error,
          );
        }
      }
      return { status, url: res.url || url.toString(), headers: res.headers, body: parsed, ignored: false };
    }
  }

  #backoff(attempt: number): number {
    const base = this.#o.backoffMs * 2 ** (attempt - 1);
    return Math.min(this.#o.maxDelayMs, Math.round(base * (0.5 + Math.random())));
  }

  #tokenFetch(req: RestRequest): TokenFetch {
    return async (url, form) => {
      for (let attempt = 1; ; attempt++) {
        try {
          const res = await fetch(url, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
            body: form.toString(),
            signal: AbortSignal.timeout(this.#o.timeoutMs),
          });
          const text = await res.text();
          if (RETRY_STATUS.has(res.status) && attempt <= this.#o.maxRetries) {
            await this.#o.sleep(
              Math.min(
                this.#o.maxDelayMs,
                parseRetryAfter(res.headers.get('retry-after')) ?? this.#backoff(attempt),
              ),
              req.signal,
            );
            continue;
          }
          let body: unknown;
          try {
            body = JSON.parse(text);
          } catch {
            body = Object.fromEntries(new URLSearchParams(text));
          }
          return { status: res.status, body };
        } catch (error) {
          if (attempt > this.#o.maxRetries) throw error;
          await this.#o.sleep(this.#backoff(attempt), req.signal);
        }
      }
    };
  }
}

function hint(status: number): string {
  if (status === 401 || status === 403) return 'Check the credentials in client.auth and their scopes.';
  if (status === 404)
    return 'Check endpoint.path; to skip missing items add response_actions: [{status_code: 404, action: ignore}].';
  if (status === 429)
    return 'The API kept rate limiting: set client.request_budget or raise client.max_retries.';
  if (status >= 500) return 'The server failed; retry later or raise client.max_retries.';
  return 'Check the endpoint parameters.';
}
