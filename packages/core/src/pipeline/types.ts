import type { Destination } from '../destination/destination.ts';
import type { StoredSchema } from '../schema/types.ts';

/** Options of {@link pipeline}. */
export interface PipelineOptions {
  /** Pipeline name: keys the local working folder and the state rows at the destination. */
  name: string;
  /** Dataset (schema) at the destination. Default `<name>_dataset`. */
  dataset?: string;
  /** Where data lands. */
  destination: Destination;
  /**
   * Local working folder root; the pipeline uses `<dataDir>/<name>`. Default `$FERRY_DATA_DIR` or
   * `./.ferry`. Empty is fine: state and schema are restored from the destination.
   */
  dataDir?: string;
  /** Receives progress events (the CLI draws bars or prints JSON lines). Default: none. */
  onEvent?: (event: PipelineEvent) => void;
  /** Retries of a failed package load on a transient error. Default 5 (backoff 0.5 s doubling, max 15 s). */
  loadRetries?: number;
  /**
   * Normalize worker threads. Default: min(cores, 4); 0 or 1 normalizes on the main thread. Workers
   * split a package by raw file, so they only help packages of more than one file.
   */
  normalizeWorkers?: number;
  /** Raw extract files rotate after this many items (the unit of parallel normalize). Default 100,000. */
  extractFileMaxItems?: number;
}

/** Progress and lifecycle events. */
export type PipelineEvent =
  | {
      type: 'stage';
      stage: 'sync' | 'extract' | 'normalize' | 'load';
      status: 'start' | 'end';
      loadId?: string;
      ms?: number;
    }
  | { type: 'extract'; resource: string; items: number }
  | { type: 'normalize'; table: string; rows: number; loadId: string }
  | { type: 'load'; loadId: string; jobsDone: number; jobsTotal: number; table?: string }
  | { type: 'retry'; loadId: string; attempt: number; error: string; delayMs: number }
  | { type: 'warning'; message: string; context?: Record<string, unknown> };

/** Schema changes of one package. */
export interface SchemaChange {
  /** Table name. */
  table: string;
  /** True when the table is new. */
  newTable: boolean;
  /** New columns (name → type). */
  newColumns: Record<string, string>;
  /** Columns widened (name → `from→to`). */
  widened: Record<string, string>;
}

/** What a run (or a load step) did. */
export interface LoadInfo {
  /** Pipeline name. */
  pipelineName: string;
  /** Dataset name. */
  dataset: string;
  /** Destination type and description (no secrets). */
  destination: string;
  /** Load ids committed by this call, in order (pending packages from a crashed run come first). */
  loadIds: string[];
  /** Rows loaded per table across those loads. */
  rowCounts: Record<string, number>;
  /** Schema changes applied. */
  schemaChanges: SchemaChange[];
  /**
   * Milliseconds per stage. In `run()` normalize overlaps extract: `extract` includes the normalize work
   * done while the source was read, `normalize` is what was left after it.
   */
  timings: { sync?: number; extract?: number; normalize?: number; load?: number; total: number };
  /** The schema after the run. */
  schemaVersion: number;
  /** True when nothing new was extracted (no rows) and nothing was pending. */
  empty: boolean;
  /** Free-form entries added by steps run after the load (e.g. a dbt Cloud transform). */
  extras: Record<string, unknown>;
}

/** Result of `extract()`. */
export interface ExtractInfo {
  /** The new package's load id, or undefined when nothing was extracted. */
  loadId: string | undefined;
  /** Items per resource. */
  items: Record<string, number>;
}

/** Result of `normalize()`. */
export interface NormalizeInfo {
  /** Packages normalized. */
  loadIds: string[];
  /** Rows per table. */
  rowCounts: Record<string, number>;
  /** The schema after normalizing. */
  schema: StoredSchema | undefined;
}
