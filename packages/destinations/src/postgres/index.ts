import { UnsupportedError, type Destination } from '@ferry/core';

/** Placeholder until the postgres destination lands: refuses clearly instead of pretending. */
export function postgres(_config: unknown): Destination {
  throw new UnsupportedError('the postgres destination is not available in this build yet; use duckdb', { destination: 'postgres' });
}
