import { readFile, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline, schemaTypes, type Destination } from '@ferry/core';
import { createDestination, type DestinationConfig } from '@ferry/destinations';
import { sql, type Kysely } from 'kysely';
import type { ReadonlyKysely } from 'kysely/readonly';
import { runs, staticSource } from '../conformance/fixtures.ts';
import { createTestDatabase, postgresForFile } from '../support/postgres.ts';
import { startBigQueryServer, type LocalBigQueryServer } from '../support/bigquery-server/bigquery-server.ts';
import {
  startSnowflakeServer,
  type SnowflakeLocalServer,
} from '../support/snowflake-server/snowflake-server.ts';
import type { DB } from './fixtures/runs-db.ts';

// No probing of cloud metadata servers (google-auth-library, snowflake-sdk).
process.env.METADATA_SERVER_DETECTION ??= 'none';
process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';

/**
 * `dataset.kysely<DB>()` on every SQL destination: the same typed query (a join of a root and its child
 * table, a filter, order, limit and offset, an alias) returns the same rows, with the values the
 * generated `DB` interface promises, on DuckDB, Postgres, the filesystem (DuckDB over its files) and the
 * local BigQuery and Snowflake servers. `DB` is the output of `schemaTypes` for this data, committed as
 * fixtures/runs-db.ts and checked against the generator here.
 */
