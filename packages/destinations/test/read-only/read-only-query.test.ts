import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pipeline, type DatasetReader, type Destination } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { postgres } from '@ferry/destinations/postgres';
import { runs, staticSource } from '../conformance/fixtures.ts';
import { admin, createTestDatabase, postgresForFile } from '../support/postgres.ts';

/**
 * Hostile SQL through the read-only query path (`ferry query`, the dashboard, `dataset.sql`), on real
 * Postgres and DuckDB. The reported attacks, then a fuzz: statement stacks hidden behind every quoting form
 * of each dialect (standard strings, `E''`, dollar quotes with and without tags, `$` inside names, quoted
 * identifiers, both comment kinds, nested comments), sent both through the text guard and straight to the
 * destination's `untrustedQuery` (so the guard is not what holds). None may change the database or write
 * a file; the data is counted before and after.
 */
const pgFile = postgresForFile();
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

/** A small seeded PRNG (mulberry32): the same stacks on every run, different across seeds. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Openers that make a naive guard lose track of where a statement ends. */
const QUOTING_FORMS = [
  "SELECT E'\\'' AS a",
  "SELECT E'\\\\' AS a",
  "SELECT 'it''s' AS a",
  'SELECT 1 AS x$y$, 2',
  'SELECT 1 AS q$y$',
  'SELECT $$;$$ AS a',
  'SELECT $p$ ; $p$ AS a',
  'SELECT $p$ $q$ ; $p$ AS a',
  'SELECT "a;""b" FROM (SELECT 1 AS "a;""b") t',
  'SELECT 1 -- ; \n',
  'SELECT 1 /* ; */',
  'SELECT 1 /* /* ; */ */',
  'SELECT 1 /* /* */ AS a',
  "SELECT U&'d\\0061t' AS a",
  'SELECT 1',
];
const JOINERS = [';', ';\n', '; -- x\n', ' ;/* */', ';;'];

function payloads(schema: string, table: string, file: string): string[] {
  return [
    'COMMIT',
    'END',
    'ROLLBACK',
    `CREATE TABLE ${schema}.pwned AS SELECT 1 AS x`,
    `DROP TABLE ${schema}.${table}`,
    `DELETE FROM ${schema}.${table}`,
    `UPDATE ${schema}.${table} SET status = 99`,
    `COPY (SELECT 1) TO PROGRAM 'touch ${file}'`,
    `COPY (SELECT 1) TO '${file}'`,
    "SELECT lo_import('/etc/hostname')",
    'SET default_transaction_read_only = off',
    `ATTACH '${file}' AS pwn`,
  ];
}

/** Every stack a seed makes: opener, joiner, a write, joiner, a harmless or quoted closer. */
function stacks(seed: number, count: number, schema: string, table: string, file: string): string[] {
  const r = rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
  const writes = payloads(schema, table, file);
  const out: string[] = [];
  for (const opener of QUOTING_FORMS)
    for (const write of writes)
      out.push(`${opener}${pick(JOINERS)} ${write}${pick(JOINERS)} ${pick(QUOTING_FORMS)}`);
  for (let i = 0; i < count; i++) {
    const parts = [pick(QUOTING_FORMS)];
    const n = 1 + Math.floor(r() * 3);
    for (let k = 0; k < n; k++) parts.push(pick(writes), pick(QUOTING_FORMS));
    out.push(parts.map((p, k) => (k === 0 ? p : `${pick(JOINERS)} ${p}`)).join(''));
  }
  return out;
}

/** Run each text both ways; count the texts that returned instead of throwing. */
async function attack(
  texts: string[],
  viaGuard: (sql: string) => Promise<unknown>,
  reader: DatasetReader,
): Promise<number> {
  let returned = 0;
  for (const sql of texts) {
    for (const run of [
      viaGuard,
      (s: string) => reader.untrustedQuery(s, [], { timeoutMs: 5000, maxRows: 10 }),
    ]) {
      const ok = await run(sql).then(
        () => true,
        () => false,
      );
      if (ok) returned++;
    }
  }
  return returned;
}

async function loaded(destination: Destination, dataDir: string) {
  const p = pipeline({ name: 'hostile', dataset: 'ro', destination, dataDir });
  await p.run(staticSource(runs(40)));
  await p.close();
  const reopened = pipeline({ name: 'hostile', dataset: 'ro', destination, dataDir });
  return { p: reopened, ds: reopened.dataset() };
}

