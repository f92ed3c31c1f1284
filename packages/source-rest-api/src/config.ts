import { DATA_TYPES } from '@ferry/core';
import { z } from 'zod';

/**
 * The configuration of {@link restApiSource}: dlt's `RESTAPIConfig` written in snake_case, so a dlt config
 * ports key for key. Ferry-only keys (timeouts, retries, the request budget, `max_pages`) live in
 * `client`; every key that differs from dlt is listed in docs/rest-api-source.md.
 */

/** An integer as a number or as digits (a `${VAR}` in YAML always interpolates to text). */
const int = z
  .union([z.number().int(), z.string().regex(/^-?\d+$/, 'expected an integer')])
  .transform((v) => (typeof v === 'number' ? v : Number(v)));
const posInt = int.refine((n) => n > 0, 'must be > 0');
const nonNegInt = int.refine((n) => n >= 0, 'must be >= 0');
const num = z
  .union([z.number(), z.string().regex(/^\d+(?:\.\d+)?$/, 'expected a number')])
  .transform((v) => (typeof v === 'number' ? v : Number(v)));
const text = z.string().min(1, 'must not be empty');
/** JSONPath as dlt writes it: `data.items`, `$.data[*]`, `$.links.next`. */
const jsonPath = text.describe('JSONPath (dlt style: `data.items` or `$.data`).');

const pagePlacement = {
  stop_after_empty_page: z
    .boolean()
    .optional()
    .describe('Stop at the first page without records. Default true.'),
  has_more_path: jsonPath.optional().describe('JSONPath of a boolean saying more pages exist.'),
};

/** `client.paginator` and `endpoint.paginator`: one of dlt's paginators, or its name as a string. */
export const paginatorSchema = z.union([
  z.enum(['json_link', 'header_link', 'offset', 'page_number', 'cursor', 'single_page', 'auto']),
  z.strictObject({ type: z.literal('single_page') }),
  z.strictObject({ type: z.literal('auto') }),
  z.strictObject({
    type: z.literal('json_link'),
    next_url_path: jsonPath.optional().describe('JSONPath of the next page URL. Default `next`.'),
  }),
  z.strictObject({
    type: z.literal('header_link'),
    links_next_key: text.optional().describe('`rel` of the next link in the Link header. Default `next`.'),
  }),
  z.strictObject({
    type: z.literal('offset'),
    limit: posInt.describe('Records per page (sent as limit_param).'),
    offset: nonNegInt.optional().describe('First offset. Default 0.'),
    offset_param: text.optional().describe('Default `offset`.'),
    limit_param: text.optional().describe('Default `limit`.'),
    offset_body_path: text
      .optional()
      .describe('Put the offset in the JSON body at this dotted path instead.'),
    limit_body_path: text.optional().describe('Put the limit in the JSON body at this dotted path instead.'),
    total_path: jsonPath
      .nullable()
      .optional()
      .describe('JSONPath of the total record count; null for none. Default `total`.'),
    maximum_offset: nonNegInt.optional().describe('Stop once the offset reaches this.'),
    ...pagePlacement,
  }),
  z.strictObject({
    type: z.literal('page_number'),
    base_page: nonNegInt.optional().describe('Number of the first page on the server. Default 0.'),
    page: nonNegInt.optional().describe('Page of the first request. Default base_page.'),
    page_param: text.optional().describe('Default `page`.'),
    page_body_path: text
      .optional()
      .describe('Put the page number in the JSON body at this dotted path instead.'),
    total_path: jsonPath
      .nullable()
      .optional()
      .describe('JSONPath of the total page count; null for none. Default `total`.'),
    maximum_page: nonNegInt.optional().describe('Stop once the page number reaches this.'),
    page_size: posInt
      .optional()
      .describe(
        'Ferry: records on a full page (the per_page you send); a full page is followed even past total_path. Default: learned from the pages read.',
      ),
    ...pagePlacement,
  }),
  z.strictObject({
    type: z.literal('cursor'),
    cursor_path: jsonPath
      .optional()
      .describe('JSONPath of the next cursor in the body. Default `cursors.next`.'),
    cursor_param: text.optional().describe('Query parameter the cursor is sent as. Default `cursor`.'),
    cursor_body_path: text
      .optional()
      .describe('Send the cursor in the JSON body at this dotted path instead.'),
    ...pagePlacement,
  }),
]);

