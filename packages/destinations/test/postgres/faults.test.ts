import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { pipeline, resource, source, type DataItem, type Destination, type PipelineEvent } from '@ferry/core';
import { postgres } from '@ferry/destinations/postgres';
import { runs, staticSource } from '../conformance/fixtures.ts';
import { admin, createTestDatabase, postgresForFile } from '../support/postgres.ts';

/**
 * Postgres faults and exactness, against a real server (a postgres:15 container when Docker is
 * reachable, else DATABASE_URL; FERRY_PG_MODE forces one): a backend killed mid-COPY, a writer killed
 * mid-load, every type round trip, and passwords that never reach an error.
 */
const pgFile = postgresForFile();
const cleanups = pgFile.cleanups;

/** A fresh database and data folder for one test; both removed after the file. */
async function fresh(
  label: string,
): Promise<{ url: string; db: string; dataDir: string; destination: Destination }> {
  const db = await createTestDatabase(pgFile.server.url, label);
  const dataDir = await mkdtemp(path.join(tmpdir(), `ferry-pg-${label}-`));
  cleanups.push(
    () => db.drop(),
    () => rm(dataDir, { recursive: true, force: true }),
  );
  return { url: db.url, db: db.name, dataDir, destination: postgres({ credentials: db.url }) };
}

/** Poll `pg_stat_activity` until `match` finds a backend of `db`, then run `act` on it once. */
function watchBackend(
  db: string,
  match: string,
  act: (pid: number) => Promise<void>,
): { stop(): Promise<boolean> } {
  let running = true;
  let hit = false;
  const done = admin(pgFile.server.url, async (c) => {
    const deadline = Date.now() + 60_000;
    while (running && Date.now() < deadline) {
      const { rows } = await c.query<{ pid: number }>(
        `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND application_name = 'ferry' AND query LIKE $2 LIMIT 1`,
        [db, match],
      );
      if (rows[0]) {
        await act(rows[0].pid);
        hit = true;
        return;
      }
      await new Promise((r) => setTimeout(r, 5));
    }
  });
  return {
    stop: async () => {
      running = false;
      await done;
      return hit;
    },
  };
}

describe('postgres faults', () => {
  it('pg_terminate_backend during COPY: the package retries and lands exactly once', async () => {
    const { url, db, dataDir, destination } = await fresh('terminate');
    const events: PipelineEvent[] = [];
    const p = pipeline({
      name: 'faults',
      dataset: 'faults',
      destination,
      dataDir,
      onEvent: (e) => events.push(e),
    });
    let terminatedPid = 0;
    const watcher = watchBackend(db, 'COPY %', async (pid) => {
      await admin(pgFile.server.url, (c) => c.query('SELECT pg_terminate_backend($1)', [pid]));
      terminatedPid = pid;
    });
    const info = await p.run(staticSource(runs(200_000)));
    expect(await watcher.stop()).toBe(true);
    expect(terminatedPid).toBeGreaterThan(0);
    const retries = events.filter((e) => e.type === 'retry');
    expect(retries).toHaveLength(1);
    expect(retries[0]!.type === 'retry' && retries[0]!.error).toMatch(/terminat/i);
    expect(info.rowCounts).toEqual({ runs: 200_000, runs__run_steps: 400_000 });
    const counts = await admin(
      url,
      async (c) =>
        (
          await c.query(
            `SELECT (SELECT COUNT(*) FROM faults.runs)::int AS runs, (SELECT COUNT(DISTINCT id) FROM faults.runs)::int AS ids,
              (SELECT COUNT(*) FROM faults.runs__run_steps)::int AS steps, (SELECT COUNT(*) FROM faults._ferry_loads)::int AS loads`,
          )
        ).rows[0],
    );
    expect(counts).toEqual({ runs: 200_000, ids: 200_000, steps: 400_000, loads: 1 });
  }, 120_000);

  it('SIGKILL of the writer between COPY and COMMIT: nothing is visible, the rerun loads exactly once', async () => {
    const { url, db, dataDir } = await fresh('sigkill');
    const child = path.join(import.meta.dirname, '..', 'conformance', 'crash-child.ts');
    const env = {
      ...process.env,
      DEST_CONFIG: JSON.stringify({ type: 'postgres', credentials: url }),
      DATASET: 'killed',
      PIPELINE_NAME: 'killed',
      DATA_DIR: dataDir,
      ROWS: '30000',
      CRASH_AT: '',
    };
    const run = () => {
      const proc = spawn(process.execPath, ['--conditions=@ferry/source', child], { env });
      let err = '';
      proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const exited = new Promise<{ code: number | null; signal: string | null; err: string }>((resolve) =>
        proc.on('close', (code, signal) => resolve({ code, signal, err })),
      );
      return { proc, exited };
    };
    // Kill the writer once a COPY of the run_steps table (loaded after runs) has been sent: rows are in
    // the open transaction, COMMIT has not run.
    const first = run();
    const watcher = watchBackend(db, 'COPY "killed"."runs__run_steps"%', async () => {
      first.proc.kill('SIGKILL');
    });
    const crashed = await first.exited;
    expect(await watcher.stop(), crashed.err).toBe(true);
    expect(crashed.signal).toBe('SIGKILL');
    const before = await admin(
      url,
      async (c) =>
        (
          await c.query(
            `SELECT to_regclass('killed._ferry_loads') IS NOT NULL AS has, (SELECT COUNT(*) FROM pg_stat_activity WHERE datname = $1 AND application_name = 'ferry')::int AS sessions`,
            [db],
          )
        ).rows[0],
    );
    if (before.has)
      expect(
        (await admin(url, (c) => c.query('SELECT COUNT(*)::int AS n FROM killed._ferry_loads'))).rows[0].n,
      ).toBe(0);
    const rerun = await run().exited;
    expect(rerun.code, rerun.err).toBe(0);
    const counts = await admin(
      url,
      async (c) =>
        (
          await c.query(
            `SELECT (SELECT COUNT(*) FROM killed.runs)::int AS runs, (SELECT COUNT(DISTINCT id) FROM killed.runs)::int AS ids,
              (SELECT COUNT(*) FROM killed.runs__run_steps)::int AS steps, (SELECT COUNT(*) FROM killed._ferry_loads)::int AS loads`,
          )
        ).rows[0],
    );
    expect(counts).toEqual({ runs: 30_000, ids: 30_000, steps: 60_000, loads: 1 });
  }, 120_000);
});

