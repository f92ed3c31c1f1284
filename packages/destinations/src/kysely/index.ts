/**
 * kysely dialects of Ferry's SQL destinations, for typed reads of loaded data (`dataset.kysely<DB>()`).
 * Each destination's reader hands out its own through `DatasetReader.kyselyDialect()`; these exports are
 * for tests and for callers that hold a reader.
 */
export { ReaderDriver, type ReaderDriverOptions } from './reader-driver.ts';
export {
  InformationSchemaIntrospector,
  ReaderAdapter,
  type InformationSchemaOptions,
} from './reader-introspector.ts';
export { DuckDbQueryCompiler, duckdbKyselyDialect } from './duckdb-dialect.ts';
export { postgresKyselyDialect } from './postgres-dialect.ts';
export { BigQueryQueryCompiler, SnowflakeQueryCompiler, snowflakeRowNames } from './warehouse-compilers.ts';
export { bigqueryKyselyDialect } from './bigquery-dialect.ts';
export { snowflakeKyselyDialect } from './snowflake-dialect.ts';
