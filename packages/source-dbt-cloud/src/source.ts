import {
  ConfigError,
  resource,
  source,
  transformer,
  type ColumnHint,
  type DataItem,
  type Resource,
  type ResourceContext,
  type Source,
} from '@ferry/core';
import {
  DbtCloudClient,
  type DbtCloudClientOptions,
  type DbtCloudId,
  type DbtCloudQueryValue,
} from './client/dbt-cloud-client.ts';
import { parseManifest } from './artifacts/manifest.ts';
import { parseRunResults } from './artifacts/run-results.ts';
import { dbtStepsOf, manifestStep, type DbtStep } from './artifacts/dbt-steps.ts';
import { DbtCloudAccessTracker, type DbtCloudForbiddenResource } from './access.ts';
import { requireSetting, resolveDbtCloudSettings, type DbtCloudSettingsSources } from './config.ts';
import { TERMINAL_STATUSES } from './orchestration.ts';
import {
  compareDatetimes,
  formatIsoMicros,
  formatNaiveUtc,
  minusMs,
  normalizeDatetimesDeep,
  parseDbtDatetime,
} from './util/dbt-cloud-datetime.ts';

/** Resource names of {@link dbtCloudSource}; each is also its table name, except the by-id forms. */
export const DBT_CLOUD_RESOURCES = [
  'accounts',
  'account',
  'projects',
  'environments',
  'jobs',
  'job',
  'runs',
  'run',
  'run_artifacts',
  'run_results',
  'models',
  'repositories',
  'users',
  'connections',
] as const;

/** A resource of {@link dbtCloudSource}. */
export type DbtCloudResourceName = (typeof DBT_CLOUD_RESOURCES)[number];

/** Loaded when `resources` is not given: every list that costs a handful of requests, plus runs. */
export const DEFAULT_DBT_CLOUD_RESOURCES: readonly DbtCloudResourceName[] = [
  'accounts',
  'projects',
  'environments',
  'jobs',
  'runs',
  'repositories',
  'users',
  'connections',
];

const ARTIFACT_RESOURCES: readonly DbtCloudResourceName[] = ['run_artifacts', 'run_results', 'models'];

