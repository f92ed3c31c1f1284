import { loadTeamConfig } from '../config/load-team-config.ts';
import { parseDuration } from '../config/duration.ts';
import { Redactor } from '../config/redactor.ts';
import { toId } from '../config/zod-helpers.ts';
import { loadDbtCloud, NO_SETTINGS_SOURCES } from '../engine/dbt-cloud-module.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { jsonReplacer } from '../output/reporter.ts';
import type { DbtCloudConnection } from '../sources/source-type.ts';
import { describeRun, type DbtCloudTransformResult } from '../transform/dbt-cloud-transform.ts';
import { UsageError, describeError, teamLoadOptions, type CommandContext } from './context.ts';

/** Connection flags of `ferry dbt-cloud …`; the token only ever comes from the environment or a file. */
export interface DbtCloudConnectionFlags {
  /** Team file whose `transform.dbt_cloud` (else `source`) connection to use. */
  config?: string;
  /** Host; default `$DBT_CLOUD_HOST`. */
  host?: string;
  /** Base URL; default `$DBT_CLOUD_BASE_URL`. */
  baseUrl?: string;
  /** Account id; default `$DBT_CLOUD_ACCOUNT_ID`. */
  accountId?: string;
}

/**
 * Resolve the dbt Cloud connection: from a team file, else from flags and `DBT_CLOUD_*` variables.
 * The API token is read from `$DBT_CLOUD_API_TOKEN` only (a flag would show in `ps` and shell history).
 */
export async function resolveDbtCloudConnection(
  flags: DbtCloudConnectionFlags,
  ctx: CommandContext,
): Promise<{ connection: DbtCloudConnection; redactor: Redactor }> {
  if (flags.config !== undefined) {
    const cfg = await loadTeamConfig(flags.config, teamLoadOptions(ctx));
    const connection =
      cfg.transform.dbtCloud?.connection ?? cfg.source.sourceType.dbtCloudConnection?.(cfg.source.config);
    if (connection === undefined)
      throw new UsageError(`${flags.config}: has neither a dbt_cloud source nor transform.dbt_cloud`);
    return { connection, redactor: cfg.redactor };
  }
  const host = flags.host ?? ctx.env['DBT_CLOUD_HOST'];
  const baseUrl = flags.baseUrl ?? ctx.env['DBT_CLOUD_BASE_URL'];
  const accountId = flags.accountId ?? ctx.env['DBT_CLOUD_ACCOUNT_ID'];
  const apiToken = ctx.env['DBT_CLOUD_API_TOKEN'];
  const missing: string[] = [];
  if (host === undefined && baseUrl === undefined)
    missing.push('--host or --base-url (or DBT_CLOUD_HOST / DBT_CLOUD_BASE_URL)');
  if (accountId === undefined || !/^\d+$/.test(accountId))
    missing.push('--account-id (or DBT_CLOUD_ACCOUNT_ID), digits');
  if (apiToken === undefined || apiToken === '') missing.push('DBT_CLOUD_API_TOKEN in the environment');
  if (missing.length > 0)
    throw new UsageError(
      `dbt Cloud connection incomplete: set ${missing.join('; ')}; or pass --config <team.yaml>`,
    );
  const redactor = new Redactor(ctx.redactor);
  redactor.add(apiToken);
  const connection: DbtCloudConnection = {
    accountId: toId(accountId as string),
    apiToken: apiToken as string,
  };
  if (baseUrl !== undefined) connection.baseUrl = baseUrl;
  else if (host !== undefined) connection.host = host;
  return { connection, redactor };
}

function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const ms = parseDuration(text);
  if (ms === undefined)
    throw new UsageError(`--timeout '${text}': expected a duration like 30m, 90s or 1h30m`);
  return ms;
}

function parsePoll(text: string): number {
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0)
    throw new UsageError(`--poll-interval '${text}': expected a duration like 10s`);
  return ms;
}

