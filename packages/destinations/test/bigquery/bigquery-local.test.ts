/**
 * The real `@google-cloud/bigquery` client against the local REST server (test/support/bigquery-server):
 * whole pipeline runs, asserting both the rows (through the destination's reader) and the requests the
 * client made (job ids, staged files, SQL). Loopback only.
 */
// google-auth-library probes the GCE metadata server when it looks for credentials; tests never may.
process.env.METADATA_SERVER_DETECTION ??= 'none';

import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  pipeline,
  resource,
  source,
  type DataItem,
  type Destination,
  type DestinationClient,
  type LoadPackagePlan,
  type Pipeline,
} from '@ferry/core';
import {
  startBigQueryServer,
  type LocalBigQueryServer,
  type RecordedRequest,
} from '../support/bigquery-server/bigquery-server.ts';
import { localBigQuery } from './local-destination.ts';

let server: LocalBigQueryServer;
const dirs: string[] = [];

beforeAll(async () => {
  server = await startBigQueryServer({ projectId: 'ferry-test' });
});
afterAll(async () => {
  await server.close();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const newDir = async () => {
  const d = await mkdtemp(path.join(tmpdir(), 'ferry-bq-local-'));
  dirs.push(d);
  return d;
};

const destinationFor = () => localBigQuery(server);

/** dbt-run-like records: 14-digit ids, microsecond timestamps, a nested list (child table). */
const run = (i: number, extra: Partial<DataItem> = {}): DataItem => ({
  id: 70403104190000 + i,
  status: 10,
  created_at: `2024-03-25T13:47:${String(i % 60).padStart(2, '0')}.129690Z`,
  steps: [
    { index: 1, name: `deps ${i}` },
    { index: 2, name: `build ${i}` },
  ],
  ...extra,
});

const runsSource = (
  items: DataItem[],
  options: Parameters<typeof resource>[0] extends infer O ? Partial<O & object> : never = {},
) =>
  source({
    name: 'dbt',
    resources: [
      resource({ name: 'runs', ...options }, function* () {
        yield items;
      }),
    ],
  });

async function withClient<T>(
  destination: Destination,
  dataset: string,
  fn: (c: DestinationClient) => Promise<T>,
): Promise<T> {
  const client = await destination.connect({ dataset, pipelineName: 'x' });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

const since = (n: number) => server.requests.slice(n);
const uploadsOf = (reqs: RecordedRequest[]) =>
  reqs.filter((r) => r.path.startsWith('/upload/') && r.method === 'POST');
const scriptsOf = (reqs: RecordedRequest[]) =>
  reqs.filter((r) => r.jobType === 'query' && r.method === 'POST' && /^BEGIN TRANSACTION;/.test(r.sql ?? ''));

describe('bigquery through the real client against the local server', () => {
  it('append, merge with child tables, replace, and state through an empty dataDir', async () => {
    const destination = destinationFor();
    const dataset = 'whole_run';
    const p = pipeline({ name: 'whole', dataset, destination, dataDir: await newDir() });

    // append
    const before = server.requests.length;
    const first = await p.run(runsSource([run(1), run(2), run(3)]));
    expect(first.rowCounts).toEqual({ runs: 3, runs__steps: 6 });
    const [loadId] = first.loadIds;
    const reqs = since(before);

    // Load jobs (never streaming inserts), one per file, ids derived from the file.
    expect(reqs.some((r) => r.path.includes('insertAll'))).toBe(false);
    const uploads = uploadsOf(reqs);
    expect(uploads.map((u) => [u.jobId, u.destination, u.status]).sort()).toEqual([
      [`ferry_whole_run_${loadId}_runs_00000`, `whole_run_staging.runs__${loadId}`, 200],
      [`ferry_whole_run_${loadId}_runs__steps_00000`, `whole_run_staging.runs__steps__${loadId}`, 200],
    ]);
    // The staged files are the engine's NDJSON, byte for byte what the server received.
    const staged = server.uploads.filter((u) => u.jobId.includes(loadId!));
    const runsFile = staged.find((u) => u.destination.startsWith('whole_run_staging.runs__1'))!;
    expect(runsFile.sourceFormat).toBe('NEWLINE_DELIMITED_JSON');
    const lines = runsFile.bytes
      .toString('utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(lines.map((l) => l.id)).toEqual([70403104190001, 70403104190002, 70403104190003]);
    expect(lines[0]!.created_at).toMatch(/^2024-03-25[ T]13:47:01\.12969/);

    // DDL ran as its own script before the loads; one transaction script per package, after the loads.
    const ddlIndex = reqs.findIndex((r) =>
      /CREATE TABLE IF NOT EXISTS `ferry-test`.`whole_run_staging`/.test(r.sql ?? ''),
    );
    const scripts = scriptsOf(reqs);
    expect(scripts).toHaveLength(1);
    const script = scripts[0]!;
    expect(ddlIndex).toBeGreaterThanOrEqual(0);
    expect(ddlIndex).toBeLessThan(reqs.indexOf(uploads[0]!));
    expect(reqs.indexOf(script)).toBeGreaterThan(Math.max(...uploads.map((u) => reqs.indexOf(u))));
    expect(script.jobId).toBe(`ferry_whole_run_${loadId}_commit`);
    expect(script.sql).toMatch(
      /^BEGIN TRANSACTION;\nASSERT \(SELECT COUNT\(\*\) FROM `ferry-test`.`whole_run_staging`.`runs__\d+`\) = 3 AS 'ferry_staging_check: .*;\nASSERT .*`runs__steps__\d+`\) = 6 AS .*;\nINSERT INTO `ferry-test`.`whole_run`.`runs` .* FROM `ferry-test`.`whole_run_staging`.`runs__\d+`;/,
    );
    expect(script.sql).toContain('INSERT INTO `ferry-test`.`whole_run`.`_ferry_version`');
    expect(script.sql).toContain('INSERT INTO `ferry-test`.`whole_run`.`_ferry_loads`');
    expect(script.sql!.trim().endsWith('COMMIT TRANSACTION;')).toBe(true);
    expect(script.sql).not.toMatch(/CREATE|ALTER/);
    expect(script.params?.find((x) => x.name === 'p1')).toMatchObject({ parameterType: { type: 'INT64' } });
    // The staging tables are gone after the commit.
    const left = await server.sql(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'whole_run_staging'`,
    );
    expect(left).toEqual([]);

    // merge (upsert) with a child table; the last duplicate of a load wins.
    const merged = destinationFor();
    const mp = pipeline({ name: 'whole_merge', dataset, destination: merged, dataDir: await newDir() });
    const opts = { writeDisposition: 'merge' as const, primaryKey: 'id', mergeStrategy: 'upsert' as const };
    await mp.run(runsSource([run(1), run(2)], opts));
    const beforeMerge = server.requests.length;
    await mp.run(
      runsSource(
        [
          run(2, { status: 20, steps: [{ index: 1, name: 'first' }] }),
          run(4),
          run(2, { status: 30, steps: [{ index: 1, name: 'last' }] }),
        ],
        opts,
      ),
    );
    const mergeScript = scriptsOf(since(beforeMerge))[0]!;
    expect(mergeScript.sql).toMatch(
      /MERGE INTO `ferry-test`.`whole_run`.`runs` AS t USING \(.*ROW_NUMBER\(\) OVER \(PARTITION BY `id`/,
    );
    expect(mergeScript.sql).toMatch(
      /DELETE FROM `ferry-test`.`whole_run`.`runs__steps` AS c WHERE c.`_ferry_root_id` IN/,
    );
    expect(mergeScript.sql).not.toMatch(/\) IN \(/); // no tuple IN
    await withClient(merged, dataset, async (c) => {
      const t = (name: string) => c.reader!.qualifiedTable(name);
      const rows = await c.reader!.query(
        `SELECT id, status, COUNT(*) AS n FROM ${t('runs')} GROUP BY id, status ORDER BY id, status`,
      );
      // 3 appended + 2 merged + (2 updated, 4 new) on the shared table: ids 1 and 2 repeat from the append run.
      expect(rows.filter((r) => r.id === 70403104190002)).toEqual([{ id: 70403104190002, status: 30, n: 1 }]);
      const steps = await c.reader!.query(
        `SELECT s.name AS name FROM ${t('runs__steps')} s JOIN ${t('runs')} r ON s._ferry_parent_id = r._ferry_id WHERE r.id = $1`,
        [70403104190002],
      );
      expect(steps.map((s) => s.name)).toEqual(['last']);
      const ts = await c.reader!.query(`SELECT created_at FROM ${t('runs')} WHERE id = $1`, [70403104190004]);
      expect(ts).toEqual([{ created_at: '2024-03-25T13:47:04.129690Z' }]);
    });

    // replace: the chain holds exactly the last run, also when it is empty.
    const rp = pipeline({
      name: 'whole_replace',
      dataset: 'whole_replace',
      destination,
      dataDir: await newDir(),
    });
    await rp.run(runsSource([run(1), run(2), run(3)], { writeDisposition: 'replace' }));
    await rp.run(runsSource([run(9)], { writeDisposition: 'replace' }));
    await withClient(destination, 'whole_replace', async (c) => {
      expect(await c.reader!.query(`SELECT id FROM ${c.reader!.qualifiedTable('runs')}`)).toEqual([
        { id: 70403104190009 },
      ]);
      expect(
        await c.reader!.query(`SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable('runs__steps')}`),
      ).toEqual([{ n: 2 }]);
    });
    const beforeEmpty = server.requests.length;
    await rp.run(runsSource([], { writeDisposition: 'replace' }));
    expect(scriptsOf(since(beforeEmpty))[0]?.sql).toContain(
      'DELETE FROM `ferry-test`.`whole_replace`.`runs__steps` WHERE TRUE',
    );
    await withClient(destination, 'whole_replace', async (c) => {
      expect(await c.reader!.query(`SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable('runs')}`)).toEqual([
        { n: 0 },
      ]);
    });

    // state round trip: a fresh dataDir resumes the cursor stored by the transaction script.
    const all = [1, 2, 3, 4, 5].map((i) => run(i, { updated_at: `2024-01-0${i}T00:00:00.000001Z` }));
    let served = 3;
    const incremental = () =>
      source({
        name: 'dbt',
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
    const sp = pipeline({
      name: 'whole_state',
      dataset: 'whole_state',
      destination,
      dataDir: await newDir(),
    });
    const beforeState = server.requests.length;
    expect((await sp.run(incremental())).rowCounts.runs).toBe(3);
    // The state row and the marker commit in the same script as the data.
    const stateScripts = scriptsOf(since(beforeState));
    expect(stateScripts).toHaveLength(1);
    const stateLines = stateScripts[0]!.sql!.split('\n');
    expect(stateLines[0]).toBe('BEGIN TRANSACTION;');
    expect(stateLines.some((l) => l.startsWith('INSERT INTO `ferry-test`.`whole_state`.`runs` '))).toBe(true);
    expect(stateLines.slice(-3).map((l) => l.split(' (')[0])).toEqual([
      'INSERT INTO `ferry-test`.`whole_state`.`_ferry_pipeline_state`',
      'INSERT INTO `ferry-test`.`whole_state`.`_ferry_loads`',
      'COMMIT TRANSACTION;',
    ]);
    served = 5;
    const fresh = pipeline({
      name: 'whole_state',
      dataset: 'whole_state',
      destination: destinationFor(),
      dataDir: await newDir(),
    });
    expect((await fresh.run(incremental())).rowCounts.runs).toBe(2);
    expect((await fresh.state()).sources.dbt?.resources.runs?.incremental?.updated_at?.lastValue).toBe(
      '2024-01-05T00:00:00.000001Z',
    );
    await withClient(destination, 'whole_state', async (c) => {
      expect(await c.reader!.query(`SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable('runs')}`)).toEqual([
        { n: 5 },
      ]);
      const stored = await c.getStoredState('whole_state');
      expect(stored?.state.sources.dbt?.resources.runs?.incremental?.updated_at?.lastValue).toBe(
        '2024-01-05T00:00:00.000001Z',
      );
    });
    await Promise.all([p.close(), mp.close(), rp.close(), sp.close(), fresh.close()]);
  });

  it('a re-run after a crash between load jobs hits 409 for the loaded files and loads nothing twice', async () => {
    const base = destinationFor();
    let crash = true;
    // Small files so the package has several jobs; "crash" (a thrown error) after the second job.
    const destination: Destination = {
      ...base,
      capabilities: { ...base.capabilities, fileMaxRows: 100 },
      async connect(options) {
        const client = await base.connect(options);
        const wrapped = Object.create(client) as DestinationClient;
        wrapped.loadPackage = async (plan: LoadPackagePlan) => {
          let done = 0;
          await client.loadPackage({
            ...plan,
            events: {
              jobStarted: (job) => plan.events.jobStarted(job),
              jobCompleted: async (job) => {
                await plan.events.jobCompleted(job);
                if (crash && ++done === 2) throw new Error('simulated crash between jobs');
              },
            },
          });
        };
        return wrapped;
      },
    };
    const dataDir = await newDir();
    const p = pipeline({ name: 'crashy', dataset: 'crashy', destination, dataDir });
    const items = Array.from({ length: 250 }, (_, i) => run(i));
    const before = server.requests.length;
    await expect(p.run(runsSource(items))).rejects.toThrow(/simulated crash between jobs/);
    // The jobs in flight when the crash came (four load in parallel) finished; the rest never started.
    const firstAttempt = uploadsOf(since(before));
    expect(firstAttempt.length).toBeGreaterThanOrEqual(2);
    expect(firstAttempt.length).toBeLessThan(8);
    expect(firstAttempt.every((u) => u.status === 200)).toBe(true);
    expect(scriptsOf(since(before))).toEqual([]);
    await p.close();

    crash = false;
    const resumedAt = server.requests.length;
    const p2: Pipeline = pipeline({ name: 'crashy', dataset: 'crashy', destination, dataDir });
    const info = await p2.run(runsSource([]));
    expect(info.loadIds.length).toBeGreaterThanOrEqual(1);
    const resumed = uploadsOf(since(resumedAt));
    // The two loaded files answer 409 (the job exists: the client waits for it); the rest load once.
    expect(
      resumed
        .filter((u) => u.status === 409)
        .map((u) => u.jobId)
        .sort(),
    ).toEqual(firstAttempt.map((u) => u.jobId).sort());
    expect(resumed.filter((u) => u.status === 200)).toHaveLength(3 + 5 - firstAttempt.length);
    const allUploads = server.uploads.filter((u) => u.jobId.startsWith('ferry_crashy_'));
    expect(new Set(allUploads.map((u) => u.jobId)).size).toBe(allUploads.length);
    expect(scriptsOf(since(resumedAt))).toHaveLength(1);
    await withClient(base, 'crashy', async (c) => {
      const t = (name: string) => c.reader!.qualifiedTable(name);
      expect(
        await c.reader!.query(`SELECT COUNT(*) AS n, COUNT(DISTINCT id) AS d FROM ${t('runs')}`),
      ).toEqual([{ n: 250, d: 250 }]);
      expect(await c.reader!.query(`SELECT COUNT(*) AS n FROM ${t('runs__steps')}`)).toEqual([{ n: 500 }]);
      expect(await c.reader!.query(`SELECT COUNT(*) AS n FROM ${t('_ferry_loads')}`)).toEqual([{ n: 1 }]);
    });
    await p2.close();
  });

  it('a lost response to the commit script does not commit twice (the job id finds the finished job)', async () => {
    const destination = destinationFor();
    const p = pipeline({ name: 'lost', dataset: 'lost', destination, dataDir: await newDir() });
    let dropped = 0;
    server.faults.dropResponse = (r) =>
      r.method === 'POST' &&
      /^ferry_lost_\d+_commit$/.test(r.jobId ?? '') &&
      r.status === 200 &&
      dropped++ === 0;
    const before = server.requests.length;
    try {
      await p.run(runsSource([run(1), run(2)]));
    } finally {
      server.faults.dropResponse = undefined;
    }
    expect(dropped).toBeGreaterThanOrEqual(1);
    const commits = since(before).filter((r) => r.method === 'POST' && /_commit/.test(r.jobId ?? ''));
    // The script ran once (200, response lost); every later insert of that id answered 409.
    expect(commits[0]!.status).toBe(200);
    expect(commits.slice(1).every((r) => r.status === 409)).toBe(true);
    await withClient(destination, 'lost', async (c) => {
      expect(await c.reader!.query(`SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable('runs')}`)).toEqual([
        { n: 2 },
      ]);
      expect(
        await c.reader!.query(`SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable('_ferry_loads')}`),
      ).toEqual([{ n: 1 }]);
    });
    await p.close();
  });

  it('the reader pages through getQueryResults in bounded batches and reports SQL errors with the statement', async () => {
    const destination = destinationFor();
    const p = pipeline({ name: 'paged', dataset: 'paged', destination, dataDir: await newDir() });
    await p.run(runsSource(Array.from({ length: 23 }, (_, i) => run(i))));
    await p.close();
    await withClient(destination, 'paged', async (c) => {
      const before = server.requests.length;
      const sizes: number[] = [];
      for await (const batch of c.reader!.stream(
        `SELECT id FROM ${c.reader!.qualifiedTable('runs')} ORDER BY id`,
        undefined,
        10,
      ))
        sizes.push(batch.length);
      expect(sizes).toEqual([10, 10, 3]);
      const pages = since(before).filter((r) => r.method === 'GET' && r.path.includes('/queries/'));
      expect(pages.map((r) => [r.query.maxResults, r.query.pageToken ?? null])).toEqual([
        ['10', null],
        ['10', '10'],
        ['10', '20'],
      ]);
      await expect(
        c.reader!.query(`SELECT no_such_column FROM ${c.reader!.qualifiedTable('runs')}`),
      ).rejects.toThrow(/dataset 'paged'.*no_such_column.*\(in: SELECT no_such_column/);
    });
  });
});
