/**
 * BigQuery as the service behaves when it says no (issue 22): the real `@google-cloud/bigquery` client
 * against the local server with its faults switched on per test (test/support/bigquery-server/README.md
 * lists each fault and the documentation it follows). Loopback only.
 */
// google-auth-library probes the GCE metadata server when it looks for credentials; tests never may.
process.env.METADATA_SERVER_DETECTION ??= 'none';

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  PackageFailedError,
  pipeline,
  resource,
  source,
  type DataItem,
  type Destination,
  type DestinationClient,
  type LoadPackagePlan,
} from '@ferry/core';
import { BigQuerySqlCompiler } from '@ferry/destinations/bigquery';
import {
  failTimes,
  startBigQueryServer,
  type LocalBigQueryServer,
  type RecordedRequest,
} from '../support/bigquery-server/bigquery-server.ts';
import { localBigQuery } from './local-destination.ts';

let server: LocalBigQueryServer;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startBigQueryServer({ projectId: 'ferry-faults' });
});
afterAll(async () => {
  await server.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
afterEach(() => {
  for (const key of Object.keys(server.faults)) delete (server.faults as Record<string, unknown>)[key];
});

const newDir = async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'ferry-bq-faults-'));
  dirs.push(d);
  return d;
};

const destinationFor = () => localBigQuery(server);

const run = (i: number): DataItem => ({
  id: 70403104190000 + i,
  status: 10,
  steps: [
    { index: 1, name: `deps ${i}` },
    { index: 2, name: `build ${i}` },
  ],
});

const runsSource = (items: DataItem[]) =>
  source({
    name: 'dbt',
    resources: [
      resource({ name: 'runs' }, function* () {
        yield items;
      }),
    ],
  });

async function counts(dataset: string): Promise<{ runs: number; steps: number; loads: number }> {
  const client = await destinationFor().connect({ dataset, pipelineName: 'x' });
  try {
    const n = async (table: string) =>
      Number(
        (await client.reader!.query(`SELECT COUNT(*) AS n FROM ${client.reader!.qualifiedTable(table)}`))[0]!
          .n,
      );
    return { runs: await n('runs'), steps: await n('runs__steps'), loads: await n('_ferry_loads') };
  } finally {
    await client.close();
  }
}

const since = (n: number) => server.requests.slice(n);
const isLoadInsert = (r: RecordedRequest) => r.jobType === 'load' && r.method === 'POST';
const isCommitInsert = (dataset: string) => (r: RecordedRequest) =>
  r.jobType === 'query' &&
  r.method === 'POST' &&
  new RegExp(`^ferry_${dataset}_\\d+_commit`).test(r.jobId ?? '');