describe('read-only query path: Postgres', () => {
  const setup = async (label: string) => {
    const db = await createTestDatabase(pgFile.server.url, label);
    pgFile.cleanups.push(() => db.drop());
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-ro-pg-'));
    dirs.push(dir);
    const { p, ds } = await loaded(postgres({ credentials: db.url }), dir);
    const state = () =>
      admin(db.url, async (c) => {
        const tables = await c.query<{ t: string }>(
          `SELECT table_schema || '.' || table_name AS t FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog','information_schema') ORDER BY 1`,
        );
        const counts = await c.query<{ n: string; s: string }>(
          'SELECT count(*)::text AS n, coalesce(sum(status), 0)::text AS s FROM ro.runs',
        );
        const lo = await c.query<{ n: string }>('SELECT count(*)::text AS n FROM pg_largeobject_metadata');
        return { tables: tables.rows.map((r) => r.t), runs: counts.rows[0], lo: lo.rows[0]!.n };
      });
    const fileOnServer = (file: string) =>
      admin(db.url, async (c) => (await c.query('SELECT pg_stat_file($1, true) AS s', [file])).rows[0].s);
    return { db, p, ds, state, fileOnServer };
  };

  it('says when the reading credentials can write (ferry query warns), and not for a read-only role', async () => {
    const { db, p, ds } = await setup('ro_roles');
    // The loader's own credentials (a superuser here) can write.
    expect(await (await ds.reader()).writeAccess?.()).toMatch(/is a superuser/);
    await p.close();
    const suffix = `${process.pid}_${Date.now().toString(36)}`;
    const reader = `ferry_reader_${suffix}`;
    const writer = `ferry_writer_${suffix}`;
    await admin(db.url, async (c) => {
      for (const role of [reader, writer]) {
        await c.query(`CREATE ROLE ${role} LOGIN PASSWORD 'reader-pw'`);
        await c.query(`GRANT USAGE ON SCHEMA ro TO ${role}`);
        await c.query(`GRANT SELECT ON ALL TABLES IN SCHEMA ro TO ${role}`);
      }
      await c.query(`GRANT INSERT ON ro.runs TO ${writer}`);
    });
    pgFile.cleanups.push(() =>
      admin(pgFile.server.url, async (c) => {
        for (const role of [reader, writer]) await c.query(`DROP ROLE IF EXISTS ${role}`);
      }),
    );
    const as = (role: string) => {
      const u = new URL(db.url);
      u.username = role;
      u.password = 'reader-pw';
      return pipeline({
        name: 'hostile',
        dataset: 'ro',
        destination: postgres({ credentials: u.toString() }),
        dataDir: dirs.at(-1)!,
      }).dataset();
    };
    const readOnly = as(reader);
    expect(await (await readOnly.reader()).writeAccess?.()).toBeUndefined();
    expect((await readOnly.sql('SELECT count(*) AS n FROM ro.runs'))[0]).toMatchObject({
      n: expect.anything(),
    });
    await readOnly.close();
    const canWrite = as(writer);
    expect(await (await canWrite.reader()).writeAccess?.()).toBe(
      `role ${writer} may write to tables of schema ro`,
    );
    await canWrite.close();
    // Cleanup order: the database (owning the grants) goes before the roles.
    await db.drop();
  });

  it('refuses the reported attacks and a fuzz of statement stacks; the database and the server files are unchanged', async () => {
    const { p, ds, state, fileOnServer } = await setup('ro_fuzz');
    const file = `/tmp/ferry-pwned-${process.pid}-${Date.now()}`;
    const before = await state();
    expect(before.runs).toEqual({ n: '40', s: expect.any(String) });
    const reader = await ds.reader();
    const reported = [
      "SELECT E'\\'' AS a; COMMIT; CREATE TABLE ro.t AS SELECT 1; SELECT ''",
      `SELECT 1 AS x$y$, 2; COMMIT; COPY (SELECT 1) TO PROGRAM $p$touch ${file}$p$; SELECT 1 AS q$y$`,
      "SELECT lo_import('/etc/hostname')",
      'SELECT "lo_import"(\'/etc/hostname\')',
      `COPY (SELECT 1) TO PROGRAM 'touch ${file}'`,
      'WITH d AS (DELETE FROM ro.runs RETURNING *) SELECT * FROM d',
      `DO $$ BEGIN EXECUTE 'DROP TABLE ro.runs'; END $$`,
      'EXPLAIN ANALYZE DELETE FROM ro.runs',
      "SELECT set_config('default_transaction_read_only', 'off', false)",
      "SELECT query_to_xml('DELETE FROM ro.runs', true, true, '')",
      'SELECT pg_advisory_lock(42)',
    ];
    for (const sql of reported) {
      await expect(ds.sql(sql), sql).rejects.toThrow();
      await expect(reader.untrustedQuery(sql, [], { timeoutMs: 5000 }), sql).rejects.toThrow();
    }
    const returned = await attack(stacks(15, 150, 'ro', 'runs', file), (s) => ds.sql(s), reader);
    expect(returned).toBe(0); // every stack holds a write: none may run
    expect(await state()).toEqual(before);
    expect(await fileOnServer(file)).toBeNull();
    await ds.close();
    await p.close();
  }, 120_000);

  it('runs a query with parameters, caps rows, and cancels a slow one on the server', async () => {
    const { db, p, ds } = await setup('ro_ok');
    const reader = await ds.reader();
    expect(await ds.sql('SELECT count(*)::int AS n FROM ro.runs WHERE status = $1', [20])).toEqual([
      { n: 8 },
    ]);
    expect(
      await reader.untrustedQuery('SELECT id FROM ro.runs ORDER BY id', [], { timeoutMs: 5000, maxRows: 3 }),
    ).toHaveLength(3);
    expect(await ds.sql("SELECT 'a;b' AS s, $$x$$ AS d, 1 AS x$y")).toEqual([{ s: 'a;b', d: 'x', x$y: 1 }]);
    const started = Date.now();
    await expect(ds.sql('SELECT pg_sleep(30)', [], { timeoutMs: 300 })).rejects.toMatchObject({
      code: 'QUERY_TIMEOUT',
    });
    expect(Date.now() - started).toBeLessThan(10_000);
    const left = await admin(
      db.url,
      async (c) =>
        (
          await c.query(
            "SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = 'ferry-query'",
          )
        ).rows[0].n,
    );
    expect(left).toBe(0); // the backend is gone with its connection, not left sleeping
    await ds.close();
    await p.close();
  }, 60_000);
});

