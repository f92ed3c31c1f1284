import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbtCloudSource, type DbtCloudSourceOptions } from '@ferry/source-dbt-cloud';
import {
  buildManifest,
  buildRunResults,
  commandWrites,
  startEmulator,
  type DbtCloudEmulator,
} from '@ferry/source-dbt-cloud/emulator';
import { count, duckPipeline, FAST, query, tempDir } from './helpers.ts';

function expectedArtifacts(emu: DbtCloudEmulator): {
  runResults: number;
  models: number;
  artifactFiles: number;
  withArtifacts: number;
} {
  let runResults = 0;
  let models = 0;
  let withArtifacts = 0;
  for (const run of emu.store.runs) {
    if (!emu.store.hasArtifacts(run)) continue;
    // One run_results.json per dbt step that writes one (the emulator's own step list), asked with ?step=.
    const steps = emu.store.stepNames(run).map((_, i) => i + 1);
    const writing = steps.filter((i) => commandWrites(emu.store.stepCommand(run, i)).runResults);
    for (const i of writing)
      runResults += (buildRunResults(emu.store, run, i)['results'] as unknown[]).length;
    if (commandWrites(emu.store.stepCommand(run, steps.length)).manifest) withArtifacts++;
    if (steps.some((i) => commandWrites(emu.store.stepCommand(run, i)).manifest)) {
      const nodes = buildManifest(emu.store, run)['nodes'] as Record<string, { resource_type: string }>;
      models += Object.values(nodes).filter((n) => n.resource_type === 'model').length;
    }
  }
  return { runResults, models, artifactFiles: 0, withArtifacts };
}

async function walkFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const e of await readdir(dir, { withFileTypes: true, recursive: true }))
    if (e.isFile()) out.push(path.join(e.parentPath, e.name));
  return out;
}

