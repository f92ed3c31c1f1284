import { FerryError } from '@ferry/core';

/** Replace every occurrence of `secret` in `text` with `***` (no-op for empty secrets). */
export function redactSecret(text: string, secret: string | undefined): string {
  if (!secret || secret.length < 4) return text;
  return text.split(secret).join('***');
}

/**
 * A dbt Cloud API request failed for good: a 4xx answer, or a retriable failure (429, 5xx, network,
 * non-JSON body) that outlived the retry budget. `url` never carries the token (it travels in a header
 * only) and the message is redacted as well, in case a server or proxy echoes it back.
 */
export class DbtCloudApiError extends FerryError {
  /** HTTP status, or undefined when no response arrived (network error, timeout). */
  readonly status: number | undefined;
  /** The request URL (scheme, host, path and query; never the token). */
  readonly url: string;
  /** `status.user_message` of the dbt Cloud envelope when the body had one. */
  readonly userMessage: string | undefined;
  /** Attempts made, including the first. */
  readonly attempts: number;

  constructor(
    message: string,
    options: {
      status?: number;
      url: string;
      method?: string;
      userMessage?: string;
      attempts?: number;
      code?: string;
      cause?: unknown;
    },
  ) {
    super(options.code ?? 'DBT_CLOUD_API', message, {
      context: {
        status: options.status,
        url: options.url,
        method: options.method ?? 'GET',
        userMessage: options.userMessage,
        attempts: options.attempts ?? 1,
      },
      cause: options.cause,
    });
    this.status = options.status;
    this.url = options.url;
    this.userMessage = options.userMessage;
    this.attempts = options.attempts ?? 1;
  }
}

/** A failed step of a dbt Cloud run, as carried by {@link DbtCloudRunFailedError}. */
export interface DbtCloudFailedStep {
  /** Step index (1-based, as dbt Cloud numbers them). */
  index: number;
  /** Step name, e.g. "Invoke dbt with `dbt build`". */
  name: string;
  /** Step status code (20 = error). */
  status: number;
  /** Last lines of the step's log (at most {@link LOG_TAIL_LINES}). */
  logTail: string;
}

/** How many log lines of each failed step an error keeps: enough to see the failing model, short enough for a terminal. */
export const LOG_TAIL_LINES = 30;

/** Keep the last `lines` lines of a log. */
export function tailLines(text: string | null | undefined, lines = LOG_TAIL_LINES): string {
  if (!text) return '';
  const all = text.replace(/\s+$/, '').split('\n');
  return all.slice(-lines).join('\n');
}

/** A dbt Cloud run ended with status 20 (Error). Carries the failed steps with their log tails. */
export class DbtCloudRunFailedError extends FerryError {
  /** The run's id. */
  readonly runId: number | bigint;
  /** Final status code (20). */
  readonly status: number;
  /** Steps that ended in error, with the tail of their logs. */
  readonly failedSteps: DbtCloudFailedStep[];
  /** The run as last read (for callers who want more than the summary). */
  readonly run: Record<string, unknown>;

  constructor(
    runId: number | bigint,
    run: Record<string, unknown>,
    failedSteps: DbtCloudFailedStep[],
    href?: string,
  ) {
    const stepsText = failedSteps.length
      ? failedSteps
          .map((s) => `\n--- step ${s.index} "${s.name}" failed; last log lines:\n${s.logTail || '(no log)'}`)
          .join('')
      : ' No step reported an error; open the run in dbt Cloud for details.';
    super(
      'DBT_CLOUD_RUN_FAILED',
      `dbt Cloud run ${runId} failed (status 20 Error${run['status_message'] ? `: ${String(run['status_message'])}` : ''}).` +
        `${href ? ` See ${href}.` : ''}${stepsText}`,
      { context: { runId: String(runId), status: 20, failedSteps: failedSteps.map((s) => s.name), href } },
    );
    this.runId = runId;
    this.status = 20;
    this.failedSteps = failedSteps;
    this.run = run;
  }
}

/** A dbt Cloud run ended with status 30 (Cancelled), by a user or by {@link DbtCloudRunTimeoutError}'s cancel. */
export class DbtCloudRunCancelledError extends FerryError {
  /** The run's id. */
  readonly runId: number | bigint;
  /** The run as last read. */
  readonly run: Record<string, unknown>;

  constructor(runId: number | bigint, run: Record<string, unknown>) {
    super(
      'DBT_CLOUD_RUN_CANCELLED',
      `dbt Cloud run ${runId} was cancelled${run['status_message'] ? ` (${String(run['status_message'])})` : ''}. ` +
        'Trigger the job again if the cancel was not intended.',
      { context: { runId: String(runId), status: 30 } },
    );
    this.runId = runId;
    this.run = run;
  }
}

/** The poller's deadline passed before the run finished. `cancelled` says whether the run was cancelled. */
export class DbtCloudRunTimeoutError extends FerryError {
  /** The run's id. */
  readonly runId: number | bigint;
  /** Deadline in milliseconds that passed. */
  readonly timeoutMs: number;
  /** Last status code seen (1 queued, 2 starting, 3 running). */
  readonly lastStatus: number | undefined;
  /** True when a cancel request was sent because of the timeout. */
  readonly cancelled: boolean;

  constructor(runId: number | bigint, timeoutMs: number, lastStatus: number | undefined, cancelled: boolean) {
    super(
      'DBT_CLOUD_RUN_TIMEOUT',
      `dbt Cloud run ${runId} did not finish within ${timeoutMs} ms (last status ${lastStatus ?? 'unknown'}). ` +
        (cancelled
          ? 'The run was cancelled.'
          : 'The run is still going in dbt Cloud; raise timeoutMs, or pass cancelOnTimeout: true to cancel it.'),
      { context: { runId: String(runId), timeoutMs, lastStatus, cancelled } },
    );
    this.runId = runId;
    this.timeoutMs = timeoutMs;
    this.lastStatus = lastStatus;
    this.cancelled = cancelled;
  }
}
