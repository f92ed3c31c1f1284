/**
 * Snowflake as the service behaves when it says no or waits (issue 22): the real `snowflake-sdk` against
 * the local server with its faults switched on per test (test/support/snowflake-server/README.md lists each
 * fault and the documentation it follows). Loopback only.
 */
process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  pipeline,
  ReadOnlySqlError,
  resource,
  source,
  type DataItem,
  type Destination,
  type DestinationClient,
  type LoadPackagePlan,
} from '@ferry/core';
import { snowflake } from '@ferry/destinations/snowflake';
import {
  startSnowflakeServer,
  type RecordedStatement,
  type SnowflakeLocalServer,
} from '../support/snowflake-server/snowflake-server.ts';

let server: SnowflakeLocalServer;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startSnowflakeServer();
});
afterAll(async () => {
  await server?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
afterEach(() => {
  for (const key of Object.keys(server.faults)) delete (server.faults as Record<string, unknown>)[key];
  server.options.beforeStatement = undefined;
});

const dest = (): Destination =>
  snowflake({
    account: 'ferry-local',
    username: 'loader',
    password: 'pw',
    database: 'FERRY_DB',
    accessUrl: server.url,
  });

const newDir = async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'ferry-sf-faults-'));
  dirs.push(d);
  return d;
};

const run = (i: number): DataItem => ({
  id: 70403104190000 + i,
  status: 10,
  steps: [
    { index: 1, name: `deps ${i}` },
    { index: 2, name: `build ${i}` },
  ],
});

const runsSource = (items: DataItem[], writeDisposition: 'append' | 'replace' = 'append') =>
  source({
    name: 'dbt',
    resources: [
      resource({ name: 'runs', writeDisposition }, function* () {
        yield items;
      }),
    ],
  });

/** Rows of a table. */
async function rows(schema: string, table: string): Promise<number> {
  const r = await server.sql(`SELECT COUNT(*)::INT AS n FROM "${schema}"."${table}"`);
  return (r[0] as { n: number }).n;
}

/** Rows and distinct ids of a root table. */
async function count(schema: string, table: string): Promise<{ n: number; d: number }> {
  const rows = await server.sql(
    `SELECT COUNT(*)::INT AS n, COUNT(DISTINCT "ID")::INT AS d FROM "${schema}"."${table}"`,
  );
  return rows[0] as { n: number; d: number };
}

const isMarker = (s: RecordedStatement) => s.sql.startsWith('INSERT') && s.sql.includes('"_FERRY_LOADS"');

/** Statements of `session` from its first BEGIN to the COMMIT or ROLLBACK after it. */
function transactionOf(session: string, from = 0): RecordedStatement[] {
  const own = server.statements.slice(from).filter((s) => s.session === session);
  const begin = own.findIndex((s) => s.kind === 'begin');
  const end = own.findIndex((s, i) => i > begin && (s.kind === 'commit' || s.kind === 'rollback'));
  return own.slice(begin, end + 1);
}