/** Options of {@link dbtCloudSource}. Connection settings not given here come from `DBT_CLOUD__*` and YAML. */
export interface DbtCloudSourceOptions {
  /** Access URL host (`ab123.us1.dbt.com`). No default (see {@link DbtCloudClientOptions.host}). */
  host?: string;
  /** Scheme + host root, for proxies and the emulator. */
  baseUrl?: string;
  /** Account id. Default `DBT_CLOUD__ACCOUNT_ID`. */
  accountId?: DbtCloudId;
  /** API token. Default `DBT_CLOUD__API_TOKEN`. Never logged or loaded. */
  apiToken?: string;
  /** Resources to load. Default {@link DEFAULT_DBT_CLOUD_RESOURCES} (plus the artifact ones when `artifacts`). */
  resources?: readonly DbtCloudResourceName[];
  /** Only these projects (projects, environments, repositories, jobs, runs). Default: all. */
  projectIds?: readonly DbtCloudId[];
  /** Only these environments (environments, jobs, runs). Default: all. */
  environmentIds?: readonly DbtCloudId[];
  /** Only these jobs (jobs, runs); also the ids the `job` resource reads. Default: all. */
  jobIds?: readonly DbtCloudId[];
  /** Ids the `run` resource reads (with steps). Default: none. */
  runIds?: readonly DbtCloudId[];
  /**
   * Fetch artifacts of finished runs: `run_artifacts` (file list), `run_results` (one row per node result)
   * and `models` (model nodes of `manifest.json`). Costs 3 requests per run. Default false.
   */
  artifacts?: boolean;
  /** Lower bound of `finished_at` on the first load (ISO string or Date). Default: no bound (all runs). */
  runsInitialValue?: string | Date;
  /**
   * How far below the last `finished_at` each load starts again, ms: runs commit with a slight delay and
   * several can share a timestamp. Re-read rows merge on `id`. Default 600,000 (10 minutes).
   */
  lookbackMs?: number;
  /** Pages fetched at once once `total_count` is known. Default 4. */
  pageConcurrency?: number;
  /** Runs whose artifacts are fetched at once. Default 4. */
  artifactConcurrency?: number;
  /**
   * Loads on which a run's artifacts are asked for again when they answered 404 (dbt Cloud uploads them
   * asynchronously, so they are briefly missing right after a run ends). The run is remembered in the runs
   * state and re-read on the next load. Default 6; 1 asks once only.
   */
  lateArtifactLoads?: number;
  /** Retries on 429/5xx/network/non-JSON. Default 6. */
  maxRetries?: number;
  /** Per-attempt timeout, ms. Default 60,000. */
  timeoutMs?: number;
  /** First backoff delay, ms. Default 1,000. */
  retryBaseDelayMs?: number;
  /** Largest backoff delay (and `Retry-After` cap), ms. Default 300,000. */
  retryMaxDelayMs?: number;
  /** Receives every HTTP attempt (no token in it). Default: none. */
  onRequest?: DbtCloudClientOptions['onRequest'];
  /** Requests per minute, shared per account. Default 4,000 (see {@link DbtCloudClientOptions.requestsPerMinute}). */
  requestsPerMinute?: number;
  /** Wait after a 429 without `Retry-After`, ms. Default 300,000 (dbt Cloud's 5-minute cooldown). */
  rateLimitCooldownMs?: number;
  /** Total wait budget of the load's client, ms. Default 1,800,000 (see {@link DbtCloudClientOptions.maxTotalWaitMs}). */
  maxTotalWaitMs?: number;
  /** Told before every wait, why and how long. Default: one line on stderr. */
  onWait?: DbtCloudClientOptions['onWait'];
  /** Use this client instead of building one (the connection settings above are then ignored). */
  client?: DbtCloudClient;
  /** Where to read missing settings. Default: `process.env`, no YAML. */
  settingsSources?: DbtCloudSettingsSources;
  /** Source (schema) name. Default `dbt_cloud`. */
  name?: string;
  /**
   * Told once per resource the token may not read (403): the resource is skipped, the others load.
   * Default: the warning's message on stderr (`console.warn`). See {@link DbtCloudSource.forbidden}.
   */
  onWarning?: (warning: DbtCloudForbiddenResource) => void;
}

/** The dbt Cloud source, with what the token could not read in its last load. */
export interface DbtCloudSource extends Source {
  /**
   * Resources skipped on 403 during the last load, each with the permission sets that read it and
   * whether the team named it (see `forbiddenOutcome` for the exit status). Empty before a load.
   */
  readonly forbidden: readonly DbtCloudForbiddenResource[];
}

/** Shape of the runs resource's state (stored by the engine with each load, so a fresh machine resumes). */
export interface DbtCloudRunsState {
  /** Highest `finished_at` loaded so far (ISO, UTC, microseconds). */
  lastFinishedAt?: string;
  /** Ids of runs that were queued or running at the last load: re-read until they finish. */
  inFlight?: string[];
  /**
   * Runs whose artifacts answered 404 (not uploaded yet), per artifact table (`run_results`, `models`),
   * with the number of loads that asked: re-read and fetched again on the next load, up to
   * {@link DbtCloudSourceOptions.lateArtifactLoads}.
   */
  artifactsPending?: Record<string, Record<string, number>>;
}

const ID: ColumnHint = { dataType: 'bigint' };
const TS: ColumnHint = { dataType: 'timestamp' };
const JSON_HINT: ColumnHint = { dataType: 'json' };

