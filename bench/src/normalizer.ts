import { NamingConvention, RowNormalizer, Schema, type ResourceTableInfo } from '@ferry/core';

/** The `runs` resource of the benchmark records as the normalizer sees it (append, no keys, no hints). */
export const RUNS_INFO: ResourceTableInfo = {
  resource: 'runs',
  table: 'runs',
  writeDisposition: 'append',
  primaryKey: [],
  mergeKey: [],
  columns: {},
  maxTableNesting: 1000,
};

/** A normalizer on a fresh schema with Postgres's naming (63 characters, lower case): the floor benches' engine. */
export function benchNormalizer(): RowNormalizer {
  return new RowNormalizer(
    new Schema('bench'),
    new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' }),
    { loadId: '1763900000000001' },
  );
}
