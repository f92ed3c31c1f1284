/**
 * End to end: the built CLI (`node packages/cli/dist/bin.js`) as a process, against the bundled dbt Cloud
 * emulator, into real DuckDB files and the local Postgres.
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, statSync, readdirSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PKG = join(import.meta.dirname, '..');
const ROOT = join(PKG, '..', '..');
const BIN = join(PKG, 'dist', 'bin.js');
const PG_URL = process.env['FERRY_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/test';

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Build the CLI (and its workspace dependencies when their dist is missing) unless dist is fresh. */
function ensureBuilt(): void {
  const depsMissing = ['core', 'destinations', 'source-dbt-cloud'].some(
    (p) => !existsSync(join(ROOT, 'packages', p, 'dist', 'index.js')),
  );
  const stale = !existsSync(BIN) || statSync(BIN).mtimeMs < newest(join(PKG, 'src'));
  if (!depsMissing && !stale) return;
  const filter = depsMissing ? '@ferry/cli...' : '@ferry/cli';
  const r = spawnSync('pnpm', ['--filter', filter, 'run', 'build'], { cwd: ROOT, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}\n${r.stderr}`);
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  events: Record<string, any>[];
}

/** Run `ferry args…` as a process (async: the emulator lives in this process's event loop). */
function ferry(args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: options.cwd,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...options.env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      const events = stdout
        .split('\n')
        .filter((l) => l.startsWith('{"ts"'))
        .map((l) => JSON.parse(l) as Record<string, any>);
      resolve({ code, stdout, stderr, events });
    });
  });
}

const byEvent = (run: Run, event: string): Record<string, any>[] =>
  run.events.filter((e) => e['event'] === event);

let emulator: DbtCloudEmulator;
let okJob: number;
let failingJob: number;
let work: string;

beforeAll(async () => {
  ensureBuilt();
  emulator = await startEmulator({
    runs: 40,
    inFlightRuns: 2,
    lifecycleMs: { queued: 20, starting: 20, running: 60 },
  });
  okJob = emulator.store.jobs[0]!.id;
  failingJob = emulator.store.jobs[1]!.id;
  emulator.setJobOutcome(failingJob, 'error');
  work = await mkdtemp(join(tmpdir(), 'ferry-e2e-'));
}, 300_000);

afterAll(async () => {
  await emulator?.close();
  if (work) await rm(work, { recursive: true, force: true });
});

function team(destination: string, extra = ''): string {
  return `pipeline: { name: e2e_team, dataset: "\${DATASET}" }
source:
  type: dbt_cloud
  base_url: \${EMU_URL}
  account_id: \${EMU_ACCOUNT}
  api_token: \${EMU_TOKEN}
  resources: [projects, environments, jobs, runs]
destination:
${destination}
${extra}`;
}

function emuEnv(extra: Record<string, string>): Record<string, string> {
  return {
    EMU_URL: emulator.url,
    EMU_ACCOUNT: String(emulator.accountId),
    EMU_TOKEN: emulator.token,
    ...extra,
  };
}

async function freshDir(name: string): Promise<string> {
  const dir = join(work, `${name}-${Math.random().toString(36).slice(2, 8)}`);
  await import('node:fs/promises').then((fs) => fs.mkdir(dir, { recursive: true }));
  return dir;
}

async function duckRows(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

describe('ferry run: a team YAML against the emulator', () => {
  it('into DuckDB, with the dbt Cloud transform; a second run from an empty directory resumes from destination state', async () => {
    const db = join(work, 'team.duckdb');
    const first = await freshDir('duck1');
    const transform = `transform:\n  dbt_cloud: { job_id: ${okJob}, wait: true, timeout: 1m, poll_interval: 50ms }\n`;
    await writeFile(join(first, 'team.yaml'), team(`  type: duckdb\n  path: \${DB}`, transform));
    const env = emuEnv({ DB: db, DATASET: 'dbt_cloud_data' });
    const r1 = await ferry(['run', 'team.yaml'], { cwd: first, env });
    expect(r1.stderr).toBe('');
    expect(r1.code).toBe(0);
    // JSON lines: every stdout line is one event
    expect(
      r1.stdout
        .trim()
        .split('\n')
        .every((l) => l.startsWith('{"ts":')),
    ).toBe(true);
    expect(byEvent(r1, 'stage').map((e) => `${e['stage']}:${e['status']}`)).toContain('load:end');
    const info1 = byEvent(r1, 'load_info')[0]?.['info'];
    expect(info1.rowCounts['runs']).toBeGreaterThan(0);
    expect(info1.extras.dbtCloud).toMatchObject({ jobId: okJob, outcome: 'success', status: 10 });
    expect(typeof info1.extras.dbtCloud.runId).toBe('number');
    expect(byEvent(r1, 'run_end')[0]).toMatchObject({
      status: 'ok',
      exitCode: 0,
      dbtCloudRunId: info1.extras.dbtCloud.runId,
    });
    expect(r1.stdout).not.toContain(emulator.token);
    const [{ n: runs1 }] = (await duckRows(
      db,
      'SELECT COUNT(DISTINCT id)::INT AS n FROM dbt_cloud_data.runs',
    )) as [{ n: number }];
    expect(runs1).toBeGreaterThan(0);

    emulator.addRuns(3);
    const second = await freshDir('duck2');
    await writeFile(join(second, 'team.yaml'), team(`  type: duckdb\n  path: \${DB}`));
    const r2 = await ferry(['run', 'team.yaml'], { cwd: second, env });
    expect(r2.code).toBe(0);
    const info2 = byEvent(r2, 'load_info')[0]?.['info'];
    // state came from the destination: only new runs (plus the lookback margin) were read, not the history
    expect(info2.rowCounts['runs']).toBeLessThan(runs1);
    const [{ n: runs2 }] = (await duckRows(
      db,
      'SELECT COUNT(DISTINCT id)::INT AS n FROM dbt_cloud_data.runs',
    )) as [{ n: number }];
    // every run the emulator knows (the 3 new ones and the one the transform triggered) is there once
    expect(runs2).toBe(emulator.store.runs.length);
    expect(runs2).toBeGreaterThanOrEqual(runs1 + 3);
    expect(existsSync(join(second, '.ferry'))).toBe(true);
  });

  it('ferry query: read-only SQL as JSON or CSV; DDL, DML and multiple statements refused with exit 2', async () => {
    const dir = await freshDir('query');
    await writeFile(join(dir, 'team.yaml'), team('  type: duckdb\n  path: ./q.duckdb'));
    const env = emuEnv({ DATASET: 'dbt_cloud_data' });
    expect((await ferry(['run', 'team.yaml'], { cwd: dir, env })).code).toBe(0);
    const q = await ferry(
      [
        'query',
        'team.yaml',
        'SELECT COUNT(*) AS n, MIN(id) AS first_id FROM dbt_cloud_data.runs WHERE status = $1',
        '--param',
        '10',
        '--format',
        'json',
      ],
      { cwd: dir, env },
    );
    expect(q.stderr).toBe('');
    expect(q.code).toBe(0);
    const [row] = JSON.parse(q.stdout) as [{ n: string | number; first_id: string | number }];
    const [{ n }] = (await duckRows(
      join(dir, 'q.duckdb'),
      'SELECT COUNT(*)::INT AS n FROM dbt_cloud_data.runs WHERE status = 10',
    )) as [{ n: number }];
    expect(Number(row.n)).toBe(n);
    const csv = await ferry(
      [
        'query',
        'team.yaml',
        'SELECT id, status FROM dbt_cloud_data.runs ORDER BY id LIMIT 2',
        '--format',
        'csv',
      ],
      { cwd: dir, env },
    );
    expect(csv.code).toBe(0);
    expect(csv.stdout.split('\n')[0]).toBe('id,status');
    expect(csv.stdout.trim().split('\n')).toHaveLength(3);
    for (const bad of [
      'DROP TABLE dbt_cloud_data.runs',
      'DELETE FROM dbt_cloud_data.runs',
      'SELECT 1; SELECT 2',
      "COPY dbt_cloud_data.runs TO '/tmp/x.csv'",
    ]) {
      const r = await ferry(['query', 'team.yaml', bad], { cwd: dir, env });
      expect(r.code, bad).toBe(2);
      expect(r.stdout + r.stderr).toMatch(/read-only|one statement/);
    }
    const [{ n: after }] = (await duckRows(
      join(dir, 'q.duckdb'),
      'SELECT COUNT(*)::INT AS n FROM dbt_cloud_data.runs WHERE status = 10',
    )) as [{ n: number }];
    expect(after).toBe(n);
  });

  it('a failed dbt Cloud job exits 3 and is recorded in the load info', async () => {
    const dir = await freshDir('transform-fail');
    const transform = `transform:\n  dbt_cloud: { job_id: ${failingJob}, wait: true, timeout: 1m, poll_interval: 50ms }\n`;
    await writeFile(join(dir, 'team.yaml'), team(`  type: duckdb\n  path: ./t.duckdb`, transform));
    const r = await ferry(['run', 'team.yaml'], { cwd: dir, env: emuEnv({ DATASET: 'dbt_cloud_data' }) });
    expect(r.code).toBe(3);
    const dbt = byEvent(r, 'load_info')[0]?.['info'].extras.dbtCloud;
    expect(dbt).toMatchObject({ jobId: failingJob, outcome: 'error', status: 20 });
    expect(byEvent(r, 'run_end')[0]).toMatchObject({ status: 'transform_failed', exitCode: 3 });
  });

  it('into Postgres, then resumes from an empty directory; pipeline info and drop', async () => {
    const client = new pg.Client({ connectionString: PG_URL });
    try {
      await client.connect();
    } catch (error) {
      if (process.env['CI'] === 'true')
        throw new Error(`Postgres at ${PG_URL} is required under CI: ${(error as Error).message}`, {
          cause: error,
        });
      console.warn(`Postgres e2e not run: ${PG_URL} unreachable (${(error as Error).message})`);
      return;
    }
    const dataset = `ferry_e2e_${process.pid}_${Date.now().toString(36)}`;
    try {
      const env = emuEnv({ DATASET: dataset, POSTGRES_URL: PG_URL });
      const yaml = team('  type: postgres\n  credentials: ${POSTGRES_URL}');
      const first = await freshDir('pg1');
      await writeFile(join(first, 'team.yaml'), yaml);
      const r1 = await ferry(['run', 'team.yaml'], { cwd: first, env });
      expect(r1.stderr).toBe('');
      expect(r1.code).toBe(0);
      const { rows: c1 } = await client.query<{ n: number }>(
        `SELECT COUNT(DISTINCT id)::int AS n FROM "${dataset}".runs`,
      );
      const runs1 = c1[0]!.n;
      expect(runs1).toBe(byEvent(r1, 'load_info')[0]?.['info'].rowCounts['runs']);

      emulator.addRuns(2);
      const second = await freshDir('pg2');
      await writeFile(join(second, 'team.yaml'), yaml);
      const r2 = await ferry(['run', 'team.yaml'], { cwd: second, env });
      expect(r2.code).toBe(0);
      expect(byEvent(r2, 'load_info')[0]?.['info'].rowCounts['runs']).toBeLessThan(runs1);
      const { rows: c2 } = await client.query<{ n: number }>(
        `SELECT COUNT(DISTINCT id)::int AS n FROM "${dataset}".runs`,
      );
      expect(c2[0]!.n).toBe(runs1 + 2);
      expect(c2[0]!.n).toBe(emulator.store.runs.length);

      const info = await ferry(['pipeline', 'info', 'e2e_team', '--dir', '.', '--json'], {
        cwd: second,
        env,
      });
      expect(info.code).toBe(0);
      const pi = byEvent(info, 'pipeline_info')[0]!;
      expect(pi['tables'].find((t: any) => t.name === 'runs').rows).toBe(runs1 + 2);
      expect(pi['lastLoads'].length).toBeGreaterThanOrEqual(2);
      expect(pi['state']).toBeTruthy();

      const refuse = await ferry(['pipeline', 'drop', 'team.yaml'], { cwd: second, env });
      expect(refuse.code).toBe(2);
      const drop = await ferry(['pipeline', 'drop', 'team.yaml', '--yes'], { cwd: second, env });
      expect(drop.code).toBe(0);
      const { rows: left } = await client.query(
        'SELECT 1 FROM information_schema.schemata WHERE schema_name = $1',
        [dataset],
      );
      expect(left).toEqual([]);
    } finally {
      await client.query(`DROP SCHEMA IF EXISTS "${dataset}" CASCADE`).catch(() => undefined);
      await client.end();
    }
  });
});

describe('ferry run --all', () => {
  it('runs each team in isolation; one broken team does not stop the others; exit 4 with a summary', async () => {
    const dir = await freshDir('all');
    await writeFile(join(dir, 'a-good.yaml'), team('  type: duckdb\n  path: ./good.duckdb'));
    await writeFile(join(dir, 'b-broken.yaml'), team('  type: mysql\n  path: ./x'));
    await writeFile(
      join(dir, 'c-unreachable.yaml'),
      team('  type: duckdb\n  path: ./c.duckdb')
        .replace('base_url: ${EMU_URL}', 'base_url: http://127.0.0.1:9')
        .replace('resources:', 'max_retries: 0\n  resources:'),
    );
    await writeFile(
      join(dir, 'd-good.yaml'),
      team('  type: duckdb\n  path: ./good2.duckdb').replace('name: e2e_team', 'name: e2e_team_d'),
    );
    const r = await ferry(['run', '--all', '.'], { cwd: dir, env: emuEnv({ DATASET: 'dbt_cloud_data' }) });
    expect(r.code).toBe(4);
    const summary = byEvent(r, 'summary')[0]!;
    expect(summary['teams'].map((t: any) => [t.file, t.status, t.exitCode])).toEqual([
      ['a-good.yaml', 'ok', 0],
      ['b-broken.yaml', 'config_error', 2],
      ['c-unreachable.yaml', 'failed', 1],
      ['d-good.yaml', 'ok', 0],
    ]);
    expect(summary['teams'][1].error).toMatch(
      /b-broken\.yaml:\d+:\d+: destination\.type: unknown destination type 'mysql'/,
    );
    // children's events are forwarded with the team's file name
    expect(r.events.filter((e) => e['event'] === 'load_info').map((e) => e['team'])).toEqual([
      'a-good.yaml',
      'd-good.yaml',
    ]);

    const pretty = await ferry(['run', '--all', '.', '--log-format', 'pretty'], {
      cwd: dir,
      env: emuEnv({ DATASET: 'dbt_cloud_data' }),
    });
    expect(pretty.code).toBe(4);
    expect(pretty.stdout).toMatch(/TEAM\s+PIPELINE\s+STATUS\s+EXIT\s+ROWS/);
    expect(pretty.stdout).toContain('2 of 4 team(s) succeeded; 2 failed (exit 4)');
  });
});

describe('bad YAML: exit 2 and a message naming file, line and field', () => {
  const base = (): Promise<string> => freshDir('bad');
  const cases: [string, (y: string) => string, RegExp][] = [
    [
      'wrong type',
      (y) => y.replace('resources: [projects, environments, jobs, runs]', 'resources: runs'),
      /team\.yaml:7:14: source\.resources: Invalid input: expected array, received string/,
    ],
    [
      'unknown destination',
      (y) => y.replace('type: duckdb', 'type: oracle'),
      /team\.yaml:9:9: destination\.type: unknown destination type 'oracle'; use one of duckdb, postgres, bigquery, snowflake, filesystem/,
    ],
    [
      'missing secret',
      (y) => y.replace('${EMU_TOKEN}', '${NOT_SET_TOKEN}'),
      /team\.yaml:6:14: source\.api_token: variable \$\{NOT_SET_TOKEN\} is not set/,
    ],
  ];
  for (const [name, edit, expected] of cases) {
    it(name, async () => {
      const dir = await base();
      await writeFile(join(dir, 'team.yaml'), edit(team('  type: duckdb\n  path: ./x.duckdb')));
      const env = emuEnv({ DATASET: 'd' });
      const pretty = await ferry(['run', 'team.yaml', '--log-format', 'pretty'], { cwd: dir, env });
      expect(pretty.code).toBe(2);
      expect(pretty.stderr).toMatch(expected);
      expect(pretty.stderr).not.toContain(emulator.token);
      const json = await ferry(['run', 'team.yaml'], { cwd: dir, env });
      expect(json.code).toBe(2);
      expect(byEvent(json, 'error')[0]?.['message']).toMatch(expected);
      const validate = await ferry(['validate', 'team.yaml', '--log-format', 'pretty'], { cwd: dir, env });
      expect(validate.code).toBe(2);
      expect(validate.stderr).toMatch(expected);
    });
  }
});

describe('other commands', () => {
  it('--help documents the exit codes; schema prints the JSON Schema', async () => {
    const help = await ferry(['--help'], { cwd: work });
    expect(help.code).toBe(0);
    expect(help.stdout).toContain('Exit codes:');
    expect(help.stdout).toContain('3  load succeeded but the dbt Cloud transform failed');
    const schema = await ferry(['schema'], { cwd: work });
    expect(schema.code).toBe(0);
    expect(JSON.parse(schema.stdout).properties.destination.oneOf).toHaveLength(5);
    const unknown = await ferry(['frobnicate'], { cwd: work });
    expect(unknown.code).toBe(2);
  });

  it('pipeline show serves the dashboard on 127.0.0.1 with the loaded row counts, and stops on SIGTERM', async () => {
    const dir = await freshDir('show');
    await writeFile(join(dir, 'team.yaml'), team('  type: duckdb\n  path: ./s.duckdb'));
    const env = emuEnv({ DATASET: 'dbt_cloud_data' });
    expect((await ferry(['run', 'team.yaml'], { cwd: dir, env })).code).toBe(0);
    const child = spawn(process.execPath, [BIN, 'pipeline', 'show', 'team.yaml', '--log-format', 'json'], {
      cwd: dir,
      env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      // JSON logs carry the origin only; the URL with the per-start access token goes to stderr.
      const { origin, token, out } = await new Promise<{ origin: string; token: string; out: string }>(
        (resolve, reject) => {
          let out = '';
          let err = '';
          const done = () => {
            const o = /"url":"([^"]+)"/.exec(out);
            const t = /\?token=([A-Za-z0-9_-]+)/.exec(err);
            if (o && t) resolve({ origin: o[1]!, token: t[1]!, out });
          };
          child.stdout.on('data', (d: Buffer) => {
            out += d.toString();
            done();
          });
          child.stderr.on('data', (d: Buffer) => {
            err += d.toString();
            done();
          });
          child.on('close', (code) => reject(new Error(`pipeline show exited ${code}: ${out}${err}`)));
        },
      );
      expect(origin).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(out).not.toContain(token);
      expect((await fetch(`${origin}/api/overview`)).status).toBe(401);
      const overview = (await (
        await fetch(`${origin}/api/overview`, { headers: { authorization: `Bearer ${token}` } })
      ).json()) as Record<string, any>;
      const [{ n }] = (await duckRows(
        join(dir, 's.duckdb'),
        'SELECT COUNT(*)::INT AS n FROM dbt_cloud_data.runs',
      )) as [{ n: number }];
      expect(JSON.stringify(overview)).toContain('"runs"');
      expect(JSON.stringify(overview)).not.toContain(emulator.token);
      const counts = overview['rowCounts'] ?? overview['tables'];
      expect(JSON.stringify(counts)).toContain(String(n));
      const exit = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      child.kill('SIGTERM');
      expect(await exit).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('dbt-cloud run-job --wait and run-status', async () => {
    const env = {
      DBT_CLOUD_BASE_URL: emulator.url,
      DBT_CLOUD_ACCOUNT_ID: String(emulator.accountId),
      DBT_CLOUD_API_TOKEN: emulator.token,
    };
    const run = await ferry(
      ['dbt-cloud', 'run-job', '--job-id', String(okJob), '--wait', '--poll-interval', '50ms'],
      { cwd: work, env },
    );
    expect(run.code).toBe(0);
    const ev = byEvent(run, 'dbt_cloud_run')[0]!;
    expect(ev).toMatchObject({ outcome: 'success', status: 10 });
    const status = await ferry(['dbt-cloud', 'run-status', '--run-id', String(ev['runId'])], {
      cwd: work,
      env,
    });
    expect(status.code).toBe(0);
    expect(byEvent(status, 'dbt_cloud_run')[0]).toMatchObject({ runId: ev['runId'], outcome: 'success' });
    const failed = await ferry(
      ['dbt-cloud', 'run-job', '--job-id', String(failingJob), '--wait', '--poll-interval', '50ms'],
      { cwd: work, env },
    );
    expect(failed.code).toBe(3);
    const noToken = await ferry(['dbt-cloud', 'run-job', '--job-id', '1'], {
      cwd: work,
      env: { DBT_CLOUD_BASE_URL: emulator.url, DBT_CLOUD_ACCOUNT_ID: '1' },
    });
    expect(noToken.code).toBe(2);
  });

  it('dbt-cloud emulator serves until SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [BIN, 'dbt-cloud', 'emulator', '--port', '0', '--log-format', 'json'],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    const line = await new Promise<string>((res) =>
      child.stdout.once('data', (d: Buffer) => res(d.toString())),
    );
    const started = JSON.parse(line.split('\n')[0]!) as { url: string; token: string; accountId: number };
    const resp = await fetch(`${started.url}/api/v2/accounts/${started.accountId}/projects/`, {
      headers: { Authorization: `Token ${started.token}` },
    });
    expect(resp.status).toBe(200);
    const code = await new Promise<number | null>((res) => {
      child.on('close', res);
      child.kill('SIGTERM');
    });
    expect(code).toBe(0);
  });
});
