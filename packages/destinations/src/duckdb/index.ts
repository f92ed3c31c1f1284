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
import { createDuckDbInstance, DEFAULT_DUCKDB_READER_LOCK_WAIT_MS, writerLockWaitMs } from './duckdb-lock.ts';

export { DuckDbSqlCompiler } from './duckdb-sql.ts';
export type { DuckDbClient } from './duckdb-client.ts';

/** DuckDB's memory_limit when neither the config nor FERRY_DUCKDB_MEMORY_LIMIT sets one: a bound for containers. */
export const DEFAULT_DUCKDB_MEMORY_LIMIT = '256MB';

/**
 * Columns per table a load fits in `memoryLimit`. Measured (poison.test.ts): appending rows to an existing
 * table makes DuckDB's COMMIT take two 256 KiB blocks (data and validity) per column, so a 500-column
 * table's second load failed under 256 MB ("could not allocate block … 244.0 MiB/244.1 MiB used"), and
 * read_json of 2,000 columns did too. Allowing 40% of the limit for those blocks: 200 columns at 256 MB,
 * about 800 at 1 GB; at most 5,000. Unparseable limits count as the default.
 */
export function duckdbMaxColumns(memoryLimit: string): number {
  const m = /^\s*([0-9.]+)\s*([KMGT]i?B?)?\s*$/i.exec(memoryLimit);
  const units: Record<string, number> = { K: 2 ** 10, M: 2 ** 20, G: 2 ** 30, T: 2 ** 40 };
  const bytes = m ? Number(m[1]) * (units[(m[2] ?? 'M')[0]!.toUpperCase()] ?? 2 ** 20) : 256 * 2 ** 20;
  const columns = Math.floor((bytes * 0.4) / (2 * 256 * 1024) / 10) * 10;
  return Math.max(50, Math.min(5000, Number.isFinite(columns) ? columns : 200));
}

/** DuckDB capabilities: transactional DDL, JSONL through its own reader, long identifiers. */
export const DUCKDB_CAPABILITIES: DestinationCapabilities = defineCapabilities({
  preferredFileFormat: 'jsonl',
  supportedFileFormats: ['jsonl', 'parquet', 'csv'],
  supportsTransactionalDdl: true,
  maxIdentifierLength: 120,
  fileMaxRows: 1_000_000,
  // No documented column limit, but memory is one: see {@link duckdbMaxColumns} (200 at the default
  // 256 MB). One JSON line is at most 16 MiB (`maximum_object_size` of the loader's read_json).
  maxColumnsPerTable: duckdbMaxColumns(DEFAULT_DUCKDB_MEMORY_LIMIT),
  maxRowBytes: 16 * 1024 * 1024,
});

/**
 * DuckDB, the embedded default: one database file, dataset = schema. Bulk loads go through DuckDB's
 * own JSON reader (`read_json` with explicit column types), never row-by-row INSERT.
 */
export function duckdb(config: Omit<DuckDbConfig, 'type'> & { type?: 'duckdb' } = {}): Destination {
  const file = config.path ?? 'ferry.duckdb';
  const memoryLimit = (
    config.memoryLimit ??
    process.env.FERRY_DUCKDB_MEMORY_LIMIT ??
    DEFAULT_DUCKDB_MEMORY_LIMIT
  ).replace(/[^0-9A-Za-z.]/g, '');
  return {
    type: 'duckdb',
    capabilities: { ...DUCKDB_CAPABILITIES, maxColumnsPerTable: duckdbMaxColumns(memoryLimit) },
    describe: () => `duckdb:${file}`,
    async connect(options: ConnectOptions): Promise<DuckDbClient> {
      const { DuckDBInstance } = await import('@duckdb/node-api');
      const { DuckDbClient } = await import('./duckdb-client.ts');
      if (file !== ':memory:') await mkdir(path.dirname(path.resolve(file)), { recursive: true });
      if (options.readOnly && file !== ':memory:' && !existsSync(file)) {
        throw new FerryError('NOT_FOUND', `duckdb file ${file} does not exist yet: run the pipeline first`);
      }
      // Read-only opens can share the file with other readers; a writer holds it alone (DuckDB's rule).
      // A writer waits out readers (they hold the file only while a query runs); a reader fails fast.
      const readOnly = options.readOnly === true && file !== ':memory:';
      const instance = await createDuckDbInstance((f, s) => DuckDBInstance.create(f, s), file, {
        readOnly,
        settings: readOnly ? { access_mode: 'READ_ONLY' } : {},
        waitMs: readOnly ? DEFAULT_DUCKDB_READER_LOCK_WAIT_MS : writerLockWaitMs(),
      });
      const connection = await instance.connect();
      await connection.run(`SET TimeZone = 'UTC'`);
      // DuckDB's buffer pool defaults to 80% of RAM; a loader in a container wants a bound (spills to disk past it).
      // Loads do not need insertion order (merge orders by _ferry_id); keeping it costs memory in bulk inserts.
      await connection.run('SET preserve_insertion_order = false');
      await connection.run(`SET memory_limit = '${memoryLimit}'`);
      // Readers (dataset API, `ferry query`, the dashboard) must not reach local files through SQL
      // (read_text, read_csv, COPY …): the reader only ever needs the database itself.
      if (options.readOnly) await connection.run('SET enable_external_access = false');
      // The catalog is named after the file: `pokemon.duckdb` with dataset `pokemon` needs three-part names.
      const catalog = (
        await connection.runAndReadAll('SELECT current_database() AS c')
      ).getRowObjectsJson()[0]?.['c'];
      return new DuckDbClient(
        instance,
        connection,
        options.dataset,
        file,
        typeof catalog === 'string' ? catalog : undefined,
      );
    },
  };
}
