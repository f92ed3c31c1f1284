import { CompiledQuery, PostgresDialect, type Dialect } from 'kysely';
import type pg from 'pg';

/**
 * The kysely dialect of a Postgres dataset: kysely's own `PostgresDialect` on the destination's reader
 * pool (the same type parsers: int8 exact, numeric and date as text). Every connection kysely takes is
 * made read-only for its session first (`SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY`; the
 * pool only serves reads), and the pool is borrowed: destroying the Kysely leaves it to the client.
 * Streaming (`.stream()`) needs `pg-cursor`, which Ferry does not ship; `dataset.table().iterate()` streams.
 */
export function postgresKyselyDialect(pool: pg.Pool): Dialect {
  return new PostgresDialect({
    pool: { connect: () => pool.connect(), end: async () => undefined, options: pool.options },
    onCreateConnection: async (connection) => {
      await connection.executeQuery(
        CompiledQuery.raw('SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY'),
      );
    },
  });
}
