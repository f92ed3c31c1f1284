import { z } from 'zod';
import {
  checkRestApiConfig,
  resolveResources,
  restApiConfigSchema,
  type PaginatorConfig,
} from '@ferry/source-rest-api/config';
import { defineSourceType } from './source-type.ts';

/**
 * `source:` for any REST API: dlt's `RESTAPIConfig` in snake_case plus `type: rest_api` (see
 * docs/rest-api-source.md). The static checks of the source (placeholders naming resources that exist,
 * incremental placeholders, merge keys, paginators that can stop) run as part of the schema, so `ferry
 * validate` reports them with file and line and without a request.
 */
export const restApiSourceSchema = restApiConfigSchema
  .extend({ type: z.literal('rest_api') })
  .superRefine((value, ctx) => {
    const { type: _type, ...config } = value;
    for (const p of checkRestApiConfig(config))
      ctx.addIssue({ code: 'custom', path: p.path, message: p.message });
  })
  .describe(
    "Any REST API, declared like dlt's rest_api source: client (base_url, auth, paginator), resource_defaults, resources.",
  );

/** The validated `source:` block of a REST API team. */
export type RestApiSourceYaml = z.output<typeof restApiSourceSchema>;

/** The `rest_api` source type: the package's HTTP client and expression engine load only when a run builds it. */
export const restApiSourceType = defineSourceType({
  type: 'rest_api',
  schema: restApiSourceSchema,
  async create(config) {
    const { restApiSource } = await import('@ferry/source-rest-api');
    const { type: _type, ...rest } = config;
    return restApiSource(rest);
  },
  async probe(config, signal) {
    const { probeRestApi } = await import('@ferry/source-rest-api');
    const { type: _type, ...rest } = config;
    return (await probeRestApi(rest, { signal })).check;
  },
  resourceInfo(config) {
    const { type: _type, ...rest } = config;
    return resolveResources(rest).map((r) => ({
      name: r.name,
      endpoint: `${r.endpoint.method ?? 'GET'} ${r.endpoint.path}`,
      paginator: paginatorText(r.endpoint.paginator ?? rest.client.paginator),
      ...(r.parent === undefined ? {} : { parent: r.parent }),
    }));
  },
});

/** A paginator entry as one line: `offset (limit=100, total_path=total)`; unset is `auto`. */
function paginatorText(p: PaginatorConfig | undefined): string {
  if (p === undefined) return 'auto (detected from the first response)';
  if (typeof p === 'string') return p;
  const { type, ...settings } = p as { type: string } & Record<string, unknown>;
  const list = Object.entries(settings).map(([k, v]) => `${k}=${JSON.stringify(v)}`);
  return list.length ? `${type} (${list.join(', ')})` : type;
}