/** `client.auth` / `endpoint.auth`: dlt's four built-in auth types. */
export const authSchema = z.union([
  z.strictObject({
    type: z.literal('bearer').optional(),
    token: text.describe('Sent as `Authorization: Bearer <token>`. Write ${VAR}; never inline.'),
  }),
  z.strictObject({
    type: z.literal('api_key'),
    name: text.optional().describe('Header or query parameter name. Default `Authorization`.'),
    api_key: text.describe('The key. Write ${VAR}; never inline.'),
    location: z.enum(['header', 'query']).optional().describe('Default `header`.'),
  }),
  z.strictObject({
    type: z.literal('http_basic'),
    username: text,
    password: z.string().describe('Write ${VAR}; never inline.'),
  }),
  z.strictObject({
    type: z.literal('oauth2_client_credentials'),
    access_token_url: z.url({ protocol: /^https?$/ }).describe('Token endpoint (RFC 6749 §4.4).'),
    client_id: text,
    client_secret: text.describe('Write ${VAR}; never inline.'),
    access_token_request_data: z
      .record(z.string(), z.union([z.string(), z.number(), z.boolean()]))
      .optional()
      .describe('Extra form fields of the token request, e.g. scope or audience.'),
    default_token_expiration: posInt
      .optional()
      .describe('Token lifetime in seconds when the server sends no expires_in. Default 3600.'),
  }),
]);

/** A duration in seconds, as a number or digits. */
const seconds = num.describe('Seconds.');

/** `client`: where the API is and how to talk to it. */
export const clientSchema = z.strictObject({
  base_url: z.url({ protocol: /^https?$/ }).describe('Base URL; endpoint paths are resolved against it.'),
  headers: z.record(z.string(), z.string()).optional().describe('Headers sent with every request.'),
  auth: authSchema.optional(),
  paginator: paginatorSchema.optional().describe('Default paginator of every endpoint. Default `auto`.'),
  timeout: seconds.optional().describe('Ferry: per-attempt timeout in seconds. Default 30.'),
  max_retries: nonNegInt.optional().describe('Ferry: retries on 429, 5xx and network errors. Default 5.'),
  retry_backoff: seconds
    .optional()
    .describe('Ferry: first backoff delay in seconds, doubled each retry (with jitter). Default 1.'),
  retry_max_delay: seconds
    .optional()
    .describe('Ferry: largest backoff delay and Retry-After honoured, seconds. Default 60.'),
  request_budget: z
    .strictObject({
      requests: posInt.describe('Requests allowed per interval.'),
      per: z.enum(['second', 'minute']).describe('The interval.'),
    })
    .optional()
    .describe(
      'Ferry: requests per second or minute, shared by every concurrent request of the source. Default none.',
    ),
  max_pages: posInt
    .optional()
    .describe('Ferry: most pages one endpoint call may fetch before failing. Default 10000.'),
});

const scalar = z.union([z.string(), z.number(), z.boolean()]);

/** `endpoint.response_actions[]`: what to do with a response matching a status code and/or content. */
export const responseActionSchema = z.strictObject({
  status_code: int.optional().describe('Match this HTTP status.'),
  content: z.string().optional().describe('Match when the body contains this text.'),
  action: z.enum(['ignore']).describe('`ignore`: treat the response as empty (no records, no error).'),
});

/** `endpoint.incremental`: dlt's incremental arguments. */
export const incrementalSchema = z.strictObject({
  cursor_path: jsonPath.describe('Field of each record holding the cursor (dotted for nested).'),
  initial_value: z.unknown().optional().describe('Cursor value of the first load. Default: no lower bound.'),
  end_value: z
    .unknown()
    .optional()
    .describe('Upper bound (a backfill window); state is not advanced when set.'),
  lag: num
    .optional()
    .describe(
      'Re-read this far below the last value: seconds for timestamp cursors, units for numeric ones. Default 0.',
    ),
  row_order: z
    .enum(['asc', 'desc'])
    .optional()
    .describe('Order the API returns rows in; lets a load stop early.'),
  on_cursor_value_missing: z.enum(['raise', 'include', 'exclude']).optional().describe('Default raise.'),
  start_param: text
    .optional()
    .describe(
      'dlt legacy: query parameter that receives the start value (same as a {incremental.start_value} param).',
    ),
  end_param: text.optional().describe('dlt legacy: query parameter that receives the end value.'),
});

/** dlt's legacy `params` entry `{type: incremental, cursor_path, initial_value}`; ported as is. */
const incrementalParamSchema = incrementalSchema
  .omit({ start_param: true, end_param: true })
  .extend({ type: z.literal('incremental') });

/** dlt's legacy `params` entry `{type: resolve, resource, field}`. */
const resolveParamSchema = z.strictObject({
  type: z.literal('resolve'),
  resource: text,
  field: jsonPath,
});