function hints(ids: string[], timestamps: string[], json: string[] = []): Record<string, ColumnHint> {
  return Object.fromEntries([
    ...ids.map((c) => [c, ID]),
    ...timestamps.map((c) => [c, TS]),
    ...json.map((c) => [c, JSON_HINT]),
  ]);
}

const RUN_HINTS = hints(
  [
    'id',
    'trigger_id',
    'account_id',
    'environment_id',
    'project_id',
    'job_definition_id',
    'job_id',
    'trigger__id',
    'trigger__job_definition_id',
  ],
  [
    'created_at',
    'updated_at',
    'dequeued_at',
    'started_at',
    'finished_at',
    'last_checked_at',
    'last_heartbeat_at',
    'should_start_at',
    'trigger__created_at',
  ],
);

function toIso(value: string | Date): string {
  if (value instanceof Date) return formatIsoMicros({ ms: value.getTime(), micros: 0 });
  const p = parseDbtDatetime(value);
  if (!p)
    throw new ConfigError(
      `runsInitialValue '${value}' is not a datetime; use ISO-8601, e.g. 2026-01-01T00:00:00Z`,
      { path: 'runsInitialValue' },
    );
  return formatIsoMicros(p);
}

function rowsOf(page: readonly Record<string, unknown>[]): DataItem[] {
  return page.map((row) => normalizeDatetimesDeep(row));
}

function idSet(ids: readonly DbtCloudId[] | undefined): Set<string> | undefined {
  return ids?.length ? new Set(ids.map(String)) : undefined;
}

/**
 * The dbt Cloud source: accounts, projects, environments, jobs, runs (with `runs__run_steps`), artifacts,
 * repositories, users and connections. Entities merge on `id`; runs load incrementally on `finished_at`
 * and runs still in flight are re-read until their final status lands. See the package README for
 * tables and keys.
 */
