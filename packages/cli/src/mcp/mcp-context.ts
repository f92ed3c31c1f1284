import { stat } from 'node:fs/promises';
import { isAbsolute, relative, resolve } from 'node:path';
import { loadTeamConfig, type TeamConfig } from '../config/load-team-config.ts';
import type { Redactor } from '../config/redactor.ts';
import { TeamConfigError } from '../config/team-config-error.ts';
import { UsageError } from '../commands/context.ts';
import { listTeamFiles } from '../commands/run-all.ts';

/** Settings of one `ferry mcp` server. */
export interface FerryMcpOptions {
  /** Folder of team files, absolute. Every file argument must resolve inside it. */
  root: string;
  /** Variables for `${VAR}`; default `process.env`. */
  env: NodeJS.ProcessEnv;
  /** List `run_pipeline` and `dbt_cloud_trigger_job`. Default false: an agent only reads. */
  allowWrites: boolean;
  /** Cap on one tool result, bytes of JSON. Default 100,000. */
  maxResultBytes: number;
  /** Longest a `query` may run, ms. Default 30 s (the dashboard's bound; an agent waits on it). */
  queryTimeoutMs: number;
  /** Most rows `query` returns. Default 500. */
  maxQueryRows: number;
  /** Longest one `check_credentials` probe may take, ms. Default 15 s. */
  checkTimeoutMs: number;
  /** Where diagnostics go (stderr: stdout is the protocol). Lines are redacted before they get here. */
  log: (line: string) => void;
}

/** What one tool call has at hand: the options, and the redactors whose secrets it must not return. */
export interface McpCall {
  /** Server options. */
  readonly options: FerryMcpOptions;
  /** Redact with every secret this call has seen (the root's, and those of configs it loaded). */
  redact(text: string): string;
  /** Remember a loaded team file's redactor (its inline secret fields) for this call. */
  track(redactor: Redactor): void;
}

/** Team files in the root (`*.yaml`, `*.yml`, not hidden), absolute, sorted. */
export async function rootTeamFiles(options: FerryMcpOptions): Promise<string[]> {
  return listTeamFiles(options.root).catch(() => []);
}

/**
 * Resolve a file argument inside the root. Absolute paths and `..` that leave the root are refused: the
 * server shows an agent the team files it was pointed at, not the rest of the disk.
 */
export function insideRoot(options: FerryMcpOptions, file: string): string {
  const abs = resolve(options.root, file);
  const rel = relative(options.root, abs);
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel))
    throw new UsageError(`'${file}' is outside the team-file folder ${options.root}; give a path inside it`);
  return abs;
}

/** Path of a file relative to the root, as results show it. */
export function shown(options: FerryMcpOptions, abs: string): string {
  return relative(options.root, abs) || abs;
}

/**
 * A team file by pipeline name (`pipeline.name` of a file in the root) or by path inside the root. The
 * error names the pipelines there are, and the files that did not validate.
 */
export async function resolvePipeline(call: McpCall, pipeline: string): Promise<TeamConfig> {
  const { options } = call;
  const load = async (abs: string): Promise<TeamConfig> => {
    const cfg = await loadTeamConfig(shown(options, abs), { env: options.env, cwd: options.root });
    call.track(cfg.redactor);
    return cfg;
  };
  if (/\.ya?ml$/i.test(pipeline)) {
    const abs = insideRoot(options, pipeline);
    if ((await stat(abs).catch(() => undefined))?.isFile() === true) return load(abs);
  }
  const names: string[] = [];
  const broken: string[] = [];
  for (const abs of await rootTeamFiles(options)) {
    try {
      const cfg = await load(abs);
      if (cfg.pipeline.name === pipeline) return cfg;
      names.push(cfg.pipeline.name);
    } catch (error) {
      if (!(error instanceof TeamConfigError)) throw error;
      broken.push(shown(options, abs));
    }
  }
  throw new UsageError(
    `no pipeline '${pipeline}' in ${options.root} (pipelines: ${names.join(', ') || 'none'}${broken.length > 0 ? `; invalid files skipped: ${broken.join(', ')} (see validate_team_file)` : ''})`,
  );
}
