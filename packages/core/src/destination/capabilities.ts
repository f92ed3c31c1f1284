import type { MergeStrategy } from '../schema/types.ts';

/**
 * Loader file formats. Core writes `jsonl` and `csv`; `parquet` and `pgcopy` (PostgreSQL's binary COPY
 * format) are written by the destinations that load them (`Destination.fileWriter`).
 */
export type FileFormat = 'jsonl' | 'csv' | 'parquet' | 'pgcopy';

/**
 * What a destination can do, as data. The engine reads these to plan a load and refuses an impossible
 * plan before touching data. Build one with {@link defineCapabilities}, which fills the defaults.
 */
export interface DestinationCapabilities {
  /** Format the normalizer writes for this destination. Default `jsonl`. */
  readonly preferredFileFormat: FileFormat;
  /** Formats the destination can load. Default `['jsonl']`. */
  readonly supportedFileFormats: readonly FileFormat[];
  /** DDL can run inside the load transaction (Postgres, DuckDB). Default false. */
  readonly supportsTransactionalDdl: boolean;
  /** Data, state and the `_ferry_loads` marker commit atomically. Default true. */
  readonly supportsTransactions: boolean;
  /** Merge strategies supported; empty means merge is refused. Default both. */
  readonly mergeStrategies: readonly MergeStrategy[];
  /** Longest identifier. Default 63 (Postgres, the strictest common limit). */
  readonly maxIdentifierLength: number;
  /** Case the destination folds unquoted identifiers to; Ferry normalizes names to it. Default `lower`. */
  readonly identifierCase: 'lower' | 'upper';
  /** A column's type can be widened in place (bigint → double, date → timestamp). Default true. */
  readonly supportsAlterColumnType: boolean;
  /** Jobs of one package that may load at once (files rotate so big tables split). Default 1. */
  readonly maxParallelLoadJobs: number;
  /** Rotate loader files after this many rows. Default 500,000. */
  readonly fileMaxRows: number;
  /** Rotate loader files after about this many bytes. Default 256 MiB. */
  readonly fileMaxBytes: number;
  /** The destination can store nested values natively (json columns). Default true. */
  readonly supportsJson: boolean;
  /** Whether the destination answers SQL (the dataset API's `sql()`). Default true. */
  readonly supportsSql: boolean;
  /**
   * What happens to a merge resource when `mergeStrategies` is empty: `refuse` (a clear error before
   * anything is extracted) or `append` (the user opted in: rows are appended, a warning says so).
   * Default `refuse`.
   */
  readonly mergeFallback: 'refuse' | 'append';
}

/** Defaults for every capability: the common SQL warehouse. */
export const DEFAULT_CAPABILITIES: DestinationCapabilities = Object.freeze({
  preferredFileFormat: 'jsonl',
  supportedFileFormats: ['jsonl'],
  supportsTransactionalDdl: false,
  supportsTransactions: true,
  mergeStrategies: ['delete-insert', 'upsert'],
  maxIdentifierLength: 63,
  identifierCase: 'lower',
  supportsAlterColumnType: true,
  maxParallelLoadJobs: 1,
  fileMaxRows: 500_000,
  fileMaxBytes: 256 * 1024 * 1024,
  supportsJson: true,
  supportsSql: true,
  mergeFallback: 'refuse',
} satisfies DestinationCapabilities);

/** Capabilities with defaults filled in; pass only what differs (kysely's `DialectAdapterBase` idea). */
export function defineCapabilities(overrides: Partial<DestinationCapabilities>): DestinationCapabilities {
  return Object.freeze({ ...DEFAULT_CAPABILITIES, ...overrides });
}