describe('snowflake with the service faults switched on', () => {
  it('item 5: with PUT committing an open transaction, a crash before COMMIT leaves the replaced table whole and the rerun loads each row once', async () => {
    const dataDir = await newDir();
    const p1 = pipeline({ name: 'putc', destination: dest(), dataDir });
    await p1.run(runsSource([run(1), run(2)], 'replace'));
    await p1.close();

    server.faults.putCommitsTransaction = true;
    const from = server.statements.length;
    let crashed = false;
    server.options.beforeStatement = (s) => {
      if (!crashed && isMarker(s)) {
        crashed = true;
        return 'abort-session';
      }
    };
    const items = Array.from({ length: 30 }, (_, i) => run(100 + i));
    const p2 = pipeline({ name: 'putc', destination: dest(), dataDir, loadRetries: 0 });
    await expect(p2.run(runsSource(items, 'replace'))).rejects.toThrow(/SQL execution canceled/);
    await p2.close();
    server.options.beforeStatement = undefined;
    // No PUT inside the transaction, so nothing of it was committed: the old rows are all still there.
    const loading = server.statements.slice(from).find((s) => s.kind === 'begin')!.session;
    expect(transactionOf(loading, from).filter((s) => s.kind === 'put')).toEqual([]);
    expect(
      server.statements.slice(from).filter((s) => s.kind === 'put' && s.session === loading),
    ).toHaveLength(2);
    expect(await count('PUTC_DATASET', 'RUNS')).toEqual({ n: 2, d: 2 });

    const p3 = pipeline({ name: 'putc', destination: dest(), dataDir });
    await p3.run(runsSource([], 'replace'));
    await p3.close();
    expect(await count('PUTC_DATASET', 'RUNS')).toEqual({ n: 30, d: 30 });
    expect(await rows('PUTC_DATASET', 'RUNS__STEPS')).toBe(60);
    expect(await rows('PUTC_DATASET', '_FERRY_LOADS')).toBe(2);
  });

  it('item 4: the lease runs on its own session; a renewal during the load never enters the load transaction', async () => {
    const base = dest();
    const renewedInside: number[] = [];
    const destination: Destination = {
      ...base,
      async connect(options) {
        const client = await base.connect(options);
        const wrapped = Object.create(client) as DestinationClient;
        wrapped.loadPackage = (plan: LoadPackagePlan) =>
          client.loadPackage.call(wrapped, {
            ...plan,
            events: {
              ...plan.events,
              async jobCompleted(job) {
                // A renewal falls due in the middle of the transaction (the timer's work, run now).
                const lease = (wrapped as unknown as { lease: { renew(): Promise<void> } }).lease;
                renewedInside.push(server.statements.length);
                await lease.renew();
                await plan.events.jobCompleted(job);
              },
            },
          });
        return wrapped;
      },
    };
    const from = server.statements.length;
    const p = pipeline({ name: 'leased', destination, dataDir: await newDir() });
    await p.run(runsSource([run(1), run(2)]));
    await p.close();
    expect(renewedInside).toHaveLength(2);

    const mine = server.statements.slice(from);
    const loading = mine.find((s) => s.kind === 'begin')!.session;
    const leaseStatements = mine.filter((s) => s.sql.includes('"_FERRY_PIPELINE_LEASE"'));
    // Claim, read back, two renewals (each a MERGE and a read), release: all on one other session.
    expect(leaseStatements.filter((s) => s.sql.startsWith('MERGE')).length).toBeGreaterThanOrEqual(3);
    expect(new Set(leaseStatements.map((s) => s.session))).toEqual(new Set([leaseStatements[0]!.session]));
    expect(leaseStatements[0]!.session).not.toBe(loading);
    const tx = transactionOf(loading, from);
    expect(tx.at(-1)!.kind).toBe('commit');
    expect(tx.filter((s) => s.sql.includes('_FERRY_PIPELINE_LEASE'))).toEqual([]);
    // The renewals did happen while the transaction was open.
    const beginAt = mine.indexOf(tx[0]!);
    const commitAt = mine.indexOf(tx.at(-1)!);
    expect(
      leaseStatements.filter(
        (s) => s.sql.startsWith('MERGE') && mine.indexOf(s) > beginAt && mine.indexOf(s) < commitAt,
      ),
    ).toHaveLength(2);
    // The lease session ran in autocommit: no BEGIN of its own.
    expect(mine.filter((s) => s.session === leaseStatements[0]!.session && s.kind === 'begin')).toEqual([]);
  });

  it('table locks: a second session waits for the lock holder, and fails with 000625 past LOCK_TIMEOUT', async () => {
    server.faults.tableLocks = true;
    const dataDir = await newDir();
    const p0 = pipeline({ name: 'locks', destination: dest(), dataDir });
    await p0.run(runsSource([run(1)], 'replace'));
    await p0.close();

    const a = await dest().connect({ dataset: 'locks_dataset', pipelineName: 'a' });
    const b = await dest().connect({ dataset: 'locks_dataset', pipelineName: 'b' });
    const exec = (c: DestinationClient, sql: string) =>
      (c as unknown as { execute(sql: string): Promise<void> }).execute(sql);
    try {
      await exec(a, 'BEGIN');
      await exec(a, 'DELETE FROM "LOCKS_DATASET"."RUNS" WHERE "ID" = 1');
      expect(server.transactions().find((t) => t.locks.includes('LOCKS_DATASET.RUNS'))).toBeDefined();
      let done = false;
      const waiting = exec(b, 'DELETE FROM "LOCKS_DATASET"."RUNS" WHERE TRUE').then(() => (done = true));
      await new Promise((r) => setTimeout(r, 200));
      expect(done).toBe(false);
      await exec(a, 'COMMIT');
      await waiting;
      expect(done).toBe(true);

      await exec(a, 'BEGIN');
      await exec(a, 'DELETE FROM "LOCKS_DATASET"."RUNS" WHERE TRUE');
      await exec(b, 'ALTER SESSION SET LOCK_TIMEOUT = 1');
      const started = Date.now();
      const error = await exec(
        b,
        'MERGE INTO "LOCKS_DATASET"."RUNS" AS t USING (SELECT 1 AS x) AS s ON FALSE WHEN NOT MATCHED THEN INSERT ("ID") VALUES (9)',
      ).catch((e: unknown) => e);
      expect(Date.now() - started).toBeGreaterThanOrEqual(900);
      expect(String(error)).toMatch(/has locked table 'LOCKS_DATASET.RUNS'.*LOCK_TIMEOUT/s);
      // The client classifies it as worth retrying the package.
      expect((b as unknown as { isTransient(e: unknown): boolean }).isTransient(error)).toBe(true);
      // INSERT takes no lock: it runs while the DELETE's transaction is open.
      await exec(b, 'INSERT INTO "LOCKS_DATASET"."RUNS" SELECT * FROM "LOCKS_DATASET"."RUNS" WHERE FALSE');
      await exec(a, 'ROLLBACK');
    } finally {
      await a.close();
      await b.close();
    }
  });

  it("a vanished client's transaction holds its locks until Snowflake aborts it; the rerun then loads each row once (locks and PUT-commits on)", async () => {
    Object.assign(server.faults, { tableLocks: true, putCommitsTransaction: true, detachedAbortMs: 300 });
    const dataDir = await newDir();
    const p1 = pipeline({ name: 'detached', destination: dest(), dataDir });
    await p1.run(runsSource([run(1), run(2), run(3)], 'replace'));
    await p1.close();

    let detached = false;
    server.options.beforeStatement = (s) => {
      if (!detached && isMarker(s)) {
        detached = true;
        return 'detach-session';
      }
    };
    const items = Array.from({ length: 20 }, (_, i) => run(200 + i));
    const p2 = pipeline({ name: 'detached', destination: dest(), dataDir, loadRetries: 0 });
    // The SDK ends its connection on 390111 (session gone) and fails the statement.
    await expect(p2.run(runsSource(items, 'replace'))).rejects.toThrow(/terminated connection/);
    await p2.close();
    server.options.beforeStatement = undefined;
    // The detached transaction is still open and still locks the table its replace emptied.
    const open = server.transactions().filter((t) => t.detached);
    expect(open).toHaveLength(1);
    expect(open[0]!.locks).toEqual(expect.arrayContaining(['DETACHED_DATASET.RUNS']));
    expect(await count('DETACHED_DATASET', 'RUNS')).toEqual({ n: 3, d: 3 });

    // The rerun's DELETE waits for the lock; the idle detached transaction is aborted; the load goes on.
    const p3 = pipeline({ name: 'detached', destination: dest(), dataDir });
    await p3.run(runsSource([], 'replace'));
    await p3.close();
    expect(server.transactions().filter((t) => t.detached)).toEqual([]);
    expect(await count('DETACHED_DATASET', 'RUNS')).toEqual({ n: 20, d: 20 });
    expect(await rows('DETACHED_DATASET', 'RUNS__STEPS')).toBe(40);
    expect(await rows('DETACHED_DATASET', '_FERRY_LOADS')).toBe(2);
  });

  it('an expired session token mid-transaction is renewed by the SDK; the package commits once in the same session', async () => {
    let expired = false;
    server.options.beforeStatement = (s) => {
      if (!expired && s.kind === 'pending' && s.sql.startsWith('COPY')) {
        expired = true;
        server.expireToken(s.session);
      }
    };
    const before = server.requests.length;
    const from = server.statements.length;
    const p = pipeline({ name: 'expiry', destination: dest(), dataDir: await newDir() });
    await p.run(runsSource([run(1), run(2)]));
    await p.close();
    expect(expired).toBe(true);
    expect(server.requests.slice(before).filter((r) => r.path === '/session/token-request')).toHaveLength(1);
    const loading = server.statements.slice(from).find((s) => s.kind === 'begin')!.session;
    const tx = transactionOf(loading, from);
    expect(tx.at(-1)!.kind).toBe('commit');
    expect(await count('EXPIRY_DATASET', 'RUNS')).toEqual({ n: 2, d: 2 });
    expect(await rows('EXPIRY_DATASET', '_FERRY_LOADS')).toBe(1);
  });

  it('a decimal(20, 0) column reads back as itself: the second package widens nothing', async () => {
    const src = (i: number) =>
      source({
        name: 'dec',
        resources: [
          resource(
            { name: 'amounts', columns: { amount: { dataType: 'decimal', precision: 20, scale: 0 } } },
            function* () {
              yield [{ id: i, amount: '12345678901234567890' }];
            },
          ),
        ],
      });
    const dataDir = await newDir();
    const p1 = pipeline({ name: 'decimals', destination: dest(), dataDir });
    await p1.run(src(1));
    const from = server.statements.length;
    await p1.run(src(2));
    await p1.close();
    expect(server.statements.slice(from).filter((s) => /^(ALTER TABLE|UPDATE)/.test(s.sql))).toEqual([]);
    expect(
      await server.sql(`SELECT "AMOUNT"::VARCHAR AS a FROM "DECIMALS_DATASET"."AMOUNTS" ORDER BY "ID"`),
    ).toEqual([{ a: '12345678901234567890' }, { a: '12345678901234567890' }]);
  });
});

