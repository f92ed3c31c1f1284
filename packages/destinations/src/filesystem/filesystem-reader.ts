import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type * as DuckDbSdk from '@duckdb/node-api';
import type { DuckDBConnection, DuckDBInstance } from '@duckdb/node-api';
import {
  DestinationError,
  type DatasetReader,
  type TableSchema,
  type UntrustedQueryOptions,
} from '@ferry/core';
import { FilesystemCatalog, LOADS_FOLDER, markerKey } from './filesystem-catalog.ts';
import { duckdbType, sqlIdent, sqlLiteral } from './parquet-duckdb-writer.ts';
import { queryRows, streamRows, untrustedRows, type Row } from '../duckdb/duckdb-rows.ts';

const LOADS_COLUMNS = `{'load_id': 'VARCHAR', 'schema_name': 'VARCHAR', 'status': 'BIGINT', 'inserted_at': 'TIMESTAMPTZ', 'schema_version_hash': 'VARCHAR'}`;

/**
 * SQL over a filesystem dataset: an in-memory DuckDB with one view per table over the files of committed
 * loads (`read_parquet` / `read_json`), in a schema named like the dataset, plus `_ferry_loads` over the
 * markers. Views are rebuilt when the set of committed loads changes. S3 files are downloaded into a
 * local cache folder first (DuckDB's httpfs extension is not assumed to be installable).
 */
export class FilesystemReader implements DatasetReader {
  private readonly catalog: FilesystemCatalog;
  private db: { instance: DuckDBInstance; connection: DuckDBConnection } | undefined;
  private signature = '';
  private cacheDir: string | undefined;
  private readonly cached = new Set<string>();

  constructor(catalog: FilesystemCatalog) {
    this.catalog = catalog;
  }

  /** Typed reads (`dataset.kysely()`): DuckDB's kysely dialect over these views. */
  readonly kyselyDialect = async () =>
    (await import('../kysely/duckdb-dialect.ts')).duckdbKyselyDialect(
      this,
      this.catalog.prefix.slice(0, -1),
      'filesystem',
    );

  quoteIdentifier(name: string): string {
    return sqlIdent(name);
  }

  qualifiedTable(table: string): string {
    return `${sqlIdent(this.catalog.prefix.slice(0, -1))}.${sqlIdent(table)}`;
  }

  private async connection(): Promise<DuckDBConnection> {
    if (!this.db) {
      let sdk: typeof DuckDbSdk;
      try {
        sdk = await import('@duckdb/node-api');
      } catch (error) {
        throw new DestinationError(
          'reading a filesystem dataset with SQL needs @duckdb/node-api; install it (pnpm add @duckdb/node-api)',
          { cause: error },
        );
      }
      const { DuckDBInstance } = sdk;
      const instance = await DuckDBInstance.create(':memory:');
      const connection = await instance.connect();
      await connection.run(`SET TimeZone = 'UTC'`);
      // User SQL reaches this connection (`ferry query`, the dashboard): DuckDB may read only the dataset's
      // own folder and the download cache, never other local files, and the setting cannot be undone.
      this.cacheDir ??= await mkdtemp(path.join(tmpdir(), 'ferry-fs-cache-'));
      const allowed = [`${this.cacheDir}${path.sep}`];
      const local = this.catalog.store.localPath(this.catalog.key('x'));
      if (local) allowed.push(`${path.dirname(local)}${path.sep}`);
      await connection.run(`SET allowed_directories = [${allowed.map(sqlLiteral).join(', ')}]`);
      await connection.run('SET enable_external_access = false');
      await connection.run('SET lock_configuration = true');
      this.db = { instance, connection };
    }
    return this.db.connection;
  }

  /** A local path DuckDB can read for a dataset-relative key (downloads S3 objects once). */
  private async localFile(relative: string): Promise<string> {
    const key = this.catalog.key(relative);
    const local = this.catalog.store.localPath(key);
    if (local) return local;
    this.cacheDir ??= await mkdtemp(path.join(tmpdir(), 'ferry-fs-cache-'));
    const file = path.join(this.cacheDir, ...key.split('/'));
    if (!this.cached.has(key)) {
      await this.catalog.store.getFile(key, file);
      this.cached.add(key);
    }
    return file;
  }

