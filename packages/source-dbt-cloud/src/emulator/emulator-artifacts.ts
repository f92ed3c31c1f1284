import { formatDatetime } from './emulator-format.ts';
import { keyedRandom } from './emulator-random.ts';
import type { EmulatorStore, EmuRun } from './emulator-store.ts';

/** What a dbt command writes to `target/`: a manifest, run results, a catalog, source freshness results. */
export function commandWrites(command: string | undefined): {
  manifest: boolean;
  runResults: boolean;
  catalog: boolean;
  sources: boolean;
} {
  const c = (command ?? '').replace(/^dbt\s+/, '');
  const none = { manifest: false, runResults: false, catalog: false, sources: false };
  if (command === undefined || /^(deps|clean|debug|init)\b/.test(c)) return none;
  // `dbt source freshness` writes sources.json only: no manifest, no run_results (issue 16, item 6).
  if (/^source\s+freshness\b/.test(c)) return { ...none, sources: true };
  if (/^docs\s+generate\b/.test(c))
    return { manifest: true, runResults: true, catalog: true, sources: false };
  return { ...none, manifest: true, runResults: true };
}

/** The step `?step=` selects: the given index, else the run's last step (dbt Cloud's default). */
export function resolveStep(store: EmulatorStore, run: EmuRun, step: number | undefined): number {
  return step ?? store.stepNames(run).length;
}

/**
 * Artifact paths of one step of a finished run (relative to `target/`), as `GET .../artifacts/` returns
 * them; `step` defaults to the last step, as in dbt Cloud.
 */
export function artifactPaths(store: EmulatorStore, run: EmuRun, step?: number): string[] {
  if (!store.hasArtifacts(run)) return [];
  const index = resolveStep(store, run, step);
  if (index < 1 || index > store.stepNames(run).length) return [];
  const writes = commandWrites(store.stepCommand(run, index));
  const project = store.project(run.projectId);
  const paths: string[] = [];
  if (writes.manifest) paths.push('manifest.json');
  if (writes.runResults) paths.push('run_results.json');
  if (writes.catalog && run.status === 10) paths.push('catalog.json');
  if (writes.sources) paths.push('sources.json');
  if (writes.manifest)
    for (const m of project?.models ?? []) paths.push(`compiled/${project?.name}/models/${m}.sql`);
  return paths;
}

function hash10(random: () => number): string {
  let out = '';
  for (let i = 0; i < 10; i++) out += Math.floor(random() * 16).toString(16);
  return out;
}

function iso(us: number): string {
  return `${formatDatetime(us, 'isoZ')!.replace(/(\.\d{6})?Z$/, (m) => (m.length > 1 ? m : '.000000Z'))}`;
}

/** Test nodes of a project: `not_null` and `unique` on every model's id (two per model). */
function testsOf(
  project: { name: string; models: string[] },
  seed: number,
): { uid: string; model: string }[] {
  const r = keyedRandom(seed, project.models.length * 7919 + project.name.length);
  return project.models.flatMap((m) => [
    { uid: `test.${project.name}.not_null_${m}_id.${hash10(r)}`, model: m },
    { uid: `test.${project.name}.unique_${m}_id.${hash10(r)}`, model: m },
  ]);
}

/**
 * `run_results.json` (schema v6) of one step of a run (default: the last step, as dbt Cloud serves it).
 * `dbt build` has a result per model and test, `dbt run` per model, `dbt test` per test, `dbt docs
 * generate` every node `success` with compile-only timings. The failing step of a failed run has one model
 * in `error` and everything after it `skipped`; tests sometimes `warn`/`fail`. Deterministic per run and step.
 */