/** Values that break naive loaders: NULL vs '', quotes, commas, newlines, backslashes, unicode, COPY's `\.`. */
const TEXTS = [
  '',
  'plain',
  'a,b',
  'say "hi"',
  'line1\nline2\r\nline3',
  'back\\slash \\N \\.',
  '\\.',
  'café 名前 🚀',
  ' lead and trail ',
  'NULL',
  '"',
  ',',
];

/** dbt Cloud's timestamp forms (dbt-cloud-api.md §5) and the canonical UTC microsecond text each must become. */
const TIMESTAMPS: [string, string][] = [
  ['2023-05-27 21:05:16.109548+00:00', '2023-05-27T21:05:16.109548Z'],
  ['2021-11-18T15:19:03.185668+00:00', '2021-11-18T15:19:03.185668Z'],
  ['2024-03-25T13:47:20.129690Z', '2024-03-25T13:47:20.129690Z'],
  ['2022-05-05 06:51:10+00:00', '2022-05-05T06:51:10.000000Z'],
  ['2024-02-29T23:59:59.000001-01:30', '2024-03-01T01:29:59.000001Z'],
  // Before 1970 and 2000 (negative offsets from either epoch), and far out (binary COPY takes a BigInt path).
  ['1969-12-31T23:59:59.5Z', '1969-12-31T23:59:59.500000Z'],
  ['1999-12-31 23:59:59.999999+00:00', '1999-12-31T23:59:59.999999Z'],
  ['9999-12-31T23:59:59.999999Z', '9999-12-31T23:59:59.999999Z'],
  ['1200-03-01T12:00:00.000001Z', '1200-03-01T12:00:00.000001Z'],
];

function typedRecords(): DataItem[] {
  return TEXTS.map((text, i) => ({
    id: i,
    big:
      i === 1
        ? -9223372036854775808n
        : i % 2 === 0
          ? 9007199254740993n + BigInt(i)
          : 9223372036854775807n - BigInt(i),
    small: -i * 1000 - 1,
    ratio: i === 0 ? 0.1 + 0.2 : i * 1.5e-7,
    flag: i % 3 === 0,
    label: text,
    maybe: i % 2 === 0 ? null : text,
    ts: TIMESTAMPS[i % TIMESTAMPS.length]![0],
    day: i === 0 ? '1969-07-20' : `2024-03-${String(10 + i).padStart(2, '0')}`,
    amount:
      i % 4 === 1 ? `-${i}.500000000` : i === 2 ? '0.000000001' : `${i + 1}2345678901234567890.123456789`,
    payload: { text, n: 9007199254740993n, list: [1, 'two', null, { deep: true }], unicode: 'ü名🚀' },
  }));
}