describe('ferry query on Snowflake: the statement type is checked before anything runs (issue 15)', () => {
  it('one SELECT runs; DDL, DML, CALL and a second statement are refused by a describe-only compile, and nothing changes', async () => {
    const dataDir = await newDir();
    const p = pipeline({ name: 'ro', destination: dest(), dataDir });
    await p.run(runsSource([run(1), run(2)]));
    await p.close();
    const c = await dest().connect({ dataset: 'ro_dataset', pipelineName: 'ro', readOnly: true });
    try {
      const from = server.statements.length;
      const rows = await c.reader!.untrustedQuery!(
        'SELECT COUNT(*) AS n FROM "RO_DATASET"."RUNS" -- trailing comment',
        undefined,
        { timeoutMs: 5000 },
      );
      expect(rows).toEqual([{ n: 2 }]);
      const [check, query] = server.statements.slice(from);
      expect(check!.kind).toBe('describe');
      expect(check!.sql).toBe(
        'SELECT * FROM (\nSELECT COUNT(*) AS n FROM "RO_DATASET"."RUNS" -- trailing comment\n) LIMIT 0',
      );
      expect(check!.parameters).toEqual({ MULTI_STATEMENT_COUNT: 1 });
      expect(query!.parameters).toMatchObject({ MULTI_STATEMENT_COUNT: 1 });

      for (const sql of [
        'DELETE FROM "RO_DATASET"."RUNS"',
        'DROP TABLE "RO_DATASET"."RUNS"',
        'CREATE TABLE "RO_DATASET"."X" (a INT)',
        'SELECT 1; DELETE FROM "RO_DATASET"."RUNS"',
        'SELECT 1) ; DELETE FROM "RO_DATASET"."RUNS"; SELECT * FROM (SELECT 1',
        'CALL some_procedure()',
        'INSERT INTO "RO_DATASET"."RUNS" ("ID") SELECT 1',
      ]) {
        const at = server.statements.length;
        await expect(c.reader!.untrustedQuery!(sql, undefined, { timeoutMs: 5000 })).rejects.toThrow(
          ReadOnlySqlError,
        );
        // Only the describe-only check reached the server; nothing ran.
        expect(server.statements.slice(at).map((s) => s.kind)).toEqual([
          expect.stringMatching(/^(describe|pending)$/),
        ]);
      }
      expect(await count('RO_DATASET', 'RUNS')).toEqual({ n: 2, d: 2 });
    } finally {
      await c.close();
    }
  });
});
