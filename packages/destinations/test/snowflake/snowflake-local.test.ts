/**
 * The real snowflake-sdk against the local Snowflake server (test/support/snowflake-server): whole pipeline
 * runs, rows read back through the dataset reader, and the requests the client made (PUT paths, COPY
 * options, one BEGIN…COMMIT per package with the state and `_ferry_loads` rows inside).
 */
process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';

import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DestinationError,
  pipeline,
  resource,
  source,
  type DataItem,
  type Destination,
  type Pipeline,
} from '@ferry/core';
import { snowflake, SnowflakeSqlCompiler } from '@ferry/destinations/snowflake';
import {
  startSnowflakeServer,
  type RecordedStatement,
  type SnowflakeLocalServer,
} from '../support/snowflake-server/snowflake-server.ts';

const PASSWORD = 'local-secret-pw';
const keys = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  publicKeyEncoding: { type: 'spki', format: 'pem' },
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
});

let server: SnowflakeLocalServer;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startSnowflakeServer({
    users: { loader: { password: PASSWORD }, keyuser: { publicKey: keys.publicKey } },
    inlineRows: 50,
    chunkRows: 40,
  });
});

afterAll(async () => {
  await server?.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const dest = (extra: Partial<Parameters<typeof snowflake>[0]> = {}): Destination =>
  snowflake({
    account: 'ferry-local',
    username: 'loader',
    password: PASSWORD,
    database: 'FERRY_DB',
    warehouse: 'LOAD_WH',
    role: 'LOADER',
    accessUrl: server.url,
    ...extra,
  });

const compiler = new SnowflakeSqlCompiler();

/** Read access to a dataset through the destination's own reader (a fresh connection per query). */
const open = (dataset: string) => ({
  table: (t: string) => compiler.qualified(dataset, t),
  sql: async (q: string) => {
    const client = await dest().connect({ dataset, pipelineName: 'reader' });
    try {
      return await client.reader!.query(q);
    } finally {
      await client.close();
    }
  },
});

const newDir = async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'ferry-sf-local-'));
  dirs.push(d);
  return d;
};

const run = (i: number, extra: Partial<DataItem> = {}): DataItem => ({
  id: 70403104190000 + i,
  status: i % 2 === 0 ? 10 : 20,
  created_at: `2024-03-25T13:47:${String(i % 60).padStart(2, '0')}.129690Z`,
  score: i + 0.5,
  ok: i % 3 === 0,
  day: '2024-03-25',
  trigger: { cause: `cause ${i}` },
  meta: { nested: [1, 2, i] },
  run_steps: [
    { index: 1, name: `deps ${i}` },
    { index: 2, name: `build ${i}` },
  ],
  ...extra,
});

const runsSource = (
  records: DataItem[],
  options: Parameters<typeof resource>[0] extends infer O ? Partial<O & object> : never = {},
) =>
  source({
    name: 'local',
    resources: [
      resource(
        { name: 'runs', columns: { meta: { dataType: 'json' } }, ...options } as Parameters<
          typeof resource
        >[0],
        function* () {
          yield records;
        },
      ),
    ],
  });

/** The statements of one session, from its BEGIN to its COMMIT (inclusive). */
/** The session of the first BEGIN recorded (the loading session). */
function tx0Session(): string {
  return server.statements.find((s) => s.kind === 'begin')!.session;
}

function transactions(statements: RecordedStatement[]): RecordedStatement[][] {
  const out: RecordedStatement[][] = [];
  let current: RecordedStatement[] | undefined;
  for (const s of statements) {
    if (s.kind === 'begin') current = [s];
    else if (current) current.push(s);
    if (s.kind === 'commit' || s.kind === 'rollback') {
      if (current) out.push(current);
      current = undefined;
    }
  }
  return out;
}

