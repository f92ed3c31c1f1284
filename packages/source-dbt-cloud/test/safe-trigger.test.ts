import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DbtCloudApiError,
  DbtCloudClient,
  runDbtCloudJob,
  type DbtCloudTriggerEvent,
} from '@ferry/source-dbt-cloud';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';

/**
 * The trigger (`POST jobs/{id}/run/`) is not idempotent: a failure after dbt Cloud created the run must not
 * start the job a second time (issue 16, item 2).
 */
describe('a trigger that never runs a job twice', () => {
  let emu: DbtCloudEmulator;
  let client: DbtCloudClient;
  beforeAll(async () => {
    emu = await startEmulator({ runs: 4, seed: 5, lifecycleMs: { queued: 20, starting: 20, running: 60 } });
    client = new DbtCloudClient({
      baseUrl: emu.url,
      accountId: emu.accountId,
      apiToken: emu.token,
      retryBaseDelayMs: 5,
      timeoutMs: 2_000,
    });
  });
  afterAll(() => emu.close());

  const runsOf = (jobId: number): number => emu.store.runs.filter((r) => r.jobId === jobId).length;
  const posts = (jobId: number): number => emu.requests.count(`/jobs/${jobId}/run/`, { method: 'POST' });
  const fast = { pollIntervalMs: 20, timeoutMs: 5_000, triggerSafety: { searchDelayMs: 10 } };

  for (const fault of [
    { kind: 'status', status: 502 },
    { kind: 'status', status: 504, html: false },
    { kind: 'reset' },
  ] as const) {
    it(`${fault.kind === 'reset' ? 'a reset' : `a ${fault.status}`} after the run was created: one run, adopted and followed to success`, async () => {
      const job = emu.store.jobs[0]!;
      const before = runsOf(job.id);
      const postsBefore = posts(job.id);
      emu.faults.inject({ ...fault, afterSideEffect: true }, { path: /\/run\/$/, method: 'POST' });
      const events: DbtCloudTriggerEvent[] = [];
      const outcome = await runDbtCloudJob({
        client,
        jobId: job.id,
        trigger: { cause: 'nightly load' },
        ...fast,
        triggerSafety: { ...fast.triggerSafety, onEvent: (e) => events.push(e) },
      });
      expect(runsOf(job.id)).toBe(before + 1);
      expect(posts(job.id)).toBe(postsBefore + 1);
      expect(outcome.status).toBe(10);
      expect(outcome.polls).toBeGreaterThan(0);
      const created = emu.store.runs.at(-1)!;
      expect(Number(outcome.runId)).toBe(created.id);
      expect(events.map((e) => e.kind)).toEqual(['adopted']);
      expect(events[0]!.cause).toBe(created.cause);
    });
  }

  it('a 502 before anything was created: searched, not found, triggered exactly once more', async () => {
    const job = emu.store.jobs[1]!;
    const before = runsOf(job.id);
    emu.faults.inject({ kind: 'status', status: 502 }, { path: /\/run\/$/, method: 'POST' });
    const events: string[] = [];
    const run = await client.triggerJobRun(
      job.id,
      { cause: 'x' },
      { searchAttempts: 2, searchDelayMs: 5, onEvent: (e) => events.push(e.kind) },
    );
    expect(runsOf(job.id)).toBe(before + 1);
    expect(events).toEqual(['retrying']);
    expect(
      emu.requests.filter(/\/runs\/$/).filter((r) => r.query.get('job_definition_id') === String(job.id))
        .length,
    ).toBeGreaterThanOrEqual(2);
    expect(run['job_definition_id']).toBe(job.id);
  });

  it('two uncertain failures with no run found: one error saying to check dbt Cloud, no third POST', async () => {
    const job = emu.store.jobs[2]!;
    const postsBefore = posts(job.id);
    emu.faults.inject({ kind: 'status', status: 504 }, { path: /\/run\/$/, method: 'POST', times: 2 });
    const err = await client
      .triggerJobRun(job.id, {}, { searchAttempts: 1, searchDelayMs: 1 })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbtCloudApiError);
    expect((err as DbtCloudApiError).code).toBe('DBT_CLOUD_OUTCOME_UNKNOWN');
    expect((err as Error).message).toMatch(/Check the job's runs in dbt Cloud/);
    expect(posts(job.id)).toBe(postsBefore + 2);
  });

  it('a 429 is retried (dbt Cloud did not act on it): one run', async () => {
    const job = emu.store.jobs[3]!;
    const before = runsOf(job.id);
    emu.faults.inject(
      { kind: 'status', status: 429, retryAfter: '0.01' },
      { path: /\/run\/$/, method: 'POST' },
    );
    await client.triggerJobRun(job.id, { cause: 'rate limited' });
    expect(runsOf(job.id)).toBe(before + 1);
    expect(posts(job.id)).toBe(2);
  });

  it('connection refused before sending is retried like a GET', async () => {
    // A port with nothing listening: take one, then close it.
    const port = await new Promise<number>((resolve) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => resolve(p));
      });
    });
    const attempts: (number | undefined)[] = [];
    const dead = new DbtCloudClient({
      baseUrl: `http://127.0.0.1:${port}`,
      accountId: 1,
      apiToken: 'dbtc_x',
      maxRetries: 2,
      retryBaseDelayMs: 1,
      onRequest: (e) => attempts.push(e.status),
    });
    const err = await dead.triggerJobRun(1, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbtCloudApiError);
    expect((err as DbtCloudApiError).code).toBe('DBT_CLOUD_RETRIES_EXHAUSTED');
    expect(attempts).toHaveLength(3);
  });
});

describe('rerun and retry', () => {
  it('retryRun retries a failed run once, refuses a successful one; rerunJob reruns the job; a 502 after the side effect is not retried blindly', async () => {
    const emu = await startEmulator({ runs: 30, inFlightRuns: 0, seed: 8 });
    try {
      const c = new DbtCloudClient({
        baseUrl: emu.url,
        accountId: emu.accountId,
        apiToken: emu.token,
        retryBaseDelayMs: 5,
        requestsPerMinute: 0,
        onWait: () => undefined,
      });
      const failed = emu.store.runs.find((r) => r.status === 20)!;
      const before = emu.store.runs.length;
      const retried = await c.retryRun(failed.id);
      expect(retried['job_definition_id']).toBe(failed.jobId);
      expect(emu.store.runs.length).toBe(before + 1);
      const ok = emu.store.runs.find((r) => r.status === 10)!;
      await expect(c.retryRun(ok.id)).rejects.toThrow(
        /400.*Only failed runs can be retried.*\/runs\/\d+\/retry\//,
      );
      const rerun = await c.rerunJob(ok.jobId);
      expect(rerun['job_definition_id']).toBe(ok.jobId);
      expect(emu.store.runs.length).toBe(before + 2);
      emu.faults.inject(
        { kind: 'status', status: 502, afterSideEffect: true },
        { times: 1, path: /\/retry\/$/ },
      );
      await expect(c.retryRun(failed.id)).rejects.toMatchObject({ code: 'DBT_CLOUD_OUTCOME_UNKNOWN' });
      // One run created by that POST, and no second one from a blind retry.
      expect(emu.store.runs.length).toBe(before + 3);
      expect(emu.requests.count(/\/retry\/$/, { method: 'POST' })).toBe(3);
    } finally {
      await emu.close();
    }
  });
});
