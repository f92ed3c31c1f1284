import {
  defineCapabilities,
  type ConnectOptions,
  type Destination,
  type DestinationCapabilities,
} from '@ferry/core';
import type { BigQueryClient } from './bigquery-client.ts';
import { resolveBigQuerySettings, type BigQueryOptions } from './bigquery-credentials.ts';

export {
  BigQuerySqlCompiler,
  buildScript,
  renumberParams,
  dollarToNamed,
  type BigQuerySqlOptions,
} from './bigquery-sql.ts';
export {
  planPackage,
  loadJobId,
  loadJobConfiguration,
  stagingTableName,
  sanitizeJobId,
  type BigQueryPackagePlan,
  type BigQueryLoad,
  type PlanContext,
} from './bigquery-plan.ts';
export {
  resolveBigQuerySettings,
  parseServiceAccount,
  type BigQueryOptions,
  type ResolvedBigQuerySettings,
  type ServiceAccountKey,
} from './bigquery-credentials.ts';
export type { BigQueryClient } from './bigquery-client.ts';

/**
 * BigQuery capabilities: NDJSON load jobs (Parquet accepted), no transactional DDL, 300-character
 * column names (tables allow 1024), four load jobs at once. Column types do not change in place as a
 * rule (only INT64 widens), so `supportsAlterColumnType` is false.
 */
export const BIGQUERY_CAPABILITIES: DestinationCapabilities = defineCapabilities({
  preferredFileFormat: 'jsonl',
  supportedFileFormats: ['jsonl', 'parquet'],
  supportsTransactionalDdl: false,
  supportsTransactions: true,
  maxIdentifierLength: 300,
  identifierCase: 'lower',
  supportsAlterColumnType: false,
  maxParallelLoadJobs: 4,
  // https://cloud.google.com/bigquery/docs/transactions#limitations: a transaction mutates at most 100 tables.
  maxTablesPerTransaction: 100,
  // Documented quotas: 10,000 columns per table, 100 MB per row in a JSON load, JSON nested 500 deep at most.
  maxColumnsPerTable: 10_000,
  maxRowBytes: 100 * 1024 * 1024,
});

/**
 * BigQuery through `@google-cloud/bigquery` (imported in `connect()`, not before). Data arrives by load
 * jobs with deterministic ids into per-package staging tables and becomes visible in one transaction
 * script together with the state and the `_ferry_loads` marker.
 */
export function bigquery(config: BigQueryOptions): Destination {
  const settings = resolveBigQuerySettings(config);
  const endpoint = config.apiEndpoint ? ` at ${config.apiEndpoint}` : '';
  const describe = `bigquery:${settings.projectId} (${settings.location})${endpoint}`;
  return {
    type: 'bigquery',
    capabilities: BIGQUERY_CAPABILITIES,
    describe: () => describe,
    async connect(options: ConnectOptions): Promise<BigQueryClient> {
      const accessToken = config.accessToken ?? process.env.BIGQUERY_ACCESS_TOKEN;
      if (config.authClient || accessToken || config.apiEndpoint) {
        // google-auth-library probes the GCE metadata server (169.254.169.254) whenever it looks for
        // credentials. With an explicit auth client or token, or a non-Google endpoint (a local test
        // server), nothing needs that probe, so turn it off before the library loads. Application
        // default credentials are left alone: on GCE and Cloud Run they need the metadata server.
        process.env.METADATA_SERVER_DETECTION ??= 'none';
      }
      const { BigQuery } = await import('@google-cloud/bigquery');
      const { BigQueryClient } = await import('./bigquery-client.ts');
      let authClient = config.authClient;
      if (!authClient && accessToken) {
        const { OAuth2Client } = await import('google-auth-library');
        const client = new OAuth2Client();
        client.setCredentials({ access_token: accessToken });
        authClient = client;
      }
      const bq = new BigQuery({
        projectId: settings.projectId,
        location: settings.location,
        ...(config.apiEndpoint ? { apiEndpoint: config.apiEndpoint } : {}),
        ...(authClient
          ? { authClient: authClient as never }
          : settings.credentials
            ? { credentials: settings.credentials }
            : {}),
      });
      return new BigQueryClient(bq, {
        dataset: options.dataset,
        projectId: settings.projectId,
        location: settings.location,
        parallelLoads: BIGQUERY_CAPABILITIES.maxParallelLoadJobs,
        describe,
        pipelineName: options.pipelineName,
      });
    },
  };
}