function printRun(
  ctx: CommandContext,
  redactor: Redactor,
  event: string,
  result: Record<string, unknown>,
): void {
  if (ctx.format === 'json')
    ctx.stdout.write(
      `${redactor.redact(JSON.stringify({ ts: new Date().toISOString(), level: 'info', event, ...result }, jsonReplacer))}\n`,
    );
  else {
    const r = result as Partial<DbtCloudTransformResult> & Record<string, unknown>;
    ctx.stdout.write(
      `${redactor.redact(`dbt Cloud run ${String(r.runId ?? '?')}: ${String(r.statusHumanized ?? r.outcome ?? 'unknown')}${r.href ? ` (${String(r.href)})` : ''}`)}\n`,
    );
  }
}

/**
 * Say what a trigger whose answer was lost did next: adopted the run it had created, or (none found)
 * triggered once more. One line each, so a reader of the log knows why no second run exists (or why one does).
 */
export function printTriggerEvent(
  ctx: Pick<CommandContext, 'stderr' | 'stdout' | 'format'>,
  redactor: Redactor,
  event: { kind: string; runId?: unknown; cause: string; error: unknown },
): void {
  const why = event.error instanceof Error ? event.error.message : String(event.error);
  const text =
    event.kind === 'adopted'
      ? `dbt Cloud trigger answer was lost (${why}); adopted run ${String(event.runId)} it created (cause "${event.cause}")`
      : event.kind === 'retrying'
        ? `dbt Cloud trigger answer was lost (${why}) and no run with cause "${event.cause}" exists; triggering once more`
        : `dbt Cloud trigger failed again after sending (${why}); not triggering a third time`;
  if (ctx.format === 'json')
    ctx.stdout.write(
      `${redactor.redact(JSON.stringify({ ts: new Date().toISOString(), level: 'warn', event: `dbt_cloud_trigger_${event.kind}`, runId: event.runId, cause: event.cause, message: text }, jsonReplacer))}\n`,
    );
  else ctx.stderr.write(`warning: ${redactor.redact(text)}\n`);
}

function exitFor(outcome: string | undefined): ExitCode {
  return outcome === 'error' || outcome === 'cancelled' || outcome === 'timeout' || outcome === 'failed'
    ? EXIT.transformFailed
    : EXIT.ok;
}

/** `ferry dbt-cloud run-job --job-id N [--wait] [--timeout 30m]`. Exit 3 when the run fails or times out. */
export async function runJobCommand(
  options: DbtCloudConnectionFlags & {
    jobId: string;
    wait?: boolean;
    timeout?: string;
    pollInterval?: string;
    cause?: string;
  },
  ctx: CommandContext,
): Promise<ExitCode> {
  if (!/^\d+$/.test(options.jobId)) throw new UsageError(`--job-id '${options.jobId}': expected digits`);
  const { connection, redactor } = await resolveDbtCloudConnection(options, ctx);
  const timeoutMs = parseTimeout(options.timeout);
  const mod = await loadDbtCloud();
  const wait = options.wait === true;
  try {
    const run = await mod.runDbtCloudJob({
      credentials: { ...connection },
      settingsSources: NO_SETTINGS_SOURCES,
      jobId: toId(options.jobId),
      waitForOutcome: wait,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(options.pollInterval === undefined ? {} : { pollIntervalMs: parsePoll(options.pollInterval) }),
      trigger: { cause: options.cause ?? 'Triggered by ferry dbt-cloud run-job' },
      triggerSafety: { onEvent: (e) => printTriggerEvent(ctx, redactor, e) },
    });
    const d = describeRun(run);
    const outcome = wait ? (d.outcome ?? 'success') : 'triggered';
    printRun(ctx, redactor, 'dbt_cloud_run', { jobId: toId(options.jobId), ...d.fields, outcome });
    return exitFor(outcome);
  } catch (error) {
    return reportRunError(error, ctx, redactor, { jobId: toId(options.jobId) });
  }
}

