import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipeline } from '@ferry/core';
import { postgres } from '@ferry/destinations/postgres';
import { runs, staticSource } from '../conformance/fixtures.ts';
import { admin, createTestDatabase, postgresForFile } from '../support/postgres.ts';

/**
 * The destination-side pipeline lock (a session advisory lock): two runs of one pipeline from different
 * working folders (two containers) never load at once, and a dead holder's lock goes with its connection.
 */
const pgFile = postgresForFile();
const cleanups = pgFile.cleanups;

async function twoContainers(label: string) {
  const db = await createTestDatabase(pgFile.server.url, label);
  const dirs = [
    await mkdtemp(path.join(tmpdir(), `ferry-lock-a-`)),
    await mkdtemp(path.join(tmpdir(), `ferry-lock-b-`)),
  ];
  cleanups.push(() => db.drop(), ...dirs.map((d) => () => rm(d, { recursive: true, force: true })));
  const make = (dataDir: string) =>
    pipeline({ name: 'teams', dataset: 'lk', destination: postgres({ credentials: db.url }), dataDir });
  return { db, a: make(dirs[0]!), b: make(dirs[1]!) };
}

describe('postgres pipeline lock', () => {
  it('a run from another working folder fails with PIPELINE_BUSY while one holds the lock, then goes ahead', async () => {
    const { a, b } = await twoContainers('lock_busy');
    await a.syncFromDestination(); // connected and locked until a.close()
    const error = await b.run(staticSource(runs(50))).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: 'PIPELINE_BUSY' });
    expect((error as Error).message).toMatch(
      /pipeline 'teams' is already loading into .* dataset 'lk' \(backend pid \d+( from [^,]+)?, connected since /,
    );
    expect((error as Error).message).not.toMatch(/password/i);
    await a.close();
    const info = await b.run(staticSource(runs(50)));
    expect(info.rowCounts).toEqual({ runs: 50, runs__run_steps: 100 });
  });

  it('the lock of a holder whose connection died is gone (pg_terminate_backend)', async () => {
    const { db, a, b } = await twoContainers('lock_dead');
    await a.syncFromDestination();
    const killed = await admin(pgFile.server.url, async (c) => {
      const { rows } = await c.query<{ pid: number }>(
        `SELECT l.pid FROM pg_locks l JOIN pg_stat_activity s ON s.pid = l.pid
          WHERE l.locktype = 'advisory' AND s.datname = $1`,
        [db.name],
      );
      for (const r of rows) await c.query('SELECT pg_terminate_backend($1)', [r.pid]);
      return rows.length;
    });
    expect(killed).toBe(1);
    const info = await b.run(staticSource(runs(20)));
    expect(info.rowCounts).toEqual({ runs: 20, runs__run_steps: 40 });
    await a.close();
  });
});
