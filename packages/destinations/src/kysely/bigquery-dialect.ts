import type { DatasetReader } from '@ferry/core';
import type { Dialect, Kysely } from 'kysely';
import { InformationSchemaIntrospector, ReaderAdapter } from './reader-introspector.ts';
import { ReaderDriver } from './reader-driver.ts';
import { BigQueryQueryCompiler } from './warehouse-compilers.ts';

/**
 * The kysely dialect of a BigQuery dataset: {@link BigQueryQueryCompiler} on `DefaultQueryCompiler`,
 * queries through the destination's reader (its jobs, paging, value conversion and error wrapping, so
 * it works the same against the local test server). Ferry's own because `@maktouch/kysely-bigquery`
 * (1.1.0) drives a `BigQuery` client of its own (bypassing the reader and its read-only path) and pulls
 * in bluebird.
 */
export function bigqueryKyselyDialect(reader: DatasetReader, projectId: string, dataset: string): Dialect {
  return {
    createDriver: () => new ReaderDriver(reader, { destination: 'bigquery' }),
    createQueryCompiler: () => new BigQueryQueryCompiler(projectId),
    createAdapter: () => new ReaderAdapter('bigquery'),
    createIntrospector: (db: Kysely<unknown>) =>
      new InformationSchemaIntrospector(db, {
        destination: 'bigquery',
        schema: dataset,
        informationSchema: `${reader.quoteIdentifier(projectId)}.${reader.quoteIdentifier(dataset)}.INFORMATION_SCHEMA`,
      }),
  };
}
