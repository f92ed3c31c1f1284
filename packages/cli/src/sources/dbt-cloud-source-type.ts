import { z } from 'zod';
import { loadDbtCloud } from '../engine/dbt-cloud-module.ts';
import { defined, durationLike, intLike, nonEmpty, toId, toInt } from '../config/zod-helpers.ts';
import { parseDuration } from '../config/duration.ts';
import { defineSourceType, type DbtCloudConnection } from './source-type.ts';

/** Resources the dbt Cloud source offers (`resources:`); default all of them. */
export const DBT_CLOUD_RESOURCES = ['projects', 'environments', 'jobs', 'runs', 'run_results'] as const;

/** Fields that say where dbt Cloud is and who we are; shared by `source:` and `transform.dbt_cloud`. */
export const dbtCloudConnectionFields = {
  host: nonEmpty
    .regex(/^[A-Za-z0-9.-]+(?::\d+)?$/, 'a host name without scheme or path, e.g. ab123.us1.dbt.com (or use base_url)')
    .optional()
    .describe('Access URL host of the account, e.g. ab123.us1.dbt.com (Account settings → Access URLs).'),
  base_url: z
    .url({ protocol: /^https?$/, error: 'expected an http(s) URL, e.g. http://127.0.0.1:8080' })
    .optional()
    .describe('Full base URL instead of host, e.g. http://127.0.0.1:8080 for the emulator.'),
  account_id: intLike.describe('dbt Cloud account id.'),
  api_token: nonEmpty.describe('Service token. Write ${DBT_CLOUD_API_TOKEN}; never inline.'),
};

/** `source:` for dbt Cloud. */
export const dbtCloudSourceSchema = z
  .strictObject({
    type: z.literal('dbt_cloud'),
    ...dbtCloudConnectionFields,
    resources: z
      .array(z.enum(DBT_CLOUD_RESOURCES))
      .min(1)
      .optional()
      .describe(`Resources to load. Default all: ${DBT_CLOUD_RESOURCES.join(', ')}.`),
    project_ids: z.array(intLike).optional().describe('Only these projects. Default all.'),
    environment_ids: z.array(intLike).optional().describe('Only these environments. Default all.'),
    job_ids: z.array(intLike).optional().describe('Only runs of these jobs. Default all.'),
    artifacts: z
      .union([z.boolean(), z.array(nonEmpty)])
      .optional()
      .describe('Fetch run artifacts (true, or a list such as [run_results.json]). Default: run_results only.'),
    lookback: durationLike.optional().describe('Re-read runs this far behind the last cursor, e.g. 1h. Default 0.'),
    page_concurrency: intLike.optional().describe('Pages fetched at once. Default chosen by the source.'),
  })
  .superRefine((value, ctx) => {
    if (value.host === undefined && value.base_url === undefined) {
      ctx.addIssue({ code: 'custom', path: ['host'], message: 'set host (e.g. ab123.us1.dbt.com) or base_url' });
    }
    if (value.host !== undefined && value.base_url !== undefined) {
      ctx.addIssue({ code: 'custom', path: ['base_url'], message: 'set host or base_url, not both' });
    }
  })
  .describe('dbt Cloud Administrative API: projects, environments, jobs, runs and run results.');

/** The validated `source:` block of a dbt Cloud team. */
export type DbtCloudSourceYaml = z.output<typeof dbtCloudSourceSchema>;

/** Map a dbt Cloud connection block (snake_case YAML) to the source package's option names. */
export function toDbtCloudConnection(yaml: {
  host?: string | undefined;
  base_url?: string | undefined;
  account_id: string | number;
  api_token: string;
}): DbtCloudConnection {
  return defined({ host: yaml.host, baseUrl: yaml.base_url, accountId: toId(yaml.account_id), apiToken: yaml.api_token });
}

/** Map the YAML block to `dbtCloudSource()` options. */
export function toDbtCloudSourceOptions(yaml: DbtCloudSourceYaml): Record<string, unknown> {
  return defined({
    ...toDbtCloudConnection(yaml),
    resources: yaml.resources,
    projectIds: yaml.project_ids?.map(toId),
    environmentIds: yaml.environment_ids?.map(toId),
    jobIds: yaml.job_ids?.map(toId),
    artifacts: yaml.artifacts,
    lookbackMs: yaml.lookback === undefined ? undefined : parseDuration(yaml.lookback),
    pageConcurrency: yaml.page_concurrency === undefined ? undefined : toInt(yaml.page_concurrency),
  });
}

/** The `dbt_cloud` source type. */
export const dbtCloudSourceType = defineSourceType({
  type: 'dbt_cloud',
  schema: dbtCloudSourceSchema,
  async create(config) {
    const mod = await loadDbtCloud();
    return mod.dbtCloudSource(toDbtCloudSourceOptions(config));
  },
  dbtCloudConnection: toDbtCloudConnection,
});
