import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { dbtCloudSource, type DbtCloudRunsState, type DbtCloudSourceOptions } from '@ferry/source-dbt-cloud';
import {
  buildRunResults,
  commandWrites,
  startEmulator,
  type DbtCloudEmulator,
} from '@ferry/source-dbt-cloud/emulator';
import { count, duckPipeline, FAST, query, tempDir } from './helpers.ts';

// Real artifacts written by `dbt build` (dbt 1.3.2, BigQuery) and `dbt test` (dbt 1.12, DuckDB); figures
// from ../shared/peer-cases/dbt-artifacts/README.md.
const PEER = path.resolve(import.meta.dirname, '../../../../shared/peer-cases/dbt-artifacts');
const readJson = async (rel: string): Promise<unknown> =>
  JSON.parse(await readFile(path.join(PEER, rel), 'utf8')) as unknown;

describe('run_results per dbt step (?step=), manifest from the step that has one', () => {
  let emu: DbtCloudEmulator;
  let tmp: Awaited<ReturnType<typeof tempDir>>;

  beforeAll(async () => {
    emu = await startEmulator({
      runs: 48,
      inFlightRuns: 0,
      seed: 3,
      projects: 1,
      jobsPerProject: 4,
      commandArtifacts: {
        'dbt build': {
          manifest: await readJson('dbt-1.3.2-bigquery/manifest.json'),
          runResults: await readJson('dbt-1.3.2-bigquery/run_results.json'),
        },
        'dbt test': {
          manifest: await readJson('dbt-1.12.0-duckdb/manifest.json'),
          runResults: await readJson('dbt-1.12.0-duckdb/run_results.json'),
        },
      },
    });
    tmp = await tempDir('steps');
  });
  afterAll(async () => {
    await emu.close();
    await tmp.cleanup();
  });

  it('a job with dbt build + dbt docs generate loads the build step’s real results, not the docs step’s', async () => {
    // Job 0 of a project: `dbt build` with generate_docs, so a successful run ends with `dbt docs generate`.
    const job = emu.store.jobs.find((j) => j.generateDocs && j.executeSteps.join() === 'dbt build')!;
    const runs = emu.store.runs.filter((r) => r.jobId === job.id && emu.store.hasArtifacts(r));
    const ok = runs.filter((r) => r.status === 10);
    expect(ok.length).toBeGreaterThan(2);
    // What a client without ?step= gets: the docs step's results, every node `success`.
    const naive = buildRunResults(emu.store, ok[0]!);
    expect(new Set((naive['results'] as { status: string }[]).map((r) => r.status))).toEqual(
      new Set(['success']),
    );

    const file = path.join(tmp.dir, 'build.duckdb');
    const p = duckPipeline(file, path.join(tmp.dir, 'data-build'));
    await p.run(
      dbtCloudSource({
        baseUrl: emu.url,
        accountId: emu.accountId,
        apiToken: emu.token,
        resources: ['runs', 'run_results', 'models'],
        jobIds: [job.id],
        ...FAST,
      }),
    );
    await p.close();

    // The build step (index 4: clone, profile, deps, build) of every run with artifacts: the real 28 results.
    const build = await query(
      file,
      `select run_id, step_index, count(*)::int as n, round(sum(execution_time), 3) as secs,
              count(*) filter (where status = 'pass')::int as pass, count(*) filter (where status = 'success')::int as success
       from dbt_cloud.run_results where step_command = 'dbt build' group by run_id, step_index order by run_id`,
    );
    expect(build.map((r) => Number(r['run_id']))).toEqual(runs.map((r) => r.id));
    for (const r of build) {
      expect(r).toMatchObject({ step_index: 4n, n: 28, secs: 232.064, pass: 20, success: 8 });
    }
    // The docs step is loaded too, under its own step index (5), only for runs that reached it.
    const docs = await query(
      file,
      `select distinct run_id from dbt_cloud.run_results where step_command = 'dbt docs generate' and step_index = 5`,
    );
    expect(docs.map((r) => Number(r['run_id'])).sort()).toEqual(ok.map((r) => r.id).sort());
    const total = runs.reduce(
      (n, r) =>
        n + 28 + (r.status === 10 ? (buildRunResults(emu.store, r, 5)['results'] as unknown[]).length : 0),
      0,
    );
    expect(await count(file, 'run_results')).toBe(total);
    // Models come from the build step's manifest (5 models in the real 1.3.2 manifest), once per run.
    expect(await count(file, 'models')).toBe(runs.length * 5);
    expect(await count(file, 'models', 'step_index <> 4')).toBe(0);
    // Every run_results request named its step.
    const asked = emu.requests.filter(/\/artifacts\/run_results\.json$/);
    expect(asked.length).toBe(runs.length + ok.length);
    expect(asked.every((r) => /^\d+$/.test(r.query.get('step') ?? ''))).toBe(true);
  });

  it('a job with dbt run + dbt test (+ source freshness) loads each step’s results; freshness writes none', async () => {
    const job = emu.store.jobs.find((j) => j.executeSteps.join() === 'dbt run,dbt test')!;
    expect(job.runGenerateSources).toBe(true);
    const runs = emu.store.runs.filter((r) => r.jobId === job.id && emu.store.hasArtifacts(r));
    const file = path.join(tmp.dir, 'run-test.duckdb');
    const p = duckPipeline(file, path.join(tmp.dir, 'data-run-test'));
    await p.run(
      dbtCloudSource({
        baseUrl: emu.url,
        accountId: emu.accountId,
        apiToken: emu.token,
        resources: ['runs', 'run_results', 'models'],
        jobIds: [job.id],
        ...FAST,
      }),
    );
    await p.close();
    // Steps: clone, profile, deps, source freshness (4), dbt run (5), dbt test (6).
    let expected = 0;
    for (const r of runs)
      for (let i = 1; i <= emu.store.stepNames(r).length; i++) {
        const cmd = emu.store.stepCommand(r, i);
        if (!commandWrites(cmd).runResults) continue;
        expected +=
          cmd === 'dbt test' ? 27 : (buildRunResults(emu.store, r, i)['results'] as unknown[]).length;
      }
    expect(await count(file, 'run_results')).toBe(expected);
    expect(await count(file, 'run_results', "step_command = 'dbt source freshness'")).toBe(0);
    // The real `dbt test` step: 24 pass, 2 fail, 1 warn, per run that reached it.
    const fails = await query(
      file,
      `select run_id, count(*)::int as n from dbt_cloud.run_results where step_command = 'dbt test' and status = 'fail' group by run_id`,
    );
    expect(fails.length).toBeGreaterThan(0);
    expect(fails.every((r) => r['n'] === 2)).toBe(true);
    // The manifest of the last step that writes one (dbt test, the real 1.12 manifest: 8 models).
    expect(await count(file, 'models', "step_command = 'dbt test'")).toBe(fails.length * 8);
  });

  it('a source freshness job writes no manifest and no run_results: nothing fetched, not an error', async () => {
    const job = emu.store.jobs.find((j) => j.executeSteps.join() === 'dbt source freshness')!;
    emu.requests.reset();
    const file = path.join(tmp.dir, 'freshness.duckdb');
    const p = duckPipeline(file, path.join(tmp.dir, 'data-freshness'));
    const info = await p.run(
      dbtCloudSource({
        baseUrl: emu.url,
        accountId: emu.accountId,
        apiToken: emu.token,
        resources: ['runs', 'run_results', 'models'],
        jobIds: [job.id],
        ...FAST,
      }),
    );
    await p.close();
    expect(info.rowCounts['runs']).toBe(emu.store.runs.filter((r) => r.jobId === job.id).length);
    expect(emu.requests.count(/\/artifacts\//)).toBe(0);
    const state = (await duckPipeline(file, path.join(tmp.dir, 'data-freshness')).state()).sources[
      'dbt_cloud'
    ]?.resources['runs']?.extras as DbtCloudRunsState | undefined;
    expect(state?.artifactsPending).toBeUndefined();
  });
});

describe('artifacts not uploaded yet', () => {
  it('are remembered in state and arrive on the next load; a run is asked on at most lateArtifactLoads loads', async () => {
    const emu = await startEmulator({ runs: 0, seed: 9, projects: 1, artifactDelayMs: 3_600_000 });
    const tmp = await tempDir('late');
    try {
      const added = emu.addRuns(8).map((id) => emu.store.run(id)!);
      const withArtifacts = added.filter((r) => emu.store.hasArtifacts(r));
      expect(withArtifacts.length).toBeGreaterThan(3);
      const expected = (ids: number[]): number => {
        let n = 0;
        for (const r of added.filter((x) => ids.includes(x.id)))
          for (let i = 1; i <= emu.store.stepNames(r).length; i++)
            if (commandWrites(emu.store.stepCommand(r, i)).runResults)
              n += (buildRunResults(emu.store, r, i)['results'] as unknown[]).length;
        return n;
      };
      const opts: DbtCloudSourceOptions = {
        baseUrl: emu.url,
        accountId: emu.accountId,
        apiToken: emu.token,
        resources: ['runs', 'run_results', 'models'],
        lookbackMs: 0,
        ...FAST,
      };
      const file = path.join(tmp.dir, 'late.duckdb');
      const dataDir = path.join(tmp.dir, 'data');
      const load = async (): Promise<DbtCloudRunsState> => {
        const p = duckPipeline(file, dataDir);
        await p.run(dbtCloudSource(opts));
        const st = (await p.state()).sources['dbt_cloud']?.resources['runs']?.extras as DbtCloudRunsState;
        await p.close();
        return st;
      };
      // Load 1: every artifact 404s; the runs are remembered per table.
      const s1 = await load();
      expect(await count(file, 'runs')).toBe(added.length);
      const pendingIds = (st: DbtCloudRunsState, table: string): number[] =>
        Object.keys(st.artifactsPending?.[table] ?? {})
          .map(Number)
          .sort();
      const sources = withArtifacts.filter((r) =>
        emu.store.stepNames(r).some((_, i) => commandWrites(emu.store.stepCommand(r, i + 1)).runResults),
      );
      expect(pendingIds(s1, 'run_results')).toEqual(sources.map((r) => r.id).sort());
      // Load 2: uploaded now. The remembered runs are re-read by id and their artifacts land.
      emu.setArtifactDelayMs(0);
      emu.requests.reset();
      const s2 = await load();
      expect(emu.requests.filter(/\/runs\/$/).some((r) => r.query.has('pk__in'))).toBe(true);
      expect(await count(file, 'run_results')).toBe(expected(added.map((r) => r.id)));
      expect(s2.artifactsPending).toBeUndefined();
      expect(await count(file, 'runs')).toBe(added.length);

      // Bounded: artifacts that never appear are asked on at most lateArtifactLoads loads, then dropped.
      emu.setArtifactDelayMs(3_600_000);
      const more = emu.addRuns(6);
      const bounded = { ...opts, lateArtifactLoads: 2 };
      const loadB = async (): Promise<DbtCloudRunsState> => {
        const p = duckPipeline(file, dataDir);
        await p.run(dbtCloudSource(bounded));
        const st = (await p.state()).sources['dbt_cloud']?.resources['runs']?.extras as DbtCloudRunsState;
        await p.close();
        return st;
      };
      const b1 = await loadB();
      const moreWriting = more
        .map((id) => emu.store.run(id)!)
        .filter((r) => emu.store.hasArtifacts(r))
        .filter((r) =>
          emu.store.stepNames(r).some((_, i) => commandWrites(emu.store.stepCommand(r, i + 1)).runResults),
        );
      expect(moreWriting.length).toBeGreaterThan(0);
      for (const r of moreWriting) expect(pendingIds(b1, 'run_results')).toContain(r.id);
      const b2 = await loadB();
      expect(b2.artifactsPending).toBeUndefined();
    } finally {
      await emu.close();
      await tmp.cleanup();
    }
  });
});
