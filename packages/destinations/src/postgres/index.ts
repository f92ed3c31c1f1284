import {
  defineCapabilities,
  type ConnectOptions,
  type Destination,
  type DestinationCapabilities,
} from '@ferry/core';
import type { PostgresConfig } from '../config.ts';
import type { PostgresClient } from './postgres-client.ts';
import { resolvePostgresSettings } from './postgres-credentials.ts';

export { PostgresSqlCompiler } from './postgres-sql.ts';
export { resolvePostgresSettings, redact, type PostgresSettings } from './postgres-credentials.ts';
export type { PostgresClient } from './postgres-client.ts';

/**
 * Postgres capabilities: CSV loader files for `COPY … FROM STDIN` (JSONL also loads, through a jsonb
 * scratch table), transactional DDL (one transaction per package), and the server's 63-character
 * identifier limit, which the engine's naming honours by shortening with a hash.
 */
export const POSTGRES_CAPABILITIES: DestinationCapabilities = defineCapabilities({
  preferredFileFormat: 'csv',
  supportedFileFormats: ['csv', 'jsonl'],
  supportsTransactionalDdl: true,
  maxIdentifierLength: 63,
});

/**
 * Postgres (and wire-compatible servers): dataset = schema, merge and replace staged in
 * `<dataset>_staging`, data + state + `_ferry_loads` row in one transaction. Credentials come from
 * `config.credentials` (a connection string or fields), else `DATABASE_URL`, else the libpq `PG*`
 * variables. `pg` and `pg-copy-streams` are imported on `connect`, so other destinations never load them.
 */
export function postgres(config: Omit<PostgresConfig, 'type'> & { type?: 'postgres' } = {}): Destination {
  const settings = resolvePostgresSettings(config);
  return {
    type: 'postgres',
    capabilities: POSTGRES_CAPABILITIES,
    describe: () => settings.display,
    async connect(options: ConnectOptions): Promise<PostgresClient> {
      const { PostgresClient } = await import('./postgres-client.ts');
      return PostgresClient.open(settings, options.dataset);
    },
  };
}
