import { UnsupportedError, type Destination } from '@ferry/core';

/** Placeholder until the filesystem destination lands: refuses clearly instead of pretending. */
export function filesystem(_config: unknown): Destination {
  throw new UnsupportedError('the filesystem destination is not available in this build yet; use duckdb', { destination: 'filesystem' });
}
