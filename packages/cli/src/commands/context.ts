import { FerryError } from '@ferry/core';
import type { LoadTeamConfigOptions, TeamConfigScope } from '../config/load-team-config.ts';
import type { Redactor } from '../config/redactor.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { JsonLinesReporter, type Reporter, type TextSink } from '../output/reporter.ts';
import { TtyReporter } from '../output/tty-reporter.ts';

/** What every command gets: output sinks, environment and the chosen output format. */
export interface CommandContext {
  /** Results and JSON lines. */
  stdout: TextSink;
  /** Human errors and progress bars. */
  stderr: TextSink;
  /** Variables for `${VAR}` and `FERRY_*` settings. */
  env: NodeJS.ProcessEnv;
  /** Working directory for relative paths. */
  cwd: string;
  /** `json` (one event per line) or `pretty` (terminal); `auto` was already resolved. */
  format: 'json' | 'pretty';
  /**
   * Learns every secret of every team file the command loads, so that an error escaping the command is
   * redacted where `main` prints it. Default: none (a command's own redactor still applies).
   */
  redactor?: Redactor;
}

/** Options for `loadTeamConfig` from a command's context: its env, cwd and redactor, and the scope. */
export function teamLoadOptions(ctx: CommandContext, scope: TeamConfigScope = 'all'): LoadTeamConfigOptions {
  return {
    env: ctx.env,
    cwd: ctx.cwd,
    scope,
    ...(ctx.redactor === undefined ? {} : { redactor: ctx.redactor }),
  };
}

/** Resolve `--log-format` / `FERRY_LOG_FORMAT`: `auto` means pretty on a terminal, JSON lines otherwise. */
export function resolveFormat(requested: string | undefined, stdout: TextSink): 'json' | 'pretty' {
  if (requested === 'json' || requested === 'pretty') return requested;
  return stdout.isTTY === true ? 'pretty' : 'json';
}

/** A reporter for the context's format that redacts with `redact`. */
export function makeReporter(ctx: CommandContext, redact?: (text: string) => string): Reporter {
  const options = redact === undefined ? {} : { redact };
  if (ctx.format === 'json') return new JsonLinesReporter(ctx.stdout, options);
  return new TtyReporter(ctx.stdout, options);
}

/** Error → exit code: config problems are 2 (retrying will not help), everything else 1. */
export function exitCodeFor(error: unknown): ExitCode {
  if (error instanceof FerryError && (error.code === 'CONFIG_INVALID' || error.code === 'USAGE'))
    return EXIT.usage;
  if (error instanceof FerryError && error.code === 'PACKAGE_FAILED') return EXIT.packageFailed;
  return EXIT.runFailed;
}

/** A usage problem detected by a command (exit code 2). */
export class UsageError extends FerryError {
  constructor(message: string) {
    super('USAGE', message);
  }
}

/**
 * An error's message with its causes (`msg: cause: cause`), passed through `redact`. Stack traces are
 * left out: messages are written to say what to do next.
 */
export function describeError(error: unknown, redact: (text: string) => string = (t) => t): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current !== undefined && current !== null && depth < 4; depth++) {
    const msg = current instanceof Error ? current.message : String(current);
    if (!parts.some((p) => p.includes(msg))) parts.push(msg);
    current = current instanceof Error ? current.cause : undefined;
  }
  return redact(parts.join(': caused by: '));
}
