import type { FileFormat, DestinationCapabilities } from './capabilities.ts';
import type { MergeStrategy, StoredSchema, TableSchema, WriteDisposition } from '../schema/types.ts';
import type { Dialect } from 'kysely';

/**
 * A destination is a factory of small parts (kysely's Dialect): capabilities as data, and a client
 * per dataset. Everything warehouse-specific lives behind this interface; the engine never names one.
 */
export interface Destination {
  /** Short type name, e.g. `duckdb`. Used in logs and `_ferry_loads`. */
  readonly type: string;
  /** What this destination can do. */
  readonly capabilities: DestinationCapabilities;
  /** Open a client for one dataset. The SDK is imported here, lazily, not when the module loads. */
  connect(options: ConnectOptions): Promise<DestinationClient>;
  /** A human description without secrets (`postgres://user@host:5432/db`). */
  describe(): string;
  /**
   * Optional writer for a file format the core does not write itself (e.g. parquet). Core writes
   * `jsonl` and `csv`.
   */
  fileWriter?(format: FileFormat): FileWriterFactory | undefined;
  /**
   * Where normalize worker threads can import the same writer {@link fileWriter} returns (a function
   * cannot cross threads). Optional: without it a destination's own writer runs on the main thread only,
   * which leaves the other cores idle during normalize.
   */
  fileWriterModule?(format: FileFormat): FileWriterModule | undefined;
}

/** A module and export name that a worker thread imports to get a {@link FileWriterFactory}. */
export interface FileWriterModule {
  /** Module URL (`import.meta.url` of the module that exports the factory) or a package specifier. */
  module: string;
  /** Name of the exported {@link FileWriterFactory}. */
  exportName: string;
}

/** Options for {@link Destination.connect}. */
export interface ConnectOptions {
  /** Dataset (schema) name, already normalized for the destination. */
  dataset: string;
  /** Pipeline name, for state rows and locks. */
  pipelineName: string;
  /**
   * Open for reading only (dataset API, `ferry query`, the dashboard). Default false. Destinations that
   * can enforce it do (DuckDB read-only instance, Postgres read-only transactions).
   */
  readOnly?: boolean;
}

/** The newest committed pipeline state at the destination. */
export interface StoredStateRecord {
  /** Pipeline name. */
  pipelineName: string;
  /** Load that committed it. */
  loadId: string;
  /** State version (increases with every change). */
  version: number;
  /** The state document. */
  state: PipelineStateDoc;
}

/** The pipeline state document: incremental cursors and per-resource state, by source and resource. */
export interface PipelineStateDoc {
  /** Increases with every change. */
  version: number;
  /** Pipeline name. */
  pipelineName: string;
  /** Per source: per resource state. */
  sources: Record<string, { resources: Record<string, ResourceState> }>;
  /** Newest load id this state belongs to. */
  lastLoadId?: string;
}

/** State of one resource. */
export interface ResourceState {
  /** Incremental cursors by cursor path. */
  incremental?: Record<string, IncrementalState>;
  /** Free-form state the resource keeps (e.g. in-flight run ids). JSON-serializable. */
  extras?: Record<string, unknown>;
}

/** Stored state of one incremental cursor. */
export interface IncrementalState {
  /** The configured initial value. */
  initialValue?: unknown;
  /** Highest cursor value seen and committed. */
  lastValue?: unknown;
  /** Hashes of the row keys whose cursor equals `lastValue` (boundary dedup); capped. */
  boundaryHashes?: string[];
  /** True when more rows shared `lastValue` than the cap allowed to remember. */
  boundaryOverflow?: boolean;
}

/** One loader file of a package. */
export interface LoadJobFile {
  /** Stable id within the package: `<table>.<fileId>` (no retry count, no extension). */
  jobId: string;
  /** Target table (normalized name). */
  table: string;
  /** Absolute path of the file (it may move between job folders; use the current path). */
  path: string;
  /** File format. */
  format: FileFormat;
  /** Columns present in the file, in file order (CSV and parquet have a fixed header). */
  columns: string[];
  /** Rows in the file. */
  rows: number;
}

/** Per table: how it is loaded in this package. */
export interface TableLoadPlan {
  /** Normalized table name. */
  table: string;
  /** Root table of this table's chain (itself for roots). */
  root: string;
  /** The root's disposition (children follow their root). */
  writeDisposition: WriteDisposition;
  /** The root's merge strategy, for merge. */
  mergeStrategy?: MergeStrategy;
  /** Jobs of this table in this package (may be empty for replace of a table chain with no rows). */
  jobs: LoadJobFile[];
}

/** Everything a destination needs to load one package atomically. */
export interface LoadPackagePlan {
  /** Monotonic load id (digits). */
  loadId: string;
  /** Schema after this package: every table and column the data needs. */
  schema: StoredSchema;
  /** Tables touched by this package, parents before children. */
  tables: TableLoadPlan[];
  /** Root tables replaced by this package: their whole chain is emptied first (even with no rows). */
  replaceChains: { root: string; tables: string[] }[];
  /** State to commit with the data, or undefined when the state did not change. */
  state: PipelineStateDoc | undefined;
  /** Where to report job progress. */
  events: LoadEvents;
}

