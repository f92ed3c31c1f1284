import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipeline } from '@ferry/core';
import { postgres } from '@ferry/destinations/postgres';
import { runRecord, runs, staticSource } from '../conformance/fixtures.ts';
import { admin, createTestDatabase, postgresForFile } from '../support/postgres.ts';

/**
 * A team points Ferry at a table it created itself, with narrower or different column types than Ferry's
 * own (integer, smallint, real, varchar, timestamp without time zone). Binary COPY sends each value
 * in Ferry's type, which the server would refuse for those columns; the loader goes through a scratch
 * table of Ferry's types and lets Postgres cast into the team's.
 */
const pgFile = postgresForFile();

describe('postgres: loading into a table created outside Ferry', () => {
  it('casts into integer, smallint, real, varchar and timestamp columns; every value arrives', async () => {
    const db = await createTestDatabase(pgFile.server.url, 'existing_types');
    const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-existing-'));
    pgFile.cleanups.push(
      () => db.drop(),
      () => rm(dataDir, { recursive: true, force: true }),
    );
    await admin(db.url, async (c) => {
      await c.query('CREATE SCHEMA team');
      await c.query(`CREATE TABLE team.runs (
        id bigint PRIMARY KEY,
        job_id integer,
        status smallint,
        created_at timestamp,
        finished_at timestamptz,
        git_branch varchar(40),
        trigger__cause text,
        trigger__id real,
        keep_me text DEFAULT 'theirs'
      )`);
    });
    const p = pipeline({
      name: 'existing',
      dataset: 'team',
      destination: postgres({ credentials: db.url }),
      dataDir,
    });
    const info = await p.run(staticSource(runs(30)));
    expect(info.rowCounts).toEqual({ runs: 30, runs__run_steps: 60 });
    const rows = await admin(db.url, async (c) => {
      const r = await c.query(
        `SELECT id::text, job_id, status, created_at::text AS created_at, git_branch, trigger__id,
                keep_me, pg_typeof(job_id)::text AS job_type
           FROM team.runs ORDER BY id`,
      );
      return r.rows as Record<string, unknown>[];
    });
    expect(rows).toHaveLength(30);
    expect(rows[7]).toEqual({
      id: String(70403104190000 + 7),
      job_id: 278164 + (7 % 7),
      status: 10,
      created_at: '2024-03-25 13:47:07.12969',
      git_branch: 'feature/7',
      trigger__id: 7,
      keep_me: 'theirs',
      job_type: 'integer',
    });
    expect(rows[0]).toMatchObject({ status: 20, git_branch: null });

    // A value the team's type cannot hold fails the load with the server's message, naming the job;
    // the rows of the first run stay.
    const error = await p
      .run(staticSource([runRecord(100, { job_id: 2 ** 40 })]))
      .catch((e: unknown) => e as Error);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(/integer out of range/);
    expect((error as Error).message).toMatch(/runs\./);
    const count = await admin(db.url, (c) => c.query('SELECT count(*)::int AS n FROM team.runs'));
    expect(count.rows[0]).toEqual({ n: 30 });
    await p.close();
  });
});