const pgFile = postgresForFile();
const dirs: string[] = [];
let bq: LocalBigQueryServer | undefined;
let sf: SnowflakeLocalServer | undefined;
beforeAll(async () => {
  [bq, sf] = await Promise.all([startBigQueryServer(), startSnowflakeServer()]);
}, 60_000);
afterAll(async () => {
  await Promise.all([bq?.close(), sf?.close()]);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

type Setup = (dir: string) => Promise<DestinationConfig>;
const TARGETS: Record<string, Setup> = {
  duckdb: async (dir) => ({ type: 'duckdb', path: path.join(dir, 'warehouse.duckdb') }) as DestinationConfig,
  postgres: async () => {
    const db = await createTestDatabase(pgFile.server.url, 'kysely');
    pgFile.cleanups.push(() => db.drop());
    return { type: 'postgres', credentials: db.url } as DestinationConfig;
  },
  filesystem: async (dir) =>
    ({ type: 'filesystem', bucketUrl: path.join(dir, 'lake'), format: 'parquet' }) as DestinationConfig,
  'bigquery-local': async () =>
    ({
      type: 'bigquery',
      projectId: bq!.projectId,
      apiEndpoint: bq!.url,
      accessToken: 'local-test-token',
    }) as DestinationConfig,
  'snowflake-local': async () =>
    ({
      type: 'snowflake',
      account: 'ferry-local',
      username: 'kysely',
      password: 'local',
      database: 'FERRY',
      accessUrl: sf!.url,
    }) as DestinationConfig,
};

/** Load 12 runs (each with 2 steps), then open the dataset from a fresh pipeline object. */
async function loaded(name: string) {
  const dir = await mkdtemp(path.join(tmpdir(), `ferry-kysely-${name}-`));
  dirs.push(dir);
  const destination: Destination = await createDestination(await TARGETS[name]!(dir));
  const p = pipeline({ name: 'typed', dataset: 'typed', destination, dataDir: dir });
  await p.run(staticSource(runs(12)));
  await p.close();
  return pipeline({ name: 'typed', dataset: 'typed', destination, dataDir: dir }).dataset();
}

/** The query every destination runs. */
function stepsQuery(db: ReadonlyKysely<DB>) {
  return db
    .selectFrom('runs')
    .innerJoin('runs__run_steps as s', 's._ferry_parent_id', 'runs._ferry_id')
    .select(['runs.id', 'runs.git_branch', 'runs.created_at', 's.name as stepName', 's.index'])
    .where('runs.status', '=', 10n)
    .where('s.index', '>', 1n)
    .orderBy('runs.id')
    .limit(4)
    .offset(1);
}

const results = new Map<string, unknown[]>();

/** How each dialect names the root table: quoted, in the dataset (BigQuery: in the project too). */
const TABLE_SQL: Record<string, string> = {
  duckdb: 'from "typed"."runs" inner join "typed"."runs__run_steps" as "s"',
  postgres: 'from "typed"."runs" inner join "typed"."runs__run_steps" as "s"',
  filesystem: 'from "typed"."runs" inner join "typed"."runs__run_steps" as "s"',
  'bigquery-local':
    'from `ferry-local`.`typed`.`runs` inner join `ferry-local`.`typed`.`runs__run_steps` as `s`',
  'snowflake-local': 'from "TYPED"."RUNS" inner join "TYPED"."RUNS__RUN_STEPS" as "S"',
};

describe('dataset.kysely() on every SQL destination', () => {
  for (const name of Object.keys(TARGETS)) {
    it(`${name}: typed query over a root and a child table`, async () => {
      const ds = await loaded(name);
      try {
        const db = await ds.kysely<DB>();
        const rows = await stepsQuery(db).execute();
        results.set(name, rows);
        expect(stepsQuery(db).compile().sql).toContain(TABLE_SQL[name]!);
        // Runs 1, 2, 3, 4, 6, 7, … have status 10; offset 1 skips run 1.
        expect(rows.map((r) => r.id)).toEqual([
          70403104190002n,
          70403104190003n,
          70403104190004n,
          70403104190006n,
        ]);
        expect(rows[0]).toEqual({
          id: 70403104190002n,
          git_branch: 'feature/2',
          created_at: new Date('2024-03-25T13:47:02.129Z'),
          stepName: 'dbt build 2',
          index: 2n,
        });
        expect(rows[2]!.git_branch).toBeNull(); // run 4: i % 4 === 0
        // selectAll over one table converts every column by the schema.
        const one = await db
          .selectFrom('runs')
          .selectAll()
          .where('id', '=', 70403104190005n)
          .executeTakeFirstOrThrow();
        expect(one.status).toBe(20n);
        expect(one.finished_at).toEqual(new Date('2024-03-25T13:48:05.185Z'));
        expect(one.trigger__cause).toBe('cause 5');
        // An expression keeps the destination's value (the schema does not type it).
        const count = await db
          .selectFrom('runs__run_steps')
          .select((eb) => eb.fn.countAll().as('n'))
          .executeTakeFirstOrThrow();
        expect(Number(count.n)).toBe(24);
        // The non-existent column fails to compile (the package typecheck holds this line).
        // @ts-expect-error: runs has no column 'nope'
        db.selectFrom('runs').select('nope');
      } finally {
        await ds.close();
      }
    }, 120_000);
  }

  it('duckdb: raw SQL takes the read-only path, no transactions, introspection of the dataset', async () => {
    const ds = await loaded('duckdb');
    try {
      const db = await ds.kysely<DB>();
      // ReadonlyKysely does not type raw `sql` execution; a caller who casts it away meets the destination.
      // @ts-expect-error: raw SQL does not compile against a ReadonlyKysely
      void sql`SELECT 1`.execute(db).catch(() => undefined);
      const raw = db as unknown as Kysely<DB>;
      await expect(sql`DELETE FROM typed.runs`.execute(raw)).rejects.toThrow(/only a query/);
      const counted = await sql<{ n: number }>`SELECT count(*) AS n FROM typed.runs`.execute(raw);
      expect(Number(counted.rows[0]!.n)).toBe(12);
      await expect(db.transaction().execute(async () => undefined)).rejects.toThrow(/no transactions/);
      const tables = await db.introspection.getTables();
      const runsTable = tables.find((t) => t.name === 'runs');
      expect(runsTable?.columns.map((c) => c.name)).toContain('git_branch');
      expect(tables.map((t) => t.name)).toContain('runs__run_steps');
    } finally {
      await ds.close();
    }
  }, 60_000);

  it('returns the same rows on every destination', () => {
    const duck = results.get('duckdb');
    expect(duck).toBeDefined();
    expect([...results.keys()].sort()).toEqual(Object.keys(TARGETS).sort());
    for (const [name, rows] of results) expect({ name, rows }).toEqual({ name, rows: duck });
  });

  it('fixtures/runs-db.ts is what schemaTypes writes for this data', async () => {
    const ds = await loaded('duckdb');
    try {
      const here = path.dirname(fileURLToPath(import.meta.url));
      const golden = await readFile(path.join(here, 'fixtures', 'runs-db.ts'), 'utf8');
      expect(schemaTypes(await ds.schemas())).toBe(golden);
    } finally {
      await ds.close();
    }
  }, 60_000);
});