for (const format of ['pgcopy', 'csv', 'jsonl'] as const) {
  describe(`postgres type round trip (${format} loader files)`, () => {
    it('bigint past 2^53, microsecond timestamps in every dbt Cloud form, jsonb, numeric, unicode, quotes, newlines, NULL vs empty', async () => {
      const { dataDir, destination: base } = await fresh(`types_${format}`);
      const destination: Destination = {
        ...base,
        capabilities: { ...base.capabilities, preferredFileFormat: format },
      };
      const records = typedRecords();
      const src = source({
        name: 'types',
        resources: [
          resource(
            {
              name: 'typed',
              columns: {
                payload: { dataType: 'json' },
                amount: { dataType: 'decimal', precision: 38, scale: 9 },
                maybe: { dataType: 'text' },
              },
            },
            function* () {
              yield records;
            },
          ),
        ],
      });
      const p = pipeline({ name: `types_${format}`, dataset: 'types', destination, dataDir });
      await p.run(src);
      const client = await destination.connect({ dataset: 'types', pipelineName: `types_${format}` });
      try {
        const columns = await client.introspect();
        const types = Object.fromEntries(
          Object.values(columns.typed!.columns).map((c) => [c.name, c.dataType]),
        );
        expect(types).toMatchObject({
          id: 'bigint',
          big: 'bigint',
          small: 'bigint',
          ratio: 'double',
          flag: 'bool',
          label: 'text',
          maybe: 'text',
          ts: 'timestamp',
          day: 'date',
          amount: 'decimal',
          payload: 'json',
        });
        const native = await client.reader!.query(
          `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = 'types' AND table_name = 'typed' AND column_name IN ('payload', 'ts', 'ratio', 'amount') ORDER BY column_name`,
        );
        expect(native.map((r) => `${String(r.column_name)}:${String(r.data_type)}`)).toEqual([
          'amount:numeric',
          'payload:jsonb',
          'ratio:double precision',
          'ts:timestamp with time zone',
        ]);
        const rows = await client.reader!.query(
          `SELECT id, big, big::text AS big_text, small, ratio, flag, label, maybe, to_char(ts AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') AS ts_text, ts, day, amount, payload, payload->>'text' AS payload_text
             FROM ${client.reader!.qualifiedTable('typed')} ORDER BY id`,
        );
        expect(rows).toHaveLength(records.length);
        rows.forEach((row, i) => {
          const rec = records[i]!;
          expect(row.id).toBe(i);
          expect(row.big).toBe(rec.big);
          expect(typeof row.big).toBe('bigint');
          expect(row.big_text).toBe(String(rec.big));
          expect(row.small).toBe(rec.small);
          expect(row.ratio).toBe(rec.ratio);
          expect(row.flag).toBe(rec.flag);
          expect(row.label).toBe(rec.label);
          expect(row.maybe).toBe(rec.maybe);
          expect(row.ts_text).toBe(TIMESTAMPS[i % TIMESTAMPS.length]![1]);
          expect(row.ts).toBeInstanceOf(Date);
          expect((row.ts as Date).toISOString().slice(0, 23)).toBe(
            TIMESTAMPS[i % TIMESTAMPS.length]![1].slice(0, 23),
          );
          expect(row.day).toBe(rec.day);
          expect(row.amount).toBe(rec.amount);
          expect(row.payload).toEqual(rec.payload);
          expect(row.payload_text).toBe(rec.label);
        });
        // NULL and '' stay apart.
        const nulls = await client.reader!.query(
          `SELECT COUNT(*) FILTER (WHERE maybe IS NULL) AS nulls, COUNT(*) FILTER (WHERE label = '') AS empties FROM ${client.reader!.qualifiedTable('typed')}`,
        );
        expect(nulls[0]).toEqual({ nulls: Math.ceil(records.length / 2), empties: 1 });
      } finally {
        await client.close();
      }
    });
  });
}

