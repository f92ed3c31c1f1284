/**
 * `@ferry/source-rest-api/config`: the configuration schema and its static checks, without the HTTP
 * client or the expression engine, so a CLI can validate team files without loading them.
 */
export {
  restApiConfigSchema,
  clientSchema,
  authSchema,
  paginatorSchema,
  endpointSchema,
  incrementalSchema,
  processingStepSchema,
  resourceSchema,
  resourceDefaultsSchema,
  responseActionSchema,
} from './config.ts';
export type {
  RestApiConfig,
  RestApiConfigInput,
  AuthConfig,
  ClientConfig,
  EndpointConfig,
  IncrementalConfig,
  PaginatorConfig,
  ProcessingStep,
  ResourceConfig,
} from './config.ts';
export { parseRestApiConfig, resolveResources } from './resolve.ts';
export type { ResolvedResource } from './resolve.ts';
export { checkRestApiConfig } from './check.ts';
export type { RestApiConfigProblem } from './check.ts';
