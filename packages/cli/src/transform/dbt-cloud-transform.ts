import type { LoadInfo } from '@ferry/core';
import type { DbtCloudTransformConfig } from '../config/load-team-config.ts';
import { loadDbtCloud, NO_SETTINGS_SOURCES } from '../engine/dbt-cloud-module.ts';

/** What the transform step did; recorded in `LoadInfo.extras.dbtCloud`. */
export interface DbtCloudTransformResult {
  /** The job triggered. */
  jobId: number | string;
  /** The run id, once triggered. */
  runId?: number | string;
  /** `success`, `error`, `cancelled`, `timeout`, `triggered` (not waited for), `skipped` or `failed` (API error). */
  outcome: 'success' | 'error' | 'cancelled' | 'timeout' | 'triggered' | 'skipped' | 'failed';
  /** dbt Cloud status code (10 success, 20 error, 30 cancelled) when known. */
  status?: number;
  /** dbt Cloud's humanized status. */
  statusHumanized?: string;
  /** Link to the run in dbt Cloud. */
  href?: string;
  /** Milliseconds spent in the step. */
  ms: number;
  /** What went wrong, for failed outcomes (no secrets). */
  error?: string;
  /**
   * Set when the trigger's answer was lost after sending (502, timeout, reset): `adopted` when the run it
   * had created was found by its unique cause (no second run), `retried` when none existed and the job was
   * triggered once more. Absent on a clean trigger.
   */
  triggerRecovery?: 'adopted' | 'retried';
}

/** True when the outcome means the orchestrator should see a failure (exit code 3). */
export function transformFailed(result: DbtCloudTransformResult): boolean {
  return (
    result.outcome === 'error' ||
    result.outcome === 'cancelled' ||
    result.outcome === 'timeout' ||
    result.outcome === 'failed'
  );
}

/**
 * Trigger the dbt Cloud job after a successful load and (by default) wait for its outcome, within the
 * configured deadline. Never throws: every outcome is returned so it can be recorded in the load info.
 */
export async function runDbtCloudTransform(
  config: DbtCloudTransformConfig,
  info: LoadInfo,
): Promise<DbtCloudTransformResult> {
  const started = performance.now();
  const base = { jobId: config.jobId };
  if (config.skipIfEmpty && info.empty) return { ...base, outcome: 'skipped', ms: 0 };
  let triggerRecovery: DbtCloudTransformResult['triggerRecovery'];
  const recovery = (): Pick<DbtCloudTransformResult, 'triggerRecovery'> =>
    triggerRecovery === undefined ? {} : { triggerRecovery };
  try {
    const mod = await loadDbtCloud();
    const result = await mod.runDbtCloudJob({
      credentials: { ...config.connection },
      settingsSources: NO_SETTINGS_SOURCES,
      jobId: config.jobId,
      waitForOutcome: config.wait,
      timeoutMs: config.timeoutMs,
      cancelOnTimeout: config.cancelOnTimeout,
      ...(config.pollIntervalMs === undefined ? {} : { pollIntervalMs: config.pollIntervalMs }),
      trigger: { cause: config.cause },
      // The same safe trigger as `ferry dbt-cloud run-job`: a lost answer never starts the job twice.
      triggerSafety: {
        onEvent: (e) => {
          if (e.kind === 'adopted') triggerRecovery = 'adopted';
          else if (e.kind === 'retrying') triggerRecovery = 'retried';
        },
      },
    });
    const run = describeRun(result);
    const outcome = !config.wait ? 'triggered' : (run.outcome ?? 'success');
    return { ...base, ...run.fields, ...recovery(), outcome, ms: Math.round(performance.now() - started) };
  } catch (error) {
    const run = describeRun(error);
    const name = error instanceof Error ? error.name : '';
    const outcome: DbtCloudTransformResult['outcome'] = /timeout/i.test(name)
      ? 'timeout'
      : (run.outcome ?? (/RunFailed/i.test(name) ? 'error' : 'failed'));
    return {
      ...base,
      ...run.fields,
      ...recovery(),
      outcome,
      ms: Math.round(performance.now() - started),
      error: error instanceof Error ? error.message : String(error),
    };
  }
}

/**
 * Read run id, status and link from whatever the source package returns or throws: a run object
 * (`{id, status, status_humanized, href}`), a wrapper (`{runId, run}` / `{data}`), or an error carrying
 * `runId`/`status` (directly or in `context`).
 */
export function describeRun(value: unknown): {
  fields: Pick<DbtCloudTransformResult, 'runId' | 'status' | 'statusHumanized' | 'href'>;
  outcome: DbtCloudTransformResult['outcome'] | undefined;
} {
  const candidates: Record<string, unknown>[] = [];
  const push = (v: unknown): void => {
    if (v !== null && typeof v === 'object') candidates.push(v as Record<string, unknown>);
  };
  push(value);
  const obj = (value ?? {}) as Record<string, unknown>;
  push(obj['run']);
  push(obj['data']);
  push(obj['context']);
  push((obj['context'] as Record<string, unknown> | undefined)?.['run']);
  const pick = (...keys: string[]): unknown => {
    for (const c of candidates) for (const k of keys) if (c[k] !== undefined && c[k] !== null) return c[k];
    return undefined;
  };
  const runId = pick('runId', 'run_id', 'id');
  const statusRaw = pick('status', 'statusCode');
  const statusNum =
    typeof statusRaw === 'number'
      ? statusRaw
      : typeof statusRaw === 'string' && /^\d+$/.test(statusRaw)
        ? Number(statusRaw)
        : undefined;
  // only dbt Cloud run codes; an API error's `status` is an HTTP status and says nothing about the run
  const status = statusNum !== undefined && [1, 2, 3, 10, 20, 30].includes(statusNum) ? statusNum : undefined;
  const humanized = pick('statusHumanized', 'status_humanized');
  const href = pick('href', 'url');
  const fields: ReturnType<typeof describeRun>['fields'] = {};
  if (typeof runId === 'number' || typeof runId === 'string') fields.runId = runId;
  else if (typeof runId === 'bigint')
    fields.runId = Number.isSafeInteger(Number(runId)) ? Number(runId) : runId.toString();
  if (status !== undefined) fields.status = status;
  if (typeof humanized === 'string') fields.statusHumanized = humanized;
  else if (typeof statusRaw === 'string' && statusNum === undefined) fields.statusHumanized = statusRaw;
  if (typeof href === 'string') fields.href = href;
  let outcome: DbtCloudTransformResult['outcome'] | undefined;
  if (status === 10) outcome = 'success';
  else if (status === 20) outcome = 'error';
  else if (status === 30) outcome = 'cancelled';
  else if (typeof fields.statusHumanized === 'string') {
    const h = fields.statusHumanized.toLowerCase();
    if (h === 'success') outcome = 'success';
    else if (h === 'error') outcome = 'error';
    else if (h === 'cancelled') outcome = 'cancelled';
  }
  return { fields, outcome };
}