describe('read-only query path: DuckDB', () => {
  it('refuses the attacks and the fuzz; the file and its rows are unchanged, no file is written', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-ro-duck-'));
    dirs.push(dir);
    const dbFile = path.join(dir, 'hostile.duckdb');
    const file = path.join(dir, 'pwned.csv');
    const { p, ds } = await loaded(duckdb({ path: dbFile }), dir);
    const count = async () => (await ds.sql('SELECT count(*) AS n, sum(status) AS s FROM ro.runs'))[0];
    const before = await count();
    expect(before).toMatchObject({ n: 40 });
    const reader = await ds.reader();
    for (const sql of [
      `COPY ro.runs TO '${file}'`,
      "SELECT * FROM read_text('/etc/hostname')",
      `ATTACH '${path.join(dir, 'other.duckdb')}' AS o`,
      'SELECT 1; DROP TABLE ro.runs',
      'SET enable_external_access = true',
      'INSTALL httpfs',
      'CREATE TABLE ro.t AS SELECT 1',
    ]) {
      await expect(reader.untrustedQuery(sql, [], { timeoutMs: 5000 }), sql).rejects.toThrow();
    }
    const returned = await attack(stacks(16, 150, 'ro', 'runs', file), (s) => ds.sql(s), reader);
    expect(returned).toBe(0);
    expect(await count()).toEqual(before);
    expect(existsSync(file)).toBe(false);
    expect(await ds.sql('SHOW TABLES')).toBeInstanceOf(Array);
    expect(
      await reader.untrustedQuery('SELECT id FROM ro.runs', [], { timeoutMs: 5000, maxRows: 5 }),
    ).toHaveLength(5);
    await ds.close();
    await p.close();
  }, 120_000);
});
