import { randomUUID } from 'node:crypto';
import pLimit from 'p-limit';
import pThrottle from 'p-throttle';
import { ConfigError } from '@ferry/core';
import { parseJsonExact, stringifyJsonExact } from '../util/dbt-cloud-json.ts';
import { parseRetryAfter, retryDelayMs, sleep } from './dbt-cloud-backoff.ts';
import { DbtCloudApiError, redactSecret } from './dbt-cloud-errors.ts';

/** A dbt Cloud id: a number when safe, a bigint past 2^53, or its decimal text. */
export type DbtCloudId = number | bigint | string;

/** API version of an endpoint. The client picks per endpoint; callers of {@link DbtCloudClient.request} choose. */
export type DbtCloudApiVersion = 'v2' | 'v3';

/** A query parameter value. Arrays are sent as a JSON array string (`[1,2]`), the form every client uses. */
export type DbtCloudQueryValue =
  string | number | bigint | boolean | null | undefined | readonly (string | number | bigint)[];

/** One HTTP attempt, reported to {@link DbtCloudClientOptions.onRequest} (never carries the token). */
export interface DbtCloudRequestEvent {
  /** HTTP method. */
  method: string;
  /** Full URL without credentials. */
  url: string;
  /** HTTP status, or undefined on a network error or timeout. */
  status: number | undefined;
  /** 1 for the first try. */
  attempt: number;
  /** Time the attempt took, ms. */
  ms: number;
  /** Set when the client will retry: the wait before the next attempt, ms. */
  retryInMs?: number;
  /** Why the attempt failed, if it did (redacted). */
  error?: string;
}

/** A wait of the client before an attempt, reported to {@link DbtCloudClientOptions.onWait}. */
export interface DbtCloudWaitEvent {
  /** Why: `rate_limit` (429 with `Retry-After`), `cooldown` (429 without), `backoff` (5xx, network), `paused` (another request's 429). */
  reason: 'rate_limit' | 'cooldown' | 'backoff' | 'paused';
  /** How long, ms. */
  ms: number;
  /** The request that waits (no token). */
  method: string;
  /** URL without credentials. */
  url: string;
  /** The attempt that comes after the wait. */
  attempt: number;
  /** One log line saying why and how long. */
  message: string;
}

/** Shared request budgets, one per host and account in this process. */
const ACCOUNT_BUDGETS = new Map<string, { rpm: number; gate: () => Promise<void> }>();

function accountBudget(key: string, rpm: number): (() => Promise<void>) | undefined {
  if (rpm <= 0) return undefined;
  let b = ACCOUNT_BUDGETS.get(key);
  if (!b || b.rpm !== rpm) {
    // Per second, so the budget is spread over the minute instead of spent in a burst.
    const perSecond = Math.max(1, Math.floor(rpm / 60));
    b = { rpm, gate: pThrottle({ limit: perSecond, interval: 1_000, strict: true })(async () => undefined) };
    ACCOUNT_BUDGETS.set(key, b);
  }
  return b.gate;
}

/** Options of {@link DbtCloudClient}. */
export interface DbtCloudClientOptions {
  /**
   * Access URL host, e.g. `ab123.us1.dbt.com` (Account settings → Account information). No default: the
   * `cloud.getdbt.com` region URLs were deprecated on 2026-11-01, and a cell-based account's token is
   * rejected there with a bare 401. Give `host` or `baseUrl`.
   */
  host?: string;
  /**
   * Scheme + host root (`https://ab123.us1.dbt.com`, `http://127.0.0.1:8089`), for proxies and the
   * emulator. A trailing `/api`, `/api/v2` or `/api/v3` is accepted and dropped: the client adds the
   * version per endpoint.
   */
  baseUrl?: string;
  /** dbt Cloud account id. */
  accountId: DbtCloudId;
  /** Service account token or personal access token. Sent as `Authorization: Token …`; never logged. */
  apiToken: string;
  /** Per-attempt timeout (connect + full body), ms. Default 60,000 (dlt's default). */
  timeoutMs?: number;
  /** Retries after the first attempt on 429, 408, 5xx, network errors and non-JSON bodies. Default 6. */
  maxRetries?: number;
  /** First backoff delay, ms (doubles per retry, with jitter). Default 1,000. */
  retryBaseDelayMs?: number;
  /** Largest wait between attempts, ms; also caps `Retry-After`. Default 300,000 (dbt's 429 cooldown). */
  retryMaxDelayMs?: number;
  /** Pages fetched at once once `total_count` is known. Default 4; 1 pages sequentially. */
  pageConcurrency?: number;
  /** Rows per page. Default and maximum 100 (dbt Cloud rejects more on multi-tenant hosts). */
  pageSize?: number;
  /**
   * Most pages one list may take; runaway paging then fails with an error naming the endpoint. Default
   * 100,000 (10 million rows at 100 a page: generous for any account, finite for a broken API).
   */
  maxPages?: number;
  /** Called after every HTTP attempt (for logs and tests). Default: none. */
  onRequest?: (event: DbtCloudRequestEvent) => void;
  /**
   * Requests per minute for the account, shared by every client of the same host and account in this
   * process (pages, artifacts, run steps). Default 4,000: below dbt Cloud's 5,000/min, so a run is paced
   * before it meets a 429. 0 turns pacing off.
   */
  requestsPerMinute?: number;
  /**
   * Wait after a 429 that has no `Retry-After`, ms: dbt Cloud's Admin API answers 429 for a five-minute
   * cooldown once the account's budget is spent, and documents `Retry-After` only for SCIM. Default
   * 300,000 (5 minutes).
   */
  rateLimitCooldownMs?: number;
  /**
   * Most time one client spends waiting between attempts (backoff, cooldowns, `Retry-After`) over its
   * life, ms; past it the request fails with an error naming this limit. Default 1,800,000 (30 minutes).
   */
  maxTotalWaitMs?: number;
  /**
   * Told before every wait, with why and for how long (one log line each; issue 15: no silent waits).
   * Default: the message on stderr (`console.warn`).
   */
  onWait?: (event: DbtCloudWaitEvent) => void;
  /** `fetch` implementation. Default: the global `fetch`. */
  fetch?: typeof fetch;
}

