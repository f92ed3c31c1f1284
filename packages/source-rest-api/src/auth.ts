import type { AuthConfig } from './config.ts';
import { RestApiAuthError } from './errors.ts';
import type { Redactor } from './redact.ts';

/** Sends a token request; the HTTP client supplies it (timeouts, retries, no API budget). */
export type TokenFetch = (url: string, body: URLSearchParams) => Promise<{ status: number; body: unknown }>;

/** Adds credentials to a request. */
export interface Auth {
  /** Put the credentials on the request's headers or query. */
  apply(headers: Headers, params: Record<string, string>, fetchToken: TokenFetch): Promise<void>;
  /** The server answered 401: drop cached credentials so the next attempt gets fresh ones. True if that can help. */
  invalidate(): boolean;
  /** Secret values to redact. */
  secrets(): string[];
}

/** Build the auth of a config entry; registers its secrets with the redactor. */
export function createAuth(config: AuthConfig, redactor: Redactor, now: () => number = Date.now): Auth {
  if (!('type' in config) || config.type === undefined || config.type === 'bearer') {
    const token = config.token;
    redactor.add(token);
    return fixed({ headers: { authorization: `Bearer ${token}` } }, [token]);
  }
  switch (config.type) {
    case 'api_key': {
      redactor.add(config.api_key);
      const name = config.name ?? 'Authorization';
      return config.location === 'query'
        ? fixed({ params: { [name]: config.api_key } }, [config.api_key])
        : fixed({ headers: { [name]: config.api_key } }, [config.api_key]);
    }
    case 'http_basic': {
      redactor.add(config.password);
      const encoded = Buffer.from(`${config.username}:${config.password}`).toString('base64');
      redactor.add(encoded);
      return fixed({ headers: { authorization: `Basic ${encoded}` } }, [config.password, encoded]);
    }
    case 'oauth2_client_credentials':
      redactor.add(config.client_secret);
      return new OAuth2ClientCredentials(config, redactor, now);
  }
}

function fixed(
  add: { headers?: Record<string, string>; params?: Record<string, string> },
  secrets: string[],
): Auth {
  return {
    async apply(headers, params) {
      for (const [k, v] of Object.entries(add.headers ?? {})) headers.set(k, v);
      Object.assign(params, add.params ?? {});
    },
    invalidate: () => false,
    secrets: () => secrets,
  };
}

/**
 * OAuth 2.0 client credentials (RFC 6749 §4.4): POSTs `grant_type=client_credentials` with the client id
 * and secret as a form, caches the token until shortly before `expires_in` runs out (10% of its life, at
 * most 30 s, early), and fetches a new one when the API answers 401. Concurrent requests share one
 * token request.
 */
export class OAuth2ClientCredentials implements Auth {
  #token: string | undefined;
  #expiresAt = 0;
  #pending: Promise<void> | undefined;

  private readonly config: Extract<AuthConfig, { type: 'oauth2_client_credentials' }>;
  private readonly redactor: Redactor;
  private readonly now: () => number;

  constructor(
    config: Extract<AuthConfig, { type: 'oauth2_client_credentials' }>,
    redactor: Redactor,
    now: () => number,
  ) {
    this.config = config;
    this.redactor = redactor;
    this.now = now;
  }

  async apply(headers: Headers, _params: Record<string, string>, fetchToken: TokenFetch): Promise<void> {
    if (this.#token === undefined || this.now() >= this.#expiresAt) {
      this.#pending ??= this.#obtain(fetchToken).finally(() => (this.#pending = undefined));
      await this.#pending;
    }
    headers.set('authorization', `Bearer ${this.#token!}`);
  }

  invalidate(): boolean {
    this.#token = undefined;
    return true;
  }

  secrets(): string[] {
    return [this.config.client_secret, ...(this.#token ? [this.#token] : [])];
  }

  async #obtain(fetchToken: TokenFetch): Promise<void> {
    const form = new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: this.config.client_id,
      client_secret: this.config.client_secret,
    });
    for (const [k, v] of Object.entries(this.config.access_token_request_data ?? {})) form.set(k, String(v));
    const url = this.redactor.url(this.config.access_token_url);
    const res = await fetchToken(this.config.access_token_url, form);
    const body = res.body as Record<string, unknown> | undefined;
    const token = body?.['access_token'];
    if (res.status < 200 || res.status >= 300 || typeof token !== 'string' || token === '') {
      const detail =
        typeof body?.['error'] === 'string' ? ` (${this.redactor.text(String(body['error']))})` : '';
      throw new RestApiAuthError(
        `OAuth2 token request to ${url} failed with HTTP ${res.status}${detail}${res.status < 300 ? ': no access_token in the response' : ''}; check client_id, client_secret and access_token_url`,
        { url, status: res.status },
      );
    }
    this.redactor.add(token);
    const lifetimeS = Number(body?.['expires_in'] ?? this.config.default_token_expiration ?? 3600);
    const lifetimeMs = (Number.isFinite(lifetimeS) && lifetimeS > 0 ? lifetimeS : 3600) * 1000;
    this.#token = token;
    this.#expiresAt = this.now() + lifetimeMs - Math.min(30_000, lifetimeMs * 0.1);
  }
}
