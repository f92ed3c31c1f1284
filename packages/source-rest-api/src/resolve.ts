import { ConfigError } from '@ferry/core';
import {
  restApiConfigSchema,
  type EndpointConfig,
  type IncrementalConfig,
  type RestApiConfig,
  type ResourceConfig,
} from './config.ts';

/** A resource entry after defaults are merged and placeholders are parsed. */
export interface ResolvedResource {
  /** Resource name. */
  name: string;
  /** The endpoint, with `path` always set. */
  endpoint: EndpointConfig & { path: string };
  /** The merged resource entry. */
  config: ResourceConfig;
  /** The parent resource this one runs once per row of, if any. */
  parent: string | undefined;
  /** Parent fields the placeholders read (JSONPath), by placeholder text. */
  parentFields: Map<string, string>;
}

/** `{resources.parent.field}`, `{incremental.start_value}`. */
export const PLACEHOLDER = /\{([^{}]+)\}/g;
const INCREMENTAL_KEYS = new Set(['start_value', 'end_value', 'initial_value', 'last_value']);

/** A plain JSON object (not null, not a list). */
export function isObject(v: unknown): v is Record<string, unknown> {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Endpoint keys whose objects merge key by key (dlt's `_merge_resource_endpoints`); others replace. */
const MERGED_ENDPOINT_KEYS = new Set(['params', 'json', 'headers']);

/** dlt's merge of resource_defaults' endpoint under a resource's: params, json and headers merged, the resource wins. */
function mergeEndpoint(
  base: Record<string, unknown>,
  over: Record<string, unknown>,
): Record<string, unknown> {
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over))
    out[k] = MERGED_ENDPOINT_KEYS.has(k) && isObject(v) && isObject(out[k]) ? { ...out[k], ...v } : v;
  return out;
}

/** Parse and check a config: zod issues become one ConfigError naming every bad key. */
export function parseRestApiConfig(input: unknown, where = 'rest_api'): RestApiConfig {
  const r = restApiConfigSchema.safeParse(input);
  if (r.success) return r.data;
  const lines = r.error.issues.map((i) => `  ${[where, ...i.path.map(String)].join('.')}: ${i.message}`);
  throw new ConfigError(`invalid REST API source config:\n${lines.join('\n')}`, {
    path: where,
    issues: r.error.issues,
  });
}

/**
 * Merge defaults into each resource, turn dlt's legacy `resolve`/`incremental` params into placeholders,
 * and check every `{resources.<parent>.<field>}` names a declared resource (one parent per resource, no
 * cycles). Throws {@link ConfigError} naming the resource and the key.
 */
