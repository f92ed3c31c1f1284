import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import {
  FerryError,
  defineCapabilities,
  type ConnectOptions,
  type Destination,
  type DestinationCapabilities,
} from '@ferry/core';
import type { DuckDbConfig } from '../config.ts';
import type { DuckDbClient } from './duckdb-client.ts';

export { DuckDbSqlCompiler } from './duckdb-sql.ts';
export type { DuckDbClient } from './duckdb-client.ts';

/** DuckDB capabilities: transactional DDL, JSONL through its own reader, long identifiers. */
export const DUCKDB_CAPABILITIES: DestinationCapabilities = defineCapabilities({
  preferredFileFormat: 'jsonl',
  supportedFileFormats: ['jsonl', 'parquet', 'csv'],
  supportsTransactionalDdl: true,
  maxIdentifierLength: 120,
  fileMaxRows: 1_000_000,
  // No documented column limit, but read_json of a 2,000-column file ran out of memory under the default
  // 256 MB memory_limit (1,500 loaded): 1,000 keeps a margin. One JSON line is at most 16 MiB
  // (`maximum_object_size` of the loader's read_json).
  maxColumnsPerTable: 1000,
  maxRowBytes: 16 * 1024 * 1024,
});

/**
 * DuckDB, the embedded default: one database file, dataset = schema. Bulk loads go through DuckDB's
 * own JSON reader (`read_json` with explicit column types), never row-by-row INSERT.
 */
export function duckdb(config: Omit<DuckDbConfig, 'type'> & { type?: 'duckdb' } = {}): Destination {
  const file = config.path ?? 'ferry.duckdb';
  return {
    type: 'duckdb',
    capabilities: DUCKDB_CAPABILITIES,
    describe: () => `duckdb:${file}`,
    async connect(options: ConnectOptions): Promise<DuckDbClient> {
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const { DuckDbClient } = await import('./duckdb-client.ts');
      if (file !== ':memory:') await mkdir(path.dirname(path.resolve(file)), { recursive: true });
      if (options.readOnly && file !== ':memory:' && !existsSync(file)) {
        throw new FerryError('NOT_FOUND', `duckdb file ${file} does not exist yet: run the pipeline first`);
      }
      // Read-only opens can share the file with other readers; a writer holds it alone (DuckDB's rule).
      const instance = await DuckDBInstance.create(
        file,
        options.readOnly && file !== ':memory:' ? { access_mode: 'READ_ONLY' } : {},
      );
      const connection = await instance.connect();
      await connection.run(`SET TimeZone = 'UTC'`);
      // DuckDB's buffer pool defaults to 80% of RAM; a loader in a container wants a bound (spills to disk past it).
      // Loads do not need insertion order (merge orders by _ferry_id); keeping it costs memory in bulk inserts.
      await connection.run('SET preserve_insertion_order = false');
      await connection.run(
        `SET memory_limit = '${(config.memoryLimit ?? process.env.FERRY_DUCKDB_MEMORY_LIMIT ?? '256MB').replace(/[^0-9A-Za-z.]/g, '')}'`,
      );
      // Readers (dataset API, `ferry query`, the dashboard) must not reach local files through SQL
      // (read_text, read_csv, COPY …): the reader only ever needs the database itself.
      if (options.readOnly) await connection.run('SET enable_external_access = false');
      return new DuckDbClient(instance, connection, options.dataset, file);
    },
  };
}
