import type { Destination } from '@ferry/core';
import type { DestinationConfig } from './config.ts';

export type * from './config.ts';
export { DESTINATION_TYPES } from './config.ts';

/**
 * Create a destination from its config. Only the chosen destination's module (and so its SDK) is
 * imported: a DuckDB user never loads snowflake-sdk.
 */
export async function createDestination(config: DestinationConfig): Promise<Destination> {
  switch (config.type) {
    case 'duckdb':
      return (await import('./duckdb/index.ts')).duckdb(config);
    case 'postgres':
      return (await import('./postgres/index.ts')).postgres(config);
    case 'bigquery':
      return (await import('./bigquery/index.ts')).bigquery(config);
    case 'snowflake':
      return (await import('./snowflake/index.ts')).snowflake(config);
    case 'filesystem':
      return (await import('./filesystem/index.ts')).filesystem(config);
    default: {
      const unknown: { type?: unknown } = config;
      throw new TypeError(
        `unknown destination type '${String(unknown.type)}'; use one of duckdb, postgres, bigquery, snowflake, filesystem`,
      );
    }
  }
}