export function buildRunResults(store: EmulatorStore, run: EmuRun, step?: number): Record<string, unknown> {
  const project = store.project(run.projectId)!;
  const index = resolveStep(store, run, step);
  const command = (store.stepCommand(run, index) ?? 'dbt build').replace(/^dbt\s+/, '');
  if (/^docs\s+generate/.test(command)) return buildDocsRunResults(store, run, index);
  const which = command.split(/\s+/)[0] ?? 'build';
  const r = keyedRandom(store.options.seed, run.id * 31 + index);
  const failing = run.status === 20 && index === store.stepNames(run).length;
  const withModels = which !== 'test';
  const withTests = which === 'build' || which === 'test';
  const failAt = failing && withModels ? Math.floor(r() * project.models.length) : -1;
  const failTestAt = failing && !withModels ? 0 : -1;
  let clock = run.startedUs ?? run.createdUs;
  const results: Record<string, unknown>[] = [];
  const timing = (ms: number): Record<string, unknown>[] => {
    const c0 = clock;
    clock += 1000 + Math.floor(r() * 5000);
    const e0 = clock;
    clock += ms * 1000;
    return [
      { name: 'compile', started_at: iso(c0), completed_at: iso(e0) },
      { name: 'execute', started_at: iso(e0), completed_at: iso(clock) },
    ];
  };
  (withModels ? project.models : []).forEach((m, i) => {
    const skipped = failAt >= 0 && i > failAt;
    const status = i === failAt ? 'error' : skipped ? 'skipped' : 'success';
    const ms = skipped ? 0 : Math.floor(200 + r() * 20_000);
    results.push({
      status,
      timing: skipped ? [] : timing(ms),
      thread_id: `Thread-${(i % 8) + 1}`,
      execution_time: ms / 1000,
      adapter_response: skipped
        ? {}
        : {
            _message: status === 'error' ? 'ERROR' : 'SUCCESS 1',
            code: 'SUCCESS',
            rows_affected: Math.floor(r() * 10_000),
            query_id: `01b2${hash10(r)}`,
          },
      message:
        status === 'error'
          ? `Database Error in model ${m} (models/${m}.sql)\n  relation "raw.${m}_source" does not exist`
          : skipped
            ? 'SKIP'
            : 'SUCCESS 1',
      failures: null,
      unique_id: `model.${project.name}.${m}`,
      compiled: !skipped,
      compiled_code: skipped ? null : `select * from raw.${m}_source`,
      relation_name: `ANALYTICS.PROD.${m.toUpperCase()}`,
      batch_results: null,
    });
  });
  const tests = withTests ? testsOf(project, store.options.seed) : [];
  tests.forEach((t, ti) => {
    const modelIndex = project.models.indexOf(t.model);
    const skipped = failAt >= 0 && modelIndex >= failAt;
    const roll = r();
    const status =
      ti === failTestAt ? 'error' : skipped ? 'skipped' : roll < 0.05 ? 'fail' : roll < 0.1 ? 'warn' : 'pass';
    const ms = skipped ? 0 : Math.floor(50 + r() * 900);
    results.push({
      status,
      timing: skipped ? [] : timing(ms),
      thread_id: `Thread-${(results.length % 8) + 1}`,
      execution_time: ms / 1000,
      adapter_response: {},
      message:
        status === 'fail' || status === 'warn'
          ? `Got ${1 + Math.floor(r() * 50)} results, configured to ${status} if != 0`
          : null,
      failures: skipped ? null : status === 'pass' ? 0 : 1 + Math.floor(r() * 50),
      unique_id: t.uid,
      compiled: !skipped,
      compiled_code: skipped ? null : `select id from ${t.model} where id is null`,
      relation_name: null,
      batch_results: null,
    });
  });
  return {
    metadata: {
      dbt_schema_version: 'https://schemas.getdbt.com/dbt/run-results/v6.json',
      dbt_version: '1.9.0',
      generated_at: iso(run.finishedUs ?? clock),
      invocation_id: `inv-${run.id}-${index}`,
      env: {},
    },
    results,
    elapsed_time: (clock - (run.startedUs ?? run.createdUs)) / 1e6,
    args: { which, select: [], exclude: [] },
  };
}

/**
 * `run_results.json` of a `dbt docs generate` step: every model and test `success`, compile-only timings
 * and no messages. This is what a client that omits `?step=` loads for a job with `generate_docs`.
 */
function buildDocsRunResults(store: EmulatorStore, run: EmuRun, index: number): Record<string, unknown> {
  const project = store.project(run.projectId)!;
  const clock = run.finishedUs ?? run.startedUs ?? run.createdUs;
  const uids = [
    ...project.models.map((m) => `model.${project.name}.${m}`),
    ...testsOf(project, store.options.seed).map((t) => t.uid),
  ];
  return {
    metadata: {
      dbt_schema_version: 'https://schemas.getdbt.com/dbt/run-results/v6.json',
      dbt_version: '1.9.0',
      generated_at: iso(clock),
      invocation_id: `inv-${run.id}-${index}`,
      env: {},
    },
    results: uids.map((uid, i) => ({
      status: 'success',
      timing: [{ name: 'compile', started_at: iso(clock - 2000 + i), completed_at: iso(clock - 1000 + i) }],
      thread_id: `Thread-${(i % 8) + 1}`,
      execution_time: 0.001,
      adapter_response: {},
      message: null,
      failures: null,
      unique_id: uid,
      compiled: true,
      compiled_code: 'select 1',
      relation_name: null,
      batch_results: null,
    })),
    elapsed_time: 1.5,
    args: { which: 'generate', select: [], exclude: [] },
  };
}

