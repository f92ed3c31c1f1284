import type { Source } from '@ferry/core';
import type { TeamConfig } from '../config/load-team-config.ts';
import { SOURCE_TYPES } from '../sources/source-registry.ts';
import { UsageError } from '../commands/context.ts';

/** One resource of a source as `list_source_resources` reports it. */
export interface SourceResourceInfo {
  /** Resource name (what `resources:` lists). */
  name: string;
  /** Table it loads into. */
  table?: string;
  /** HTTP endpoint, relative to the API root, with `{placeholders}`. */
  endpoint?: string;
  /** API version of that endpoint. */
  apiVersion?: string;
  /** How the endpoint pages, when it does. */
  paginator?: string;
  /** Loaded when `resources:` is not given. */
  default?: boolean;
  /** Whether this team file loads it (only with a pipeline). */
  selected?: boolean;
  /** `append`, `replace` or `merge` (from the built source, with a pipeline). */
  writeDisposition?: string;
  /** Primary key columns (from the built source, with a pipeline). */
  primaryKey?: string[];
  /** Incremental cursor field, when the resource loads incrementally. */
  cursor?: string;
  /** The resource this one runs once per row of (REST source children). */
  parent?: string;
}

/**
 * The dbt Cloud Administrative API endpoint each resource reads (from `@ferry/source-dbt-cloud`'s
 * `source.ts`; dbt's API reference: v2 for jobs and runs, v3 for the account-level lists). Offset
 * pagination (`offset`/`limit`, `extra.pagination.total_count`) on every list endpoint.
 */
const DBT_CLOUD_ENDPOINTS: Record<
  string,
  { table: string; endpoint: string; apiVersion: string; paged: boolean }
> = {
  accounts: { table: 'accounts', endpoint: 'accounts/', apiVersion: 'v3', paged: true },
  account: { table: 'accounts', endpoint: 'accounts/{account_id}/', apiVersion: 'v2', paged: false },
  projects: { table: 'projects', endpoint: 'accounts/{account_id}/projects/', apiVersion: 'v3', paged: true },
  environments: {
    table: 'environments',
    endpoint: 'accounts/{account_id}/projects/{project_id}/environments/',
    apiVersion: 'v3',
    paged: true,
  },
  repositories: {
    table: 'repositories',
    endpoint: 'accounts/{account_id}/projects/{project_id}/repositories/',
    apiVersion: 'v3',
    paged: true,
  },
  jobs: { table: 'jobs', endpoint: 'accounts/{account_id}/jobs/', apiVersion: 'v2', paged: true },
  job: { table: 'jobs', endpoint: 'accounts/{account_id}/jobs/{job_id}/', apiVersion: 'v2', paged: false },
  runs: { table: 'runs', endpoint: 'accounts/{account_id}/runs/', apiVersion: 'v2', paged: true },
  run: { table: 'runs', endpoint: 'accounts/{account_id}/runs/{run_id}/', apiVersion: 'v2', paged: false },
  run_artifacts: {
    table: 'run_artifacts',
    endpoint: 'accounts/{account_id}/runs/{run_id}/artifacts/{path}',
    apiVersion: 'v2',
    paged: false,
  },
  run_results: {
    table: 'run_results',
    endpoint: 'accounts/{account_id}/runs/{run_id}/artifacts/run_results.json',
    apiVersion: 'v2',
    paged: false,
  },
  models: {
    table: 'models',
    endpoint: 'accounts/{account_id}/runs/{run_id}/artifacts/manifest.json',
    apiVersion: 'v2',
    paged: false,
  },
  users: { table: 'users', endpoint: 'accounts/{account_id}/users/', apiVersion: 'v3', paged: true },
  connections: {
    table: 'connections',
    endpoint: 'accounts/{account_id}/connections/',
    apiVersion: 'v3',
    paged: true,
  },
};

const OFFSET_PAGINATOR = 'offset (offset/limit, total from extra.pagination.total_count)';

/** Resources of a source type (no pipeline: what it can load), from static metadata. */
export async function sourceTypeResources(type: string): Promise<SourceResourceInfo[]> {
  if (SOURCE_TYPES[type] === undefined)
    throw new UsageError(`unknown source type '${type}'; known: ${Object.keys(SOURCE_TYPES).join(', ')}`);
  if (type === 'dbt_cloud') {
    const { DBT_CLOUD_RESOURCES, DEFAULT_DBT_CLOUD_RESOURCES } = await import('@ferry/source-dbt-cloud');
    return DBT_CLOUD_RESOURCES.map((name) => {
      const e = DBT_CLOUD_ENDPOINTS[name];
      return {
        name,
        ...(e === undefined
          ? {}
          : {
              table: e.table,
              endpoint: e.endpoint,
              apiVersion: e.apiVersion,
              ...(e.paged ? { paginator: OFFSET_PAGINATOR } : {}),
            }),
        default: (DEFAULT_DBT_CLOUD_RESOURCES as readonly string[]).includes(name),
      };
    });
  }
  return [];
}

function keyList(key: string | string[] | undefined): string[] | undefined {
  return key === undefined ? undefined : Array.isArray(key) ? key : [key];
}

/**
 * Resources of a team file's source: the built source (nothing is fetched) with each resource's table,
 * write disposition, key and cursor, joined with the endpoint metadata of its type.
 */
export async function pipelineResources(cfg: TeamConfig): Promise<SourceResourceInfo[]> {
  const known: SourceResourceInfo[] = [
    ...(await sourceTypeResources(cfg.source.type)),
    ...(cfg.source.sourceType.resourceInfo?.(cfg.source.config) ?? []),
  ];
  const source: Source = await cfg.source.sourceType.create(cfg.source.config);
  const out: SourceResourceInfo[] = [];
  for (const r of source.resources) {
    const o = r.options;
    const meta = known.find((k) => k.name === r.name);
    const pk = keyList(o.primaryKey);
    out.push({
      ...meta,
      name: r.name,
      table: o.tableName ?? meta?.table ?? r.name,
      selected: o.selected !== false,
      writeDisposition: o.writeDisposition ?? 'append',
      ...(pk === undefined ? {} : { primaryKey: pk }),
      ...(o.incremental === undefined ? {} : { cursor: o.incremental.cursorPath }),
    });
  }
  return out;
}
