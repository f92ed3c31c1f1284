import {
  DbtCloudClient,
  type DbtCloudClientOptions,
  type DbtCloudId,
  type DbtCloudSafeTriggerOptions,
  type DbtCloudTriggerOptions,
} from './client/dbt-cloud-client.ts';
import { sleep } from './client/dbt-cloud-backoff.ts';
import {
  DbtCloudRunCancelledError,
  DbtCloudRunFailedError,
  DbtCloudRunTimeoutError,
  tailLines,
  type DbtCloudFailedStep,
} from './client/dbt-cloud-errors.ts';
import {
  requireSetting,
  resolveDbtCloudSettings,
  type DbtCloudSettings,
  type DbtCloudSettingsSources,
} from './config.ts';

/** Terminal run statuses: 10 success, 20 error, 30 cancelled. */
export const TERMINAL_STATUSES: ReadonlySet<number> = new Set([10, 20, 30]);

/** What the helpers return once a run is known (finished, or just triggered when not waiting). */
export interface DbtCloudRunOutcome {
  /** Run id. */
  runId: number | bigint;
  /** Status code: 1/2/3 when not waited for, else 10 (errors and cancels throw). */
  status: number;
  /** `status_humanized`. */
  statusHumanized: string | undefined;
  /** Link to the run in dbt Cloud. */
  href: string | undefined;
  /** The run as last read. */
  run: Record<string, unknown>;
  /** Status polls made (0 when not waiting). */
  polls: number;
}

/** Connection settings plus where to find missing ones. */
export interface DbtCloudConnectionOptions {
  /** An existing client; when given, the other connection settings are ignored. */
  client?: DbtCloudClient;
  /** Connection settings (host/baseUrl, accountId, apiToken); missing ones come from env and YAML. */
  credentials?: DbtCloudSettings;
  /** Where else to look for settings (environment, YAML). Default: `process.env`, no YAML. */
  settingsSources?: DbtCloudSettingsSources;
  /** Client options (timeouts, retries). Default: the client's defaults. */
  clientOptions?: Omit<DbtCloudClientOptions, 'host' | 'baseUrl' | 'accountId' | 'apiToken'>;
}

/** Polling options shared by both helpers. */
export interface DbtCloudPollOptions {
  /** Wait until the run finishes. Default true. */
  waitForOutcome?: boolean;
  /** Time between status polls, ms. Default 10,000 (dlt's 10 s). */
  pollIntervalMs?: number;
  /**
   * Give up after this long, ms: dlt's poller has no deadline and can hang forever on a stuck run.
   * Default 3,600,000 (one hour).
   */
  timeoutMs?: number;
  /** Cancel the run when the deadline passes. Default false (the run goes on in dbt Cloud). */
  cancelOnTimeout?: boolean;
  /** Called after each poll with the run. Default: none. */
  onPoll?: (run: Record<string, unknown>) => void;
  /** Stops waiting (the run goes on). */
  signal?: AbortSignal;
}

/** Options of {@link runDbtCloudJob}. */
export interface RunDbtCloudJobOptions extends DbtCloudConnectionOptions, DbtCloudPollOptions {
  /** Job to trigger. Default: settings `jobId` (`DBT_CLOUD__JOB_ID`). */
  jobId?: DbtCloudId;
  /** Trigger fields in camelCase (`cause`, `gitSha`, `gitBranch`, `schemaOverride`, `stepsOverride`…). */
  trigger?: DbtCloudTriggerOptions;
  /**
   * Raw trigger body fields (snake_case, as the API names them), merged last so they win. dlt accepts a
   * `data` argument and then ignores it; here it is sent.
   */
  data?: Record<string, unknown>;
  /**
   * How a trigger whose outcome is unknown (502, timeout, reset after sending) looks for the run it may
   * have created before triggering once more. Default: 4 look-ups 2 s apart (see
   * {@link DbtCloudClient.triggerJobRun}).
   */
  triggerSafety?: DbtCloudSafeTriggerOptions;
}

/** Options of {@link getDbtCloudRunStatus}. */
export interface GetDbtCloudRunStatusOptions extends DbtCloudConnectionOptions, DbtCloudPollOptions {
  /** Run to watch. Default: settings `runId` (`DBT_CLOUD__RUN_ID`). */
  runId?: DbtCloudId;
}

/** Build a client from settings (arguments, then `DBT_CLOUD__*` environment, then YAML). */
export function createDbtCloudClient(
  credentials: DbtCloudSettings = {},
  sources: DbtCloudSettingsSources = {},
  clientOptions: DbtCloudConnectionOptions['clientOptions'] = {},
): DbtCloudClient {
  const s = resolveDbtCloudSettings(credentials, sources);
  return new DbtCloudClient({
    ...clientOptions,
    ...(s.host === undefined ? {} : { host: s.host }),
    ...(s.baseUrl === undefined ? {} : { baseUrl: s.baseUrl }),
    accountId: requireSetting(s, 'accountId'),
    apiToken: requireSetting(s, 'apiToken'),
  });
}

