export { restApiSource, detectDataSelector, probeRestApi } from './source.ts';
export type { RestApiSourceOptions } from './source.ts';
// The configuration schema and its static checks, also served alone as `@ferry/source-rest-api/config`.
export * from './config-index.ts';
export { RestApiError, RestApiPaginationError, RestApiAuthError, RestApiResponseError } from './errors.ts';
export type { RestApiErrorContext } from './errors.ts';
export { RestClient, parseRetryAfter } from './http-client.ts';
export type { RestClientOptions, RestRequest, RestResponse, RestRequestEvent } from './http-client.ts';
export {
  createPaginator,
  detectPaginator,
  parseLinkHeader,
  CursorPaginator,
  HeaderLinkPaginator,
  JsonLinkPaginator,
  OffsetPaginator,
  PageNumberPaginator,
  SinglePagePaginator,
} from './paginators.ts';
export type { Paginator, PageRequest, PageResponse } from './paginators.ts';
export { createAuth, OAuth2ClientCredentials } from './auth.ts';
export type { Auth } from './auth.ts';
export { Redactor } from './redact.ts';
export { compileSteps } from './expressions.ts';
export type { RecordStep } from './expressions.ts';