  /** Rebuild the views when committed loads changed since the last query. */
  private async refresh(): Promise<DuckDBConnection> {
    const c = await this.connection();
    const loads = await this.catalog.loads();
    const signature = loads.map((l) => l.load_id).join(',');
    if (signature === this.signature && this.signature !== '') return c;
    const schemas = await this.catalog.schemas(loads);
    const tables = new Map<string, TableSchema>();
    for (const s of schemas) for (const t of Object.values(s.tables)) tables.set(t.name, t);
    const visible = FilesystemCatalog.visibleFiles(loads);
    const ds = sqlIdent(this.catalog.prefix.slice(0, -1));
    const statements = [`DROP SCHEMA IF EXISTS ${ds} CASCADE`, `CREATE SCHEMA ${ds}`];
    for (const table of tables.values()) {
      const local: string[] = [];
      for (const k of visible.get(table.name) ?? []) local.push(await this.localFile(k));
      statements.push(
        `CREATE VIEW ${ds}.${sqlIdent(table.name)} AS ${await this.tableSelect(c, table, local)}`,
      );
    }
    const markers: string[] = [];
    for (const l of loads) markers.push(await this.localFile(markerKey(l.load_id)));
    statements.push(
      markers.length > 0
        ? `CREATE VIEW ${ds}.${sqlIdent(LOADS_FOLDER)} AS SELECT load_id, schema_name, status, inserted_at, schema_version_hash FROM read_json([${markers.map(sqlLiteral).join(', ')}], format = 'newline_delimited', columns = ${LOADS_COLUMNS})`
        : `CREATE VIEW ${ds}.${sqlIdent(LOADS_FOLDER)} AS SELECT CAST(NULL AS VARCHAR) AS load_id, CAST(NULL AS VARCHAR) AS schema_name, CAST(NULL AS BIGINT) AS status, CAST(NULL AS TIMESTAMPTZ) AS inserted_at, CAST(NULL AS VARCHAR) AS schema_version_hash WHERE false`,
    );
    try {
      for (const sql of statements) await c.run(sql);
    } catch (error) {
      throw new DestinationError(
        `filesystem ${this.catalog.store.url}${this.catalog.prefix}: building the read views failed: ${(error as Error).message}`,
        { cause: error },
      );
    }
    this.signature = signature;
    return c;
  }

  /** SELECT of one table over its files: every schema column, cast to its type (NULL where a file lacks it). */
  private async tableSelect(c: DuckDBConnection, table: TableSchema, files: string[]): Promise<string> {
    const columns = Object.values(table.columns);
    const typed = (expr: string, col: (typeof columns)[number]) =>
      `CAST(${expr} AS ${duckdbType(col.dataType)}) AS ${sqlIdent(col.name)}`;
    if (files.length === 0 || columns.length === 0) {
      return `SELECT ${columns.map((col) => typed('NULL', col)).join(', ') || 'NULL AS _empty'} WHERE false`;
    }
    const parquet = files.filter((f) => f.endsWith('.parquet'));
    const jsonl = files.filter((f) => !f.endsWith('.parquet'));
    const parts: string[] = [];
    if (parquet.length > 0) {
      const source = `read_parquet([${parquet.map(sqlLiteral).join(', ')}], union_by_name = true)`;
      const described = await c.runAndReadAll(`DESCRIBE SELECT * FROM ${source}`);
      const present = new Set(described.getRowObjectsJS().map((r) => String(r.column_name)));
      parts.push(
        `SELECT ${columns.map((col) => typed(present.has(col.name) ? sqlIdent(col.name) : 'NULL', col)).join(', ')} FROM ${source}`,
      );
    }
    if (jsonl.length > 0) {
      const types = columns
        .map((col) => `${sqlLiteral(col.name)}: ${sqlLiteral(duckdbType(col.dataType))}`)
        .join(', ');
      parts.push(
        `SELECT ${columns.map((col) => sqlIdent(col.name)).join(', ')} FROM read_json([${jsonl.map(sqlLiteral).join(', ')}], format = 'newline_delimited', columns = {${types}}, maximum_object_size = 268435456)`,
      );
    }
    return parts.join(' UNION ALL ');
  }

  async query(sql: string, params?: unknown[]): Promise<Row[]> {
    return queryRows(await this.refresh(), sql, params);
  }

  /** One untrusted statement (see `DatasetReader.untrustedQuery`) over the views. */
  async untrustedQuery(
    sql: string,
    params: unknown[] | undefined,
    options: UntrustedQueryOptions,
  ): Promise<Row[]> {
    return untrustedRows(await this.refresh(), sql, params, options);
  }

  async *stream(sql: string, params: unknown[] | undefined, batchSize: number): AsyncIterable<Row[]> {
    yield* streamRows(await this.refresh(), sql, params, batchSize);
  }

  /** Forget the views (after a drop). */
  async reset(): Promise<void> {
    this.signature = '';
  }

  /** Close DuckDB and remove the download cache. Idempotent. */
  async close(): Promise<void> {
    if (this.db) {
      this.db.connection.closeSync();
      this.db.instance.closeSync();
      this.db = undefined;
    }
    if (this.cacheDir) await rm(this.cacheDir, { recursive: true, force: true });
    this.cacheDir = undefined;
    this.cached.clear();
  }
}
