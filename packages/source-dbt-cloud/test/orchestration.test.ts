import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError } from '@ferry/core';
import {
  DbtCloudClient,
  DbtCloudRunCancelledError,
  DbtCloudRunFailedError,
  DbtCloudRunTimeoutError,
  getDbtCloudRunStatus,
  resolveDbtCloudSettings,
  runDbtCloudJob,
} from '@ferry/source-dbt-cloud';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';

describe('orchestration helpers against the emulator', () => {
  let emu: DbtCloudEmulator;
  let env: Record<string, string>;
  beforeAll(async () => {
    emu = await startEmulator({ runs: 10, seed: 2, lifecycleMs: { queued: 40, starting: 40, running: 120 } });
    env = {
      DBT_CLOUD__API_TOKEN: emu.token,
      DBT_CLOUD__ACCOUNT_ID: String(emu.accountId),
      DBT_CLOUD__BASE_URL: emu.url,
    };
  });
  afterAll(() => emu.close());

  const fast = { pollIntervalMs: 25, timeoutMs: 5_000 };

  it('triggers a job from environment settings, sends data and overrides, and waits for success', async () => {
    const job = emu.store.jobs[0]!;
    const polls: number[] = [];
    const outcome = await runDbtCloudJob({
      settingsSources: { env: { ...env, DBT_CLOUD__JOB_ID: String(job.id) } },
      trigger: {
        cause: 'ferry test',
        gitBranch: 'feature/x',
        schemaOverride: 'pr_42',
        stepsOverride: ['dbt build -s orders+'],
      },
      data: { threads_override: 3 },
      onPoll: (run) => polls.push(Number(run['status'])),
      ...fast,
    });
    expect(outcome.status).toBe(10);
    expect(outcome.statusHumanized).toBe('Success');
    expect(outcome.polls).toBeGreaterThan(1);
    expect(polls.at(-1)).toBe(10);
    expect(polls).toContain(3); // went through Running
    const run = emu.store.run(Number(outcome.runId))!;
    expect(run.cause).toMatch(/^ferry test \[ferry:[0-9a-f-]{13}\]$/); // unique per trigger
    expect(run.trigger).toMatchObject({
      git_branch: 'feature/x',
      schema_override: 'pr_42',
      steps_override: ['dbt build -s orders+'],
      threads_override: 3,
    });
    const post = emu.requests.filter(`/jobs/${job.id}/run/`, { method: 'POST' });
    expect(post).toHaveLength(1);
  });

  it('raises DbtCloudRunFailedError with the failed step names and their log tails', async () => {
    const job = emu.store.jobs[1]!;
    emu.setJobOutcome(job.id, 'error');
    const err = await runDbtCloudJob({ jobId: job.id, settingsSources: { env }, ...fast }).catch(
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(DbtCloudRunFailedError);
    const e = err as DbtCloudRunFailedError;
    expect(e.status).toBe(20);
    expect(e.failedSteps).toHaveLength(1);
    expect(e.failedSteps[0]!.name).toMatch(/^Invoke dbt with `dbt /);
    expect(e.failedSteps[0]!.logTail).toMatch(/Database Error in model/);
    expect(e.failedSteps[0]!.logTail).toMatch(/ERROR=1/);
    expect(e.message).toContain(e.failedSteps[0]!.name);
    expect(e.message).not.toContain(emu.token);
  });

  it('raises DbtCloudRunCancelledError for a cancelled run', async () => {
    const job = emu.store.jobs[2]!;
    emu.setJobOutcome(job.id, 'cancelled');
    await expect(runDbtCloudJob({ jobId: job.id, settingsSources: { env }, ...fast })).rejects.toBeInstanceOf(
      DbtCloudRunCancelledError,
    );
  });

  it('times out with a deadline, and cancels the run when asked', async () => {
    const slow = await startEmulator({
      runs: 2,
      seed: 9,
      lifecycleMs: { queued: 60_000, starting: 10, running: 10 },
    });
    try {
      const slowEnv = {
        DBT_CLOUD__API_TOKEN: slow.token,
        DBT_CLOUD__ACCOUNT_ID: String(slow.accountId),
        DBT_CLOUD__BASE_URL: slow.url,
      };
      const job = slow.store.jobs[0]!;
      const started = Date.now();
      const err = (await runDbtCloudJob({
        jobId: job.id,
        settingsSources: { env: slowEnv },
        pollIntervalMs: 20,
        timeoutMs: 150,
      }).catch((e: unknown) => e)) as DbtCloudRunTimeoutError;
      expect(err).toBeInstanceOf(DbtCloudRunTimeoutError);
      expect(Date.now() - started).toBeLessThan(2_000);
      expect(err.cancelled).toBe(false);
      expect(err.lastStatus).toBe(1);
      expect(slow.store.run(Number(err.runId))!.status).toBe(1); // still queued in dbt Cloud

      const err2 = (await runDbtCloudJob({
        jobId: job.id,
        settingsSources: { env: slowEnv },
        pollIntervalMs: 20,
        timeoutMs: 100,
        cancelOnTimeout: true,
      }).catch((e: unknown) => e)) as DbtCloudRunTimeoutError;
      expect(err2).toBeInstanceOf(DbtCloudRunTimeoutError);
      expect(err2.cancelled).toBe(true);
      expect(slow.store.run(Number(err2.runId))!.status).toBe(30);
      expect(slow.requests.count(/\/cancel\/$/, { method: 'POST' })).toBe(1);
    } finally {
      await slow.close();
    }
  });

  it('getDbtCloudRunStatus watches an existing run (DBT_CLOUD__RUN_ID) and can return without waiting', async () => {
    const client = new DbtCloudClient({ baseUrl: emu.url, accountId: emu.accountId, apiToken: emu.token });
    const run = await client.triggerJobRun(emu.store.jobs[0]!.id, { cause: 'status test' });
    expect(run['status']).toBe(1);
    const now = await getDbtCloudRunStatus({ client, runId: Number(run['id']), waitForOutcome: false });
    expect(now.status).toBeLessThan(10);
    expect(now.polls).toBe(0);
    const done = await getDbtCloudRunStatus({
      settingsSources: { env: { ...env, DBT_CLOUD__RUN_ID: String(run['id']) } },
      ...fast,
    });
    expect(done.status).toBe(10);
    const cancelled = await client.cancelRun(Number(run['id']));
    expect(cancelled['status']).toBe(10); // cancelling a finished run returns it unchanged
  });

  it('reads settings from YAML, with the environment and arguments winning', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-dbt-yaml-'));
    try {
      const file = path.join(dir, 'ferry.yaml');
      await writeFile(
        file,
        'dbt_cloud:\n  host: ab123.us1.dbt.com\n  account_id: 70403104191314\n  job_id: 11\n  api_token: from-yaml\n',
      );
      const s = resolveDbtCloudSettings(
        { jobId: 22 },
        { yamlPath: file, env: { DBT_CLOUD__API_TOKEN: 'from-env' } },
      );
      expect(s).toEqual({
        host: 'ab123.us1.dbt.com',
        accountId: 70403104191314,
        jobId: 22,
        apiToken: 'from-env',
      });
      await expect(runDbtCloudJob({ settingsSources: { env: {} } })).rejects.toBeInstanceOf(ConfigError);
      await expect(
        runDbtCloudJob({
          settingsSources: {
            env: { DBT_CLOUD__API_TOKEN: 't', DBT_CLOUD__ACCOUNT_ID: '1', DBT_CLOUD__HOST: 'h' },
          },
        }),
      ).rejects.toThrow(/DBT_CLOUD__JOB_ID/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
