import { FerryError } from '@ferry/core';

/** Where an error happened: the resource and the URL (already redacted). */
export interface RestApiErrorContext {
  /** Resource whose request failed. */
  resource: string;
  /** Request URL with secret query values replaced by `***`. */
  url: string;
  /** HTTP method. */
  method?: string;
  /** HTTP status, when a response arrived. */
  status?: number;
  /** Attempts made (1 = no retry). */
  attempts?: number;
}

/**
 * A REST API request failed for good (after retries), or answered something unusable. The message names
 * the resource and the redacted URL and says what to check next; `status` is the last HTTP status.
 */
export class RestApiError extends FerryError {
  /** Resource whose request failed. */
  readonly resource: string;
  /** Redacted request URL. */
  readonly url: string;
  /** Last HTTP status, if a response arrived. */
  readonly status: number | undefined;

  constructor(message: string, context: RestApiErrorContext, cause?: unknown) {
    super('REST_API_REQUEST_FAILED', message, { context: { ...context }, cause });
    this.resource = context.resource;
    this.url = context.url;
    this.status = context.status;
  }
}

/**
 * Pagination went wrong: the same page came back twice (a paginator that does not advance would loop
 * forever), `max_pages` was reached, or a total/cursor field is missing or malformed.
 */
export class RestApiPaginationError extends FerryError {
  /** Resource being paged. */
  readonly resource: string;
  /** Redacted URL of the page that stopped it. */
  readonly url: string;

  constructor(message: string, context: RestApiErrorContext) {
    super('REST_API_PAGINATION', message, { context: { ...context } });
    this.resource = context.resource;
    this.url = context.url;
  }
}

/**
 * A response answered with something that cannot be read as records: the data selector matches nothing,
 * or a list was expected and an object or scalar came. Never loaded as 0 rows (issue 15).
 */
export class RestApiResponseError extends FerryError {
  /** Resource whose response it was. */
  readonly resource: string;
  /** Redacted URL of the response. */
  readonly url: string;

  constructor(message: string, context: RestApiErrorContext) {
    super('REST_API_BAD_RESPONSE', message, { context: { ...context } });
    this.resource = context.resource;
    this.url = context.url;
  }
}

/** The OAuth2 token endpoint refused the client credentials or answered without an access_token. */
export class RestApiAuthError extends FerryError {
  /** Redacted token URL. */
  readonly url: string;

  constructor(message: string, context: { url: string; status?: number }, cause?: unknown) {
    super('REST_API_AUTH_FAILED', message, { context: { ...context }, cause });
    this.url = context.url;
  }
}
