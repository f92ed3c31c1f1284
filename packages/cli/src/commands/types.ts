import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { schemaTypes } from '@ferry/core';
import { teamPipeline } from '../engine/core-module.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { UsageError, type CommandContext } from './context.ts';
import { resolveTeam, type PipelineTarget } from './pipeline.ts';

/** Options of {@link pipelineTypesCommand}. */
export interface PipelineTypesOptions {
  /** Write to this file (relative to the working folder) instead of stdout. Default: stdout. */
  out?: string;
  /** Name of the database interface. Default `DB` (kysely's convention). */
  interfaceName?: string;
}

/**
 * `ferry pipeline types <name> [--out file] [--interface DB]`: the kysely `DB` interface of a pipeline's
 * dataset, written from the schemas stored at the destination (so it describes what was loaded, not
 * what a run would load): every table, child tables included, column types and nullability. Use it with
 * `dataset.kysely<DB>()`; a query on a column that does not exist then fails to compile. Reads the
 * destination only (no source secrets needed). Fails with a usage error when nothing was loaded yet.
 */
export async function pipelineTypesCommand(
  name: string,
  target: PipelineTarget,
  ctx: CommandContext,
  options: PipelineTypesOptions = {},
): Promise<ExitCode> {
  if (options.interfaceName !== undefined && !/^[A-Za-z_$][A-Za-z0-9_$]*$/.test(options.interfaceName))
    throw new UsageError(`--interface '${options.interfaceName}': expected a TypeScript identifier, e.g. DB`);
  const cfg = await resolveTeam(name, target, ctx, 'destination');
  const p = await teamPipeline(cfg);
  const dataset = p.dataset();
  let text: string;
  try {
    const schemas = await dataset.schemas();
    if (schemas.length === 0)
      throw new UsageError(
        `pipeline '${cfg.pipeline.name}' has no schema stored in dataset '${dataset.name}' at ${cfg.destination.type}: run it first (ferry run)`,
      );
    text = schemaTypes(schemas, {
      generator: `ferry pipeline types ${cfg.pipeline.name}`,
      ...(options.interfaceName === undefined ? {} : { interfaceName: options.interfaceName }),
    });
  } finally {
    await dataset.close();
    await p.close();
  }
  if (options.out === undefined) ctx.stdout.write(text);
  else {
    const file = resolve(ctx.cwd, options.out);
    await mkdir(dirname(file), { recursive: true });
    await writeFile(file, text);
    ctx.stderr.write(`wrote ${options.out}\n`);
  }
  return EXIT.ok;
}