export function dbtCloudSource(options: DbtCloudSourceOptions = {}): DbtCloudSource {
  const settings = resolveDbtCloudSettings(
    {
      ...(options.host === undefined ? {} : { host: options.host }),
      ...(options.baseUrl === undefined ? {} : { baseUrl: options.baseUrl }),
      ...(options.accountId === undefined ? {} : { accountId: options.accountId }),
      ...(options.apiToken === undefined ? {} : { apiToken: options.apiToken }),
    },
    options.settingsSources ?? {},
  );
  const client =
    options.client ??
    new DbtCloudClient({
      ...(settings.host === undefined ? {} : { host: settings.host }),
      ...(settings.baseUrl === undefined ? {} : { baseUrl: settings.baseUrl }),
      accountId: requireSetting(settings, 'accountId'),
      apiToken: requireSetting(settings, 'apiToken'),
      ...(options.pageConcurrency === undefined ? {} : { pageConcurrency: options.pageConcurrency }),
      ...(options.maxRetries === undefined ? {} : { maxRetries: options.maxRetries }),
      ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
      ...(options.retryBaseDelayMs === undefined ? {} : { retryBaseDelayMs: options.retryBaseDelayMs }),
      ...(options.retryMaxDelayMs === undefined ? {} : { retryMaxDelayMs: options.retryMaxDelayMs }),
      ...(options.onRequest === undefined ? {} : { onRequest: options.onRequest }),
      ...(options.requestsPerMinute === undefined ? {} : { requestsPerMinute: options.requestsPerMinute }),
      ...(options.rateLimitCooldownMs === undefined
        ? {}
        : { rateLimitCooldownMs: options.rateLimitCooldownMs }),
      ...(options.maxTotalWaitMs === undefined ? {} : { maxTotalWaitMs: options.maxTotalWaitMs }),
      ...(options.onWait === undefined ? {} : { onWait: options.onWait }),
    });
  const requested = new Set<DbtCloudResourceName>(options.resources ?? DEFAULT_DBT_CLOUD_RESOURCES);
  if (options.artifacts) for (const r of ARTIFACT_RESOURCES) requested.add(r);
  const unknown = [...requested].filter((r) => !(DBT_CLOUD_RESOURCES as readonly string[]).includes(r));
  if (unknown.length) {
    throw new ConfigError(
      `unknown dbt Cloud resource(s) ${unknown.join(', ')}; choose from ${DBT_CLOUD_RESOURCES.join(', ')}`,
      { path: 'resources' },
    );
  }
  if (requested.has('job') && !options.jobIds?.length)
    throw new ConfigError("resource 'job' reads the jobs in jobIds; set jobIds", { path: 'jobIds' });
  if (requested.has('run') && !options.runIds?.length)
    throw new ConfigError("resource 'run' reads the runs in runIds; set runIds", { path: 'runIds' });

  const a = client.accountPath;
  const projectFilter = idSet(options.projectIds);
  const envFilter = idSet(options.environmentIds);
  const jobFilter = idSet(options.jobIds);
  const lookbackMs = options.lookbackMs ?? 600_000;
  const initial = options.runsInitialValue === undefined ? undefined : toIso(options.runsInitialValue);
  const merge = { writeDisposition: 'merge' as const, primaryKey: 'id' };
  const resources: Resource[] = [];
  const want = (name: DbtCloudResourceName): boolean => requested.has(name);
  // Named by the team (resources:, or artifacts: true) rather than taken from the defaults.
  const explicit = new Set<string>([
    ...(options.resources ?? []),
    ...(options.artifacts ? ARTIFACT_RESOURCES : []),
  ]);
  const onWarning = options.onWarning ?? ((w: DbtCloudForbiddenResource) => console.warn(w.message));
  const access = new DbtCloudAccessTracker(explicit, onWarning);
  // Every resource is wrapped so that a 403 skips it with a warning instead of failing the load.
  const dependentsOf = (name: string): string[] =>
    name === 'projects'
      ? (['environments', 'repositories'] as const).filter(want)
      : name === 'runs'
        ? ARTIFACT_RESOURCES.filter(want)
        : [];
  const res = (opts: Parameters<typeof resource>[0], fn: Parameters<typeof resource>[1]): Resource =>
    resource(opts, access.guardRoot(opts.name, dependentsOf(opts.name), fn));
  const tr = (opts: Parameters<typeof transformer>[0], fn: Parameters<typeof transformer>[1]): Resource =>
    transformer(opts, access.guardTransformer(opts.name, fn));

  if (want('accounts')) {
    resources.push(
      res(
        {
          name: 'accounts',
          ...merge,
          columns: hints(
            ['id'],
            [
              'created_at',
              'updated_at',
              'unlocked_at',
              'trial_end_date',
              'run_locked_until',
              'copilot_locked_until',
            ],
          ),
        },
        async function* (ctx) {
          for await (const page of client.paginate('v3', 'accounts/', {}, { signal: ctx.signal }))
            yield rowsOf(page);
        },
      ),
    );
  }
  if (want('account')) {
    resources.push(
      res(
        {
          name: 'account',
          tableName: 'accounts',
          ...merge,
          columns: hints(['id'], ['created_at', 'updated_at']),
        },
        async function* (ctx) {
          yield normalizeDatetimesDeep(
            await client.get<Record<string, unknown>>('v2', `${a}/`, undefined, ctx.signal),
          );
        },
      ),
    );
  }

  // Projects feed environments and repositories (v3 lists them per project), so they run whenever one of the three is wanted.
  const needProjects = want('projects') || want('environments') || want('repositories');
  const projects = res(
    {
      name: 'projects',
      ...merge,
      selected: want('projects'),
      columns: hints(['id', 'account_id', 'connection_id', 'repository_id'], ['created_at', 'updated_at']),
    },
    async function* (ctx) {
      const query: Record<string, DbtCloudQueryValue> = projectFilter
        ? { pk__in: [...projectFilter].map(Number) }
        : {};
      for await (const page of client.paginate('v3', `${a}/projects/`, query, { signal: ctx.signal })) {
        yield rowsOf(page.filter((p) => !projectFilter || projectFilter.has(String(p['id']))));
      }
    },
  );
  if (needProjects) resources.push(projects);
  if (want('environments')) {
    resources.push(
      tr(
        {
          name: 'environments',
          ...merge,
          parent: projects,
          columns: hints(
            ['id', 'account_id', 'project_id', 'connection_id', 'credentials_id', 'repository_id'],
            ['created_at', 'updated_at'],
          ),
        },
        async function* (project, ctx) {
          for await (const page of client.paginate(
            'v3',
            `${a}/projects/${String(project['id'])}/environments/`,
            {},
            { signal: ctx.signal },
          )) {
            yield rowsOf(page.filter((e) => !envFilter || envFilter.has(String(e['id']))));
          }
        },
      ),
    );
  }
  if (want('repositories')) {
    resources.push(
      tr(
        {
          name: 'repositories',
          ...merge,
          parent: projects,
          columns: hints(['id', 'account_id', 'project_id'], ['created_at', 'updated_at']),
        },
        async function* (project, ctx) {
          for await (const page of client.paginate(
            'v3',
            `${a}/projects/${String(project['id'])}/repositories/`,
            {},
            { signal: ctx.signal },
          ))
            yield rowsOf(page);
        },
      ),
    );
  }

  const JOB_HINTS = hints(
    [
      'id',
      'account_id',
      'project_id',
      'environment_id',
      'deferring_job_definition_id',
      'deferring_environment_id',
    ],
    ['created_at', 'updated_at', 'next_run'],
  );
  if (want('jobs')) {
    resources.push(
      res({ name: 'jobs', ...merge, columns: JOB_HINTS }, async function* (ctx) {
        const base: Record<string, DbtCloudQueryValue> = projectFilter
          ? { project_id__in: [...projectFilter].map(Number) }
          : {};
        const queries = envFilter ? [...envFilter].map((e) => ({ ...base, environment_id: e })) : [base];
        for (const q of queries) {
          for await (const page of client.paginate('v2', `${a}/jobs/`, q, { signal: ctx.signal })) {
            yield rowsOf(page.filter((j) => !jobFilter || jobFilter.has(String(j['id']))));
          }
        }
      }),
    );
  }
  if (want('job')) {
    resources.push(
      res({ name: 'job', tableName: 'jobs', ...merge, columns: JOB_HINTS }, async function* (ctx) {
        for (const id of options.jobIds ?? [])
          yield normalizeDatetimesDeep(
            await client.get<Record<string, unknown>>(
              'v2',
              `${a}/jobs/${String(id)}/`,
              undefined,
              ctx.signal,
            ),
          );
      }),
    );
  }

  const needRuns = want('runs') || ARTIFACT_RESOURCES.some(want);
  // The artifact transformers note late artifacts in the runs state, which re-reads those runs next load.
  const runsStateRef: { state?: DbtCloudRunsState } = {};
  const runs = res({ name: 'runs', ...merge, selected: want('runs'), columns: RUN_HINTS }, (ctx) => {
    runsStateRef.state = ctx.state as DbtCloudRunsState;
    return runsResource(client, ctx, {
      projectFilter,
      envFilter,
      jobFilter,
      lookbackMs,
      initial,
    });
  });
  if (needRuns) resources.push(runs);
  if (want('run')) {
    resources.push(
      res({ name: 'run', tableName: 'runs', ...merge, columns: RUN_HINTS }, async function* (ctx) {
        for (const id of options.runIds ?? []) {
          yield normalizeDatetimesDeep(
            await client.getRun(id, { includeRelated: ['trigger', 'run_steps'], signal: ctx.signal }),
          );
        }
      }),
    );
  }

  const artifactConcurrency = options.artifactConcurrency ?? 4;
  const lateArtifactLoads = Math.max(1, options.lateArtifactLoads ?? 6);
  // Finished runs that can have artifacts. `artifacts_saved` can still be false right after the end (the
  // upload is asynchronous), so success and error runs are asked regardless; a 404 then means "later".
  const hasArtifacts = (run: DataItem): boolean =>
    TERMINAL_STATUSES.has(Number(run['status'])) &&
    (run['artifacts_saved'] === true || Number(run['status']) !== 30);
  const runKeys = (run: DataItem): DataItem => ({
    run_id: run['id'],
    account_id: run['account_id'],
    project_id: run['project_id'],
    environment_id: run['environment_id'],
    job_id: run['job_definition_id'],
  });
  const KEY_HINTS = hints(['run_id', 'account_id', 'project_id', 'environment_id', 'job_id'], []);
  const STEP_HINTS: Record<string, ColumnHint> = {
    step_index: { dataType: 'bigint' },
    step_command: { dataType: 'text' },
    step_name: { dataType: 'text' },
  };
  /** The run's dbt steps: from the row's `run_steps`, else one retrieve with `include_related=run_steps`. */
  const stepsOf = async (run: DataItem, signal: AbortSignal): Promise<DbtStep[]> => {
    const listed = dbtStepsOf(run['run_steps']);
    if (listed.length > 0) return listed;
    const full = await client.getRun(run['id'] as DbtCloudId, { includeRelated: ['run_steps'], signal });
    return dbtStepsOf(full['run_steps']);
  };
  /** Remember (or forget) a run whose `table` artifacts were not all there yet. */
  const notePending = (table: string, run: DataItem, missing: boolean): void => {
    const st = runsStateRef.state;
    if (!st) return;
    const id = String(run['id']);
    const byTable = st.artifactsPending?.[table];
    if (!missing) {
      if (byTable && id in byTable) delete byTable[id];
    } else {
      const pending = (st.artifactsPending ??= {});
      const map = (pending[table] ??= {});
      const tries = (map[id] ?? 0) + 1;
      if (tries >= lateArtifactLoads) delete map[id];
      else map[id] = tries;
    }
    for (const [k, v] of Object.entries(st.artifactsPending ?? {}))
      if (Object.keys(v).length === 0) delete st.artifactsPending![k];
    if (st.artifactsPending && Object.keys(st.artifactsPending).length === 0) delete st.artifactsPending;
  };
  const stepColumns = (step: DbtStep | undefined): DataItem => ({
    step_index: step?.index ?? 0,
    step_command: step?.command ?? null,
    step_name: step?.name ?? null,
  });
  if (want('run_artifacts')) {
    resources.push(
      tr(
        {
          name: 'run_artifacts',
          writeDisposition: 'merge',
          primaryKey: ['run_id', 'path'],
          parent: runs,
          concurrency: artifactConcurrency,
          columns: KEY_HINTS,
        },
        async function* (run, ctx) {
          if (!hasArtifacts(run)) return;
          const paths = await client.listRunArtifacts(run['id'] as DbtCloudId, ctx.signal);
          const keys = runKeys(run);
          yield paths.map((path) => ({ ...keys, path }));
        },
      ),
    );
  }
  if (want('run_results')) {
    resources.push(
      tr(
        {
          name: 'run_results',
          writeDisposition: 'merge',
          primaryKey: ['run_id', 'step_index', 'unique_id'],
          parent: runs,
          concurrency: artifactConcurrency,
          columns: {
            ...KEY_HINTS,
            ...STEP_HINTS,
            ...hints(
              [],
              ['compile_started_at', 'execute_started_at', 'execute_completed_at', 'generated_at'],
              ['timing', 'adapter_response', 'extra'],
            ),
            execution_time: { dataType: 'double' },
          },
        },
        async function* (run, ctx) {
          if (!hasArtifacts(run)) return;
          const id = run['id'] as DbtCloudId;
          const keys = runKeys(run);
          const steps = await stepsOf(run, ctx.signal);
          // Steps unknown (no run_steps at all): the run's last step, as step 0.
          const targets: (DbtStep | undefined)[] = steps.length
            ? steps.filter((s) => s.writesRunResults)
            : [undefined];
          let missing = false;
          for (const step of targets) {
            const doc = await client.getRunArtifact(id, 'run_results.json', {
              ...(step ? { step: step.index } : {}),
              signal: ctx.signal,
            });
            if (doc === undefined) {
              missing = true;
              continue;
            }
            const cols = stepColumns(step);
            yield parseRunResults(doc).rows.map((r) => ({ ...keys, ...cols, ...r }));
          }
          notePending('run_results', run, missing);
        },
      ),
    );
  }
  if (want('models')) {
    resources.push(
      tr(
        {
          name: 'models',
          writeDisposition: 'merge',
          primaryKey: ['run_id', 'unique_id'],
          parent: runs,
          concurrency: artifactConcurrency,
          columns: {
            ...KEY_HINTS,
            ...STEP_HINTS,
            ...hints([], [], ['tags', 'depends_on_nodes', 'config', 'columns', 'extra']),
          },
        },
        async function* (run, ctx) {
          if (!hasArtifacts(run)) return;
          const steps = await stepsOf(run, ctx.signal);
          const step = manifestStep(steps);
          // A run whose steps write no manifest (e.g. only `dbt source freshness`) has no models: not an error.
          if (steps.length > 0 && step === undefined) return notePending('models', run, false);
          const doc = await client.getRunArtifact(run['id'] as DbtCloudId, 'manifest.json', {
            ...(step ? { step: step.index } : {}),
            signal: ctx.signal,
          });
          notePending('models', run, doc === undefined);
          if (doc === undefined) return;
          const keys = { ...runKeys(run), ...stepColumns(step) };
          yield parseManifest(doc).models.map((r) => ({ ...keys, ...r }));
        },
      ),
    );
  }

  if (want('users')) {
    resources.push(
      res(
        {
          name: 'users',
          ...merge,
          columns: hints(['id'], ['created_at', 'last_login', 'apitoken_last_used']),
        },
        async function* (ctx) {
          for await (const page of client.paginate('v3', `${a}/users/`, {}, { signal: ctx.signal }))
            yield rowsOf(page);
        },
      ),
    );
  }
  if (want('connections')) {
    resources.push(
      res(
        { name: 'connections', ...merge, columns: hints(['id', 'account_id'], ['created_at', 'updated_at']) },
        async function* (ctx) {
          for await (const page of client.paginate('v3', `${a}/connections/`, {}, { signal: ctx.signal }))
            yield rowsOf(page);
        },
      ),
    );
  }
  access.setRootCount(resources.filter((r) => r.transform === undefined).length);
  const src = source({ name: options.name ?? 'dbt_cloud', resources });
  return Object.assign(src, { forbidden: access.forbidden as readonly DbtCloudForbiddenResource[] });
}