/** `endpoint`: the request of one resource. */
export const endpointSchema = z.strictObject({
  path: z
    .string()
    .optional()
    .describe('Path under base_url (or a full URL); may hold {placeholders}. Default: the resource name.'),
  method: z.enum(['GET', 'POST']).optional().describe('Default GET.'),
  params: z
    .record(z.string(), z.union([scalar, incrementalParamSchema, resolveParamSchema]))
    .optional()
    .describe('Query parameters; values may hold {placeholders}.'),
  json: z.record(z.string(), z.unknown()).optional().describe('JSON body; strings may hold {placeholders}.'),
  data: z
    .union([z.string(), z.record(z.string(), scalar)])
    .optional()
    .describe('Form body (object) or raw text body.'),
  headers: z.record(z.string(), z.string()).optional().describe('Extra headers; may hold {placeholders}.'),
  paginator: paginatorSchema.optional(),
  data_selector: jsonPath.optional().describe('JSONPath of the records in the response. Default: detected.'),
  response_actions: z.array(responseActionSchema).optional(),
  incremental: incrementalSchema.optional(),
  auth: authSchema.optional().describe('Auth of this endpoint instead of the client one.'),
});

const columnHintSchema = z.strictObject({
  data_type: z.enum(DATA_TYPES as [string, ...string[]]).optional(),
  nullable: z.boolean().optional(),
  precision: posInt.optional(),
  scale: nonNegInt.optional(),
});

/** One processing step: `filter` keeps records where the expression is true, `map` replaces each record. */
export const processingStepSchema = z.union([
  z.strictObject({ filter: text.describe('JSONata predicate over the record, e.g. `state = "open"`.') }),
  z.strictObject({ map: text.describe('JSONata expression returning the new record.') }),
]);

const writeDispositionSchema = z.union([
  z.enum(['append', 'replace', 'merge']),
  z.strictObject({
    disposition: z.enum(['append', 'replace', 'merge']),
    strategy: z.enum(['delete-insert', 'upsert']).optional(),
  }),
]);

const keySchema = z.union([text, z.array(text).min(1)]);

const resourceBaseShape = {
  endpoint: z.union([z.string(), endpointSchema]).optional(),
  primary_key: keySchema.optional(),
  merge_key: keySchema.optional(),
  write_disposition: writeDispositionSchema.optional().describe('Default append.'),
  columns: z.record(z.string(), columnHintSchema).optional().describe('Column hints by column name.'),
  max_table_nesting: nonNegInt.optional().describe('Depth past which nested data stays json.'),
  selected: z.boolean().optional().describe('Load this resource. Default true (false: only feeds children).'),
  include_from_parent: z
    .array(text)
    .optional()
    .describe('Parent fields copied into each child record as _<parent>_<field>.'),
  processing_steps: z.array(processingStepSchema).optional(),
  table_name: text.optional().describe('Table name when it differs from the resource name.'),
};

/** `resource_defaults`: merged under every resource (endpoint and params deep-merged). */
export const resourceDefaultsSchema = z.strictObject(resourceBaseShape);

/** One entry of `resources`: a name (the endpoint path too) or a full resource. */
export const resourceSchema = z.union([
  text,
  z.strictObject({ name: text.describe('Resource (and table) name.'), ...resourceBaseShape }),
]);

/** The whole configuration (dlt's `RESTAPIConfig`, snake_case). */
export const restApiConfigSchema = z.strictObject({
  client: clientSchema,
  resource_defaults: resourceDefaultsSchema.optional(),
  resources: z.array(resourceSchema).min(1),
  name: text.optional().describe('Ferry: source (schema) name. Default `rest_api`.'),
  parent_concurrency: posInt
    .optional()
    .describe('Ferry: parent rows whose child requests run at once. Default 4.'),
});

/** The configuration as written (input of the schema: integers may be digit strings). */
export type RestApiConfigInput = z.input<typeof restApiConfigSchema>;
/** The validated configuration. */
export type RestApiConfig = z.output<typeof restApiConfigSchema>;
/** A validated paginator entry. */
export type PaginatorConfig = z.output<typeof paginatorSchema>;
/** A validated auth entry. */
export type AuthConfig = z.output<typeof authSchema>;
/** A validated endpoint. */
export type EndpointConfig = z.output<typeof endpointSchema>;
/** A validated client block. */
export type ClientConfig = z.output<typeof clientSchema>;
/** A validated incremental block. */
export type IncrementalConfig = z.output<typeof incrementalSchema>;
/** A validated processing step. */
export type ProcessingStep = z.output<typeof processingStepSchema>;
/** A validated resource entry (object form). */
export type ResourceConfig = Exclude<z.output<typeof resourceSchema>, string>;
