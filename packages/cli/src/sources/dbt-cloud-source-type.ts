import { z } from 'zod';
import {
  DBT_CLOUD_RESOURCES,
  DEFAULT_DBT_CLOUD_RESOURCES,
  type DbtCloudSourceOptions,
} from '@ferry/source-dbt-cloud';
import { loadDbtCloud, NO_SETTINGS_SOURCES } from '../engine/dbt-cloud-module.ts';
import { defined, durationLike, intLike, nonEmpty, toId, toInt } from '../config/zod-helpers.ts';
import { parseDuration } from '../config/duration.ts';
import { defineSourceType, type DbtCloudConnection } from './source-type.ts';

/** Fields that say where dbt Cloud is and who we are; shared by `source:` and `transform.dbt_cloud`. */
export const dbtCloudConnectionFields = {
  host: nonEmpty
    .regex(
      /^[A-Za-z0-9.-]+(?::\d+)?$/,
      'a host name without scheme or path, e.g. ab123.us1.dbt.com (or use base_url)',
    )
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
      .describe(
        `Resources to load. Default: ${DEFAULT_DBT_CLOUD_RESOURCES.join(', ')} (plus run_artifacts, run_results, models with artifacts: true).`,
      ),
    project_ids: z.array(intLike).optional().describe('Only these projects. Default all.'),
    environment_ids: z.array(intLike).optional().describe('Only these environments. Default all.'),
    job_ids: z.array(intLike).optional().describe('Only these jobs (and their runs). Default all.'),
    run_ids: z
      .array(intLike)
      .optional()
      .describe('Runs the `run` resource reads (with steps). Default none.'),
    artifacts: z
      .boolean()
      .optional()
      .describe('Fetch run artifacts (run_results, models); 3 requests per run. Default false.'),
    runs_initial_value: nonEmpty
      .optional()
      .describe('Lower bound of finished_at on the first load (ISO time). Default: all runs.'),
    lookback: durationLike
      .optional()
      .describe('Re-read runs this far behind the last finished_at, e.g. 10m. Default 10m.'),
    page_concurrency: intLike.optional().describe('Pages fetched at once. Default 4.'),
    artifact_concurrency: intLike.optional().describe('Runs whose artifacts are fetched at once. Default 4.'),
    max_retries: intLike.optional().describe('Retries on 429, 5xx and network errors. Default 6.'),
    request_timeout: durationLike.optional().describe('Per-request timeout. Default 60s.'),
  })
  .superRefine((value, ctx) => {
    if (value.host === undefined && value.base_url === undefined) {
      ctx.addIssue({
        code: 'custom',
        path: ['host'],
        message: 'set host (e.g. ab123.us1.dbt.com) or base_url',
      });
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
  return defined({
    host: yaml.host,
    baseUrl: yaml.base_url,
    accountId: toId(yaml.account_id),
    apiToken: yaml.api_token,
  });
}

/** Map the YAML block to `dbtCloudSource()` options. */
export function toDbtCloudSourceOptions(yaml: DbtCloudSourceYaml): DbtCloudSourceOptions {
  const ms = (d: string | number | undefined): number | undefined =>
    d === undefined ? undefined : parseDuration(d);
  const int = (n: string | number | undefined): number | undefined =>
    n === undefined ? undefined : toInt(n);
  return defined<DbtCloudSourceOptions>({
    ...toDbtCloudConnection(yaml),
    resources: yaml.resources,
    projectIds: yaml.project_ids?.map(toId),
    environmentIds: yaml.environment_ids?.map(toId),
    jobIds: yaml.job_ids?.map(toId),
    runIds: yaml.run_ids?.map(toId),
    artifacts: yaml.artifacts,
    runsInitialValue: yaml.runs_initial_value,
    lookbackMs: ms(yaml.lookback),
    pageConcurrency: int(yaml.page_concurrency),
    artifactConcurrency: int(yaml.artifact_concurrency),
    maxRetries: int(yaml.max_retries),
    timeoutMs: ms(yaml.request_timeout),
    settingsSources: NO_SETTINGS_SOURCES,
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
