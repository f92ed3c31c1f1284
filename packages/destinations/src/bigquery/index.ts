import { UnsupportedError, type Destination } from '@ferry/core';

/** Placeholder until the bigquery destination lands: refuses clearly instead of pretending. */
export function bigquery(_config: unknown): Destination {
  throw new UnsupportedError('the bigquery destination is not available in this build yet; use duckdb', { destination: 'bigquery' });
}