export function resolveResources(config: RestApiConfig): ResolvedResource[] {
  const defaults = config.resource_defaults ?? {};
  const entries: ResourceConfig[] = config.resources.map((r) => (typeof r === 'string' ? { name: r } : r));
  const names = new Set<string>();
  for (const e of entries) {
    if (names.has(e.name))
      throw new ConfigError(`resources: '${e.name}' is declared twice`, { path: `resources.${e.name}` });
    names.add(e.name);
  }
  const out = entries.map((entry): ResolvedResource => {
    const own = typeof entry.endpoint === 'string' ? { path: entry.endpoint } : (entry.endpoint ?? {});
    const base =
      typeof defaults.endpoint === 'string' ? { path: defaults.endpoint } : (defaults.endpoint ?? {});
    const { endpoint: _d, ...restDefaults } = defaults;
    const { endpoint: _o, ...restOwn } = entry;
    const merged = { ...restDefaults, ...restOwn } as ResourceConfig;
    const endpoint = mergeEndpoint(base, own) as EndpointConfig;
    endpoint.path ??= entry.name;
    const where = `resources.${entry.name}.endpoint`;
    const params: Record<string, unknown> = { ...endpoint.params };
    for (const [k, v] of Object.entries(params)) {
      if (!isObject(v)) continue;
      if (v['type'] === 'resolve') params[k] = `{resources.${String(v['resource'])}.${String(v['field'])}}`;
      else if (v['type'] === 'incremental') {
        if (endpoint.incremental)
          throw new ConfigError(
            `${where}.params.${k}: an incremental param and endpoint.incremental are both set; keep one`,
            {
              path: `${where}.params.${k}`,
            },
          );
        const { type: _t, ...inc } = v;
        endpoint.incremental = inc as IncrementalConfig;
        params[k] = '{incremental.start_value}';
      }
    }
    if (endpoint.incremental?.start_param)
      params[endpoint.incremental.start_param] = '{incremental.start_value}';
    if (endpoint.incremental?.end_param) params[endpoint.incremental.end_param] = '{incremental.end_value}';
    endpoint.params = params as EndpointConfig['params'];

    let parent: string | undefined;
    const parentFields = new Map<string, string>();
    const visit = (text: string, key: string, strict: boolean) => {
      for (const m of text.matchAll(PLACEHOLDER)) {
        const body = m[1]!.trim();
        const [head, ...rest] = body.split('.');
        if (head === 'resources' && rest.length >= 2) {
          const p = rest[0]!;
          if (!names.has(p))
            throw new ConfigError(
              `${where}.${key}: placeholder {${body}} names resource '${p}', which is not declared; resources: ${[...names].join(', ')}`,
              { path: `${where}.${key}` },
            );
          if (p === entry.name)
            throw new ConfigError(`${where}.${key}: resource '${p}' cannot be its own parent`, {
              path: `${where}.${key}`,
            });
          if (parent !== undefined && parent !== p)
            throw new ConfigError(
              `${where}.${key}: a resource has one parent, but placeholders name both '${parent}' and '${p}'`,
              { path: `${where}.${key}` },
            );
          parent = p;
          parentFields.set(body, rest.slice(1).join('.'));
        } else if (head === 'incremental' && rest.length === 1 && INCREMENTAL_KEYS.has(rest[0]!)) {
          if (!endpoint.incremental)
            throw new ConfigError(
              `${where}.${key}: {${body}} needs endpoint.incremental (cursor_path, initial_value)`,
              {
                path: `${where}.${key}`,
              },
            );
        } else if (strict) {
          throw new ConfigError(
            `${where}.${key}: unknown placeholder {${body}}; use {resources.<parent>.<field>} or {incremental.start_value}`,
            { path: `${where}.${key}` },
          );
        }
      }
    };
    visit(endpoint.path, 'path', true);
    for (const [k, v] of Object.entries(params)) if (typeof v === 'string') visit(v, `params.${k}`, true);
    for (const [k, v] of Object.entries(endpoint.headers ?? {})) visit(v, `headers.${k}`, false);
    const walk = (v: unknown, key: string): void => {
      if (typeof v === 'string') visit(v, key, false);
      else if (Array.isArray(v)) v.forEach((x, i) => walk(x, `${key}[${i}]`));
      else if (isObject(v)) for (const [k, x] of Object.entries(v)) walk(x, `${key}.${k}`);
    };
    walk(endpoint.json, 'json');
    if (merged.include_from_parent?.length && parent === undefined)
      throw new ConfigError(
        `resources.${entry.name}.include_from_parent: the resource has no parent (no {resources.<parent>.<field>} placeholder)`,
        { path: `resources.${entry.name}.include_from_parent` },
      );
    return {
      name: entry.name,
      endpoint: endpoint as EndpointConfig & { path: string },
      config: merged,
      parent,
      parentFields,
    };
  });
  // cycles: follow parents; a chain longer than the resource count loops
  const byName = new Map(out.map((r) => [r.name, r]));
  for (const r of out) {
    let cur: ResolvedResource | undefined = r;
    for (let i = 0; cur?.parent !== undefined; i++) {
      if (i > out.length)
        throw new ConfigError(`resources.${r.name}: parent placeholders form a cycle`, {
          path: `resources.${r.name}`,
        });
      cur = byName.get(cur.parent);
    }
  }
  return out;
}
