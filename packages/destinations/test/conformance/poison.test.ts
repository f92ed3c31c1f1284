import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { PackageFailedError, pipeline, resource, source, type DataItem } from '@ferry/core';
import { postgres } from '@ferry/destinations/postgres';
import { createTestDatabase, postgresForFile } from '../support/postgres.ts';
import { useTarget } from './harness.ts';
import { runs, staticSource } from './fixtures.ts';
import { selectedTargets } from './targets/index.ts';

/**
 * One bad record must not block a pipeline (issue 15, "What broke" 3). On every conformance target with a
 * known column limit: a record wider than the destination allows either loads with its extra columns in
 * the overflow column, or (contract `limits: freeze`) fails the run naming the limit, with the package
 * moved aside and its state not committed, so the next run with good data loads from the last committed
 * cursor with no manual step and nothing already loaded is lost.
 */

/** A record with `n` extra top-level keys (`k0`..`k<n-1>`). */
function wide(base: DataItem, n: number): DataItem {
  const out: DataItem = { ...base };
  for (let i = 0; i < n; i++) out[`k${i}`] = i;
  return out;
}

for (const target of selectedTargets()) {
  // Wide rows cost the emulated warehouses a lot per column; the column limits of DuckDB (memory: 200
  // at its default 256 MB) and Postgres (1,600) are the ones users hit; the filesystem has none.
  const limit = target.name.startsWith('duckdb') ? 200 : target.name.startsWith('postgres') ? 1600 : 0;
  if (limit === 0) continue;
  describe(`poisoned package: ${target.name}`, () => {
    /** Run a case body in a fresh place; tear down even on failure. */
    const withCase = useTarget(target);

    it('a record with 20,000 keys and one with arrays nested 1,000 deep load: extra columns in the overflow column, deep data as JSON', () =>
      withCase('overflow', async (env) => {
        expect(env.destination.capabilities.maxColumnsPerTable).toBe(limit);
        const p = await env.pipeline();
        const records = runs(20);
        records[7] = wide(records[7]!, 20_000);
        let deep: unknown = [1];
        for (let i = 0; i < 1000; i++) deep = [deep];
        records[8] = { ...records[8]!, deep };
        const info = await p.run(staticSource(records));
        expect(info.rowCounts.runs).toBe(20);
        const [row] = await env.rows(
          (t) => `SELECT _ferry_overflow AS o FROM ${t('runs')} WHERE id = ${records[7]!.id as number}`,
        );
        const overflow = typeof row!.o === 'string' ? JSON.parse(row!.o) : row!.o;
        expect(Object.keys(overflow as object).length).toBeGreaterThan(0);
        const cols = Object.keys((await env.withClient((c) => c.introspect())).runs?.columns ?? {});
        expect(cols.length).toBeLessThanOrEqual(limit);
        // The next run loads as usual.
        expect((await p.run(staticSource(runs(5, 20)))).rowCounts.runs).toBe(5);
        expect(await env.count('runs')).toBe(25);
      }));

    it('contract limits freeze: the run fails naming the limit, the package is moved aside, the next run resumes from the committed cursor', () =>
      withCase('poison', async (env) => {
        let poisoned = true;
        const seen: unknown[] = [];
        const make = (from: number, n: number) =>
          source({
            name: 'conformance',
            resources: [
              resource(
                { name: 'runs', incremental: { cursorPath: 'id' }, schemaContract: { limits: 'freeze' } },
                function* (ctx) {
                  seen.push(ctx.incremental?.lastValue ?? null);
                  const rows = runs(n, from);
                  if (poisoned) rows[3] = wide(rows[3]!, 20_000);
                  yield rows;
                },
              ),
            ],
          });
        const dataDir = await env.newDataDir();
        const p = await env.pipeline({ dataDir });
        poisoned = false;
        expect((await p.run(make(0, 10))).rowCounts.runs).toBe(10);
        poisoned = true;
        const error = await p.run(make(10, 10)).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(PackageFailedError);
        const failed = error as PackageFailedError;
        expect(failed.code).toBe('PACKAGE_FAILED');
        expect(failed.message).toMatch(/resource 'runs'/);
        expect(failed.message).toMatch(new RegExp(`${limit.toLocaleString('en-US')}|${limit}`));
        expect(failed.message).toMatch(/moved aside/);
        // Kept for inspection, with why; nothing pending is left to block the next run.
        const kept = await p.failedPackages();
        expect(kept.map((k) => k.loadId)).toEqual([failed.loadId]);
        expect(await readdir(path.join(failed.failedDir))).toContain('failure.json');
        expect(JSON.parse(await readFile(path.join(failed.failedDir, 'failure.json'), 'utf8'))).toMatchObject(
          {
            loadId: failed.loadId,
          },
        );
        expect(await p.hasPending()).toBe(false);
        expect(await env.count('runs')).toBe(10);
        // The source is fixed: the next run starts again from the last committed cursor, no manual step.
        poisoned = false;
        const again = await p.run(make(10, 10));
        expect(again.rowCounts.runs).toBe(10);
        expect(seen.at(-1)).toBe(seen[1]);
        expect(await env.count('runs')).toBe(20);
        const ids = await env.rows((t) => `SELECT COUNT(DISTINCT id) AS n FROM ${t('runs')}`);
        expect(Number(ids[0]!.n)).toBe(20);
      }));
  });
}

describe('poisoned package: a load error retrying cannot fix (Postgres)', () => {
  const pg = postgresForFile();
  it('a NUL character Postgres refuses (SQLSTATE 22) moves the package aside; the next run loads the rest', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-poison-pg-'));
    const name = `poison_nul_${process.pid}`;
    const db = await createTestDatabase(pg.server.url, 'poison_nul');
    pg.cleanups.push(() => db.drop());
    const destination = postgres({ credentials: db.url });
    const make = (records: DataItem[]) =>
      source({
        name: 'conformance',
        resources: [
          resource({ name: 'runs', incremental: { cursorPath: 'id' } }, function* () {
            yield records;
          }),
        ],
      });
    const p = pipeline({ name, destination, dataDir });
    try {
      expect((await p.run(make(runs(5)))).rowCounts.runs).toBe(5);
      const bad = runs(5, 5);
      bad[2] = { ...bad[2]!, git_branch: 'nul\u0000byte' };
      const error = await p.run(make(bad)).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(PackageFailedError);
      expect((error as PackageFailedError).step).toBe('load');
      expect((error as Error).message).toMatch(/retrying cannot fix it/);
      expect(await p.hasPending()).toBe(false);
      expect((await p.failedPackages()).length).toBe(1);
      const good = runs(5, 5);
      expect((await p.run(make(good))).rowCounts.runs).toBe(5);
      const rows = await p.dataset().sql(`SELECT COUNT(*) AS n FROM ${p.destinationDataset}.runs`);
      expect(Number(rows[0]!.n)).toBe(10);
    } finally {
      await p.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