/** Callbacks a destination calls while loading, so the engine can track job files and progress. */
export interface LoadEvents {
  /** A job began loading. */
  jobStarted(job: LoadJobFile): void | Promise<void>;
  /** A job's rows are loaded (into the target or staging; not yet committed). */
  jobCompleted(job: LoadJobFile): void | Promise<void>;
}

/** A connected destination client for one dataset. */
export interface DestinationClient {
  /** Create the dataset and the system tables when missing. Idempotent. */
  initialize(): Promise<void>;
  /** Whether a `_ferry_loads` row (or marker) exists for this load. */
  isLoadCommitted(loadId: string): Promise<boolean>;
  /** Newest state whose load is committed, or undefined. */
  getStoredState(pipelineName: string): Promise<StoredStateRecord | undefined>;
  /** Newest stored schema by name, or undefined. */
  getStoredSchema(schemaName: string): Promise<StoredSchema | undefined>;
  /**
   * Load one package: create/alter tables, load every job, apply replace/merge, write the schema
   * version (when new), the state (when given) and the `_ferry_loads` row, committing atomically
   * where the destination can. Throws a {@link DestinationError}; `transient: true` means retry.
   */
  loadPackage(plan: LoadPackagePlan): Promise<void>;
  /** Tables and columns as they exist now (for `ferry pipeline info` and tests). */
  introspect(): Promise<Record<string, TableSchema>>;
  /** Read-only access to the data (issue: dataset API). Undefined where not supported. */
  readonly reader?: DatasetReader;
  /** Drop the dataset and everything in it (`ferry pipeline drop`). */
  dropDataset(): Promise<void>;
  /** Close connections. Idempotent. */
  close(): Promise<void>;
  /**
   * Hold a destination-side lock on this pipeline until the client closes (released by the server if the
   * process dies), so runs with different working folders (two containers, two machines) never load one
   * pipeline at once. Throws a `FerryError` with code `PIPELINE_BUSY` naming the holder. Optional: without
   * it only the working folder's run lock applies.
   */
  lockPipeline?(pipelineName: string): Promise<void>;
}

/** Read-only SQL on a dataset; implemented per destination. */
export interface DatasetReader {
  /** Run a read-only query; parameters are positional (`$1`, `$2`...). Rows as plain objects. */
  query(sql: string, params?: unknown[]): Promise<Record<string, unknown>[]>;
  /** Stream a query in batches (bounded memory). */
  stream(
    sql: string,
    params: unknown[] | undefined,
    batchSize: number,
  ): AsyncIterable<Record<string, unknown>[]>;
  /**
   * Run one statement written by a user (`ferry query`, the dashboard, `dataset.sql()`), which is
   * hostile until the destination itself has refused everything but a read: one statement only (the
   * destination's own parser counts them, never a text guard), a read-only transaction or connection, a
   * statement type of SELECT, and a timeout. Throws `ReadOnlySqlError` when refused and `FerryError`
   * `QUERY_TIMEOUT` past the timeout. Rows beyond `maxRows` are not fetched.
   */
  untrustedQuery(
    sql: string,
    params: unknown[] | undefined,
    options: UntrustedQueryOptions,
  ): Promise<Record<string, unknown>[]>;
  /**
   * Why these credentials could write to the dataset (e.g. "role postgres is a superuser"), or undefined
   * when they cannot or the destination cannot tell. `ferry query` prints it as a warning: a read-only
   * role is the line under Ferry's own checks. Optional: destinations that cannot tell omit it.
   */
  writeAccess?(): Promise<string | undefined>;
  /**
   * A kysely `Dialect` whose queries run through this reader's read-only path, for typed queries
   * (`dataset.kysely<DB>()`, which scopes tables to the dataset with `withSchema`). Async so that the
   * dialect module (and kysely, an optional peer of destinations) loads only when asked for. Optional:
   * without it `dataset.kysely()` throws UNSUPPORTED; the core never names a concrete dialect.
   */
  kyselyDialect?(): Promise<Dialect>;
  /** Quote an identifier for this destination's SQL. */
  quoteIdentifier(name: string): string;
  /** Fully qualified, quoted name of a table in the dataset. */
  qualifiedTable(table: string): string;
}

/** Bounds of one untrusted query. */
export interface UntrustedQueryOptions {
  /** Cancel the statement after this long (ms). Callers choose: 30 s in the dashboard, 5 min in the CLI. */
  timeoutMs: number;
  /** Fetch at most this many rows (default: all); the rest stay on the server. */
  maxRows?: number;
}

/** Writes rows of one table to one loader file. */
export interface FileWriter {
  /** Write a row: values aligned to the writer's columns. */
  write(row: readonly unknown[]): void | Promise<void>;
  /** Bytes written so far (approximate), for rotation. */
  readonly bytes: number;
  /** Flush and close the file. */
  close(): Promise<void>;
}

/** A loader-file column as writers see it: name, type, nullability and decimal precision/scale. */
export interface FileWriterColumn {
  /** Column name. */
  name: string;
  /** Portable data type. */
  dataType: TableSchema['columns'][string]['dataType'];
  /** Whether nulls are allowed. */
  nullable: boolean;
  /** Decimal precision (decimal columns; default 38). */
  precision?: number;
  /** Decimal scale (decimal columns; default 9). */
  scale?: number;
}

/** Opens a {@link FileWriter} for a path, with a fixed column list and their types. */
export type FileWriterFactory = (path: string, columns: FileWriterColumn[]) => Promise<FileWriter>;
