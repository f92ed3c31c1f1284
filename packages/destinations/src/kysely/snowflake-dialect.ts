import type { DatasetReader } from '@ferry/core';
import type { Dialect, Kysely } from 'kysely';
import { InformationSchemaIntrospector, ReaderAdapter } from './reader-introspector.ts';
import { ReaderDriver } from './reader-driver.ts';
import { SnowflakeQueryCompiler, snowflakeRowNames } from './warehouse-compilers.ts';

/**
 * The kysely dialect of a Snowflake dataset: {@link SnowflakeQueryCompiler} on `DefaultQueryCompiler`,
 * queries through the destination's reader (its session, binds and value conversion, so it works the
 * same against the local test server), output names given back their spelling. Ferry's own: no
 * Snowflake dialect for kysely is published on the npm registry.
 */
export function snowflakeKyselyDialect(reader: DatasetReader, dataset: string): Dialect {
  const lower = (s: string) => (s === s.toUpperCase() ? s.toLowerCase() : s);
  return {
    createDriver: () => new ReaderDriver(reader, { destination: 'snowflake', rows: snowflakeRowNames }),
    createQueryCompiler: () => new SnowflakeQueryCompiler(),
    createAdapter: () => new ReaderAdapter('snowflake'),
    createIntrospector: (db: Kysely<unknown>) =>
      new InformationSchemaIntrospector(db, {
        destination: 'snowflake',
        schema: dataset.toUpperCase(),
        informationSchema: 'information_schema',
        name: lower,
      }),
  };
}