interface RunsConfig {
  projectFilter: Set<string> | undefined;
  envFilter: Set<string> | undefined;
  jobFilter: Set<string> | undefined;
  lookbackMs: number;
  initial: string | undefined;
}

const FAR_FUTURE = '9999-12-31T23:59:59.999999';
const RUN_INCLUDE = 'trigger,run_steps';

/**
 * Runs, incrementally:
 * 1. finished since the last load: `finished_at__range=[last − lookback, ∞]`, `order_by=finished_at`;
 * 2. runs that were in flight at the last load and not seen in 1: re-read by id (`pk__in`), so their final
 *    status lands even when their `finished_at` is older than the window;
 * 3. runs in flight now (`status__in=[1,2,3]`): loaded with their current status and remembered for 2.
 * Rows are deduplicated on `id` across the three passes; the table merges on `id`.
 */
async function* runsResource(
  client: DbtCloudClient,
  ctx: ResourceContext,
  cfg: RunsConfig,
): AsyncGenerator<DataItem[]> {
  const state = ctx.state as DbtCloudRunsState;
  const path = `${client.accountPath}/runs/`;
  const base: Record<string, DbtCloudQueryValue> = { include_related: RUN_INCLUDE };
  if (cfg.projectFilter) base['project_id__in'] = [...cfg.projectFilter].map(Number);
  let queries: Record<string, DbtCloudQueryValue>[] = [base];
  if (cfg.jobFilter) queries = [...cfg.jobFilter].map((j) => ({ ...base, job_definition_id: j }));
  else if (cfg.envFilter) queries = [...cfg.envFilter].map((e) => ({ ...base, environment_id: e }));

  const last = state.lastFinishedAt ? parseDbtDatetime(state.lastFinishedAt) : undefined;
  const startAt = last
    ? formatNaiveUtc(minusMs(last, cfg.lookbackMs))
    : cfg.initial
      ? formatNaiveUtc(parseDbtDatetime(cfg.initial)!)
      : '1970-01-01T00:00:00.000000';
  const seen = new Set<string>();
  let maxFinished = last;
  const inFlight = new Set<string>();
  const take = (page: readonly Record<string, unknown>[]): DataItem[] => {
    const out: DataItem[] = [];
    for (const raw of page) {
      const id = String(raw['id']);
      if (seen.has(id)) continue;
      seen.add(id);
      const row = normalizeDatetimesDeep(raw);
      const finished =
        typeof row['finished_at'] === 'string' ? parseDbtDatetime(row['finished_at']) : undefined;
      if (finished && (!maxFinished || compareDatetimes(finished, maxFinished) > 0)) maxFinished = finished;
      if (!TERMINAL_STATUSES.has(Number(row['status']))) inFlight.add(id);
      out.push(row);
    }
    return out;
  };
  const matchesFilters = (row: Record<string, unknown>): boolean =>
    (!cfg.projectFilter || cfg.projectFilter.has(String(row['project_id']))) &&
    (!cfg.envFilter || cfg.envFilter.has(String(row['environment_id']))) &&
    (!cfg.jobFilter || cfg.jobFilter.has(String(row['job_definition_id'])));

  // 1. Finished since the last load.
  for (const q of queries) {
    for await (const page of client.paginate(
      'v2',
      path,
      { ...q, order_by: 'finished_at', finished_at__range: [startAt, FAR_FUTURE] },
      { signal: ctx.signal },
    )) {
      const rows = take(page);
      if (rows.length) yield rows;
    }
  }
  // 2. In flight at the last load, or with artifacts still to fetch, not seen yet.
  const late = Object.values(state.artifactsPending ?? {}).flatMap((m) => Object.keys(m));
  const pending = [...new Set([...(state.inFlight ?? []), ...late])].filter((id) => !seen.has(id));
  for (let i = 0; i < pending.length; i += 100) {
    const chunk = pending.slice(i, i + 100);
    for await (const page of client.paginate(
      'v2',
      path,
      {
        include_related: RUN_INCLUDE,
        pk__in: chunk.map((id) => (Number.isSafeInteger(Number(id)) ? Number(id) : BigInt(id))),
      },
      { signal: ctx.signal },
    )) {
      const rows = take(page);
      if (rows.length) yield rows;
    }
  }
  // 3. In flight now.
  for (const q of queries) {
    for await (const page of client.paginate(
      'v2',
      path,
      { ...q, status__in: [1, 2, 3], order_by: 'id' },
      { signal: ctx.signal },
    )) {
      const rows = take(page.filter(matchesFilters));
      if (rows.length) yield rows;
    }
  }
  if (maxFinished) state.lastFinishedAt = formatIsoMicros(maxFinished);
  state.inFlight = [...inFlight];
}
