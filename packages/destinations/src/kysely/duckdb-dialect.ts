import type { DatasetReader } from '@ferry/core';
import { PostgresQueryCompiler, type Dialect, type Kysely } from 'kysely';
import { InformationSchemaIntrospector, ReaderAdapter } from './reader-introspector.ts';
import { ReaderDriver } from './reader-driver.ts';

/**
 * DuckDB's query compiler: Postgres' as it is, since DuckDB quotes identifiers with `"…"` (doubled
 * inside) and numbers parameters `$1, $2…` exactly like Postgres.
 */
export class DuckDbQueryCompiler extends PostgresQueryCompiler {}

/**
 * The kysely dialect of a DuckDB dataset, and of a filesystem dataset (DuckDB views over its files).
 * Queries run through the destination's reader: on DuckDB its read-only instance with external
 * access off, on the filesystem the in-memory DuckDB whose views the reader rebuilds when loads commit.
 * Ferry's own because the maintained `kysely-duckdb` (0.4.0) opens its own connections from a
 * `DuckDBInstance`, which would bypass both, and brings wasm/web-worker peers Ferry does not use.
 */
export function duckdbKyselyDialect(reader: DatasetReader, schema: string, destination = 'duckdb'): Dialect {
  return {
    createDriver: () => new ReaderDriver(reader, { destination }),
    createQueryCompiler: () => new DuckDbQueryCompiler(),
    createAdapter: () => new ReaderAdapter(destination),
    createIntrospector: (db: Kysely<unknown>) =>
      new InformationSchemaIntrospector(db, { destination, schema, informationSchema: 'information_schema' }),
  };
}
