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
  /**
   * Most columns one table may have, system columns included. The normalizer keeps every table within it:
   * fields that would add a column beyond it go to the table's one JSON overflow column
   * (`_ferry_overflow`), or the record is refused where the schema contract's `limits` part says so.
   * Default Infinity (no limit known).
   */
  readonly maxColumnsPerTable: number;
  /**
   * Widest row a table's columns may add up to in the destination's own row format (Postgres: one heap
   * tuple, 8,160 bytes with 8 KB pages), counting fixed-width types at 8 bytes and every variable-length
   * value at {@link variableWidthBytes}. Columns that would pass it overflow like those past
   * {@link maxColumnsPerTable}. Default Infinity.
   */
  readonly maxRowWidthBytes: number;
  /**
   * Bytes a variable-length value (text, json, decimal) takes in a row at most, for
   * {@link maxRowWidthBytes}: Postgres moves longer values out of line behind a pointer (TOAST), 24 bytes
   * after alignment. Default 24.
   */
  readonly variableWidthBytes: number;
  /**
   * Largest row the destination loads, every value at its full size in UTF-8 (DuckDB's JSON reader: one
   * 16 MiB line). A record with a bigger row is refused, naming the resource, position and limit (or
   * dropped under the contract's `limits: discard_row`). Default Infinity.
   */
  readonly maxRowBytes: number;
  /** Largest single value in bytes (Postgres: 1 GB per field). Refused like {@link maxRowBytes}. Default Infinity. */
  readonly maxValueBytes: number;
  /**
   * Levels of nesting (objects and lists; the record is level 0) expanded into columns and child tables;
   * deeper data is stored as one JSON value. A resource's own `maxTableNesting` can only lower it.
   * Default 32: a record nested 1,000 deep makes at most 32 child tables, not 1,000.
   */
  readonly maxNestingDepth: number;
  /**
   * Tables one load transaction may change, Ferry's system tables (schema version, state, loads marker)
   * included: BigQuery's transactions mutate at most 100. The engine refuses a package that would
   * change more before touching data, naming the limit. Default Infinity (no limit).
   */
  readonly maxTablesPerTransaction: number;
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
  maxColumnsPerTable: Number.POSITIVE_INFINITY,
  maxRowWidthBytes: Number.POSITIVE_INFINITY,
  variableWidthBytes: 24,
  maxRowBytes: Number.POSITIVE_INFINITY,
  maxValueBytes: Number.POSITIVE_INFINITY,
  maxNestingDepth: 32,
  maxTablesPerTransaction: Number.POSITIVE_INFINITY,
} satisfies DestinationCapabilities);

/** Capabilities with defaults filled in; pass only what differs (kysely's `DialectAdapterBase` idea). */
export function defineCapabilities(overrides: Partial<DestinationCapabilities>): DestinationCapabilities {
  return Object.freeze({ ...DEFAULT_CAPABILITIES, ...overrides });
}