describe('snowflake destination against the local server', () => {
  let p: Pipeline;
  let dataset: string;

  it('append with child tables: PUT under the load id, COPY by column name, one transaction with state and marker', async () => {
    server.clearRecords();
    dataset = 'sf_local_append';
    p = pipeline({ name: 'sf_local', dataset, destination: dest(), dataDir: await newDir() });
    const info = await p.run(runsSource(Array.from({ length: 120 }, (_, i) => run(i))));
    expect(info.rowCounts).toEqual({ runs: 120, runs__run_steps: 240 });
    const loadId = info.loadIds[0]!;

    const ds = open(p.destinationDataset);
    const rows = await ds.sql(
      `SELECT id, status, created_at, score, ok, day, trigger__cause, meta FROM ${ds.table('runs')} ORDER BY id`,
    );
    expect(rows).toHaveLength(120); // more than inlineRows: the rest came as chunks
    expect(rows[1]).toMatchObject({
      id: 70403104190001,
      status: 20,
      score: 1.5,
      ok: false,
      trigger__cause: 'cause 1',
      meta: { nested: [1, 2, 1] },
    });
    expect((rows[1]!.created_at as Date).toISOString()).toBe('2024-03-25T13:47:01.129Z');
    expect((rows[1]!.day as Date).toISOString()).toBe('2024-03-25T00:00:00.000Z');
    expect(server.requests.some((r) => r.path.startsWith('/chunks/'))).toBe(true);

    // Login: the configured warehouse, database and role; the password is never recorded.
    expect(server.logins[0]).toMatchObject({
      user: 'loader',
      account: 'ferry-local',
      authenticator: 'SNOWFLAKE',
      database: 'FERRY_DB',
      warehouse: 'LOAD_WH',
      role: 'LOADER',
    });
    expect(JSON.stringify(server.statements)).not.toContain(PASSWORD);

    // PUT to the table stage under the load id, OVERWRITE for idempotent retries; the SDK staged gzipped files.
    expect(server.puts.map((x) => [x.stage.join('.'), x.folder, x.overwrite])).toEqual([
      ['SF_LOCAL_APPEND.%RUNS', loadId, true],
      ['SF_LOCAL_APPEND.%RUNS__RUN_STEPS', loadId, true],
    ]);
    // Each staged file was COPYed by its exact name, then the load's stage folders were removed after COMMIT.
    for (const c of server.copies)
      expect(c.files).toEqual([expect.stringMatching(/^runs(__run_steps)?\.\w+\.0\.jsonl\.gz$/)]);
    expect(await server.stagedFiles()).toEqual([]);
    const commitAt = server.statements.findIndex((s) => s.kind === 'commit');
    expect(
      server.statements
        .slice(commitAt)
        .filter((s) => s.kind === 'remove')
        .map((s) => s.sql),
    ).toEqual([
      `REMOVE @"SF_LOCAL_APPEND"."%RUNS"/${loadId}/`,
      `REMOVE @"SF_LOCAL_APPEND"."%RUNS__RUN_STEPS"/${loadId}/`,
    ]);
    const copies = server.statements.filter((s) => s.kind === 'copy');
    expect(copies).toHaveLength(2);
    for (const c of copies) {
      expect(c.sql).toMatch(
        new RegExp(
          `^COPY INTO "SF_LOCAL_APPEND"\\."RUNS(__RUN_STEPS)?" FROM @"SF_LOCAL_APPEND"\\."%RUNS(__RUN_STEPS)?"/${loadId}/ FILES = \\('[^']+\\.jsonl\\.gz'\\)`,
        ),
      );
      expect(c.sql).toContain("FILE_FORMAT = (TYPE = 'JSON'");
      expect(c.sql).toContain('MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE');
    }
    expect(server.copies.map((c) => c.rows)).toEqual([[120], [240]]);

    // Exactly one transaction; all DDL and every PUT before it; COPY, state and marker inside; COMMIT last.
    const txs = transactions(server.statements.filter((s) => s.session === tx0Session()));
    expect(txs).toHaveLength(1);
    const tx = txs[0]!;
    expect(tx.at(-1)!.kind).toBe('commit');
    expect(tx.filter((s) => s.kind === 'ddl')).toEqual([]);
    expect(tx.map((s) => s.kind)).toEqual(['begin', 'copy', 'copy', 'dml', 'dml', 'dml', 'commit']);
    const beginAt = server.statements.findIndex((s) => s.kind === 'begin');
    expect(server.statements.slice(0, beginAt).filter((s) => s.kind === 'put')).toHaveLength(2);
    // Every statement of the load carries a QUERY_TAG naming Ferry, the pipeline and the load id.
    expect(JSON.parse(tx[0]!.queryTag!)).toEqual({ app: 'ferry', pipeline: 'sf_local', load_id: loadId });
    expect(tx.every((s) => s.queryTag === tx[0]!.queryTag)).toBe(true);
    const inserts = tx
      .filter((s) => s.sql.startsWith('INSERT INTO'))
      .map((s) => s.sql.slice(0, s.sql.indexOf('(')).trim());
    // No incremental cursor here, so the state did not change and no state row is written (see the state test).
    expect(inserts).toEqual([
      'INSERT INTO "SF_LOCAL_APPEND"."_FERRY_VERSION"',
      'INSERT INTO "SF_LOCAL_APPEND"."_FERRY_LOADS"',
    ]);
    const marker = tx.find((s) => s.sql.includes('"_FERRY_LOADS"'))!;
    expect(marker.binds[0]).toBe(loadId);
    const firstBegin = server.statements.findIndex((s) => s.kind === 'begin');
    expect(
      server.statements
        .slice(0, firstBegin)
        .some((s) => s.sql.startsWith('CREATE TABLE IF NOT EXISTS "SF_LOCAL_APPEND"."RUNS" (')),
    ).toBe(true);
    expect(
      server.statements.find((s) =>
        s.sql.startsWith('CREATE TABLE IF NOT EXISTS "SF_LOCAL_APPEND"."RUNS" ('),
      )!.sql,
    ).toMatch(
      /"ID" NUMBER\(19,0\), "STATUS" NUMBER\(19,0\), "CREATED_AT" TIMESTAMP_TZ\(6\), "SCORE" FLOAT, "OK" BOOLEAN, "DAY" DATE, "TRIGGER__CAUSE" VARCHAR, "META" VARIANT/,
    );

    // A second append adds rows and a second transaction.
    server.clearRecords();
    await p.run(runsSource([run(500), run(501)]));
    expect(await ds.sql(`SELECT COUNT(*) AS n FROM ${ds.table('runs')}`)).toEqual([{ n: 122 }]);
    expect(transactions(server.statements)).toHaveLength(1);
  });

  it('the reader streams in bounded batches through the SDK (chunks fetched as needed)', async () => {
    const client = await dest().connect({ dataset: 'sf_local_append', pipelineName: 'sf_local' });
    try {
      const sizes: number[] = [];
      for await (const batch of client.reader!.stream(
        `SELECT id FROM ${client.reader!.qualifiedTable('runs')} WHERE id >= $1 ORDER BY id`,
        [70403104190000],
        25,
      ))
        sizes.push(batch.length);
      expect(sizes).toEqual([25, 25, 25, 25, 22]);
      expect(client.reader!.quoteIdentifier('runs__run_steps')).toBe('"RUNS__RUN_STEPS"');
    } finally {
      await client.close();
    }
  });

  for (const strategy of ['delete-insert', 'upsert'] as const) {
    it(`merge (${strategy}) with child tables through staging tables and ${strategy === 'upsert' ? 'MERGE' : 'DELETE + INSERT'}`, async () => {
      server.clearRecords();
      const opts = { writeDisposition: 'merge' as const, primaryKey: 'id', mergeStrategy: strategy };
      const mp = pipeline({
        name: `sf_merge_${strategy.replace('-', '_')}`,
        destination: dest(),
        dataDir: await newDir(),
      });
      await mp.run(runsSource([run(1), run(2), run(3)], opts));
      server.clearRecords();
      const info = await mp.run(
        runsSource(
          [
            run(2, { status: 99, run_steps: [{ index: 1, name: 'first' }] }),
            run(4),
            run(2, { status: 77, run_steps: [{ index: 5, name: 'last wins' }] }),
          ],
          opts,
        ),
      );
      const ds = open(mp.destinationDataset);
      const rows = await ds.sql(`SELECT id, status FROM ${ds.table('runs')} ORDER BY id`);
      expect(rows.map((r) => [Number(r.id) - 70403104190000, r.status])).toEqual([
        [1, 20],
        [2, 77],
        [3, 20],
        [4, 10],
      ]);
      const steps = await ds.sql(
        `SELECT s.name AS name FROM ${ds.table('runs__run_steps')} s JOIN ${ds.table('runs')} r ON s._ferry_parent_id = r._ferry_id WHERE r.id = 70403104190002`,
      );
      expect(steps.map((s) => s.name)).toEqual(['last wins']);
      expect(await ds.sql(`SELECT COUNT(*) AS n FROM ${ds.table('runs__run_steps')}`)).toEqual([{ n: 7 }]);

      const loadId = info.loadIds[0]!;
      const staging = `${mp.destinationDataset.toUpperCase()}_STAGING`;
      expect(
        server.statements
          .filter((s) => s.sql.startsWith('CREATE OR REPLACE TRANSIENT TABLE'))
          .map((s) => s.sql.split(' (')[0]),
      ).toEqual([
        `CREATE OR REPLACE TRANSIENT TABLE "${staging}"."RUNS"`,
        `CREATE OR REPLACE TRANSIENT TABLE "${staging}"."RUNS__RUN_STEPS"`,
      ]);
      expect(server.puts.map((x) => [x.stage.join('.'), x.folder])).toEqual([
        [`${staging}.%RUNS`, loadId],
        [`${staging}.%RUNS__RUN_STEPS`, loadId],
      ]);
      const tx = transactions(server.statements);
      expect(tx).toHaveLength(1);
      const merge = tx[0]!.filter((s) => s.sql.startsWith('MERGE INTO'));
      expect(merge).toHaveLength(strategy === 'upsert' ? 1 : 0);
      if (strategy === 'upsert')
        expect(merge[0]!.sql).toMatch(
          /^MERGE INTO "SF_MERGE_UPSERT_DATASET"\."RUNS" AS t USING \(.*\) AS s ON t\."ID" = s\."ID" WHEN MATCHED THEN UPDATE SET/,
        );
      expect(tx[0]!.some((s) => s.sql.includes('"_FERRY_LOADS"'))).toBe(true);
    });
  }

  it('replace empties the table chain inside the transaction, also with no rows', async () => {
    const rp = pipeline({ name: 'sf_replace', destination: dest(), dataDir: await newDir() });
    await rp.run(runsSource([run(1), run(2)], { writeDisposition: 'replace' }));
    server.clearRecords();
    await rp.run(runsSource([run(3)], { writeDisposition: 'replace' }));
    const ds = open(rp.destinationDataset);
    expect(await ds.sql(`SELECT id FROM ${ds.table('runs')}`)).toEqual([{ id: 70403104190003 }]);
    const tx = transactions(server.statements)[0]!;
    const deletes = tx.filter((s) => s.sql.startsWith('DELETE FROM')).map((s) => s.sql);
    expect(deletes).toEqual([
      'DELETE FROM "SF_REPLACE_DATASET"."RUNS"',
      'DELETE FROM "SF_REPLACE_DATASET"."RUNS__RUN_STEPS"',
    ]);
    expect(tx.findIndex((s) => s.sql.startsWith('DELETE'))).toBeLessThan(
      tx.findIndex((s) => s.kind === 'copy'),
    );
    await rp.run(runsSource([], { writeDisposition: 'replace' }));
    expect(await ds.sql(`SELECT COUNT(*) AS n FROM ${ds.table('runs')}`)).toEqual([{ n: 0 }]);
    expect(await ds.sql(`SELECT COUNT(*) AS n FROM ${ds.table('runs__run_steps')}`)).toEqual([{ n: 0 }]);
  });

  it('state round trip: a fresh dataDir resumes the incremental cursor from Snowflake', async () => {
    const all = Array.from({ length: 6 }, (_, i) =>
      run(i, { updated_at: `2024-01-0${i + 1}T00:00:00.000001Z` }),
    );
    let served = 4;
    const make = () =>
      source({
        name: 'local',
        resources: [
          resource(
            {
              name: 'runs',
              writeDisposition: 'merge',
              primaryKey: 'id',
              incremental: { cursorPath: 'updated_at', rowOrder: 'asc' },
            },
            function* () {
              yield all.slice(0, served);
            },
          ),
        ],
      });
    const first = pipeline({ name: 'sf_state', destination: dest(), dataDir: await newDir() });
    expect((await first.run(make())).rowCounts.runs).toBe(4);
    const tx = transactions(server.statements).at(-1)!;
    expect(
      tx
        .filter((s) => s.sql.startsWith('INSERT INTO'))
        .map((s) => /INSERT INTO "\w+"\."(\w+)"/.exec(s.sql)![1])
        .filter((t) => t?.startsWith('_FERRY')),
    ).toEqual(['_FERRY_VERSION', '_FERRY_PIPELINE_STATE', '_FERRY_LOADS']);
    served = 6;
    const fresh = pipeline({ name: 'sf_state', destination: dest(), dataDir: await newDir() });
    const info = await fresh.run(make());
    expect(info.rowCounts.runs).toBe(2);
    const state = await fresh.state();
    expect(state.sources.local?.resources.runs?.incremental?.updated_at?.lastValue).toBe(
      '2024-01-06T00:00:00.000001Z',
    );
    const ds = open(fresh.destinationDataset);
    expect(await ds.sql(`SELECT COUNT(*) AS n FROM ${ds.table('runs')}`)).toEqual([{ n: 6 }]);
  });

  it('a failure between PUT and COMMIT (session aborted) leaves nothing; the rerun loads each row once', async () => {
    const cp = pipeline({ name: 'sf_crash', destination: dest(), dataDir: await newDir() });
    server.clearRecords();
    let aborted = false;
    server.options.beforeStatement = (s) => {
      if (!aborted && s.sql.includes('"_FERRY_LOADS"') && s.sql.startsWith('INSERT')) {
        aborted = true;
        return 'abort-session';
      }
    };
    try {
      await expect(cp.run(runsSource(Array.from({ length: 30 }, (_, i) => run(i))))).rejects.toThrow(
        /SQL execution canceled/,
      );
    } finally {
      server.options.beforeStatement = undefined;
    }
    expect(await cp.hasPending()).toBe(true);
    const firstPuts = server.puts.map(
      (x) => `${x.stage.join('.')}/${x.folder}/${path.basename(x.localPath)}`,
    );
    expect(firstPuts).toHaveLength(2);
    expect(server.copies).toHaveLength(2);
    // Nothing of the aborted transaction is visible; its staged files are still there for the rerun.
    expect(await server.sql(`SELECT COUNT(*)::INT AS n FROM "SF_CRASH_DATASET"."RUNS"`)).toEqual([{ n: 0 }]);
    expect((await server.stagedFiles()).filter((f) => f.startsWith('SF_CRASH_DATASET/'))).toHaveLength(2);

    const info = await cp.run(runsSource([]));
    expect(info.rowCounts).toEqual({ runs: 30, runs__run_steps: 60 });
    const ds = open(cp.destinationDataset);
    expect(await ds.sql(`SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM ${ds.table('runs')}`)).toEqual([
      { n: 30, d: 30 },
    ]);
    expect(await ds.sql(`SELECT COUNT(*) AS n FROM ${ds.table('runs__run_steps')}`)).toEqual([{ n: 60 }]);
    expect(await ds.sql(`SELECT COUNT(*) AS n FROM ${ds.table('_ferry_loads')}`)).toEqual([{ n: 1 }]);
    // The rerun PUT the same files to the same stage folder again (OVERWRITE), staging nothing new beside them.
    const secondPuts = server.puts
      .slice(2)
      .map(
        (x) => `${x.stage.join('.')}/${x.folder}/${path.basename(x.localPath).replace(/\.\d+\.jsonl$/, '')}`,
      );
    expect(secondPuts).toEqual(firstPuts.map((f) => f.replace(/\.\d+\.jsonl$/, '')));
    // Committed: the load's stage folders are removed.
    expect((await server.stagedFiles()).filter((f) => f.startsWith('SF_CRASH_DATASET/'))).toEqual([]);
  });

  it('widening bigint → double by copy survives a crash between DROP and RENAME', async () => {
    const wp = pipeline({ name: 'sf_widen', destination: dest(), dataDir: await newDir() });
    const one = (row: DataItem) =>
      source({
        name: 'local',
        resources: [
          resource({ name: 'runs' }, function* () {
            yield [row];
          }),
        ],
      });
    await wp.run(one({ id: 1, amount: 10 }));
    let aborted = false;
    server.options.beforeStatement = (s) => {
      if (!aborted && s.sql.includes('RENAME COLUMN')) {
        aborted = true;
        return 'abort-session';
      }
    };
    try {
      await expect(wp.run(one({ id: 2, amount: 2.5 }))).rejects.toThrow(/SQL execution canceled/);
    } finally {
      server.options.beforeStatement = undefined;
    }
    server.clearRecords();
    await wp.run(one({ id: 3, amount: 4 })); // finishes the pending package only (nothing new is extracted)
    await wp.run(one({ id: 3, amount: 4 }));
    expect(
      server.statements.some((s) =>
        /^ALTER TABLE "SF_WIDEN_DATASET"\."RUNS" RENAME COLUMN "_FERRY_WIDEN_\w+" TO "AMOUNT"$/.test(s.sql),
      ),
    ).toBe(true);
    const ds = open(wp.destinationDataset);
    expect(await ds.sql(`SELECT id, amount FROM ${ds.table('runs')} ORDER BY id`)).toEqual([
      { id: 1, amount: 10 },
      { id: 2, amount: 2.5 },
      { id: 3, amount: 4 },
    ]);
    const types = await ds.sql(
      `SELECT data_type FROM information_schema.columns WHERE table_schema = 'SF_WIDEN_DATASET' AND table_name = 'RUNS' AND column_name = 'AMOUNT'`,
    );
    expect(types).toEqual([{ data_type: 'FLOAT' }]);
  });

  it('key-pair login signs a JWT the server verifies; a wrong password fails without echoing it', async () => {
    const client = await dest({
      username: 'keyuser',
      password: undefined,
      privateKey: keys.privateKey,
    }).connect({ dataset: 'sf_local_append', pipelineName: 'x' });
    try {
      expect(await client.reader!.query('SELECT 1 AS one')).toEqual([{ one: 1 }]);
    } finally {
      await client.close();
    }
    expect(server.logins.at(-1)).toMatchObject({ user: 'keyuser', authenticator: 'SNOWFLAKE_JWT' });
    const error = await dest({ password: 'wrong-pw-123' })
      .connect({ dataset: 'x', pipelineName: 'x' })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect((error as Error).message).toMatch(
      /cannot log in to account 'ferry-local' as 'loader'.*Incorrect username or password/,
    );
    expect((error as Error).message).not.toContain('wrong-pw-123');
  });

  it('names differing only by case: the engine refuses fields that fold into one column, naming both', async () => {
    const np = pipeline({ name: 'sf_case', destination: dest(), dataDir: await newDir() });
    const run = np.run(
      source({
        name: 'local',
        resources: [
          resource({ name: 'runs' }, function* () {
            yield [{ Id: 1, id: 2 }];
          }),
        ],
      }),
    );
    await expect(run).rejects.toThrow(/fields 'Id' and 'id' both become column 'id'/);
  });
});
