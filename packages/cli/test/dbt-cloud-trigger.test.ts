import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';
import { main } from '../src/cli.ts';

/** Text sink that keeps what was written. */
function sink(): { write: (s: string) => boolean; text: () => string } {
  let buf = '';
  return {
    write: (s: string) => {
      buf += s;
      return true;
    },
    text: () => buf,
  };
}

async function ferry(
  args: string[],
  env: Record<string, string>,
  cwd: string,
): Promise<{ code: number; stdout: string; stderr: string; events: Record<string, unknown>[] }> {
  const out = sink();
  const err = sink();
  const code = await main([...args, '--log-format', 'json'], { stdout: out, stderr: err, env, cwd });
  const events = out
    .text()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
  return { code, stdout: out.text(), stderr: err.text(), events };
}

/** Issue 16 item 2: a 502 that comes after dbt Cloud created the run must not start the job twice. */
describe('ferry dbt-cloud run-job and the transform step after a lost trigger answer', () => {
  let emu: DbtCloudEmulator;
  let dir: string;
  beforeAll(async () => {
    emu = await startEmulator({ runs: 3, seed: 11, lifecycleMs: { queued: 20, starting: 20, running: 60 } });
    dir = await mkdtemp(join(tmpdir(), 'ferry-cli-trigger-'));
  });
  afterAll(async () => {
    await emu.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('run-job --wait: a 502 after the side effect triggers exactly one run and follows it to success', async () => {
    const job = emu.store.jobs[0]!;
    const before = emu.store.runs.filter((r) => r.jobId === job.id).length;
    emu.faults.inject(
      { kind: 'status', status: 502, afterSideEffect: true },
      { path: /\/run\/$/, method: 'POST' },
    );
    const r = await ferry(
      ['dbt-cloud', 'run-job', '--job-id', String(job.id), '--wait', '--poll-interval', '20ms'],
      {
        DBT_CLOUD_BASE_URL: emu.url,
        DBT_CLOUD_ACCOUNT_ID: String(emu.accountId),
        DBT_CLOUD_API_TOKEN: emu.token,
      },
      dir,
    );
    expect(r.code).toBe(0);
    const runs = emu.store.runs.filter((x) => x.jobId === job.id);
    expect(runs.length).toBe(before + 1);
    expect(emu.requests.count(`/jobs/${job.id}/run/`, { method: 'POST' })).toBe(1);
    const adopted = r.events.find((e) => e['event'] === 'dbt_cloud_trigger_adopted');
    expect(adopted?.['runId']).toBe(runs.at(-1)!.id);
    const final = r.events.find((e) => e['event'] === 'dbt_cloud_run');
    expect(final).toMatchObject({ runId: runs.at(-1)!.id, outcome: 'success', status: 10 });
    expect(r.stdout).not.toContain(emu.token);
  });

  it('transform step: a reset after the side effect adopts the run; one run, exit 0', async () => {
    const job = emu.store.jobs[1]!;
    const before = emu.store.runs.filter((r) => r.jobId === job.id).length;
    emu.faults.inject({ kind: 'reset', afterSideEffect: true }, { path: /\/run\/$/, method: 'POST' });
    await writeFile(
      join(dir, 'team.yaml'),
      `pipeline: { name: trig, dataset: dbt_trig }
source:
  type: dbt_cloud
  base_url: \${EMU_URL}
  account_id: \${EMU_ACCOUNT}
  api_token: \${EMU_TOKEN}
  resources: [projects]
destination:
  type: duckdb
  path: ./t.duckdb
transform:
  dbt_cloud: { job_id: ${job.id}, wait: true, timeout: 1m, poll_interval: 20ms }
`,
    );
    const r = await ferry(
      ['run', 'team.yaml'],
      { EMU_URL: emu.url, EMU_ACCOUNT: String(emu.accountId), EMU_TOKEN: emu.token },
      dir,
    );
    expect(r.code).toBe(0);
    expect(emu.store.runs.filter((x) => x.jobId === job.id).length).toBe(before + 1);
    const info = r.events.find((e) => e['event'] === 'load_info')?.['info'] as {
      extras: { dbtCloud: Record<string, unknown> };
    };
    expect(info.extras.dbtCloud).toMatchObject({ outcome: 'success', triggerRecovery: 'adopted' });
  });
});
