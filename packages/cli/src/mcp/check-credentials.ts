import { createDestination } from '@ferry/destinations';
import { loadTeamConfig, type TeamConfig } from '../config/load-team-config.ts';
import { TeamConfigError, type ConfigProblem } from '../config/team-config-error.ts';
import { describeError } from '../commands/context.ts';
import { loadDbtCloud, NO_SETTINGS_SOURCES } from '../engine/dbt-cloud-module.ts';
import { teamPipeline } from '../engine/core-module.ts';
import type { DbtCloudConnection } from '../sources/source-type.ts';
import { shown, type McpCall } from './mcp-context.ts';
import { scanTeamFile, type VariableStatus } from './mcp-secrets.ts';

/** Outcome of one authenticated probe. */
export interface ProbeResult {
  /** What was probed: `source`, `destination` or `transform`. */
  target: string;
  /** `ok`, `failed`, or `skipped` (the file did not validate, or nothing to check). */
  status: 'ok' | 'failed' | 'skipped';
  /** What was called, e.g. `GET v2 accounts/{id}/`. */
  check?: string;
  /** The (redacted) error or reason. */
  message?: string;
  /** Probe time, ms. */
  ms?: number;
}

/** What `check_credentials` returns. Values are never included, only names and outcomes. */
export interface CredentialsReport {
  /** The team file, relative to the root. */
  file: string;
  /** Every `${VAR}` and whether it is set. */
  variables: VariableStatus[];
  /** Names that are missing (the short answer). */
  missing: string[];
  /** The secrets file, as written, when there is one. */
  secretsFile?: string;
  /** Problems of the file (validation), when it does not load. */
  problems: ConfigProblem[];
  /** The authenticated probes. */
  checks: ProbeResult[];
}

async function timed(
  target: string,
  check: string,
  timeoutMs: number,
  fn: (signal: AbortSignal) => Promise<unknown>,
  call: McpCall,
): Promise<ProbeResult> {
  const started = performance.now();
  const ac = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      fn(ac.signal),
      new Promise((_, reject) => {
        timer = setTimeout(() => {
          ac.abort();
          reject(new Error(`no answer within ${timeoutMs} ms`));
        }, timeoutMs);
      }),
    ]);
    return { target, status: 'ok', check, ms: Math.round(performance.now() - started) };
  } catch (error) {
    return {
      target,
      status: 'failed',
      check,
      message: describeError(error, (t) => call.redact(t)),
      ms: Math.round(performance.now() - started),
    };
  } finally {
    clearTimeout(timer);
  }
}

async function probeDbtCloud(
  target: string,
  connection: DbtCloudConnection,
  call: McpCall,
): Promise<ProbeResult> {
  return timed(
    target,
    'GET v2 accounts/{account_id}/',
    call.options.checkTimeoutMs,
    async (signal) => {
      const mod = await loadDbtCloud();
      const client = mod.createDbtCloudClient({ ...connection }, NO_SETTINGS_SOURCES, {
        maxRetries: 0,
        timeoutMs: call.options.checkTimeoutMs,
      });
      await client.get('v2', `${client.accountPath}/`, undefined, signal);
    },
    call,
  );
}

async function probeDestination(cfg: TeamConfig, call: McpCall): Promise<ProbeResult> {
  return timed(
    'destination',
    `connect to ${cfg.destination.type} read-only and run SELECT 1`,
    call.options.checkTimeoutMs,
    async () => {
      const destination = await createDestination(cfg.destination);
      const p = await teamPipeline(cfg, {}, destination);
      const client = await destination.connect({
        dataset: p.destinationDataset,
        pipelineName: cfg.pipeline.name,
        readOnly: true,
      });
      try {
        if (client.reader !== undefined) await client.reader.query('SELECT 1 AS ok');
        else await client.introspect();
      } finally {
        await client.close();
      }
    },
    call,
  );
}

/**
 * Which `${VAR}`s a team file needs and which are set (names only), then, when the file validates, one
 * cheap authenticated call to the source (dbt Cloud: the account), the transform's dbt Cloud connection
 * when it differs, and the destination (a read-only connection and `SELECT 1`). Each probe is bounded by
 * `checkTimeoutMs` and makes no retries, so a wrong token answers fast.
 */
export async function checkCredentials(abs: string, call: McpCall): Promise<CredentialsReport> {
  const { options } = call;
  const file = shown(options, abs);
  const scan = await scanTeamFile(abs, options.env);
  const report: CredentialsReport = {
    file,
    variables: scan.variables,
    missing: scan.variables.filter((v) => v.status === 'missing').map((v) => v.variable),
    ...(scan.secretsFile === undefined ? {} : { secretsFile: scan.secretsFile }),
    problems: [],
    checks: [],
  };
  let cfg: TeamConfig;
  try {
    cfg = await loadTeamConfig(file, { env: options.env, cwd: options.root });
    call.track(cfg.redactor);
  } catch (error) {
    report.problems =
      error instanceof TeamConfigError
        ? error.problems
        : [{ file, path: '(file)', message: describeError(error, (t) => call.redact(t)) }];
    const reason = 'the team file does not validate; fix the problems first (validate_team_file)';
    report.checks = ['source', 'destination'].map((target) => ({
      target,
      status: 'skipped',
      message: reason,
    }));
    return report;
  }
  const sourceConnection = cfg.source.sourceType.dbtCloudConnection?.(cfg.source.config);
  const probe = cfg.source.sourceType.probe;
  let check = 'first request of the source';
  report.checks.push(
    sourceConnection !== undefined
      ? await probeDbtCloud('source', sourceConnection, call)
      : probe !== undefined
        ? await timed(
            'source',
            check,
            call.options.checkTimeoutMs,
            async (signal) => (check = await probe(cfg.source.config, signal)),
            call,
          ).then((r) => ({ ...r, check }))
        : {
            target: 'source',
            status: 'skipped',
            message: `no authenticated check for source type ${cfg.source.type}`,
          },
  );
  const transform = cfg.transform.dbtCloud?.connection;
  if (transform !== undefined && JSON.stringify(transform) !== JSON.stringify(sourceConnection))
    report.checks.push(await probeDbtCloud('transform', transform, call));
  report.checks.push(await probeDestination(cfg, call));
  return report;
}
