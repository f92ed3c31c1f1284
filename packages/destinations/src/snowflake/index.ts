import { UnsupportedError, type Destination } from '@ferry/core';

/** Placeholder until the snowflake destination lands: refuses clearly instead of pretending. */
export function snowflake(_config: unknown): Destination {
  throw new UnsupportedError('the snowflake destination is not available in this build yet; use duckdb', { destination: 'snowflake' });
}
