import { createHash } from 'node:crypto';
import {
  ConfigError,
  DataError,
  resource as coreResource,
  source as coreSource,
  transformer,
  type ColumnHint,
  type DataItem,
  type IncrementalOptions,
  type Resource,
  type ResourceContext,
  type ResourceOptions,
  type Source,
} from '@ferry/core';
import { createAuth, type Auth } from './auth.ts';
import {
  type IncrementalConfig,
  type PaginatorConfig,
  type RestApiConfig,
  type RestApiConfigInput,
  type ResourceConfig,
} from './config.ts';
import {
  isObject,
  parseRestApiConfig,
  PLACEHOLDER,
  resolveResources,
  type ResolvedResource,
} from './resolve.ts';
import { RestApiError, RestApiPaginationError, RestApiResponseError } from './errors.ts';
import { applySteps, compileSteps, type RecordStep } from './expressions.ts';
import { RestClient, type RestRequestEvent } from './http-client.ts';
import { findValue, findValues } from './jsonpath.ts';
import {
  createPaginator,
  detectPaginator,
  PaginationDataError,
  type PageRequest,
  type Paginator,
} from './paginators.ts';
import { Redactor } from './redact.ts';

/** Options of {@link restApiSource} that are code, not configuration. */
export interface RestApiSourceOptions {
  /**
   * Receives the source's log lines (the paginator `auto` chose, the data selector it detected). Default:
   * written to stderr as `rest_api: …`, because a guessed paginator is something to see and pin down.
   */
  log?: (message: string) => void;
  /** Receives every HTTP attempt (URL redacted). Default none. */
  onRequest?: (event: RestRequestEvent) => void;
  /** Sleep between retries (tests pass a recording one). Default a timer. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

const DEFAULT_MAX_PAGES = 10_000;
const DEFAULT_PARENT_CONCURRENCY = 4;
/** Statuses that end a probe past the declared total: the API refusing a page out of range. */
const PROBE_END_STATUS = new Set([400, 404, 416, 422]);

function columnHints(columns: ResourceConfig['columns']): Record<string, ColumnHint> | undefined {
  if (!columns) return undefined;
  return Object.fromEntries(
    Object.entries(columns).map(([name, c]) => [
      name,
      {
        ...(c.data_type === undefined ? {} : { dataType: c.data_type as ColumnHint['dataType'] & string }),
        ...(c.nullable === undefined ? {} : { nullable: c.nullable }),
        ...(c.precision === undefined ? {} : { precision: c.precision }),
        ...(c.scale === undefined ? {} : { scale: c.scale }),
      } as ColumnHint,
    ]),
  );
}

function incrementalOptions(inc: IncrementalConfig | undefined): IncrementalOptions | undefined {
  if (!inc) return undefined;
  const cursorPath = inc.cursor_path.replace(/^\$\.?/, '');
  const numeric = typeof inc.initial_value === 'number' || typeof inc.end_value === 'number';
  return {
    cursorPath,
    ...(inc.initial_value === undefined ? {} : { initialValue: inc.initial_value }),
    ...(inc.end_value === undefined ? {} : { endValue: inc.end_value }),
    // dlt's lag is seconds for datetime cursors and units for numeric ones; core's lookback is ms for times
    ...(inc.lag === undefined ? {} : { lookback: numeric ? inc.lag : inc.lag * 1000 }),
    ...(inc.row_order === undefined ? {} : { rowOrder: inc.row_order }),
    ...(inc.on_cursor_value_missing === undefined
      ? {}
      : { onCursorValueMissing: inc.on_cursor_value_missing }),
  };
}

function formatValue(v: unknown): string {
  if (v instanceof Date) return v.toISOString();
  if (isObject(v) || Array.isArray(v)) return JSON.stringify(v);
  return String(v);
}

/** Values placeholders resolve to in one call: the parent row's fields and the incremental cursor. */
interface Bindings {
  parent: DataItem | undefined;
  parentName: string | undefined;
  fields: Map<string, string>;
  incremental: ResourceContext['incremental'];
}

function lookup(body: string, b: Bindings, resource: string): { found: boolean; value: unknown } {
  if (body.startsWith('resources.')) {
    const path = b.fields.get(body)!;
    const value = findValue(path, b.parent);
    if (value === undefined || value === null)
      throw new DataError(
        `resource '${resource}': its parent '${b.parentName}' row has no '${path}' (placeholder {${body}}); check the field name or filter such rows out in the parent's processing_steps`,
        { resource, parent: b.parentName, field: path },
      );
    return { found: true, value };
  }
  const key = body.split('.')[1] as 'start_value' | 'end_value' | 'initial_value' | 'last_value';
  const inc = b.incremental;
  const map = {
    start_value: inc?.startValue,
    end_value: inc?.endValue,
    initial_value: inc?.initialValue,
    last_value: inc?.lastValue,
  };
  return { found: map[key] !== undefined && map[key] !== null, value: map[key] };
}

/** Substitute placeholders; a string that is exactly one placeholder keeps the value's type (JSON bodies). */
function substitute(text: string, b: Bindings, resource: string, encode: boolean): unknown {
  const whole = /^\{([^{}]+)\}$/.exec(text);
  if (whole && (whole[1]!.startsWith('resources.') || whole[1]!.startsWith('incremental.'))) {
    const r = lookup(whole[1]!.trim(), b, resource);
    return r.found ? r.value : undefined;
  }
  return text.replace(PLACEHOLDER, (m, raw: string) => {
    const body = raw.trim();
    if (!body.startsWith('resources.') && !body.startsWith('incremental.')) return m;
    const r = lookup(body, b, resource);
    const s = r.found ? formatValue(r.value) : '';
    return encode ? encodeURIComponent(s) : s;
  });
}

function substituteDeep(v: unknown, b: Bindings, resource: string): unknown {
  if (typeof v === 'string') return substitute(v, b, resource, false);
  if (Array.isArray(v)) return v.map((x) => substituteDeep(x, b, resource));
  if (isObject(v)) {
    const out: Record<string, unknown> = {};
    for (const [k, x] of Object.entries(v)) {
      const s = substituteDeep(x, b, resource);
      if (s !== undefined) out[k] = s;
    }
    return out;
  }
  return v;
}

/** dlt's data detection: a top-level list, else the first list (2 levels deep) under a records-like key, else the first list. */
export function detectDataSelector(body: unknown): string {
  if (!isObject(body)) return '$';
  const lists: string[][] = [];
  const find = (node: Record<string, unknown>, path: string[]) => {
    if (path.length > 2) return;
    for (const [k, v] of Object.entries(node)) {
      if (Array.isArray(v)) lists.push([...path, k]);
      else if (isObject(v)) find(v, [...path, k]);
    }
  };
  find(body, []);
  if (lists.length === 0) return '$';
  const RECORD_KEYS = new Set([
    'data',
    'items',
    'results',
    'entries',
    'records',
    'rows',
    'entities',
    'payload',
    'content',
    'objects',
    'values',
  ]);
  const pick = lists.find((p) => RECORD_KEYS.has(p[p.length - 1]!)) ?? lists[0]!;
  return pick
    .map((k) => (/^[A-Za-z_][A-Za-z0-9_]*$/.test(k) ? k : `['${k.replace(/'/g, "\\'")}']`))
    .join('.');
}

/** True when a JSONPath names one place (no wildcard, filter, slice, union or recursive descent). */
function isDefinite(selector: string): boolean {
  return !/\*|\?|\.\.|,|\[\s*-?\d*\s*:/.test(selector);
}

/**
 * The records of a response at `selector`. A list is the records; null (or an empty body) is an empty
 * page. One object is one record only where the endpoint returns one entity (`single_page`); anywhere
 * else, and for a selector that matches nothing or a scalar, it is an error: loading 0 or 1 rows from
 * a paged endpoint that answered something else would lose data silently (issue 15).
 */
function selectRecords(
  body: unknown,
  selector: string,
  single: boolean,
  where: { resource: string; url: string; explicit: boolean },
): unknown[] {
  if (body === undefined || body === null) return [];
  const bad = (what: string): never => {
    throw new RestApiResponseError(
      `resource '${where.resource}': ${where.url}: ${what}; ${
        single
          ? 'set endpoint.data_selector to the record (or the list of records)'
          : `set endpoint.data_selector to the list of records${where.explicit ? '' : ' (it was detected, not set)'}, or paginator: single_page if the endpoint returns one object`
      }`,
      { resource: where.resource, url: where.url },
    );
  };
  const describe = (v: unknown) =>
    isObject(v) ? 'an object' : Array.isArray(v) ? 'a list' : `${typeof v} ${JSON.stringify(v)}`.slice(0, 80);
  if (!isDefinite(selector)) {
    const values = findValues(selector, body);
    // `data[*].items`: each match a list of records, flattened; else each match is a record
    return values.every(Array.isArray) && values.length > 0 ? values.flat() : values;
  }
  const values = selector === '$' ? [body] : findValues(selector, body);
  if (values.length === 0)
    return bad(
      `data_selector '${selector}' matches nothing in the response (keys: ${isObject(body) ? Object.keys(body).slice(0, 10).join(', ') || 'none' : describe(body)})`,
    );
  const v = values[0];
  if (Array.isArray(v)) return v;
  if (v === null) return [];
  if (isObject(v) && single) return [v];
  return bad(`the data at '${selector}' is ${describe(v)}, not a list of records`);
}

/** What identifies a record within one call: its primary key, else its `id`, else its whole content. */
function recordIdentity(record: unknown, primaryKey: readonly string[] | undefined): number {
  let key: unknown = record;
  if (isObject(record)) {
    if (primaryKey?.length) key = primaryKey.map((k) => findValue(k, record));
    else if (record['id'] !== undefined && record['id'] !== null) key = record['id'];
  }
  // 48 bits of a hash: a Set of numbers stays small over a long call; a false "all seen" needs every
  // record of a page to collide
  return parseInt(
    createHash('sha1')
      .update(JSON.stringify(key) ?? 'undefined')
      .digest('hex')
      .slice(0, 12),
    16,
  );
}

/** The URL of a page request, its params in the order they are sent. */
function requestUrl(req: PageRequest): URL {
  const u = new URL(req.url);
  for (const [k, v] of Object.entries(req.params)) u.searchParams.set(k, v);
  return u;
}

/** Identity of a page request (params sorted): the same key twice means the paginator did not advance. */
function requestKey(method: string, req: PageRequest): string {
  const u = requestUrl(req);
  u.searchParams.sort();
  return `${method} ${u.toString()} ${req.json === undefined ? '' : JSON.stringify(req.json)}`;
}

/** Everything one resource needs to run its calls. */
interface Runner {
  resolved: ResolvedResource;
  client: RestClient;
  auth: Auth | undefined;
  baseUrl: string;
  paginator: PaginatorConfig;
  steps: RecordStep[];
  maxPages: number;
  log: (message: string) => void;
  /** Data selector detected on the first page of the first call; reused by later calls. */
  detectedSelector?: string;
}

function resolveUrl(baseUrl: string, path: string): string {
  if (/^https?:\/\//i.test(path)) return path;
  const base = baseUrl.endsWith('/') ? baseUrl : `${baseUrl}/`;
  return new URL(path.replace(/^\/+/, ''), base).toString();
}

async function* runCall(r: Runner, b: Bindings, ctx: ResourceContext): AsyncGenerator<DataItem[]> {
  const { resolved, client } = r;
  const name = resolved.name;
  const ep = resolved.endpoint;
  const path = substitute(ep.path, b, name, true);
  if (typeof path !== 'string' || path === '')
    throw new DataError(
      `resource '${name}': endpoint.path '${ep.path}' resolved to nothing (is the incremental value set?)`,
      {
        resource: name,
      },
    );
  const params: Record<string, string> = {};
  for (const [k, v] of Object.entries(ep.params ?? {})) {
    const s = typeof v === 'string' ? substitute(v, b, name, false) : v;
    if (s !== undefined && s !== null) params[k] = formatValue(s);
  }
  const req: PageRequest = {
    url: resolveUrl(r.baseUrl, path),
    params,
    json: ep.json === undefined ? undefined : (substituteDeep(ep.json, b, name) as Record<string, unknown>),
  };
  const headers = ep.headers
    ? Object.fromEntries(
        Object.entries(ep.headers).map(([k, v]) => [k, String(substitute(v, b, name, false) ?? '')]),
      )
    : undefined;
  const configured = createPaginator(r.paginator, `resources.${name}.endpoint.paginator`);
  let paginator: Paginator | undefined = configured === 'auto' ? undefined : configured;
  paginator?.init(req);
  const method = ep.method ?? 'GET';
  const seen = new Set<string>();
  const seenRecords = new Set<number>();
  const pk = resolved.config.primary_key;
  const primaryKey = pk === undefined ? undefined : Array.isArray(pk) ? pk : [pk];
  let previousUrl = '';
  for (let page = 1; ; page++) {
    const shown = client.redactor.url(requestUrl(req));
    const key = requestKey(method, req);
    const probing = paginator?.probing === true;
    if (seen.has(key))
      throw new RestApiPaginationError(
        `resource '${name}': the ${paginator?.type ?? 'auto'} paginator asked for ${shown} a second time; the API does not advance with this paginator, so paging stopped to avoid a loop. Check the paginator settings.`,
        { resource: name, url: shown },
      );
    seen.add(key);
    if (page > r.maxPages)
      throw new RestApiPaginationError(
        `resource '${name}': reached client.max_pages (${r.maxPages}) at ${shown} without the last page; raise client.max_pages if the endpoint really has more pages`,
        { resource: name, url: shown },
      );
    let res;
    try {
      res = await client.request({
        resource: name,
        method,
        url: req.url,
        params: req.params,
        ...(req.json === undefined ? {} : { json: req.json }),
        ...(ep.data === undefined ? {} : { data: ep.data }),
        ...(headers === undefined ? {} : { headers }),
        auth: r.auth,
        ...(ep.response_actions ? { responseActions: ep.response_actions } : {}),
        signal: ctx.signal,
      });
    } catch (error) {
      // a probe past the declared total that the API refuses as out of range: the total was right
      if (
        probing &&
        error instanceof RestApiError &&
        error.status !== undefined &&
        PROBE_END_STATUS.has(error.status)
      ) {
        r.log(
          `resource '${name}': ${shown} (past the total, asked because the last page was full) answered HTTP ${error.status}; taking the total as the end`,
        );
        return;
      }
      throw error;
    }
    if (res.ignored) return;
    const response = { url: res.url, headers: res.headers, body: res.body };
    // a path ending in a placeholder (`pokemon/{resources.pokemon_list.name}`) returns one entity: the
    // whole body is the record, as in dlt, not a list found inside it
    let selector = ep.data_selector ?? r.detectedSelector ?? (singleEntityPath(ep.path) ? '$' : undefined);
    if (selector === undefined) {
      selector = detectDataSelector(res.body);
      r.detectedSelector = selector;
      // a top-level list needs no guess; a list picked out of an object is worth a line
      if (isObject(res.body))
        r.log(
          `resource '${name}': data_selector not set; using '${selector}' (detected from the first response)`,
        );
    }
    if (!paginator) {
      const d = detectPaginator(response);
      paginator = d.paginator;
      r.log(`resource '${name}': paginator not set; using ${d.paginator.describe()} because ${d.reason}`);
    }
    const raw = selectRecords(res.body, selector, paginator.type === 'single_page', {
      resource: name,
      url: shown,
      explicit: ep.data_selector !== undefined,
    });
    if (raw.length > 0 && paginator.type !== 'single_page') {
      const ids = raw.map((rec) => recordIdentity(rec, primaryKey));
      if (ids.every((id) => seenRecords.has(id))) {
        if (probing) {
          r.log(
            `resource '${name}': ${shown} (past the total, asked because the last page was full) holds only records already read; taking the total as the end`,
          );
          return;
        }
        throw new RestApiPaginationError(
          `resource '${name}': ${shown} returned only records already read on earlier pages (${raw.length} of ${raw.length}, matched by ${primaryKey ? `primary_key ${primaryKey.join(', ')}` : "'id' or the whole record"}; previous page ${previousUrl}); the API ignores the ${paginator.type} paginator's parameter or loops, so paging stopped. Check the paginator settings (param names, base_page).`,
          { resource: name, url: shown },
        );
      }
      for (const id of ids) seenRecords.add(id);
    }
    previousUrl = shown;
    for (const [i, item] of raw.entries())
      if (!isObject(item))
        throw new DataError(
          `resource '${name}': record ${i} of ${shown} is ${item === null ? 'null' : Array.isArray(item) ? 'an array' : typeof item}, not an object; set endpoint.data_selector to the list of records`,
          { resource: name, url: shown },
        );
    let records = raw as DataItem[];
    if (b.parent && resolved.config.include_from_parent?.length) {
      const extra: DataItem = {};
      for (const f of resolved.config.include_from_parent)
        extra[`_${b.parentName}_${f}`] = findValue(f, b.parent);
      records = records.map((rec) => ({ ...rec, ...extra }));
    }
    records = await applySteps(r.steps, records);
    if (records.length > 0) yield records;
    try {
      paginator.update(response, raw);
    } catch (error) {
      if (error instanceof PaginationDataError)
        throw new RestApiPaginationError(`resource '${name}': ${error.message} (at ${shown})`, {
          resource: name,
          url: shown,
        });
      throw error;
    }
    if (!paginator.hasNext) return;
    paginator.next(req);
  }
}

/** Does the path end in a placeholder (`pokemon/{resources.pokemon.name}`)? dlt then expects one object. */
function singleEntityPath(path: string): boolean {
  const last = path.split('?')[0]!.split('/').filter(Boolean).pop() ?? '';
  return /\{[A-Za-z0-9._-]+\}/.test(last);
}

/**
 * A Ferry source from a dlt-style REST API config: each entry of `resources` becomes a resource (a table);
 * one whose path or params name `{resources.<parent>.<field>}` runs once per parent row. State (incremental
 * cursors) is stored at the destination like every resource's. See docs/rest-api-source.md.
 */
export function restApiSource(
  input: RestApiConfigInput | RestApiConfig,
  options: RestApiSourceOptions = {},
): Source {
  const config = parseRestApiConfig(input);
  const log = options.log ?? ((m: string) => process.stderr.write(`rest_api: ${m}\n`));
  const redactor = new Redactor();
  const c = config.client;
  const client = new RestClient({
    ...(c.headers === undefined ? {} : { headers: c.headers }),
    ...(c.timeout === undefined ? {} : { timeoutMs: c.timeout * 1000 }),
    ...(c.max_retries === undefined ? {} : { maxRetries: c.max_retries }),
    ...(c.retry_backoff === undefined ? {} : { backoffMs: c.retry_backoff * 1000 }),
    ...(c.retry_max_delay === undefined ? {} : { maxDelayMs: c.retry_max_delay * 1000 }),
    ...(c.request_budget === undefined
      ? {}
      : {
          budget: {
            requests: c.request_budget.requests,
            intervalMs: c.request_budget.per === 'second' ? 1000 : 60_000,
          },
        }),
    redactor,
    ...(options.onRequest === undefined ? {} : { onRequest: options.onRequest }),
    ...(options.sleep === undefined ? {} : { sleep: options.sleep }),
  });
  const clientAuth = c.auth ? createAuth(c.auth, redactor) : undefined;
  const resolved = resolveResources(config);
  const built = new Map<string, Resource>();
  const byName = new Map(resolved.map((r) => [r.name, r]));
  const concurrency = config.parent_concurrency ?? DEFAULT_PARENT_CONCURRENCY;

  const build = (r: ResolvedResource): Resource => {
    const existing = built.get(r.name);
    if (existing) return existing;
    const cfg = r.config;
    const wd = cfg.write_disposition;
    const inc = incrementalOptions(r.endpoint.incremental);
    const opts: ResourceOptions = {
      name: r.name,
      ...(cfg.table_name === undefined ? {} : { tableName: cfg.table_name }),
      ...(wd === undefined
        ? {}
        : typeof wd === 'string'
          ? { writeDisposition: wd }
          : { writeDisposition: wd.disposition }),
      ...(typeof wd === 'object' && wd.strategy ? { mergeStrategy: wd.strategy } : {}),
      ...(cfg.primary_key === undefined ? {} : { primaryKey: cfg.primary_key }),
      ...(cfg.merge_key === undefined ? {} : { mergeKey: cfg.merge_key }),
      ...(cfg.columns === undefined ? {} : { columns: columnHints(cfg.columns)! }),
      ...(cfg.max_table_nesting === undefined ? {} : { maxTableNesting: cfg.max_table_nesting }),
      ...(cfg.selected === undefined ? {} : { selected: cfg.selected }),
      ...(inc === undefined ? {} : { incremental: inc }),
    };
    if (opts.writeDisposition === 'merge' && !opts.primaryKey && !opts.mergeKey)
      throw new ConfigError(`resources.${r.name}: write_disposition merge needs primary_key or merge_key`, {
        path: `resources.${r.name}.write_disposition`,
      });
    const paginator =
      r.endpoint.paginator ?? (singleEntityPath(r.endpoint.path) ? 'single_page' : (c.paginator ?? 'auto'));
    // fail on a bad paginator now, not on the first page
    createPaginator(paginator, `resources.${r.name}.endpoint.paginator`);
    const runner: Runner = {
      resolved: r,
      client,
      auth: r.endpoint.auth ? createAuth(r.endpoint.auth, redactor) : clientAuth,
      baseUrl: c.base_url,
      paginator,
      steps: compileSteps(cfg.processing_steps ?? [], r.name),
      maxPages: c.max_pages ?? DEFAULT_MAX_PAGES,
      log,
    };
    let res: Resource;
    if (r.parent === undefined) {
      res = coreResource(opts, (ctx) =>
        runCall(
          runner,
          { parent: undefined, parentName: undefined, fields: r.parentFields, incremental: ctx.incremental },
          ctx,
        ),
      );
    } else {
      const parent = build(byName.get(r.parent)!);
      res = transformer({ ...opts, parent, concurrency }, (item, ctx) =>
        runCall(
          runner,
          { parent: item, parentName: r.parent, fields: r.parentFields, incremental: ctx.incremental },
          ctx,
        ),
      );
    }
    built.set(r.name, res);
    return res;
  };
  const resources = resolved.map(build);
  return coreSource({ name: config.name ?? 'rest_api', resources });
}

/**
 * One cheap authenticated call: the first page of the first resource that has no parent, without retries
 * (a wrong key answers fast), nothing loaded. For `ferry mcp`'s `check_credentials`. Resolves with what
 * was called; rejects with the request's {@link RestApiError} (secrets redacted).
 */
export async function probeRestApi(
  input: RestApiConfigInput | RestApiConfig,
  options: { signal?: AbortSignal } = {},
): Promise<{ resource: string; check: string }> {
  const config = parseRestApiConfig(input);
  const src = restApiSource({ ...config, client: { ...config.client, max_retries: 0 } }, { log: () => {} });
  const root = src.resources.find((r) => r.transform === undefined && r.fn !== undefined);
  if (!root?.fn) throw new ConfigError('rest_api: no resource without a parent to probe');
  const inc = root.options.incremental;
  const ctx: ResourceContext = {
    incremental: inc
      ? {
          initialValue: inc.initialValue,
          lastValue: undefined,
          startValue: inc.initialValue,
          endValue: inc.endValue,
        }
      : undefined,
    state: {},
    signal: options.signal ?? new AbortController().signal,
  };
  const it = (root.fn(ctx) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
  try {
    await it.next();
  } finally {
    await it.return?.();
  }
  const ep = resolveResources(config).find((r) => r.name === root.name)!.endpoint;
  return { resource: root.name, check: `${ep.method ?? 'GET'} ${ep.path} (first page of '${root.name}')` };
}
