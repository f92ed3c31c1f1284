/**
 * DuckDB locks its file per process: one writing process or many reading ones. A reader (dataset API,
 * `ferry query`, the dashboard) holds the file only while it queries, and a writer waits it out; these
 * tests put the reader in this process and the writer (`pipeline.run`) in a child, as a user has them.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline, resource, type Pipeline } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';

const CHILD = path.join(import.meta.dirname, 'fixtures', 'lock-run-child.ts');

let dir: string;
let file: string;
let reader: Pipeline;

interface ChildResult {
  code: number | null;
  result: { ok: boolean; ms?: number; rows?: number; code?: string; message?: string } | undefined;
  err: string;
  pid: number;
}

/** Start the writer child; `onLine` sees each stdout line as it comes. */
function runChild(
  env: Record<string, string>,
  onLine: (line: string) => void = () => undefined,
): { pid: number; done: Promise<ChildResult> } {
  const child = spawn(process.execPath, ['--conditions=@ferry/source', CHILD], {
    env: { ...process.env, DUCKDB_PATH: file, DATA_DIR: path.join(dir, 'child'), ...env },
  });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => {
    out += d.toString();
    for (const line of d.toString().split('\n')) if (line) onLine(line);
  });
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const done = new Promise<ChildResult>((resolve) =>
    child.on('close', (code) => {
      const last = out.trim().split('\n').pop() ?? '';
      let result: ChildResult['result'];
      try {
        result = JSON.parse(last) as ChildResult['result'];
      } catch {
        result = undefined;
      }
      resolve({ code, result, err, pid: child.pid! });
    }),
  );
  return { pid: child.pid!, done };
}

/** A query that runs for about `ms` on this machine (DuckDB scans `range(n)` at a steady rate). */
async function slowQuery(ms: number): Promise<string> {
  const q = (n: number) => `SELECT sum(hash(range) % 7) AS n FROM range(${n})`;
  const ds = reader.dataset();
  try {
    const t = performance.now();
    await ds.sql(q(20_000_000));
    const perRow = (performance.now() - t) / 20_000_000;
    return q(Math.round(ms / Math.max(perRow, 1e-7)));
  } finally {
    await ds.close();
  }
}

async function itemCount(): Promise<number> {
  const ds = reader.dataset();
  try {
    return (await ds.rowCounts()).items ?? 0;
  } finally {
    await ds.close();
  }
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ferry-duckdb-lock-'));
  file = path.join(dir, 'shared.duckdb');
  reader = pipeline({
    name: 'lock_child',
    dataset: 'lock',
    destination: duckdb({ path: file }),
    dataDir: path.join(dir, 'reader'),
    normalizeWorkers: 0,
  });
  // A first load so the file and the table exist; the writer then closes and checkpoints.
  await reader.run(
    resource({ name: 'items', writeDisposition: 'append' }, function* () {
      for (let i = 0; i < 100; i++) yield { id: -1 - i, label: 'seed' };
    }),
  );
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('DuckDB reader and writer in two processes', () => {
  it('a run that starts during a long read-only query waits it out and loads; the query answers', async () => {
    const before = await itemCount();
    const sql = await slowQuery(2500);
    const ds = reader.dataset();
    const t0 = performance.now();
    let child: ReturnType<typeof runChild>;
    let rows;
    try {
      const query = ds.sql(sql);
      await new Promise((r) => setTimeout(r, 300)); // the reader has the file open and is scanning
      child = runChild({ ROWS: '5000', ID_OFFSET: '0', DATA_DIR: path.join(dir, 'child-1') });
      rows = await query;
    } finally {
      await ds.close(); // a Dataset holds the file until it is closed, as `ferry query` and the dashboard do
    }
    const readerMs = performance.now() - t0;
    const result = await child.done;
    expect(result.code, result.err).toBe(0);
    expect(result.result).toMatchObject({ ok: true, rows: 5000 });
    expect(Number(rows[0]!.n)).toBeGreaterThan(0);
    // The writer really waited for the reader: it finished only after the reader let go.
    expect(performance.now() - t0).toBeGreaterThan(readerMs);
    console.log(
      `duckdb lock: reader held the file ${Math.round(readerMs)} ms; the writer's run (started 300 ms in) took ${result.result?.ms} ms`,
    );
    expect(await itemCount()).toBe(before + 5000);
  });

  it('with FERRY_DUCKDB_LOCK_TIMEOUT_MS=0 the run fails at once, naming the file and the reader process', async () => {
    const before = await itemCount();
    const sql = await slowQuery(1500);
    const ds = reader.dataset();
    try {
      const query = ds.sql(sql);
      await new Promise((r) => setTimeout(r, 200));
      const result = await runChild({
        ROWS: '10',
        ID_OFFSET: '100000',
        FERRY_DUCKDB_LOCK_TIMEOUT_MS: '0',
        DATA_DIR: path.join(dir, 'child-2'),
      }).done;
      await query;
      expect(result.code).toBe(1);
      expect(result.result?.code).toBe('DESTINATION_BUSY');
      expect(result.result?.message).toContain(file);
      expect(result.result?.message).toContain(`process ${process.pid}`);
      expect(result.result?.message).toMatch(/FERRY_DUCKDB_LOCK_TIMEOUT_MS/);
    } finally {
      await ds.close();
    }
    expect(await itemCount()).toBe(before);
  });

  it('a reader during a run fails within about a second, saying the file is being written and by whom', async () => {
    let extracting!: () => void;
    const started = new Promise<void>((r) => (extracting = r));
    const env = { ROWS: '10', ID_OFFSET: '200000', HOLD_MS: '3000', DATA_DIR: path.join(dir, 'child-3') };
    const child = runChild(env, (line) => {
      if (line === 'extracting') extracting();
    });
    await started;
    const ds = reader.dataset();
    const t = performance.now();
    try {
      await expect(ds.rowCounts()).rejects.toMatchObject({
        code: 'DESTINATION_BUSY',
        message: expect.stringMatching(
          new RegExp(`being written by process ${child.pid} .*try again when the run has finished`),
        ),
      });
    } finally {
      await ds.close().catch(() => undefined); // close() reports the failed open once more
    }
    const waited = performance.now() - t;
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(2500);
    const result = await child.done;
    expect(result.code, result.err).toBe(0);
  });

  it('refuses a FERRY_DUCKDB_LOCK_TIMEOUT_MS that is not a number of ms', async () => {
    const result = await runChild({
      ROWS: '1',
      FERRY_DUCKDB_LOCK_TIMEOUT_MS: 'soon',
      DATA_DIR: path.join(dir, 'child-4'),
    }).done;
    expect(result.code).toBe(1);
    expect(result.result?.message).toMatch(/FERRY_DUCKDB_LOCK_TIMEOUT_MS must be a number .* got 'soon'/);
  });
});