/** `manifest.json` (schema v12) of a run's project: its models, tests and sources. */
export function buildManifest(store: EmulatorStore, run: EmuRun): Record<string, unknown> {
  const project = store.project(run.projectId)!;
  const name = project.name;
  const nodes: Record<string, unknown> = {};
  const sources: Record<string, unknown> = {};
  for (const src of project.sources) {
    const [schema, table] = src.split('.');
    sources[`source.${name}.${schema}.${table}`] = {
      resource_type: 'source',
      name: table,
      source_name: schema,
      unique_id: `source.${name}.${schema}.${table}`,
      package_name: name,
      database: 'RAW',
      schema,
      identifier: table,
      loaded_at_field: '_loaded_at',
      fqn: [name, schema!, table!],
    };
  }
  project.models.forEach((m, i) => {
    const upstream = i === 0 ? Object.keys(sources).slice(0, 1) : [`model.${name}.${project.models[i - 1]}`];
    nodes[`model.${name}.${m}`] = {
      resource_type: 'model',
      name: m,
      unique_id: `model.${name}.${m}`,
      package_name: name,
      path: `${m}.sql`,
      original_file_path: `models/${m}.sql`,
      fqn: [name, m],
      database: 'ANALYTICS',
      schema: 'PROD',
      alias: m,
      language: 'sql',
      checksum: { name: 'sha256', checksum: `${m.length}`.padStart(64, 'a') },
      config: {
        enabled: true,
        materialized: i % 3 === 2 ? 'incremental' : i < 3 ? 'view' : 'table',
        tags: [],
        unique_key: i % 3 === 2 ? 'id' : null,
      },
      tags: i < 3 ? ['staging'] : ['marts'],
      description: `The ${m} model.`,
      columns: { id: { name: 'id', description: 'Primary key', data_type: null, meta: {}, tags: [] } },
      meta: {},
      depends_on: { macros: [], nodes: upstream },
      refs: i === 0 ? [] : [{ name: project.models[i - 1], package: null, version: null }],
      sources: i === 0 ? [project.sources[0]!.split('.')] : [],
      relation_name: `ANALYTICS.PROD.${m.toUpperCase()}`,
      raw_code: `select * from {{ ref('${project.models[i - 1] ?? 'source'}') }}`,
      access: 'protected',
      contract: { enforced: false },
      version: null,
      latest_version: null,
      created_at: 1_756_000_000 + i,
    };
  });
  for (const t of testsOf(project, store.options.seed)) {
    nodes[t.uid] = {
      resource_type: 'test',
      name: t.uid.split('.')[2],
      unique_id: t.uid,
      package_name: name,
      depends_on: { macros: ['macro.dbt.test_not_null'], nodes: [`model.${name}.${t.model}`] },
      attached_node: `model.${name}.${t.model}`,
      config: { severity: 'ERROR' },
      fqn: [name, t.uid.split('.')[2]!],
    };
  }
  return {
    metadata: {
      dbt_schema_version: 'https://schemas.getdbt.com/dbt/manifest/v12.json',
      dbt_version: '1.9.0',
      generated_at: iso(run.startedUs ?? run.createdUs),
      invocation_id: `inv-${run.id}`,
      env: {},
      project_name: name,
      project_id: `p${project.id}`,
      adapter_type: 'snowflake',
    },
    nodes,
    sources,
    macros: {},
    docs: {},
    exposures: {},
    metrics: {},
    groups: {},
    selectors: {},
    disabled: {},
    parent_map: {},
    child_map: {},
    group_map: {},
    saved_queries: {},
    semantic_models: {},
    unit_tests: {},
    functions: {},
  };
}

/** A compiled SQL file (non-JSON artifact). */
export function buildCompiledSql(path: string): string {
  const model =
    path
      .split('/')
      .pop()
      ?.replace(/\.sql$/, '') ?? 'model';
  return `-- compiled by the dbt Cloud emulator\nselect * from raw.${model}_source\n`;
}

/** `catalog.json` stub. */
export function buildCatalog(store: EmulatorStore, run: EmuRun): Record<string, unknown> {
  return {
    metadata: {
      dbt_schema_version: 'https://schemas.getdbt.com/dbt/catalog/v1.json',
      invocation_id: `inv-${run.id}`,
    },
    nodes: {},
    sources: {},
    errors: null,
    account: store.account.id,
  };
}

/** `sources.json` (source freshness results) of a `dbt source freshness` step. */
export function buildSources(store: EmulatorStore, run: EmuRun): Record<string, unknown> {
  const project = store.project(run.projectId)!;
  const at = iso(run.finishedUs ?? run.createdUs);
  return {
    metadata: {
      dbt_schema_version: 'https://schemas.getdbt.com/dbt/sources/v3.json',
      dbt_version: '1.9.0',
      generated_at: at,
      invocation_id: `inv-${run.id}-sources`,
      env: {},
    },
    results: project.sources.map((src) => ({
      unique_id: `source.${project.name}.${src}`,
      max_loaded_at: at,
      snapshotted_at: at,
      max_loaded_at_time_ago_in_s: 3600,
      status: 'pass',
      criteria: { warn_after: { count: 12, period: 'hour' }, error_after: { count: 24, period: 'hour' } },
      adapter_response: {},
      timing: [],
      thread_id: 'Thread-1',
      execution_time: 0.5,
    })),
    elapsed_time: 1.0,
  };
}