/** The dbt Cloud response envelope (API reference §3). */
export interface DbtCloudEnvelope<T = unknown> {
  /** Status block; `user_message` is the human text. */
  status?: {
    code?: number;
    is_success?: boolean;
    user_message?: string | null;
    developer_message?: string | null;
  };
  /** Payload: an object, a list or null. */
  data: T;
  /** List endpoints: filters echoed, ordering and pagination. */
  extra?: {
    filters?: Record<string, unknown>;
    order_by?: string | null;
    pagination?: { count?: number; total_count?: number };
  };
}

/** Options of {@link DbtCloudClient.request}. */
export interface DbtCloudRequestOptions {
  /** Query parameters. */
  query?: Record<string, DbtCloudQueryValue>;
  /** JSON body (POST). */
  body?: unknown;
  /** Artifact download: no envelope, `Accept: *\/*`; JSON files are parsed, other files returned as text. */
  raw?: boolean;
  /** Cancels the request and any retry wait. */
  signal?: AbortSignal;
  /**
   * Which failures are retried. `'any'` (default): 429, 408, 5xx, network errors, timeouts and non-JSON
   * bodies, right for reads. `'unsent'`: only where the server cannot have acted — a 429 and a connection
   * refused (or a host not found) before the request left — right for a POST that is not idempotent, such
   * as a trigger; any other failure throws {@link DbtCloudApiError} with code `DBT_CLOUD_OUTCOME_UNKNOWN`.
   */
  retry?: 'any' | 'unsent';
}

/** Options of {@link DbtCloudClient.paginate}. */
export interface DbtCloudPaginateOptions {
  /** Pages in flight once `total_count` is known. Default: the client's `pageConcurrency`. */
  concurrency?: number;
  /** Field that identifies a row for de-duplication. Default `id`; null turns dedupe off. */
  dedupeKey?: string | null;
  /** Most pages to fetch before failing with an error naming the endpoint. Default: the client's `maxPages`. */
  maxPages?: number;
  /** Cancels paging. */
  signal?: AbortSignal;
}

/** Statistics of one {@link DbtCloudClient.paginate} call, for benchmarks and tests. */
export interface DbtCloudPageStats {
  /** Pages fetched. */
  pages: number;
  /** Rows yielded (after dedupe). */
  rows: number;
  /** Rows dropped as repeats of an id already yielded. */
  duplicates: number;
  /** Lowest concurrency reached after slowing down on 429. */
  minConcurrency: number;
}

const MAX_PAGE_SIZE = 100;

/** Turn `host` / `baseUrl` into the root URL (`https://host`), or throw a ConfigError saying what to set. */
export function resolveRootUrl(options: { host?: string | undefined; baseUrl?: string | undefined }): string {
  const { host, baseUrl } = options;
  if (baseUrl) {
    let url: URL;
    try {
      url = new URL(baseUrl);
    } catch (cause) {
      throw new ConfigError(
        `dbt Cloud baseUrl '${baseUrl}' is not a URL; give scheme and host, e.g. https://ab123.us1.dbt.com`,
        {
          path: 'baseUrl',
          cause,
        },
      );
    }
    const path = url.pathname.replace(/\/+$/, '').replace(/\/api(\/v[23])?$/, '');
    return `${url.origin}${path}`;
  }
  if (host) {
    const h = host.trim().replace(/\/+$/, '');
    return /^https?:\/\//.test(h) ? resolveRootUrl({ baseUrl: h }) : `https://${h}`;
  }
  throw new ConfigError(
    'dbt Cloud needs a host (e.g. ab123.us1.dbt.com, shown under Account settings → Account information) or a baseUrl. ' +
      'There is no default: the cloud.getdbt.com region URLs were deprecated on 2026-11-01. ' +
      'Set `host`, or DBT_CLOUD__HOST in the environment.',
    { path: 'host' },
  );
}

function encodeQueryValue(value: Exclude<DbtCloudQueryValue, null | undefined>): string {
  if (Array.isArray(value)) {
    return `[${value.map((v) => (typeof v === 'string' ? JSON.stringify(v) : String(v))).join(',')}]`;
  }
  return String(value);
}

function isRetriableStatus(status: number): boolean {
  return status === 429 || status === 408 || status >= 500;
}

function envelopeMessage(body: unknown): string | undefined {
  if (body && typeof body === 'object' && 'status' in body) {
    const status = (body as DbtCloudEnvelope).status;
    if (status && typeof status.user_message === 'string') return status.user_message;
  }
  return undefined;
}

class TransientFailure extends Error {
  readonly status: number | undefined;
  readonly hintMs: number | undefined;
  /** True when the request never reached the server (connection refused, host not found). */
  readonly unsent: boolean;
  constructor(
    message: string,
    status: number | undefined,
    hintMs: number | undefined,
    cause?: unknown,
    unsent = false,
  ) {
    super(message, cause === undefined ? undefined : { cause });
    this.status = status;
    this.hintMs = hintMs;
    this.unsent = unsent;
  }
}

/** Network error codes that mean the request was never sent, so the server cannot have acted on it. */
const UNSENT_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN']);

function networkCode(error: unknown): string | undefined {
  const e = error as { code?: unknown; cause?: { code?: unknown } };
  const code = e?.cause?.code ?? e?.code;
  return typeof code === 'string' ? code : undefined;
}

