import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { PipelineEvent } from '@ferry/core';
import { formatDuration } from '../config/duration.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import type { TeamRunResult } from './run.ts';
import { makeReporter, UsageError, type CommandContext } from './context.ts';

const PIPELINE_EVENTS = new Set(['stage', 'extract', 'normalize', 'load', 'retry', 'warning']);

/** Options of {@link runAll}. */
export interface RunAllOptions {
  /** Teams run at once. Default 1 (each team is a process; the machine may be small). */
  concurrency?: number;
  /** Skip transforms. */
  skipTransform?: boolean;
}

/** Result of `run --all`. */
export interface RunAllResult {
  /** Per team, in file order. */
  teams: TeamRunResult[];
  /** 0 when all succeeded, else 4. */
  exitCode: ExitCode;
}

/** The team files of a directory: `*.yaml` / `*.yml`, sorted, not recursive. */
export async function listTeamFiles(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  return entries
    .filter((e) => e.isFile() && /\.ya?ml$/i.test(e.name) && !e.name.startsWith('.'))
    .map((e) => join(dir, e.name))
    .sort();
}

/** Path of the built `bin.js` this module belongs to (children run the same build). */
export function binPath(): string {
  const sibling = fileURLToPath(new URL('../bin.js', import.meta.url));
  if (sibling.endsWith('.js') && existsSync(sibling)) return sibling;
  return fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
}

/**
 * `ferry run --all <dir>`: every team file in its own process (a crash, a native-module fault or an
 * out-of-memory in one team cannot take down another), `concurrency` at a time. Children speak JSON
 * lines; the parent forwards them with a `team` field (JSON mode) or draws their progress (terminal),
 * then prints a summary table. Exit 0 when all succeeded, 4 when any failed.
 */
export async function runAll(
  dir: string,
  ctx: CommandContext,
  options: RunAllOptions = {},
): Promise<RunAllResult> {
  const abs = resolve(ctx.cwd, dir);
  const info = await stat(abs).catch(() => undefined);
  if (info === undefined || !info.isDirectory())
    throw new UsageError(`${dir}: not a directory; give the folder holding the team *.yaml files`);
  const files = await listTeamFiles(abs);
  if (files.length === 0) throw new UsageError(`${dir}: no *.yaml team files found`);
  const reporter = makeReporter(ctx);
  reporter.emit('run_all_start', { dir, teams: files.map((f) => basename(f)) });
  const results: TeamRunResult[] = new Array(files.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < files.length) {
      const i = next++;
      const file = files[i] as string;
      results[i] = await runChild(file, ctx, reporter, options);
    }
  };
  const concurrency = Math.max(1, Math.min(options.concurrency ?? 1, files.length));
  await Promise.all(Array.from({ length: concurrency }, worker));
  reporter.close();
  const failed = results.filter((r) => r.exitCode !== EXIT.ok).length;
  const exitCode: ExitCode = failed === 0 ? EXIT.ok : EXIT.partial;
  if (ctx.format === 'json') {
    reporter.emit(
      'summary',
      { teams: results, ok: results.length - failed, failed, exitCode },
      failed === 0 ? 'info' : 'error',
    );
  } else {
    ctx.stdout.write(`\n${summaryTable(results, ctx.cwd)}\n`);
    ctx.stdout.write(
      `${results.length - failed} of ${results.length} team(s) succeeded${failed > 0 ? `; ${failed} failed (exit ${exitCode})` : ''}\n`,
    );
  }
  return { teams: results, exitCode };
}

async function runChild(
  file: string,
  ctx: CommandContext,
  reporter: ReturnType<typeof makeReporter>,
  options: RunAllOptions,
): Promise<TeamRunResult> {
  const team = basename(file);
  const started = performance.now();
  const args = [binPath(), 'run', file, '--log-format', 'json'];
  if (options.skipTransform === true) args.push('--skip-transform');
  const child = spawn(process.execPath, args, {
    cwd: ctx.cwd,
    env: { ...ctx.env, FERRY_LOG_FORMAT: 'json' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let end: TeamRunResult | undefined;
  let lastError: string | undefined;
  const stderrTail: string[] = [];
  const stdoutDone = (async () => {
    for await (const line of createInterface({ input: child.stdout })) {
      let obj: Record<string, unknown>;
      try {
        obj = JSON.parse(line) as Record<string, unknown>;
      } catch {
        if (ctx.format === 'json') reporter.emit('output', { team, text: line });
        else reporter.message(`${team}: ${line}`);
        continue;
      }
      const event = String(obj['event']);
      if (event === 'run_end') end = obj as unknown as TeamRunResult;
      if (event === 'error' && typeof obj['message'] === 'string') lastError = obj['message'];
      if (ctx.format === 'json') {
        ctx.stdout.write(`${JSON.stringify({ ...obj, team })}\n`);
      } else if (PIPELINE_EVENTS.has(event)) {
        const { event: type, ts: _ts, level: _level, pipeline, ...rest } = obj;
        reporter.pipelineEvent(String(pipeline ?? team), { type, ...rest } as unknown as PipelineEvent);
      } else if (event === 'error') {
        reporter.message(`${team}: ${lastError ?? 'failed'}`, 'error');
      } else if (event === 'run_start') {
        reporter.message(
          `${team}: running ${String(obj['pipeline'])} (${String(obj['source'])} → ${String(obj['destination'])})`,
        );
      } else if (event === 'transform_end') {
        reporter.message(
          `${team}: dbt Cloud job ${String(obj['jobId'])} run ${String(obj['runId'] ?? '?')}: ${String(obj['outcome'])}`,
        );
      }
    }
  })();
  const stderrDone = (async () => {
    for await (const line of createInterface({ input: child.stderr })) {
      stderrTail.push(line);
      if (stderrTail.length > 20) stderrTail.shift();
    }
  })();
  const code = await new Promise<number | null>((res) =>
    child.on('close', (c, signal) => res(c ?? (signal ? 128 : null))),
  );
  await Promise.all([stdoutDone, stderrDone]);
  if (end !== undefined) return { ...end, file: team };
  const tail = stderrTail
    .filter((l) => l.trim() !== '')
    .slice(-3)
    .join(' | ');
  return {
    file: team,
    status: 'failed',
    exitCode: EXIT.runFailed,
    rows: 0,
    loads: 0,
    ms: Math.round(performance.now() - started),
    error:
      lastError ??
      `process exited with code ${String(code)} before finishing${tail === '' ? '' : `: ${tail}`}`,
  };
}

/** The `run --all` summary as an aligned text table. */
export function summaryTable(results: readonly TeamRunResult[], _cwd: string): string {
  const header = ['TEAM', 'PIPELINE', 'STATUS', 'EXIT', 'ROWS', 'LOADS', 'TIME', 'DETAIL'];
  const rows = results.map((r) => [
    r.file,
    r.pipeline ?? '-',
    r.status,
    String(r.exitCode),
    r.rows.toLocaleString('en-US'),
    String(r.loads),
    formatDuration(r.ms),
    truncate(
      r.error ?? (r.dbtCloudRunId === undefined ? '' : `dbt Cloud run ${String(r.dbtCloudRunId)}`),
      100,
    ),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const fmt = (cells: string[]): string =>
    cells
      .map((c, i) => (i === 3 || i === 4 || i === 5 ? c.padStart(widths[i] ?? 0) : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [fmt(header), fmt(widths.map((w) => '-'.repeat(w))), ...rows.map(fmt)].join('\n');
}

function truncate(text: string, max: number): string {
  const one = text.replace(/\s+/g, ' ');
  return one.length <= max ? one : `${one.slice(0, max - 1)}…`;
}
