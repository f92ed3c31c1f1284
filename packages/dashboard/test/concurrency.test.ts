/**
 * Requests served concurrently, the SQL-box timeout, and a dashboard next to a `ferry run` on the same
 * DuckDB file, on real DuckDB and Postgres (Postgres: DATABASE_URL, e.g.
 * `DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres FERRY_PG_MODE=url`).
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline, resource, type Destination, type Pipeline } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { postgres } from '@ferry/destinations/postgres';
import { startDashboard, type DashboardHandle } from '@ferry/dashboard';

/** The DuckDB lock tests' run child (pipeline and dataset `conc` here, through its env). */
const CHILD = path.join(
  import.meta.dirname,
  '..',
  '..',
  'destinations',
  'test',
  'duckdb',
  'fixtures',
  'lock-run-child.ts',
);
const SEED_ROWS = 1000;

interface Answer {
  status: number;
  body: any;
  /** When the answer arrived, ms since the test's t0. */
  at: number;
  ms: number;
}

/** One API call with the dashboard's token; times it against `t0`. */
async function call(d: DashboardHandle, p: string, t0: number, sql?: string): Promise<Answer> {
  const started = performance.now();
  const res = await fetch(new URL(p, d.origin), {
    method: sql === undefined ? 'GET' : 'POST',
    headers: {
      Authorization: `Bearer ${d.token}`,
      ...(sql === undefined ? {} : { 'Content-Type': 'application/json' }),
    },
    ...(sql === undefined ? {} : { body: JSON.stringify({ sql }) }),
  });
  const body: unknown = await res.json();
  const now = performance.now();
  return { status: res.status, body, at: now - t0, ms: now - started };
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function seed(): ReturnType<typeof resource> {
  return resource({ name: 'items', writeDisposition: 'append' }, function* () {
    for (let i = 0; i < SEED_ROWS; i++) yield { id: -1 - i, label: 'seed' };
  });
}

/**
 * A slow query and a page opened 200 ms later. With concurrent requests the page answers while the
 * query still runs; `serialized` is the same with one request at a time (it must then wait).
 */
async function slowAndPage(d: DashboardHandle, slowSql: string) {
  const t0 = performance.now();
  const slow = call(d, '/api/sql', t0, slowSql);
  await sleep(200);
  const [overview, table] = await Promise.all([
    call(d, '/api/overview', t0),
    call(d, '/api/tables/items?limit=10', t0),
  ]);
  return { slow: await slow, overview, table };
}

describe('DuckDB', () => {
  let dir: string;
  let file: string;
  let p: Pipeline;
  let dashboard: DashboardHandle;
  /** A query that runs about 2 s here (DuckDB scans `range(n)` at a steady rate; calibrated once). */
  let slowSql: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-dashboard-conc-'));
    file = path.join(dir, 'shared.duckdb'); // not conc.duckdb: a catalog named like the dataset makes DuckDB's names ambiguous
    p = pipeline({
      name: 'conc',
      dataset: 'conc',
      destination: duckdb({ path: file }),
      dataDir: path.join(dir, 'data'),
      normalizeWorkers: 0,
    });
    await p.run(seed());
    dashboard = await startDashboard({ pipeline: p });
    const q = (n: number) => `select sum(hash(range) % 7) as n from range(${n})`;
    const probe = await call(dashboard, '/api/sql', performance.now(), q(20_000_000));
    expect(probe.status, JSON.stringify(probe.body)).toBe(200);
    slowSql = q(Math.round((2000 / Math.max(probe.body.ms as number, 1)) * 20_000_000));
  });

  afterAll(async () => {
    await dashboard?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('a slow SQL-box query does not stall the other pages', async () => {
    const { slow, overview, table } = await slowAndPage(dashboard, slowSql);
    expect(slow.status, JSON.stringify(slow.body)).toBe(200);
    expect(overview.status).toBe(200);
    expect(overview.body.rowCounts.items).toBeGreaterThanOrEqual(SEED_ROWS);
    expect(table.status).toBe(200);
    expect(table.body.rows).toHaveLength(10);
    expect(overview.at).toBeLessThan(slow.at);
    expect(table.at).toBeLessThan(slow.at);
    expect(overview.ms).toBeLessThan(slow.ms / 2);
    console.log(
      `duckdb concurrency: slow query ${Math.round(slow.ms)} ms; overview ${Math.round(overview.ms)} ms and a data page ${Math.round(table.ms)} ms, both started 200 ms in`,
    );
  });

  it('with one request at a time (maxConcurrent 1) the same page waits for the slow query: the measure above can fail', async () => {
    const serial = await startDashboard({ pipeline: p, maxConcurrent: 1 });
    try {
      const { slow, overview } = await slowAndPage(serial, slowSql);
      expect(slow.status).toBe(200);
      expect(overview.status).toBe(200);
      expect(overview.at).toBeGreaterThan(slow.at);
      console.log(
        `duckdb, maxConcurrent 1: overview answered after ${Math.round(overview.ms)} ms (slow query ${Math.round(slow.ms)} ms)`,
      );
    } finally {
      await serial.close();
    }
  });

  it('a long dashboard query while `pipeline.run` loads into the same file (another process): both succeed', async () => {
    const before = (await call(dashboard, '/api/overview', 0)).body.rowCounts.items as number;
    const t0 = performance.now();
    const slow = call(dashboard, '/api/sql', t0, slowSql);
    await sleep(300); // the query is scanning: the dashboard holds the file
    const child = spawn(process.execPath, ['--conditions=@ferry/source', CHILD], {
      env: {
        ...process.env,
        DUCKDB_PATH: file,
        PIPELINE_NAME: 'conc',
        DATASET: 'conc',
        DATA_DIR: path.join(dir, 'child-run'),
        ROWS: '2000',
        ID_OFFSET: '0',
      },
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    const ranFor = performance.now() - t0;
    const answer = await slow;
    expect(answer.status, JSON.stringify(answer.body)).toBe(200);
    expect(Number(answer.body.rows[0][0])).toBeGreaterThan(0);
    expect(code, `${out}\n${err}`).toBe(0);
    const result = JSON.parse(out.trim().split('\n').pop()!) as { ok: boolean; rows: number; ms: number };
    expect(result).toMatchObject({ ok: true, rows: 2000 });
    // The run ended after the query answered: it waited for the file instead of failing.
    expect(ranFor).toBeGreaterThan(answer.at);
    const after = await call(dashboard, '/api/overview', 0);
    expect(after.body.rowCounts.items).toBe(before + 2000);
    console.log(
      `duckdb: dashboard query ${Math.round(answer.ms)} ms; the run started 300 ms in and ended at ${Math.round(ranFor)} ms (its own time ${result.ms} ms)`,
    );
  });

  it('a page opened while a run writes the file answers 503 within about a second, and works after the run', async () => {
    const child = spawn(process.execPath, ['--conditions=@ferry/source', CHILD], {
      env: {
        ...process.env,
        DUCKDB_PATH: file,
        PIPELINE_NAME: 'conc',
        DATASET: 'conc',
        DATA_DIR: path.join(dir, 'child-hold'),
        ROWS: '10',
        ID_OFFSET: '100000',
        HOLD_MS: '3000',
      },
    });
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        if (d.toString().includes('extracting')) resolve();
      }),
    );
    const busy = await call(dashboard, '/api/overview', 0);
    expect(busy.status).toBe(503);
    expect(busy.body.error).toMatch(new RegExp(`being written by process ${child.pid} .*try again`));
    expect(busy.ms).toBeLessThan(2500);
    expect(await closed, err).toBe(0);
    expect((await call(dashboard, '/api/overview', 0)).status).toBe(200);
  });

  it('a query past queryTimeoutMs is interrupted and answered 504; the next request works', async () => {
    const short = await startDashboard({ pipeline: p, queryTimeoutMs: 300 });
    try {
      const answer = await call(short, '/api/sql', 0, slowSql);
      expect(answer.status).toBe(504);
      expect(answer.body.error).toMatch(/interrupted after 300 ms/);
      expect(answer.ms).toBeLessThan(2000);
      expect((await call(short, '/api/sql', 0, 'select 42 as x')).body.rows).toEqual([[42]]);
      console.log(`duckdb timeout 300 ms: answered 504 after ${Math.round(answer.ms)} ms`);
    } finally {
      await short.close();
    }
    await expect(startDashboard({ pipeline: p, queryTimeoutMs: 0 })).rejects.toThrow(/query timeout/);
    await expect(startDashboard({ pipeline: p, maxConcurrent: 0 })).rejects.toThrow(/maxConcurrent/);
  });
});