/**
 * HTTP client for the dbt Cloud Administrative API (v2 and v3): auth, timeouts, retries with backoff and
 * `Retry-After`, typed errors, exact int64 ids, and offset pagination with concurrent pages.
 */
export class DbtCloudClient {
  /** Root URL (scheme + host), without `/api`. */
  readonly rootUrl: string;
  /** Account id as given. */
  readonly accountId: DbtCloudId;
  readonly #token: string;
  readonly #fetch: typeof fetch;
  readonly #timeoutMs: number;
  readonly #maxRetries: number;
  readonly #baseDelayMs: number;
  readonly #maxDelayMs: number;
  readonly #pageConcurrency: number;
  readonly #pageSize: number;
  readonly #maxPages: number;
  readonly #onRequest: ((event: DbtCloudRequestEvent) => void) | undefined;
  readonly #throttleListeners = new Set<() => void>();
  readonly #budget: (() => Promise<void>) | undefined;
  readonly #cooldownMs: number;
  readonly #maxTotalWaitMs: number;
  readonly #onWait: (event: DbtCloudWaitEvent) => void;
  #waitedMs = 0;
  #pausedUntil = 0;

  constructor(options: DbtCloudClientOptions) {
    this.rootUrl = resolveRootUrl(options);
    if (
      options.accountId === undefined ||
      options.accountId === null ||
      String(options.accountId).trim() === ''
    ) {
      throw new ConfigError('dbt Cloud accountId is missing; set it or DBT_CLOUD__ACCOUNT_ID.', {
        path: 'accountId',
      });
    }
    if (!options.apiToken) {
      throw new ConfigError('dbt Cloud apiToken is missing; set it or DBT_CLOUD__API_TOKEN.', {
        path: 'apiToken',
      });
    }
    this.accountId = options.accountId;
    this.#token = options.apiToken;
    this.#fetch = options.fetch ?? globalThis.fetch;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    this.#maxRetries = options.maxRetries ?? 6;
    this.#baseDelayMs = options.retryBaseDelayMs ?? 1_000;
    this.#maxDelayMs = options.retryMaxDelayMs ?? 300_000;
    this.#pageConcurrency = Math.max(1, options.pageConcurrency ?? 4);
    const pageSize = options.pageSize ?? MAX_PAGE_SIZE;
    if (pageSize < 1 || pageSize > MAX_PAGE_SIZE) {
      throw new ConfigError(
        `dbt Cloud pageSize must be 1–${MAX_PAGE_SIZE} (the API caps list pages at 100); got ${pageSize}.`,
        {
          path: 'pageSize',
        },
      );
    }
    this.#pageSize = pageSize;
    this.#maxPages = Math.max(1, options.maxPages ?? 100_000);
    this.#onRequest = options.onRequest;
    this.#budget = accountBudget(
      `${this.rootUrl}|${String(this.accountId)}`,
      options.requestsPerMinute ?? 4_000,
    );
    this.#cooldownMs = options.rateLimitCooldownMs ?? 300_000;
    this.#maxTotalWaitMs = options.maxTotalWaitMs ?? 1_800_000;
    this.#onWait = options.onWait ?? ((e) => console.warn(e.message));
  }

  /** Time this client has waited between attempts so far, ms (see {@link DbtCloudClientOptions.maxTotalWaitMs}). */
  get waitedMs(): number {
    return this.#waitedMs;
  }

  /** Report and take one wait, or fail when it would pass the total wait budget. */
  async #wait(
    reason: DbtCloudWaitEvent['reason'],
    ms: number,
    method: string,
    url: string,
    attempt: number,
    why: string,
    signal: AbortSignal | undefined,
  ): Promise<void> {
    if (reason !== 'paused' && this.#waitedMs + ms > this.#maxTotalWaitMs)
      throw new DbtCloudApiError(
        redactSecret(
          `dbt Cloud ${method} ${url}: waiting ${formatMs(ms)} more (${why}) would pass maxTotalWaitMs ` +
            `(${formatMs(this.#maxTotalWaitMs)}; ${formatMs(this.#waitedMs)} waited already). ` +
            (reason === 'cooldown' || reason === 'rate_limit'
              ? 'The account is rate limited (5,000 requests/minute, then a 5-minute cooldown); lower requestsPerMinute or pageConcurrency, or raise maxTotalWaitMs.'
              : 'dbt Cloud or the network keeps failing; try again later, or raise maxTotalWaitMs.'),
          this.#token,
        ),
        { url, method, attempts: attempt - 1, code: 'DBT_CLOUD_WAIT_BUDGET' },
      );
    // Pauses for another request's 429 overlap that request's own wait: reported, not counted twice.
    if (reason !== 'paused') this.#waitedMs += ms;
    this.#onWait({
      reason,
      ms,
      method,
      url,
      attempt,
      message: redactSecret(
        `dbt Cloud: waiting ${formatMs(ms)} before attempt ${attempt} of ${method} ${url}: ${why}`,
        this.#token,
      ),
    });
    await sleep(ms, signal);
  }

  /** Host part of the root URL, for messages. */
  get host(): string {
    return new URL(this.rootUrl).host;
  }

  /** `accounts/{accountId}/` prefix used by account-scoped paths. */
  get accountPath(): string {
    return `accounts/${String(this.accountId)}`;
  }

  /** Build the full URL of `path` (relative to `/api/<version>/`). */
  url(version: DbtCloudApiVersion, path: string, query?: Record<string, DbtCloudQueryValue>): string {
    const url = new URL(`${this.rootUrl}/api/${version}/${path.replace(/^\/+/, '')}`);
    for (const [k, v] of Object.entries(query ?? {})) {
      if (v === undefined || v === null) continue;
      url.searchParams.set(k, encodeQueryValue(v));
    }
    return url.toString();
  }

  /** Register a listener called on every 429 (the paginator uses it to lower its concurrency). */
  onThrottle(listener: () => void): () => void {
    this.#throttleListeners.add(listener);
    return () => this.#throttleListeners.delete(listener);
  }

  /**
   * Send one request with retries. Returns the parsed body: the envelope for API calls, the raw file for
   * `raw` (artifact) calls. Throws {@link DbtCloudApiError} on a 4xx or when retries run out.
   */
  async request(
    method: 'GET' | 'POST',
    version: DbtCloudApiVersion,
    path: string,
    options: DbtCloudRequestOptions = {},
  ): Promise<unknown> {
    const url = this.url(version, path, options.query);
    const headers: Record<string, string> = { Authorization: `Token ${this.#token}` };
    // Artifact downloads send Accept: */* like dbt Labs' own client (API reference §2).
    headers['Accept'] = options.raw ? '*/*' : 'application/json';
    let body: string | undefined;
    if (options.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = stringifyJsonExact(options.body);
    }
    const attempts = this.#maxRetries + 1;
    let last: TransientFailure | undefined;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      const wait = this.#pausedUntil - Date.now();
      if (wait > 0)
        await this.#wait(
          'paused',
          wait,
          method,
          url,
          attempt,
          'the account got a 429; every request pauses',
          options.signal,
        );
      if (this.#budget) await this.#budget();
      const started = Date.now();
      const report = (status: number | undefined, extra: { error?: string; retryInMs?: number } = {}) =>
        this.#onRequest?.({ method, url, status, attempt, ms: Date.now() - started, ...extra });
      try {
        const result = await this.#attempt(method, url, headers, body, options, attempt);
        report(result.status);
        return result.body;
      } catch (error) {
        if (!(error instanceof TransientFailure)) {
          if (error instanceof DbtCloudApiError) report(error.status, { error: error.message });
          throw error;
        }
        last = error;
        if (options.retry === 'unsent' && error.status !== 429 && !error.unsent) {
          report(error.status, { error: error.message });
          throw new DbtCloudApiError(
            redactSecret(
              `dbt Cloud ${method} ${url} failed after the request was sent (${error.message}); ` +
                'the server may have acted on it, so it is not retried blindly.',
              this.#token,
            ),
            {
              ...(error.status === undefined ? {} : { status: error.status }),
              url,
              method,
              attempts: attempt,
              code: 'DBT_CLOUD_OUTCOME_UNKNOWN',
              cause: error,
            },
          );
        }
        // A 429 without Retry-After: dbt Cloud's cooldown, not a short backoff that ends inside it.
        const cooldown = error.status === 429 && error.hintMs === undefined;
        const retryInMs =
          attempt < attempts
            ? cooldown
              ? this.#cooldownMs
              : retryDelayMs(attempt, error.hintMs, {
                  baseDelayMs: this.#baseDelayMs,
                  maxDelayMs: this.#maxDelayMs,
                })
            : undefined;
        report(error.status, { error: error.message, ...(retryInMs === undefined ? {} : { retryInMs }) });
        if (retryInMs === undefined) break;
        if (error.status === 429) {
          // Pause every request of this client, not only this one: the limit is per account.
          this.#pausedUntil = Math.max(this.#pausedUntil, Date.now() + retryInMs);
          for (const listener of this.#throttleListeners) listener();
        }
        const reason: DbtCloudWaitEvent['reason'] = cooldown
          ? 'cooldown'
          : error.status === 429
            ? 'rate_limit'
            : 'backoff';
        const why =
          reason === 'cooldown'
            ? `429 without Retry-After (rate-limit cooldown, rateLimitCooldownMs)`
            : reason === 'rate_limit'
              ? `429 with Retry-After ${formatMs(error.hintMs ?? 0)}${(error.hintMs ?? 0) > this.#maxDelayMs ? ` (capped at retryMaxDelayMs ${formatMs(this.#maxDelayMs)})` : ''}`
              : `${error.message}${error.hintMs !== undefined ? ' (Retry-After)' : ''}`;
        await this.#wait(reason, retryInMs, method, url, attempt + 1, why, options.signal);
      }
    }
    throw new DbtCloudApiError(
      redactSecret(
        `dbt Cloud ${method} ${url} failed after ${attempts} attempts (last: ${last?.message ?? 'unknown'}). ` +
          (last?.status === 429
            ? 'The account is being rate limited (5,000 requests/minute); lower pageConcurrency or try again in a few minutes.'
            : 'dbt Cloud or the network is failing; try again later, or raise maxRetries / timeoutMs.'),
        this.#token,
      ),
      { status: last?.status, url, method, attempts, code: 'DBT_CLOUD_RETRIES_EXHAUSTED', cause: last },
    );
  }

  async #attempt(
    method: string,
    url: string,
    headers: Record<string, string>,
    body: string | undefined,
    options: DbtCloudRequestOptions,
    attempt: number,
  ): Promise<{ status: number; body: unknown }> {
    const timeout = AbortSignal.timeout(this.#timeoutMs);
    const signal = options.signal ? AbortSignal.any([options.signal, timeout]) : timeout;
    let status: number | undefined;
    let text: string;
    let response: Response;
    try {
      response = await this.#fetch(url, { method, headers, body, signal, redirect: 'follow' });
      status = response.status;
      text = await response.text();
    } catch (error) {
      if (options.signal?.aborted) throw options.signal.reason ?? error;
      const reason = timeout.aborted ? `timed out after ${this.#timeoutMs} ms` : describeNetworkError(error);
      const code = networkCode(error);
      throw new TransientFailure(
        status === undefined ? reason : `${status} then ${reason} while reading the body`,
        status,
        undefined,
        error,
        status === undefined && !timeout.aborted && code !== undefined && UNSENT_CODES.has(code),
      );
    }
    const hintMs = parseRetryAfter(response.headers.get('retry-after'));
    let parsed: unknown;
    let parseError: unknown;
    const isJsonFile = !options.raw || /\.json(\?|$)/.test(new URL(url).pathname);
    if (isJsonFile) {
      try {
        parsed = parseJsonExact(text);
      } catch (error) {
        parseError = error;
      }
    } else {
      parsed = text;
    }
    if (response.ok) {
      if (parseError !== undefined || (!options.raw && (parsed === null || typeof parsed !== 'object'))) {
        // dbt-core#2836: dbt Cloud has answered 200 with an HTML page. Treat it as transient.
        throw new TransientFailure(
          `${status} with a body that is not JSON (${describeBody(text)})`,
          status,
          hintMs,
          parseError,
        );
      }
      return { status: response.status, body: parsed };
    }
    const userMessage = redactSecret(envelopeMessage(parsed) ?? '', this.#token) || undefined;
    if (isRetriableStatus(response.status)) {
      throw new TransientFailure(
        `${response.status} ${response.statusText}${userMessage ? ` (${userMessage})` : parseError !== undefined ? ` (${describeBody(text)})` : ''}`,
        response.status,
        hintMs,
      );
    }
    throw this.#clientError(method, url, response.status, userMessage, attempt);
  }

  #clientError(
    method: string,
    url: string,
    status: number,
    userMessage: string | undefined,
    attempt: number,
  ): DbtCloudApiError {
    const said = userMessage ? ` ("${userMessage}")` : '';
    const where = `${method} ${url}`;
    let message: string;
    let code = 'DBT_CLOUD_API';
    if (status === 401) {
      code = 'DBT_CLOUD_UNAUTHORIZED';
      message =
        `dbt Cloud at ${this.host} rejected the API token with 401${said} for ${where}. ` +
        'Check the token (DBT_CLOUD__API_TOKEN). A cell-based account needs its own access URL ' +
        '(ACCOUNT_PREFIX.<cell>.dbt.com, under Account settings → Account information): a valid token sent to ' +
        'cloud.getdbt.com or another host is rejected with this same 401.';
    } else if (status === 403) {
      code = 'DBT_CLOUD_FORBIDDEN';
      message =
        `dbt Cloud answered 403${said} for ${where}: the token is not scoped to account ${String(this.accountId)}, ` +
        "or lacks the permission set for this call. Check accountId (DBT_CLOUD__ACCOUNT_ID) and the token's permissions.";
    } else if (status === 404) {
      code = 'DBT_CLOUD_NOT_FOUND';
      message =
        `dbt Cloud answered 404${said} for ${where}: the object does not exist, or the token has no permission to see it. ` +
        "Check the id, and that the token's permission sets cover its project.";
    } else {
      message = `dbt Cloud answered ${status}${said} for ${where}. Fix the request parameters named in the message.`;
    }
    return new DbtCloudApiError(redactSecret(message, this.#token), {
      status,
      url,
      method,
      userMessage,
      attempts: attempt,
      code,
    });
  }

  /** GET an enveloped endpoint and return the envelope. */
  async getEnvelope<T = unknown>(
    version: DbtCloudApiVersion,
    path: string,
    query?: Record<string, DbtCloudQueryValue>,
    signal?: AbortSignal,
  ): Promise<DbtCloudEnvelope<T>> {
    return (await this.request('GET', version, path, {
      query,
      ...(signal ? { signal } : {}),
    })) as DbtCloudEnvelope<T>;
  }

  /** GET an enveloped endpoint and return `data`. */
  async get<T = unknown>(
    version: DbtCloudApiVersion,
    path: string,
    query?: Record<string, DbtCloudQueryValue>,
    signal?: AbortSignal,
  ): Promise<T> {
    return (await this.getEnvelope<T>(version, path, query, signal)).data;
  }

  /**
   * Page through a list endpoint with `limit`/`offset`, yielding each page's rows (deduplicated on `id`).
   * Only a short or empty page ends paging: a full page is followed by a request for the next even when
   * `total_count` says done (a wrong total must not drop rows; a server that repeats the last page past the
   * end ends that probe quietly). After the first page, when `total_count` is known, the pages up to it are
   * fetched `concurrency` at a time (in order of output); a 429 halves the concurrency. Fails with
   * `DBT_CLOUD_PAGING`, naming the endpoint, when `data` is not a list, when a full page holds only ids
   * already read (the API repeats itself), or after `maxPages` pages.
   */
  async *paginate<T extends Record<string, unknown> = Record<string, unknown>>(
    version: DbtCloudApiVersion,
    path: string,
    query: Record<string, DbtCloudQueryValue> = {},
    options: DbtCloudPaginateOptions = {},
    stats?: DbtCloudPageStats,
  ): AsyncGenerator<T[]> {
    const limit = this.#pageSize;
    const dedupeKey = options.dedupeKey === undefined ? 'id' : options.dedupeKey;
    const maxPages = options.maxPages ?? this.#maxPages;
    const endpoint = `GET ${this.url(version, path)}`;
    const seen = new Set<string>();
    const st: DbtCloudPageStats = stats ?? { pages: 0, rows: 0, duplicates: 0, minConcurrency: 0 };
    const fail = (what: string, fix: string): DbtCloudApiError =>
      new DbtCloudApiError(redactSecret(`dbt Cloud ${endpoint}: ${what}. ${fix}`, this.#token), {
        url: this.url(version, path, query),
        code: 'DBT_CLOUD_PAGING',
      });
    const fetchPage = async (
      offset: number,
    ): Promise<{ rows: T[]; count: number; total: number | undefined }> => {
      if (st.pages >= maxPages)
        throw fail(
          `paging did not end after ${maxPages} pages (${st.rows} rows)`,
          'The API keeps answering full pages; raise maxPages if the list is really that long.',
        );
      const env = await this.getEnvelope<T[]>(version, path, { ...query, limit, offset }, options.signal);
      st.pages++;
      if (!Array.isArray(env.data))
        throw fail(
          `the response's data at offset ${offset} is ${env.data === null ? 'null' : typeof env.data}, not a list`,
          'A list endpoint must answer a list; nothing from it is loaded.',
        );
      const rows = env.data;
      const total = env.extra?.pagination?.total_count;
      const count = env.extra?.pagination?.count ?? rows.length;
      return { rows, count, total: typeof total === 'number' ? total : undefined };
    };
    /** Drop rows already yielded; a full page of nothing but such rows means the API is repeating itself. */
    const dedupe = (rows: T[], offset: number, probe: boolean): T[] | undefined => {
      if (dedupeKey === null) return rows;
      const out: T[] = [];
      for (const row of rows) {
        const key = row[dedupeKey];
        if (key === undefined || key === null) {
          out.push(row);
          continue;
        }
        const k = String(key);
        if (seen.has(k)) {
          st.duplicates++;
          continue;
        }
        seen.add(k);
        out.push(row);
      }
      st.rows += out.length;
      if (rows.length > 0 && out.length === 0) {
        // Past the end a server may clamp the offset and repeat the last page: that ends a probe quietly.
        if (probe) return undefined;
        throw fail(
          `the page at offset ${offset} holds only ${dedupeKey}s already read`,
          'The API repeats pages instead of moving on; paging stopped so as not to loop.',
        );
      }
      return out;
    };
    // Only a short (or empty) page ends paging: a full page is followed by a request for the next even
    // when total_count says the list is done, since a wrong total would otherwise drop rows silently.
    const isFull = (page: { rows: T[] }): boolean => page.rows.length >= limit;
    const saysDone = (offset: number, page: { count: number; total: number | undefined }): boolean =>
      page.total !== undefined && offset + page.count >= page.total;

    const first = await fetchPage(0);
    yield dedupe(first.rows, 0, false)!;
    if (!isFull(first)) return;
    let offset = limit;
    let probe = saysDone(0, first);
    const concurrency = Math.max(1, options.concurrency ?? this.#pageConcurrency);
    st.minConcurrency = concurrency;
    if (first.total !== undefined && !probe && concurrency > 1) {
      const plannedEnd = first.total;
      const gate = pLimit({ concurrency, rejectOnClear: true });
      const unsubscribe = this.onThrottle(() => {
        gate.concurrency = Math.max(1, Math.floor(gate.concurrency / 2));
        st.minConcurrency = Math.min(st.minConcurrency, gate.concurrency);
      });
      const window: { offset: number; promise: Promise<Awaited<ReturnType<typeof fetchPage>>> }[] = [];
      let next = offset;
      let ended = false;
      const schedule = (): void => {
        // Read ahead at most 2×concurrency pages so a slow consumer bounds memory.
        while (!ended && next < plannedEnd && window.length < concurrency * 2) {
          const o = next;
          const promise = gate(() => fetchPage(o));
          promise.catch(() => undefined); // surfaced when awaited in order below
          window.push({ offset: o, promise });
          next += limit;
        }
      };
      try {
        schedule();
        while (window.length > 0) {
          const item = window.shift()!;
          const page = await item.promise;
          offset = item.offset + limit;
          yield dedupe(page.rows, item.offset, false)!;
          if (!isFull(page)) {
            ended = true; // rows were deleted meanwhile; pages still in flight only hold rows we may repeat
            gate.clearQueue();
            for (const rest of window) {
              const p = await rest.promise.catch(() => undefined);
              if (p) yield dedupe(p.rows, rest.offset, true) ?? [];
            }
            return;
          }
          probe = saysDone(item.offset, page);
          schedule();
        }
      } finally {
        unsubscribe();
        gate.clearQueue();
      }
    }
    // Sequential: no total known, concurrency 1, past the planned end, or a probe after a full last page.
    while (true) {
      const page = await fetchPage(offset);
      const rows = dedupe(page.rows, offset, probe);
      if (rows === undefined) return;
      yield rows;
      if (!isFull(page)) return;
      probe = saysDone(offset, page);
      offset += limit;
    }
  }

  /** Collect every row of a list endpoint (see {@link paginate}). */
  async list<T extends Record<string, unknown> = Record<string, unknown>>(
    version: DbtCloudApiVersion,
    path: string,
    query: Record<string, DbtCloudQueryValue> = {},
    options: DbtCloudPaginateOptions = {},
  ): Promise<T[]> {
    const out: T[] = [];
    for await (const page of this.paginate<T>(version, path, query, options)) out.push(...page);
    return out;
  }

  /** `GET /api/v3/accounts/`: the accounts this token can see. */
  listAccounts(): Promise<Record<string, unknown>[]> {
    return this.list('v3', 'accounts/');
  }

  /** `GET /api/v2/accounts/{a}/`: the configured account. */
  getAccount(): Promise<Record<string, unknown>> {
    return this.get('v2', `${this.accountPath}/`);
  }

  /** `GET /api/v2/accounts/{a}/jobs/{id}/`. */
  getJob(jobId: DbtCloudId, includeRelated?: string[]): Promise<Record<string, unknown>> {
    return this.get(
      'v2',
      `${this.accountPath}/jobs/${String(jobId)}/`,
      includeRelated?.length ? { include_related: includeRelated.join(',') } : undefined,
    );
  }

  /** `GET /api/v2/accounts/{a}/runs/{id}/` with optional `include_related` (e.g. `['run_steps']`). */
  getRun(
    runId: DbtCloudId,
    options: { includeRelated?: string[]; signal?: AbortSignal } = {},
  ): Promise<Record<string, unknown>> {
    return this.get(
      'v2',
      `${this.accountPath}/runs/${String(runId)}/`,
      options.includeRelated?.length ? { include_related: options.includeRelated.join(',') } : undefined,
      options.signal,
    );
  }

  /**
   * `POST /api/v2/accounts/{a}/jobs/{id}/run/`: trigger a run, at most once. The POST is not idempotent,
   * so it is retried only where dbt Cloud cannot have created the run (429, connection refused). After any
   * other failure (502/504, timeout, reset) the run it may have created is looked up among the job's newest
   * runs by its cause, which carries a marker unique to this trigger (`[ferry:…]`), and adopted; only when
   * none turns up after a short bounded search is the job triggered once more. `cause` is required by the
   * API (default "Triggered via API by Ferry").
   */
  async triggerJobRun(
    jobId: DbtCloudId,
    options: DbtCloudTriggerOptions = {},
    safety: DbtCloudSafeTriggerOptions = {},
  ): Promise<Record<string, unknown>> {
    const { cause, gitSha, gitBranch, schemaOverride, extra, ...rest } = options;
    const marker = ` [ferry:${randomUUID().slice(0, 13)}]`;
    const body: Record<string, unknown> = {
      cause: `${(cause ?? 'Triggered via API by Ferry').slice(0, 255 - marker.length)}${marker}`,
    };
    if (gitSha) body['git_sha'] = gitSha;
    else if (gitBranch) body['git_branch'] = gitBranch;
    if (schemaOverride) body['schema_override'] = schemaOverride;
    const names: Record<keyof typeof rest, string> = {
      dbtVersionOverride: 'dbt_version_override',
      threadsOverride: 'threads_override',
      targetNameOverride: 'target_name_override',
      generateDocsOverride: 'generate_docs_override',
      timeoutSecondsOverride: 'timeout_seconds_override',
      stepsOverride: 'steps_override',
      githubPullRequestId: 'github_pull_request_id',
      gitlabMergeRequestId: 'gitlab_merge_request_id',
      azurePullRequestId: 'azure_pull_request_id',
      nonNativePullRequestId: 'non_native_pull_request_id',
    };
    for (const [k, v] of Object.entries(rest)) {
      if (v !== undefined) body[names[k as keyof typeof rest] ?? k] = v;
    }
    Object.assign(body, extra ?? {});
    const sentCause = String(body['cause']);
    const searchAttempts = safety.searchAttempts ?? 4;
    const searchDelayMs = safety.searchDelayMs ?? 2_000;
    const path = `${this.accountPath}/jobs/${String(jobId)}/run/`;
    const post = async (): Promise<Record<string, unknown>> =>
      (
        (await this.request('POST', 'v2', path, {
          body,
          retry: 'unsent',
          ...(safety.signal ? { signal: safety.signal } : {}),
        })) as DbtCloudEnvelope<Record<string, unknown>>
      ).data;
    const find = async (): Promise<Record<string, unknown> | undefined> => {
      for (let i = 0; i < searchAttempts; i++) {
        if (i > 0) await sleep(searchDelayMs, safety.signal);
        // Newest runs of the job first: a run created by this POST is among them whatever the clocks say.
        const env = await this.getEnvelope<Record<string, unknown>[]>(
          'v2',
          `${this.accountPath}/runs/`,
          { job_definition_id: jobId, order_by: '-id', include_related: 'trigger', limit: 100 },
          safety.signal,
        );
        const runs = Array.isArray(env.data) ? env.data : [];
        const hit = runs.find((r) => {
          const t = r['trigger'] as Record<string, unknown> | null | undefined;
          return t?.['cause'] === sentCause;
        });
        if (hit) return hit;
      }
      return undefined;
    };
    let lastError: unknown;
    for (let round = 0; round < 2; round++) {
      try {
        return await post();
      } catch (error) {
        if (!(error instanceof DbtCloudApiError) || error.code !== 'DBT_CLOUD_OUTCOME_UNKNOWN') throw error;
        lastError = error;
        const adopted = await find();
        if (adopted) {
          safety.onEvent?.({ kind: 'adopted', runId: adopted['id'] as DbtCloudId, cause: sentCause, error });
          return adopted;
        }
        safety.onEvent?.({ kind: round === 0 ? 'retrying' : 'gave_up', cause: sentCause, error });
      }
    }
    throw new DbtCloudApiError(
      redactSecret(
        `dbt Cloud trigger of job ${String(jobId)} failed twice after the request was sent, and no run with cause ` +
          `"${sentCause}" was found among the job's newest runs. Check the job's runs in dbt Cloud before triggering again.`,
        this.#token,
      ),
      {
        url: this.url('v2', path),
        method: 'POST',
        attempts: 2,
        code: 'DBT_CLOUD_OUTCOME_UNKNOWN',
        cause: lastError,
      },
    );
  }

  /**
   * `POST /api/v2/accounts/{a}/jobs/{id}/rerun/`: rerun the job's last run, from its point of failure when
   * it failed. Creates a run, so it is retried only where dbt Cloud cannot have acted (429, connection
   * refused); another failure throws `DBT_CLOUD_OUTCOME_UNKNOWN` (check the job's runs before retrying).
   */
  async rerunJob(jobId: DbtCloudId, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return (
      (await this.request('POST', 'v2', `${this.accountPath}/jobs/${String(jobId)}/rerun/`, {
        retry: 'unsent',
        ...(signal ? { signal } : {}),
      })) as DbtCloudEnvelope<Record<string, unknown>>
    ).data;
  }

  /**
   * `POST /api/v2/accounts/{a}/runs/{id}/retry/`: retry a failed run from its point of failure; returns
   * the new run. Retried only where dbt Cloud cannot have acted, as {@link rerunJob}.
   */
  async retryRun(runId: DbtCloudId, signal?: AbortSignal): Promise<Record<string, unknown>> {
    return (
      (await this.request('POST', 'v2', `${this.accountPath}/runs/${String(runId)}/retry/`, {
        retry: 'unsent',
        ...(signal ? { signal } : {}),
      })) as DbtCloudEnvelope<Record<string, unknown>>
    ).data;
  }

  /** `POST /api/v2/accounts/{a}/runs/{id}/cancel/`: returns the run (already cancelled or finished). */
  async cancelRun(runId: DbtCloudId): Promise<Record<string, unknown>> {
    return (
      (await this.request(
        'POST',
        'v2',
        `${this.accountPath}/runs/${String(runId)}/cancel/`,
      )) as DbtCloudEnvelope<Record<string, unknown>>
    ).data;
  }

  /** `GET /api/v2/accounts/{a}/runs/{id}/artifacts/`: artifact paths of the run's last step. */
  async listRunArtifacts(runId: DbtCloudId, signal?: AbortSignal): Promise<string[]> {
    const data = await this.get<unknown>(
      'v2',
      `${this.accountPath}/runs/${String(runId)}/artifacts/`,
      undefined,
      signal,
    );
    return Array.isArray(data) ? data.map(String) : [];
  }

  /**
   * `GET /api/v2/accounts/{a}/runs/{id}/artifacts/{path}`: a raw artifact (JSON files parsed). Returns
   * undefined on 404 (artifacts upload asynchronously and some runs never write some files).
   */
  async getRunArtifact(
    runId: DbtCloudId,
    path: string,
    options: { step?: number; signal?: AbortSignal } = {},
  ): Promise<unknown> {
    const encoded = path.split('/').map(encodeURIComponent).join('/');
    try {
      return await this.request(
        'GET',
        'v2',
        `${this.accountPath}/runs/${String(runId)}/artifacts/${encoded}`,
        {
          raw: true,
          ...(options.step === undefined ? {} : { query: { step: options.step } }),
          ...(options.signal ? { signal: options.signal } : {}),
        },
      );
    } catch (error) {
      if (error instanceof DbtCloudApiError && error.status === 404) return undefined;
      throw error;
    }
  }
}

/** What {@link DbtCloudClient.triggerJobRun} did after a trigger whose outcome was unknown. */
export interface DbtCloudTriggerEvent {
  /** `adopted`: the run the failed POST created was found; `retrying`: none found, triggering once more; `gave_up`. */
  kind: 'adopted' | 'retrying' | 'gave_up';
  /** The adopted run's id. */
  runId?: DbtCloudId;
  /** The unique cause sent (the run's `trigger.cause`). */
  cause: string;
  /** The failure that made the outcome unknown. */
  error: unknown;
}

/** How {@link DbtCloudClient.triggerJobRun} looks for a run after a trigger whose outcome is unknown. */
export interface DbtCloudSafeTriggerOptions {
  /** Look-ups of the job's newest runs before triggering once more. Default 4. */
  searchAttempts?: number;
  /** Wait between look-ups, ms (a run can take a moment to be listed). Default 2,000. */
  searchDelayMs?: number;
  /** Told when a run is adopted or the job is triggered again (for a log line). Default: none. */
  onEvent?: (event: DbtCloudTriggerEvent) => void;
  /** Cancels the trigger and the search. */
  signal?: AbortSignal;
}

/** Body of a trigger (`POST .../jobs/{id}/run/`), in camelCase. Only `cause` is required by dbt Cloud. */
export interface DbtCloudTriggerOptions {
  /**
   * Free-text reason, stored as `trigger.cause`. Default "Triggered via API by Ferry". A marker unique to
   * the trigger (` [ferry:…]`) is appended, and the text cut so the whole stays within 255 chars.
   */
  cause?: string;
  /** Commit to check out (wins over `gitBranch`, as in dlt). */
  gitSha?: string;
  /** Branch to check out. */
  gitBranch?: string;
  /** Target schema override (per-PR CI schemas). */
  schemaOverride?: string;
  /** dbt version override. */
  dbtVersionOverride?: string;
  /** Threads override. */
  threadsOverride?: number;
  /** `target.name` override. */
  targetNameOverride?: string;
  /** Generate docs override. */
  generateDocsOverride?: boolean;
  /** Run timeout override, seconds. */
  timeoutSecondsOverride?: number;
  /** Replaces the job's steps, e.g. `['dbt build -s my_model+']`. */
  stepsOverride?: string[];
  /** Mark as a GitHub PR run. */
  githubPullRequestId?: number;
  /** Mark as a GitLab MR run. */
  gitlabMergeRequestId?: number;
  /** Mark as an Azure DevOps PR run. */
  azurePullRequestId?: number;
  /** Mark as a non-native PR run. */
  nonNativePullRequestId?: number;
  /** Any other body fields, sent as given (snake_case), merged last. */
  extra?: Record<string, unknown>;
}

/** `1.5 s`, `5 min`, `250 ms`: a wait as a person reads it. */
function formatMs(ms: number): string {
  if (ms < 1_000) return `${Math.round(ms)} ms`;
  if (ms < 120_000) return `${Math.round(ms / 100) / 10} s`;
  return `${Math.round(ms / 6_000) / 10} min`;
}

function describeNetworkError(error: unknown): string {
  const e = error as { message?: string; cause?: { code?: string; message?: string } };
  const code = e.cause?.code ?? e.cause?.message;
  return `network error${code ? ` (${code})` : e.message ? ` (${e.message})` : ''}`;
}

function describeBody(text: string): string {
  const t = text.trim();
  if (t.startsWith('<')) return 'HTML';
  if (t === '') return 'empty body';
  return `${t.slice(0, 40).replace(/\s+/g, ' ')}${t.length > 40 ? '…' : ''}`;
}