/** `ferry dbt-cloud run-status --run-id N [--wait]`. Exit 3 when the run failed, was cancelled or timed out. */
export async function runStatusCommand(
  options: DbtCloudConnectionFlags & {
    runId: string;
    wait?: boolean;
    timeout?: string;
    pollInterval?: string;
  },
  ctx: CommandContext,
): Promise<ExitCode> {
  if (!/^\d+$/.test(options.runId)) throw new UsageError(`--run-id '${options.runId}': expected digits`);
  const { connection, redactor } = await resolveDbtCloudConnection(options, ctx);
  const timeoutMs = parseTimeout(options.timeout);
  const mod = await loadDbtCloud();
  try {
    const run = await mod.getDbtCloudRunStatus({
      credentials: { ...connection },
      settingsSources: NO_SETTINGS_SOURCES,
      runId: toId(options.runId),
      waitForOutcome: options.wait === true,
      ...(timeoutMs === undefined ? {} : { timeoutMs }),
      ...(options.pollInterval === undefined ? {} : { pollIntervalMs: parsePoll(options.pollInterval) }),
    });
    const d = describeRun(run);
    const outcome = d.outcome ?? 'running';
    printRun(ctx, redactor, 'dbt_cloud_run', { runId: toId(options.runId), ...d.fields, outcome });
    return exitFor(outcome);
  } catch (error) {
    return reportRunError(error, ctx, redactor, { runId: toId(options.runId) });
  }
}

function reportRunError(
  error: unknown,
  ctx: CommandContext,
  redactor: Redactor,
  base: Record<string, unknown>,
): ExitCode {
  const d = describeRun(error);
  const name = error instanceof Error ? error.name : '';
  const outcome = /timeout/i.test(name)
    ? 'timeout'
    : (d.outcome ?? (/RunFailed/i.test(name) ? 'error' : 'failed'));
  const message = describeError(error, (t) => redactor.redact(t));
  if (ctx.format === 'json')
    printRun(ctx, redactor, 'dbt_cloud_run', { ...base, ...d.fields, outcome, error: message });
  else ctx.stderr.write(`error: ${message}\n`);
  // an API error that is not about the run (bad token, unknown job) is an ordinary failure
  return outcome === 'failed' ? EXIT.runFailed : EXIT.transformFailed;
}

/**
 * `ferry dbt-cloud emulator --port N`: serve the bundled dbt Cloud API emulator on 127.0.0.1 until
 * SIGINT/SIGTERM. Prints the URL, account id and the emulator's token (a fixed test token, not a secret).
 */
export async function emulatorCommand(
  options: { port?: string; host?: string; runs?: string; seed?: string; latencyMs?: string },
  ctx: CommandContext,
  stop?: Promise<void>,
): Promise<ExitCode> {
  const port = options.port === undefined ? 0 : Number(options.port);
  if (!Number.isInteger(port) || port < 0 || port > 65_535)
    throw new UsageError(`--port '${options.port}': expected 0-65535`);
  const mod = await loadDbtCloud();
  const extra: Record<string, number> = {};
  for (const [flag, key, text] of [
    ['--runs', 'runs', options.runs],
    ['--seed', 'seed', options.seed],
    ['--latency-ms', 'latencyMs', options.latencyMs],
  ] as const) {
    if (text === undefined) continue;
    const n = Number(text);
    if (!Number.isInteger(n) || n < 0)
      throw new UsageError(`${flag} '${text}': expected a non-negative integer`);
    extra[key] = n;
  }
  const emulator = await mod.startEmulator({ port, host: options.host ?? '127.0.0.1', ...extra });
  const fields = { url: emulator.url, accountId: emulator.accountId, token: emulator.token };
  if (ctx.format === 'json')
    ctx.stdout.write(
      `${JSON.stringify({ ts: new Date().toISOString(), level: 'info', event: 'emulator_listening', ...fields }, jsonReplacer)}\n`,
    );
  else
    ctx.stdout.write(
      `dbt Cloud emulator listening on ${emulator.url} (account ${String(emulator.accountId)}, token ${emulator.token}); Ctrl-C to stop\n`,
    );
  await (stop ??
    new Promise<void>((res) => {
      process.once('SIGINT', () => res());
      process.once('SIGTERM', () => res());
    }));
  await emulator
    .close()
    .catch((e: unknown) => ctx.stderr.write(`warning: closing the emulator: ${describeError(e)}\n`));
  if (ctx.format === 'json')
    ctx.stdout.write(
      `${JSON.stringify({ ts: new Date().toISOString(), level: 'info', event: 'emulator_stopped' })}\n`,
    );
  return EXIT.ok;
}