describe('bigquery with the service faults switched on', () => {
  it('item 1: six failed load jobs over two runs, then the next run loads (a new job id after every failed one, no cap)', async () => {
    const destination = destinationFor();
    const dataDir = await newDir();
    // Every attempt of the runs file's load job fails as a backend error (transient) six times.
    server.faults.failJob = failTimes(6, (r) => isLoadInsert(r) && /_runs_00000/.test(r.jobId ?? ''), {
      reason: 'backendError',
      message: 'Error encountered during execution. Retrying may solve the problem.',
    });
    const before = server.requests.length;
    // Three attempts per run (loadRetries 2) keep the engine's backoff short; two runs use up six jobs.
    const p1 = pipeline({ name: 'stuck', dataset: 'stuck', destination, dataDir, loadRetries: 2 });
    await expect(p1.run(runsSource([run(1), run(2), run(3)]))).rejects.toThrow(/backendError|Retrying/);
    await p1.close();
    const p2 = pipeline({ name: 'stuck', dataset: 'stuck', destination, dataDir, loadRetries: 2 });
    await expect(p2.run(runsSource([]))).rejects.toThrow(/Retrying/);
    await p2.close();
    const failedIds = since(before)
      .filter((r) => isLoadInsert(r) && /_runs_00000/.test(r.jobId ?? '') && r.status === 200)
      .map((r) => r.jobId);
    expect(failedIds).toHaveLength(6);
    expect(new Set(failedIds).size).toBe(6);
    expect(failedIds.at(-1)).toMatch(/_runs_00000_r6$/);

    const p3 = pipeline({ name: 'stuck', dataset: 'stuck', destination, dataDir, loadRetries: 2 });
    const info = await p3.run(runsSource([]));
    await p3.close();
    expect(info.loadIds).toHaveLength(1);
    expect(await counts('stuck')).toEqual({ runs: 3, steps: 6, loads: 1 });
  }, 30_000);

  it('a load job refused as invalid (bad data) moves the package aside; the next run loads with nothing lost', async () => {
    const destination = destinationFor();
    const dataDir = await newDir();
    const p = pipeline({ name: 'invalid', dataset: 'invalid', destination, dataDir, loadRetries: 2 });
    expect((await p.run(runsSource([run(1), run(2)]))).rowCounts.runs).toBe(2);
    // BigQuery's answer to a value the column cannot hold: reason `invalid`, not retryable.
    server.faults.failJob = failTimes(100, isLoadInsert, {
      reason: 'invalid',
      message: 'Error while reading data, error message: JSON parsing error in row starting at position 0',
    });
    const before = since(0).length;
    const error = await p.run(runsSource([run(3), run(4)])).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PackageFailedError);
    expect((error as PackageFailedError).step).toBe('load');
    expect((error as Error).message).toMatch(/JSON parsing error/);
    // Not retried: one load job for the runs file, not one per retry.
    expect(
      since(before).filter((r) => isLoadInsert(r) && /_runs_0/.test(r.jobId ?? '') && r.status === 200),
    ).toHaveLength(1);
    expect(await p.hasPending()).toBe(false);
    delete server.faults.failJob;
    expect((await p.run(runsSource([run(3), run(4)]))).rowCounts.runs).toBe(2);
    expect((await counts('invalid')).runs).toBe(4);
    await p.close();
  });

  it('item 1: a commit script aborted by a concurrent transaction and a rate-limited insert are retried under new ids', async () => {
    const destination = destinationFor();
    server.faults.failJob = failTimes(2, isCommitInsert('aborted'), {
      reason: 'invalidQuery',
      message: 'Transaction is aborted due to concurrent update against table ferry-faults:aborted.runs',
    });
    server.faults.rejectInsert = failTimes(1, isLoadInsert, {
      status: 403,
      reason: 'rateLimitExceeded',
      message: 'Exceeded rate limits: too many api requests per user per method for this user_method.',
    });
    const before = server.requests.length;
    const p = pipeline({ name: 'aborted', dataset: 'aborted', destination, dataDir: await newDir() });
    await p.run(runsSource([run(1), run(2)]));
    await p.close();
    const commits = since(before).filter(isCommitInsert('aborted'));
    expect(
      commits.filter((r) => r.status === 200).map((r) => r.jobId!.replace(/^ferry_aborted_\d+_/, '')),
    ).toEqual(['commit', 'commit_r2', 'commit_r3']);
    expect(since(before).some((r) => isLoadInsert(r) && r.status === 403)).toBe(true);
    expect(await counts('aborted')).toEqual({ runs: 2, steps: 4, loads: 1 });
  }, 30_000);

  it('item 2: staging dropped between a crash and the resume is reloaded, never committed with rows missing', async () => {
    const destination = destinationFor();
    const dataDir = await newDir();
    // The first commit script dies (a non-transient failure stands in for the crash after the loads).
    server.faults.failJob = failTimes(1, isCommitInsert('expired'), {
      reason: 'backendError',
      message: 'the process running this package was killed',
    });
    const items = Array.from({ length: 40 }, (_, i) => run(i));
    const p1 = pipeline({ name: 'expired', dataset: 'expired', destination, dataDir, loadRetries: 0 });
    await expect(p1.run(runsSource(items))).rejects.toThrow(/killed/);
    await p1.close();
    // Staging tables expire (or someone drops the staging dataset) before the resume.
    const staging = (await server.sql(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'expired_staging'`,
    )) as { table_name: string }[];
    expect(staging.length).toBe(2);
    for (const t of staging)
      await server.sql(`DROP TABLE "ferry-faults"."expired_staging"."${t.table_name}"`);

    const resumedAt = server.requests.length;
    const p2 = pipeline({ name: 'expired', dataset: 'expired', destination, dataDir, loadRetries: 0 });
    await p2.run(runsSource([]));
    await p2.close();
    expect(await counts('expired')).toEqual({ runs: 40, steps: 80, loads: 1 });
    // The reused jobs (409) were not trusted: each file was loaded again under a new id.
    const resumed = since(resumedAt).filter(isLoadInsert);
    // Two 409s at the first try, two more when the reload starts past the ids in use.
    expect(resumed.filter((r) => r.status === 409).length).toBe(4);
    expect(resumed.filter((r) => r.status === 200)).toHaveLength(2);
    expect(resumed.filter((r) => r.status === 200).map((r) => r.jobId)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/_runs_00000_r2$/),
        expect.stringMatching(/_runs__steps_00000_r2$/),
      ]),
    );
  }, 30_000);

  it('item 2: the commit script asserts every staging row count (a missing row fails the script, nothing is committed)', async () => {
    const base = destinationFor();
    const destination: Destination = {
      ...base,
      async connect(options) {
        const client = await base.connect(options);
        const wrapped = Object.create(client) as DestinationClient;
        wrapped.loadPackage = async (plan: LoadPackagePlan) => {
          // Every time the commit script is about to run, a row vanishes from staging.
          server.faults.failJob = (r) => {
            if (isCommitInsert('asserted')(r))
              void server.sql(
                `DELETE FROM "ferry-faults"."asserted_staging"."runs__${plan.loadId}" WHERE id = 70403104190001`,
              );
            return undefined;
          };
          await client.loadPackage(plan);
        };
        return wrapped;
      },
    };
    const p = pipeline({
      name: 'asserted',
      dataset: 'asserted',
      destination,
      dataDir: await newDir(),
      loadRetries: 0,
    });
    await expect(p.run(runsSource([run(1), run(2)]))).rejects.toThrow(
      /ferry_staging_check: staging table of 'runs'/,
    );
    await p.close();
    const c = await base.connect({ dataset: 'asserted', pipelineName: 'x' });
    try {
      expect(await c.isLoadCommitted('0')).toBe(false);
      const loads = await c.reader!.query(
        `SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable('_ferry_loads')}`,
      );
      expect(loads).toEqual([{ n: 0 }]);
      const rows = await c.reader!.query(`SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable('runs')}`);
      expect(rows).toEqual([{ n: 0 }]);
    } finally {
      await c.close();
    }
  }, 30_000);

  it('item 3: a 101-table package is refused before anything is loaded, naming the limit', async () => {
    server.faults.transactionRules = true;
    const destination = destinationFor();
    const wide = source({
      name: 'wide',
      resources: Array.from({ length: 101 }, (_, i) =>
        resource({ name: `t${i}` }, function* () {
          yield [{ id: i }];
        }),
      ),
    });
    const before = server.requests.length;
    const p = pipeline({ name: 'wide', dataset: 'wide', destination, dataDir: await newDir() });
    await expect(p.run(wide)).rejects.toThrow(/maxTablesPerTransaction = 100/);
    await p.close();
    const reqs = since(before);
    expect(reqs.filter(isLoadInsert)).toEqual([]);
    expect(reqs.filter((r) => /`wide`\.`t\d+`/.test(r.sql ?? ''))).toEqual([]);
  });

  it('item 3: the server enforces the transaction rules the plan keeps (100 tables, no DDL inside)', async () => {
    server.faults.transactionRules = true;
    const c = await destinationFor().connect({ dataset: 'rules', pipelineName: 'x' });
    try {
      const sql = new BigQuerySqlCompiler({ projectId: server.projectId });
      await c.initialize();
      const tables = Array.from({ length: 101 }, (_, i) => sql.qualified('rules', `t${i}`));
      const client = c as unknown as { execute(sql: string): Promise<void> };
      await client.execute(tables.map((t) => `CREATE TABLE IF NOT EXISTS ${t} (id INT64);`).join('\n'));
      await expect(
        client.execute(
          [
            'BEGIN TRANSACTION',
            ...tables.map((t) => `INSERT INTO ${t} (id) VALUES (1)`),
            'COMMIT TRANSACTION',
          ]
            .map((s) => `${s};`)
            .join('\n'),
        ),
      ).rejects.toThrow(/limit of 100 tables/);
      await expect(
        client.execute(
          `BEGIN TRANSACTION; CREATE TABLE ${sql.qualified('rules', 'x')} (id INT64); COMMIT TRANSACTION;`,
        ),
      ).rejects.toThrow(/DDL statements on permanent tables/);
      const n = await c.reader!.query(`SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable('t0')}`);
      expect(n).toEqual([{ n: 0 }]);
    } finally {
      await c.close();
    }
  });

  it('the realistic faults together: transaction rules, locations, DML queue; the commit job carries Ferry labels', async () => {
    Object.assign(server.faults, { transactionRules: true, checkLocation: true, dmlQueue: true });
    const before = server.requests.length;
    const p = pipeline({
      name: 'labelled',
      dataset: 'labelled',
      destination: destinationFor(),
      dataDir: await newDir(),
    });
    const info = await p.run(runsSource([run(1)]));
    await p.close();
    expect(await counts('labelled')).toEqual({ runs: 1, steps: 2, loads: 1 });
    const commit = since(before).find(isCommitInsert('labelled'))!;
    expect(commit.labels).toEqual({
      ferry: 'load',
      ferry_pipeline: 'labelled',
      ferry_load_id: info.loadIds[0],
    });
    // A client in another location does not find the dataset.
    const eu = localBigQuery(server, 'EU');
    const c = await eu.connect({ dataset: 'labelled', pipelineName: 'labelled' });
    try {
      await expect(c.isLoadCommitted(info.loadIds[0]!)).rejects.toThrow(/was not found in location EU/);
    } finally {
      await c.close();
    }
  });
});
