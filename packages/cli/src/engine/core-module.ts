import { pipeline, type Pipeline, type PipelineOptions } from '@ferry/core';
import type { Destination } from '@ferry/core';
import { createDestination } from '@ferry/destinations';
import type { TeamConfig } from '../config/load-team-config.ts';

/** Options the CLI passes to `pipeline()` from `@ferry/core`. */
export type EnginePipelineOptions = PipelineOptions;

/** The engine's pipeline. */
export type EnginePipeline = Pipeline;

/** `pipeline()` from `@ferry/core`. */
export function createPipeline(options: EnginePipelineOptions): EnginePipeline {
  return pipeline(options);
}

/** The pipeline of a team file (destination created, nothing connected yet). */
export async function teamPipeline(
  cfg: TeamConfig,
  extra: Partial<PipelineOptions> = {},
  destination?: Destination,
): Promise<EnginePipeline> {
  return pipeline({
    name: cfg.pipeline.name,
    ...(cfg.pipeline.dataset === undefined ? {} : { dataset: cfg.pipeline.dataset }),
    destination: destination ?? (await createDestination(cfg.destination)),
    dataDir: cfg.pipeline.dataDir,
    ...(cfg.pipeline.loadRetries === undefined ? {} : { loadRetries: cfg.pipeline.loadRetries }),
    ...(cfg.pipeline.normalizeWorkers === undefined
      ? {}
      : { normalizeWorkers: cfg.pipeline.normalizeWorkers }),
    ...extra,
  });
}
