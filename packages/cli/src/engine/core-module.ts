import * as core from '@ferry/core';
import { FerryError, type Destination, type LoadInfo, type PipelineEvent, type Source } from '@ferry/core';

/** Options the CLI passes to `pipeline()` from `@ferry/core`. */
export interface EnginePipelineOptions {
  name: string;
  dataset?: string;
  destination: Destination;
  dataDir?: string;
  onEvent?: (event: PipelineEvent) => void;
  loadRetries?: number;
  normalizeWorkers?: number;
}

/** The pipeline methods the CLI calls. */
export interface EnginePipeline {
  /** Extract, normalize and load a source (finishing pending packages first). */
  run(source: Source): Promise<LoadInfo>;
  /** Wipe local state and restore it from the destination. */
  syncFromDestination(): Promise<unknown>;
  /** Delete local packages that were extracted or normalized but not loaded. */
  dropPending(): Promise<unknown>;
}

/**
 * `pipeline()` from `@ferry/core`, looked up at run time so this package builds against a core that is
 * still growing; throws a clear error when the engine is older than the CLI.
 */
export function createPipeline(options: EnginePipelineOptions): EnginePipeline {
  const factory = (core as Record<string, unknown>)['pipeline'];
  if (typeof factory !== 'function') {
    throw new FerryError('ENGINE_MISSING', '@ferry/core does not export pipeline() yet; rebuild with `pnpm build`');
  }
  return (factory as (o: EnginePipelineOptions) => EnginePipeline)(options);
}