function clientOf(options: DbtCloudConnectionOptions): {
  client: DbtCloudClient;
  settings: DbtCloudSettings;
} {
  const settings = resolveDbtCloudSettings(options.credentials ?? {}, options.settingsSources ?? {});
  const client =
    options.client ??
    createDbtCloudClient(options.credentials ?? {}, options.settingsSources ?? {}, options.clientOptions);
  return { client, settings };
}

function runIdOf(run: Record<string, unknown>): number | bigint {
  const id = run['id'];
  return typeof id === 'bigint' ? id : Number(id);
}

/**
 * Trigger a dbt Cloud job and (by default) wait for it: resolves with the run on success (status 10),
 * throws {@link DbtCloudRunFailedError} (failed steps with log tails) on 20, {@link DbtCloudRunCancelledError}
 * on 30 and {@link DbtCloudRunTimeoutError} when `timeoutMs` passes.
 */
export async function runDbtCloudJob(options: RunDbtCloudJobOptions = {}): Promise<DbtCloudRunOutcome> {
  const { client, settings } = clientOf(options);
  const jobId = options.jobId ?? requireSetting(settings, 'jobId');
  const trigger: DbtCloudTriggerOptions = {
    ...(settings.cause === undefined ? {} : { cause: settings.cause }),
    ...(settings.gitSha === undefined ? {} : { gitSha: settings.gitSha }),
    ...(settings.gitBranch === undefined ? {} : { gitBranch: settings.gitBranch }),
    ...(settings.schemaOverride === undefined ? {} : { schemaOverride: settings.schemaOverride }),
    ...options.trigger,
    extra: { ...options.trigger?.extra, ...options.data },
  };
  const run = await client.triggerJobRun(jobId, trigger, {
    ...options.triggerSafety,
    ...(options.signal && !options.triggerSafety?.signal ? { signal: options.signal } : {}),
  });
  return waitForRun(client, runIdOf(run), run, options);
}

/**
 * Read a run's status and (by default) wait for it to finish, with the same outcomes and errors as
 * {@link runDbtCloudJob}.
 */
export async function getDbtCloudRunStatus(
  options: GetDbtCloudRunStatusOptions = {},
): Promise<DbtCloudRunOutcome> {
  const { client, settings } = clientOf(options);
  const runId = options.runId ?? requireSetting(settings, 'runId');
  const run = await client.getRun(runId, options.signal ? { signal: options.signal } : {});
  return waitForRun(client, runIdOf(run), run, options);
}

async function waitForRun(
  client: DbtCloudClient,
  runId: number | bigint,
  first: Record<string, unknown>,
  options: DbtCloudPollOptions,
): Promise<DbtCloudRunOutcome> {
  const pollIntervalMs = options.pollIntervalMs ?? 10_000;
  const timeoutMs = options.timeoutMs ?? 3_600_000;
  const deadline = Date.now() + timeoutMs;
  let run = first;
  let polls = 0;
  const outcome = (): DbtCloudRunOutcome => ({
    runId,
    status: Number(run['status']),
    statusHumanized: typeof run['status_humanized'] === 'string' ? run['status_humanized'] : undefined,
    href: typeof run['href'] === 'string' ? run['href'] : undefined,
    run,
    polls,
  });
  if (options.waitForOutcome === false) return outcome();
  while (!TERMINAL_STATUSES.has(Number(run['status']))) {
    const remaining = deadline - Date.now();
    if (remaining <= 0) {
      let cancelled = false;
      if (options.cancelOnTimeout) {
        run = await client.cancelRun(runId);
        cancelled = true;
      }
      throw new DbtCloudRunTimeoutError(runId, timeoutMs, Number(run['status']), cancelled);
    }
    await sleep(Math.min(pollIntervalMs, remaining), options.signal);
    run = await client.getRun(runId, options.signal ? { signal: options.signal } : {});
    polls++;
    options.onPoll?.(run);
  }
  const status = Number(run['status']);
  if (status === 20) {
    const failed = await failedSteps(client, runId, options.signal);
    throw new DbtCloudRunFailedError(
      runId,
      run,
      failed,
      typeof run['href'] === 'string' ? run['href'] : undefined,
    );
  }
  if (status === 30) throw new DbtCloudRunCancelledError(runId, run);
  return outcome();
}

/** Failed steps of a run with their log tails. Logs can be briefly empty right after completion: read twice then. */
async function failedSteps(
  client: DbtCloudClient,
  runId: number | bigint,
  signal?: AbortSignal,
): Promise<DbtCloudFailedStep[]> {
  for (let attempt = 0; attempt < 2; attempt++) {
    const run = await client.getRun(runId, { includeRelated: ['run_steps'], ...(signal ? { signal } : {}) });
    const steps = Array.isArray(run['run_steps']) ? (run['run_steps'] as Record<string, unknown>[]) : [];
    const failed = steps
      .filter((s) => Number(s['status']) === 20)
      .map((s) => ({
        index: Number(s['index']),
        name: String(s['name'] ?? `step ${String(s['index'])}`),
        status: 20,
        logTail: tailLines(
          typeof s['logs'] === 'string' && s['logs'] !== ''
            ? s['logs']
            : (s['truncated_debug_logs'] as string | undefined),
        ),
      }));
    if (failed.length === 0 || failed.some((f) => f.logTail !== '') || attempt === 1) return failed;
    await sleep(1_000, signal);
  }
  return [];
}