describe('dbt Cloud source → DuckDB', () => {
  let emu: DbtCloudEmulator;
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    emu = await startEmulator({ runs: 240, inFlightRuns: 3, seed: 11 });
    tmp = await tempDir('pipeline');
  });
  afterAll(async () => {
    await emu.close();
    await tmp.cleanup();
  });

  it('loads every resource with exact counts, then only new and finished-since runs', async () => {
    const file = path.join(tmp.dir, 'dbt.duckdb');
    const opts: DbtCloudSourceOptions = {
      baseUrl: emu.url,
      accountId: emu.accountId,
      apiToken: emu.token,
      artifacts: true,
      ...FAST,
      resources: [
        'accounts',
        'projects',
        'environments',
        'jobs',
        'runs',
        'repositories',
        'users',
        'connections',
      ],
    };
    const p = duckPipeline(file, path.join(tmp.dir, 'data'));
    const info = await p.run(dbtCloudSource(opts));
    await p.close();
    const s = emu.store;
    const exp = expectedArtifacts(emu);
    expect(await count(file, 'accounts')).toBe(1);
    expect(await count(file, 'projects')).toBe(s.projects.length);
    expect(await count(file, 'environments')).toBe(s.environments.length);
    expect(await count(file, 'jobs')).toBe(s.jobs.length);
    expect(await count(file, 'runs')).toBe(s.runs.length);
    expect(await count(file, 'repositories')).toBe(s.repositories.length);
    expect(await count(file, 'users')).toBe(s.users.length);
    expect(await count(file, 'users__permissions')).toBe(s.users.length);
    expect(await count(file, 'connections')).toBe(s.connections.length);
    const steps = s.runs.reduce((n, r) => n + s.renderSteps(r).length, 0);
    expect(await count(file, 'runs__run_steps')).toBe(steps);
    expect(await count(file, 'run_results')).toBe(exp.runResults);
    expect(await count(file, 'models')).toBe(exp.models);
    expect(await count(file, 'run_artifacts', "path = 'manifest.json'")).toBe(exp.withArtifacts);
    expect(info.rowCounts['runs']).toBeGreaterThanOrEqual(s.runs.length);

    // Types: 14-digit ids are exact BIGINTs, every datetime form is a TIMESTAMP.
    const cols = await query(
      file,
      `select table_name, column_name, data_type from information_schema.columns where table_schema = 'dbt_cloud' and table_name in ('runs','jobs','accounts','users','runs__run_steps')`,
    );
    const type = (t: string, c: string) =>
      cols.find((r) => r['table_name'] === t && r['column_name'] === c)?.['data_type'];
    expect(type('runs', 'id')).toBe('BIGINT');
    expect(type('runs', 'finished_at')).toMatch(/^TIMESTAMP/);
    expect(type('runs', 'trigger__created_at')).toMatch(/^TIMESTAMP/);
    expect(type('jobs', 'created_at')).toMatch(/^TIMESTAMP/);
    expect(type('accounts', 'created_at')).toMatch(/^TIMESTAMP/);
    expect(type('users', 'last_login')).toMatch(/^TIMESTAMP/);
    expect(type('runs__run_steps', 'started_at')).toMatch(/^TIMESTAMP/);
    const maxId = await query(file, `select max(id)::varchar as id from dbt_cloud.runs`);
    expect(maxId[0]!['id']).toBe(String(Math.max(...s.runs.map((r) => r.id))));
    const inFlightRows = await count(file, 'runs', 'status in (1, 2, 3)');
    expect(inFlightRows).toBe(3);

    // Second load, nothing changed: the finished-since window (lookback only), the 3 runs in flight at the
    // last load re-read by id, and the in-flight pass. Three list requests, a handful of rows.
    emu.requests.reset();
    const p1 = duckPipeline(file, path.join(tmp.dir, 'data'));
    const info1 = await p1.run(dbtCloudSource(opts));
    await p1.close();
    expect(emu.requests.count(/\/runs\/$/)).toBe(3);
    expect(emu.requests.filter(/\/runs\/$/).filter((r) => r.query.has('pk__in'))).toHaveLength(1);
    expect(info1.rowCounts['runs'] ?? 0).toBeLessThan(10);
    expect(await count(file, 'runs')).toBe(s.runs.length);

    // Third load: 5 new runs, and the 3 in-flight ones finish with an error. Only those (plus the lookback
    // window) are read: one finished-since page and the in-flight pass.
    emu.requests.reset();
    const added = emu.addRuns(5);
    const finished = emu.finishInFlight(20);
    const p2 = duckPipeline(file, path.join(tmp.dir, 'data'));
    const info2 = await p2.run(dbtCloudSource(opts));
    await p2.close();
    expect(emu.requests.count(/\/runs\/$/)).toBe(2);
    expect(info2.rowCounts['runs']).toBeGreaterThanOrEqual(added.length + finished.length);
    expect(info2.rowCounts['runs']).toBeLessThan(added.length + finished.length + 10);
    // Artifacts are fetched only for the runs of this load: per run, the file list, the manifest of one
    // step and run_results of each step that writes one.
    const perRun = new Map<number, number>();
    for (const r of emu.requests.filter(/\/artifacts\//)) {
      const id = Number(/\/runs\/(\d+)\//.exec(r.path)?.[1]);
      perRun.set(id, (perRun.get(id) ?? 0) + 1);
    }
    expect(perRun.size).toBeLessThanOrEqual(info2.rowCounts['runs'] ?? 0);
    for (const [id, n] of perRun) {
      const run = s.run(id)!;
      const writing = s.stepNames(run).filter((_, i) => commandWrites(s.stepCommand(run, i + 1)).runResults);
      expect(n, `artifact requests of run ${id}`).toBeLessThanOrEqual(2 + writing.length);
    }
    expect(await count(file, 'runs')).toBe(s.runs.length);
    expect(await count(file, 'runs', 'status in (1, 2, 3)')).toBe(0);
    expect(await count(file, 'runs', `status = 20 and id in (${finished.join(',')})`)).toBe(finished.length);
    const exp2 = expectedArtifacts(emu);
    expect(await count(file, 'run_results')).toBe(exp2.runResults);
    expect(await count(file, 'models')).toBe(exp2.models);
    expect(await count(file, 'runs__run_steps')).toBe(
      s.runs.reduce((n, r) => n + s.renderSteps(r).length, 0),
    );

    // The token never lands anywhere: not in the database file, not in the working folder.
    for (const f of [file, ...(await walkFiles(path.join(tmp.dir, 'data')))]) {
      expect((await readFile(f)).includes(Buffer.from(emu.token)), f).toBe(false);
    }
  });

  it('by-id forms load one account, chosen jobs and chosen runs (with steps) into the same tables', async () => {
    const file = path.join(tmp.dir, 'by-id.duckdb');
    const s = emu.store;
    const runIds = [s.runs[0]!.id, s.runs[7]!.id];
    const jobIds = [s.jobs[1]!.id];
    const p = duckPipeline(file, path.join(tmp.dir, 'data-by-id'));
    await p.run(
      dbtCloudSource({
        baseUrl: emu.url,
        accountId: emu.accountId,
        apiToken: emu.token,
        resources: ['account', 'job', 'run'],
        jobIds,
        runIds,
        ...FAST,
      }),
    );
    await p.close();
    expect(await query(file, 'select id from dbt_cloud.accounts')).toEqual([{ id: BigInt(emu.accountId) }]);
    expect((await query(file, 'select id from dbt_cloud.jobs')).map((r) => Number(r['id']))).toEqual(jobIds);
    expect(
      (await query(file, 'select id from dbt_cloud.runs order by id')).map((r) => Number(r['id'])),
    ).toEqual(runIds);
    const steps = runIds.reduce((n, id) => n + s.renderSteps(s.run(id)!).length, 0);
    expect(await count(file, 'runs__run_steps')).toBe(steps);
  });

  it('a fresh working folder resumes from the destination', async () => {
    const file = path.join(tmp.dir, 'resume.duckdb');
    const opts: DbtCloudSourceOptions = {
      baseUrl: emu.url,
      accountId: emu.accountId,
      apiToken: emu.token,
      resources: ['runs'],
      ...FAST,
    };
    const p = duckPipeline(file, path.join(tmp.dir, 'data-a'));
    await p.run(dbtCloudSource(opts));
    await p.close();
    const before = await count(file, 'runs');
    emu.requests.reset();
    emu.addRuns(3);
    const p2 = duckPipeline(file, path.join(tmp.dir, 'data-b')); // empty folder: state comes from DuckDB
    await p2.run(dbtCloudSource(opts));
    await p2.close();
    expect(await count(file, 'runs')).toBe(before + 3);
    expect(emu.requests.count(/\/runs\/$/)).toBe(2);
  });

  it('loses nothing under 429s, 502/503 HTML pages, resets and rows inserted mid-pagination', async () => {
    const faulty = await startEmulator({ runs: 730, inFlightRuns: 0, seed: 5 });
    try {
      const file = path.join(tmp.dir, 'faults.duckdb');
      faulty.faults
        .inject({ kind: 'status', status: 429, retryAfter: '0' }, { times: 2, path: /\/runs\/$/ })
        .inject({ kind: 'status', status: 429 }, { times: 1, path: /\/runs\/$/ })
        .inject({ kind: 'status', status: 502 }, { times: 2, path: /\/runs\/$/ })
        .inject({ kind: 'status', status: 503 }, { times: 1, path: /\/users\/$/ })
        .inject({ kind: 'reset' }, { times: 2, path: /\/runs\/$/ })
        .inject({ kind: 'html200' }, { times: 1, path: /\/jobs\/$/ })
        .insertRunsMidPagination({ afterRequests: 3, count: 150 });
      const p = duckPipeline(file, path.join(tmp.dir, 'data-faults'));
      await p.run(
        dbtCloudSource({
          baseUrl: faulty.url,
          accountId: faulty.accountId,
          apiToken: faulty.token,
          resources: ['runs', 'users', 'jobs'],
          ...FAST,
          maxRetries: 10,
        }),
      );
      await p.close();
      expect(faulty.faults.injected).toBe(9);
      expect(faulty.store.runs.length).toBe(880);
      expect(await count(file, 'runs')).toBe(faulty.store.runs.length);
      expect(await count(file, 'users')).toBe(faulty.store.users.length);
      expect(await count(file, 'jobs')).toBe(faulty.store.jobs.length);
      const dupes = await query(file, 'select id from dbt_cloud.runs group by id having count(*) > 1');
      expect(dupes).toEqual([]);
    } finally {
      await faulty.close();
    }
  });
});
