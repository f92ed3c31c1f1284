/**
 * `run()` normalizes raw files in worker threads while extract is still reading the source. These tests
 * check on real DuckDB files and real Parquet files that the overlapped path loads exactly what the
 * one-thread path loads, that it really overlaps, and that a normalize failure retrying cannot fix moves the package aside.
 */
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  PackageFailedError,
  pipeline,
  resource,
  source,
  SchemaContractError,
  type DataItem,
  type PipelineEvent,
} from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { filesystem } from '@ferry/destinations/filesystem';
import { DuckDBInstance } from '@duckdb/node-api';
import { runRecord } from '../conformance/fixtures.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'ferry-overlap-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

const N = 30_000;

function runsSource(
  n: number,
  extra?: (i: number) => Partial<DataItem>,
  options = {},
  /** Awaited once, before the last page: lets a test hold extract open. */
  pause?: () => Promise<unknown>,
) {
  const runs = resource({ name: 'runs', primaryKey: 'id', ...options }, async function* () {
    for (let i = 0; i < n; i += 500) {
      if (pause && i + 500 >= n) await pause();
      const page: DataItem[] = [];
      for (let k = i; k < Math.min(n, i + 500); k++) page.push(runRecord(k, extra?.(k)));
      yield page;
    }
  });
  return source({ name: 'overlap', resources: [runs] });
}

async function query(file: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(file, file === ':memory:' ? {} : { access_mode: 'READ_ONLY' });
  const c = await db.connect();
  try {
    return (await c.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    c.closeSync();
    db.closeSync();
  }
}

/** Every loaded row of both tables by business key (ids embed the load id, which differs per run). */
const CONTENT = `
  SELECT 'runs' AS t, id::VARCHAR AS k, created_at::VARCHAR AS a, finished_at::VARCHAR AS b,
         trigger__cause AS c
    FROM ds.runs
  UNION ALL
  SELECT 'steps', r.id::VARCHAR, s._ferry_list_idx::VARCHAR, s.name, s.status::VARCHAR
    FROM ds.runs__run_steps s JOIN ds.runs r ON s._ferry_parent_id = r._ferry_id
  ORDER BY 1, 2, 3`;

describe('extract and normalize overlap in run()', () => {
  it('loads exactly what the one-thread path loads, with normalize running during extract', async () => {
    const results: Record<string, unknown>[][] = [];
    for (const workers of [0, 2]) {
      const file = path.join(dir, `w${workers}.duckdb`);
      const events: PipelineEvent[] = [];
      let normalized: () => void = () => undefined;
      const firstRows = new Promise<void>((resolve) => (normalized = resolve));
      const p = pipeline({
        name: 'overlap',
        dataset: 'ds',
        destination: duckdb({ path: file }),
        dataDir: path.join(dir, `data-w${workers}`),
        normalizeWorkers: workers,
        extractFileMaxItems: 5_000,
        onEvent: (e) => {
          events.push(e);
          if (e.type === 'normalize') normalized();
        },
      });
      // With workers, the last page waits (up to 30 s) until a worker reports rows: proof that the closed
      // raw files are normalized while the source is still open. One thread has nothing to wait for.
      const pause =
        workers === 2
          ? () => Promise.race([firstRows, new Promise((r) => setTimeout(r, 30_000))])
          : undefined;
      const info = await p.run(runsSource(N, undefined, {}, pause));
      expect(info.rowCounts).toEqual({ runs: N, runs__run_steps: 2 * N });
      const extractEnd = events.findIndex(
        (e) => e.type === 'stage' && e.stage === 'extract' && e.status === 'end',
      );
      const firstNormalize = events.findIndex((e) => e.type === 'normalize');
      // With workers, rows are normalized before extract ends; on one thread only after it.
      if (workers === 2) expect(firstNormalize).toBeLessThan(extractEnd);
      else expect(firstNormalize).toBeGreaterThan(extractEnd);
      results.push(await query(file, CONTENT));
    }
    expect(results[0]).toHaveLength(3 * N);
    expect(results[1]).toEqual(results[0]);
  });

  it('a normalize failure that retrying cannot fix moves the package aside; the next run extracts again and loses nothing', async () => {
    const file = path.join(dir, 'fail.duckdb');
    const dataDir = path.join(dir, 'data-fail');
    const make = () =>
      pipeline({
        name: 'fail',
        dataset: 'ds',
        destination: duckdb({ path: file }),
        dataDir,
        normalizeWorkers: 2,
        extractFileMaxItems: 5_000,
      });
    // Record 21,000 brings a new column into a frozen table: the worker holding that file fails.
    const frozen = runsSource(N, (i) => (i === 21_000 ? { surprise: 1 } : {}), {
      schemaContract: { columns: 'freeze' },
    });
    await make().run(runsSource(10, undefined, { schemaContract: { columns: 'freeze' } }));
    const error = await make()
      .run(frozen)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackageFailedError);
    expect((error as PackageFailedError).cause).toBeInstanceOf(SchemaContractError);
    expect((error as Error).message).toMatch(/surprise/);
    // Kept for inspection in failed/, not left pending to fail every later run.
    expect(await readdir(path.join(dataDir, 'fail', 'extracted'))).toHaveLength(0);
    expect(await readdir(path.join(dataDir, 'fail', 'failed'))).toHaveLength(1);
    // The same data fails the same way on a fresh extraction; nothing loaded is touched.
    const again = await make()
      .run(frozen)
      .catch((e: unknown) => e);
    expect(again).toBeInstanceOf(PackageFailedError);
    expect((await query(file, 'SELECT count(*)::INT AS n FROM ds.runs'))[0]!.n).toBe(10);
    // Once the contract allows the column, the next run loads everything, with no manual step.
    const evolve = runsSource(N, (i) => (i === 21_000 ? { surprise: 1 } : {}), {
      schemaContract: { columns: 'evolve' },
    });
    expect((await make().run(evolve)).rowCounts.runs).toBe(N);
    expect((await query(file, 'SELECT count(*)::INT AS n FROM ds.runs'))[0]!.n).toBe(N + 10);
  });

  it('Parquet files are written by the normalize workers (the destination names its writer module)', async () => {
    const bucket = path.join(dir, 'bucket');
    const p = pipeline({
      name: 'pq',
      dataset: 'ds',
      destination: filesystem({ bucketUrl: bucket, format: 'parquet' }),
      dataDir: path.join(dir, 'data-pq'),
      normalizeWorkers: 2,
      extractFileMaxItems: 5_000,
    });
    const info = await p.run(runsSource(N));
    expect(info.rowCounts).toEqual({ runs: N, runs__run_steps: 2 * N });
    const files = (await readdir(path.join(bucket, 'ds', 'runs'))).filter((f) => f.endsWith('.parquet'));
    // Worker 0 and worker 1 each wrote a runs file (file ids carry the worker's prefix).
    expect(files.length).toBeGreaterThanOrEqual(2);
    const rows = await query(
      ':memory:',
      `SELECT count(*)::INT AS n, count(DISTINCT id)::INT AS ids, min(created_at)::VARCHAR AS first
         FROM read_parquet('${path.join(bucket, 'ds', 'runs')}/*.parquet')`,
    );
    expect(rows).toEqual([{ n: N, ids: N, first: '2024-03-25 13:47:00.12969+00' }]);
  });
});
