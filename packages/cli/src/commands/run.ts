import type { LoadInfo } from '@ferry/core';
import { loadTeamConfig, type TeamConfig } from '../config/load-team-config.ts';
import { TeamConfigError } from '../config/team-config-error.ts';
import { teamPipeline } from '../engine/core-module.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { formatLoadInfo } from '../output/load-info-text.ts';
import type { Reporter } from '../output/reporter.ts';
import { terminalText } from '../output/terminal-text.ts';
import { runDbtCloudTransform, transformFailed } from '../transform/dbt-cloud-transform.ts';
import { describeError, exitCodeFor, makeReporter, teamLoadOptions, type CommandContext } from './context.ts';

/** Outcome of one team run; also the `run_end` event that `run --all` reads from each child. */
export interface TeamRunResult {
  /** The YAML file. */
  file: string;
  /** Pipeline name, when the file got that far. */
  pipeline?: string;
  /** `ok`, `config_error`, `failed` (run), `transform_failed`. */
  status: 'ok' | 'config_error' | 'failed' | 'transform_failed';
  /** Process exit code for this outcome. */
  exitCode: ExitCode;
  /** Total rows loaded. */
  rows: number;
  /** Load packages committed. */
  loads: number;
  /** Wall time, ms. */
  ms: number;
  /** Error text (redacted), for failures. */
  error?: string;
  /** dbt Cloud run id, when a transform ran. */
  dbtCloudRunId?: number | string;
}

/** Options of {@link runTeamFile}. */
export interface RunOptions {
  /** Print the load info as JSON on stdout (pretty mode only; JSON mode always emits `load_info`). */
  json?: boolean;
  /** Skip the transform step even when configured. */
  skipTransform?: boolean;
}

/**
 * `ferry run <file>`: load the team file, run its source into its destination, then the transform.
 * Never throws: every outcome is reported (events and/or text) and returned with its exit code.
 */
export async function runTeamFile(
  file: string,
  ctx: CommandContext,
  options: RunOptions = {},
): Promise<TeamRunResult> {
  const started = performance.now();
  let config: TeamConfig | undefined;
  let reporter: Reporter = makeReporter(ctx);
  const result = (
    partial: Omit<TeamRunResult, 'file' | 'ms' | 'rows' | 'loads'> & Partial<TeamRunResult>,
  ): TeamRunResult => ({
    file,
    rows: 0,
    loads: 0,
    ...(config === undefined ? {} : { pipeline: config.pipeline.name }),
    ...partial,
    ms: Math.round(performance.now() - started),
  });
  try {
    try {
      config = await loadTeamConfig(file, teamLoadOptions(ctx));
    } catch (error) {
      const problems = error instanceof TeamConfigError ? error.problems : undefined;
      const message = describeError(error, (t) => ctx.redactor?.redact(t) ?? t);
      if (ctx.format === 'json')
        reporter.emit('error', { file, code: 'CONFIG_INVALID', message, problems }, 'error');
      else ctx.stderr.write(`error: ${terminalText(message)}\n`);
      const out = result({ status: 'config_error', exitCode: EXIT.usage, error: message });
      reporter.emit('run_end', { ...out });
      return out;
    }
    const cfg = config;
    const redact = (t: string): string => cfg.redactor.redact(t);
    reporter.close();
    reporter = makeReporter(ctx, redact);
    reporter.emit('run_start', {
      file,
      pipeline: cfg.pipeline.name,
      source: cfg.source.type,
      destination: cfg.destination.type,
    });
    if (ctx.format === 'pretty')
      reporter.message(
        `ferry: running ${cfg.pipeline.name} (${file}): ${cfg.source.type} → ${cfg.destination.type}`,
      );

    let info: LoadInfo;
    try {
      const source = await cfg.source.sourceType.create(cfg.source.config);
      const p = await teamPipeline(cfg, {
        onEvent: (event) => reporter.pipelineEvent(cfg.pipeline.name, event),
      });
      info = await p.run(source);
    } catch (error) {
      const message = describeError(error, redact);
      const exitCode = exitCodeFor(error);
      reporter.close();
      if (ctx.format === 'json') {
        reporter.emit(
          'error',
          { file, pipeline: cfg.pipeline.name, code: (error as { code?: unknown }).code ?? 'ERROR', message },
          'error',
        );
      } else ctx.stderr.write(`error: ${cfg.pipeline.name}: ${terminalText(message)}\n`);
      const out = result({
        status: exitCode === EXIT.usage ? 'config_error' : 'failed',
        exitCode,
        error: message,
      });
      reporter.emit('run_end', { ...out });
      return out;
    }

    let exitCode: ExitCode = EXIT.ok;
    let status: TeamRunResult['status'] = 'ok';
    let error: string | undefined;
    let runId: number | string | undefined;
    const dbt = cfg.transform.dbtCloud;
    if (dbt !== undefined && options.skipTransform !== true) {
      reporter.emit('transform_start', { pipeline: cfg.pipeline.name, kind: 'dbt_cloud', jobId: dbt.jobId });
      if (ctx.format === 'pretty')
        reporter.message(
          `${cfg.pipeline.name}: triggering dbt Cloud job ${String(dbt.jobId)}${dbt.wait ? ' and waiting' : ''}…`,
        );
      const t = await runDbtCloudTransform(dbt, info);
      if (t.error !== undefined) t.error = redact(t.error);
      info.extras['dbtCloud'] = t;
      runId = t.runId;
      reporter.emit(
        'transform_end',
        { pipeline: cfg.pipeline.name, kind: 'dbt_cloud', ...t },
        transformFailed(t) ? 'error' : 'info',
      );
      if (transformFailed(t)) {
        exitCode = EXIT.transformFailed;
        status = 'transform_failed';
        error = `dbt Cloud job ${String(t.jobId)}${t.runId === undefined ? '' : ` run ${String(t.runId)}`}: ${t.outcome}${t.error === undefined ? '' : `: ${t.error}`}`;
      }
    }
    reporter.close();
    if (ctx.format === 'json')
      reporter.emit('load_info', { pipeline: cfg.pipeline.name, info: cfg.redactor.redactValue(info) });
    else {
      // pretty output is for a terminal: load errors quote the warehouse and the API, so strip escapes
      ctx.stdout.write(`${terminalText(redact(formatLoadInfo(info)))}\n`);
      if (options.json === true) ctx.stdout.write(`${redact(JSON.stringify(info, null, 2))}\n`);
      if (error !== undefined) ctx.stderr.write(`error: ${terminalText(error)}\n`);
    }
    const out = result({
      status,
      exitCode,
      rows: Object.values(info.rowCounts).reduce((a, b) => a + b, 0),
      loads: info.loadIds.length,
      ...(error === undefined ? {} : { error }),
      ...(runId === undefined ? {} : { dbtCloudRunId: runId }),
    });
    reporter.emit('run_end', { ...out }, exitCode === EXIT.ok ? 'info' : 'error');
    return out;
  } finally {
    reporter.close();
  }
}