describe('postgres reader', () => {
  it('streams through a server-side cursor in batches, read-only, with parameters', async () => {
    const { url, destination } = await fresh('reader');
    await admin(url, (c) =>
      c.query(
        `CREATE SCHEMA r; CREATE TABLE r.t AS SELECT g AS n, (g * 1000000000000)::bigint AS big FROM generate_series(1, 25000) g`,
      ),
    );
    const client = await destination.connect({ dataset: 'r', pipelineName: 'reader' });
    try {
      const sizes: number[] = [];
      let sum = 0n;
      for await (const batch of client.reader!.stream(
        `SELECT n, big FROM r.t WHERE n > $1 ORDER BY n`,
        [5000],
        4096,
      )) {
        sizes.push(batch.length);
        for (const row of batch) sum += BigInt(row.big as number | bigint);
      }
      expect(sizes.reduce((a, b) => a + b, 0)).toBe(20000);
      expect(Math.max(...sizes)).toBe(4096);
      let expected = 0n;
      for (let g = 5001n; g <= 25000n; g++) expected += g * 1000000000000n;
      expect(sum).toBe(expected);
      // An early stop closes the cursor and gives the connection back (the next query works).
      for await (const batch of client.reader!.stream('SELECT n FROM r.t', undefined, 10)) {
        expect(batch).toHaveLength(10);
        break;
      }
      await expect(client.reader!.query('DELETE FROM r.t')).rejects.toThrow(/read-only transaction/);
      expect((await client.reader!.query('SELECT COUNT(*) AS n FROM r.t'))[0]!.n).toBe(25000);
    } finally {
      await client.close();
    }
  });
});

describe('postgres credentials', () => {
  const PASSWORD = 'S3cr3t:p@ss/w%rd';
  const encoded = encodeURIComponent(PASSWORD);
  const assertClean = (error: unknown, url?: string) => {
    const texts: string[] = [];
    for (let e = error, depth = 0; e && depth < 6; e = (e as { cause?: unknown }).cause, depth++) {
      texts.push(
        String((e as Error).message),
        String((e as Error).stack),
        JSON.stringify((e as { context?: unknown }).context ?? {}),
      );
    }
    const all = texts.join('\n');
    expect(all).not.toContain(PASSWORD);
    expect(all).not.toContain(encoded);
    if (url) expect(all).not.toContain(url);
  };

  it('a refused connection names the server without the password or the connection string', async () => {
    const url = `postgres://ferry_user:${encoded}@127.0.0.1:1/nowhere`;
    const destination = postgres({ credentials: url, connectTimeoutMs: 2000 });
    expect(destination.describe()).toBe('postgres://ferry_user@127.0.0.1:1/nowhere');
    const error = await destination.connect({ dataset: 'd', pipelineName: 'p' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect((error as Error).message).toMatch(
      /could not connect to postgres:\/\/ferry_user@127\.0\.0\.1:1\/nowhere/,
    );
    expect((error as { transient?: boolean }).transient).toBe(true);
    assertClean(error, url);
  });

  it('a failed pipeline run (fields form, missing database) keeps the password out of every error', async () => {
    // A role that really has this password, so the server gets as far as the missing database (with or without trust auth).
    await admin(pgFile.server.url, (c) =>
      c.query(
        `DROP ROLE IF EXISTS ferry_cred; CREATE ROLE ferry_cred LOGIN PASSWORD '${PASSWORD.replaceAll("'", "''")}'`,
      ),
    );
    cleanups.push(() => admin(pgFile.server.url, (c) => c.query('DROP ROLE IF EXISTS ferry_cred')));
    const u = new URL(pgFile.server.url);
    const destination = postgres({
      credentials: {
        host: u.hostname,
        port: Number(u.port),
        user: 'ferry_cred',
        password: PASSWORD,
        database: 'no_such_database',
      },
    });
    expect(destination.describe()).not.toContain(PASSWORD);
    const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-pg-cred-'));
    cleanups.push(() => rm(dataDir, { recursive: true, force: true }));
    const p = pipeline({ name: 'cred', destination, dataDir, loadRetries: 0 });
    const error = await p.run(staticSource(runs(3))).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Error);
    expect(String((error as Error).message)).toMatch(/no_such_database/);
    assertClean(error);
  });

  it('DATABASE_URL is the fallback when no credentials are configured', () => {
    const previous = process.env.DATABASE_URL;
    process.env.DATABASE_URL = `postgres://envuser:${encoded}@127.0.0.1:5999/envdb`;
    try {
      expect(postgres().describe()).toBe('postgres://envuser@127.0.0.1:5999/envdb');
    } finally {
      if (previous === undefined) delete process.env.DATABASE_URL;
      else process.env.DATABASE_URL = previous;
    }
  });
});