describe('Postgres', () => {
  const url = process.env.DATABASE_URL;
  const dataset = `dash_conc_${process.pid}`;
  let destination: Destination;
  let dir: string;
  let p: Pipeline;
  let dashboard: DashboardHandle;

  beforeAll(async () => {
    if (!url)
      throw new Error(
        'these tests need a Postgres server: set DATABASE_URL (e.g. postgres://postgres@127.0.0.1:5432/postgres)',
      );
    destination = postgres({ credentials: url });
    dir = await mkdtemp(path.join(tmpdir(), 'ferry-dashboard-pg-'));
    p = pipeline({
      name: 'conc',
      dataset,
      destination,
      dataDir: path.join(dir, 'data'),
      normalizeWorkers: 0,
    });
    await p.run(seed());
    dashboard = await startDashboard({ pipeline: p });
  });

  afterAll(async () => {
    await dashboard?.close();
    if (destination) {
      const c = await destination.connect({ dataset, pipelineName: 'conc' });
      await c.dropDataset();
      await c.close();
    }
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  it('a slow SQL-box query (pg_sleep) does not stall the other pages', async () => {
    const { slow, overview, table } = await slowAndPage(dashboard, 'select pg_sleep(2) as slept');
    expect(slow.status, JSON.stringify(slow.body)).toBe(200);
    expect(slow.ms).toBeGreaterThanOrEqual(1900);
    expect(overview.status, JSON.stringify(overview.body)).toBe(200);
    expect(overview.body.rowCounts.items).toBe(SEED_ROWS);
    expect(table.status).toBe(200);
    expect(overview.at).toBeLessThan(slow.at);
    expect(table.at).toBeLessThan(slow.at);
    expect(overview.ms).toBeLessThan(1000);
    console.log(
      `postgres concurrency: pg_sleep(2) ${Math.round(slow.ms)} ms; overview ${Math.round(overview.ms)} ms and a data page ${Math.round(table.ms)} ms, both started 200 ms in`,
    );
  });

  it('a query past queryTimeoutMs is cancelled on the server and answered 504', async () => {
    const short = await startDashboard({ pipeline: p, queryTimeoutMs: 500 });
    try {
      const answer = await call(short, '/api/sql', 0, 'select pg_sleep(5)');
      expect(answer.status, JSON.stringify(answer.body)).toBe(504);
      expect(answer.ms).toBeLessThan(2500);
      // Cancelled on the server, not only abandoned: no backend is still sleeping.
      const left = await call(
        short,
        '/api/sql',
        0,
        "select count(*) as n from pg_stat_activity where query like '%pg_sleep(5)%' and state = 'active' and pid <> pg_backend_pid()",
      );
      expect(left.status, JSON.stringify(left.body)).toBe(200);
      expect(Number(left.body.rows[0][0])).toBe(0);
      const ok = await call(short, '/api/sql', 0, 'select 42 as x');
      expect(ok.body.rows).toEqual([[42]]);
      console.log(`postgres timeout 500 ms: answered 504 after ${Math.round(answer.ms)} ms`);
    } finally {
      await short.close();
    }
  });
});
