import { formatDatetime, formatDuration, humanizeDuration } from './emulator-format.ts';
import { createRandom, keyedRandom, randomInt } from './emulator-random.ts';

/** Sizes and seed of the emulator's fixtures. The same options always give the same data. */
export interface EmulatorFixtureOptions {
  /** PRNG seed. Default 1. */
  seed?: number;
  /** Runs in the fixture (finished, plus {@link inFlightRuns} still going at the end). Default 250. */
  runs?: number;
  /** Of {@link runs}, how many are still queued/running (the newest ones). Default 3. */
  inFlightRuns?: number;
  /** Projects. Default 2. */
  projects?: number;
  /** Deployment jobs per project. Default 3. */
  jobsPerProject?: number;
  /** Users. Default 7. */
  users?: number;
  /** Account-level connections. Default 2. */
  connections?: number;
  /** Account id (14 digits, like a cell-based account). Default 70403104191314. */
  accountId?: number;
}

/** Internal account record. */
export interface EmuAccount {
  id: number;
  name: string;
  createdUs: number;
  updatedUs: number;
}
/** Internal project record. */
export interface EmuProject {
  id: number;
  name: string;
  connectionId: number;
  repositoryId: number;
  createdUs: number;
  updatedUs: number;
  models: string[];
  sources: string[];
}
/** Internal environment record. */
export interface EmuEnvironment {
  id: number;
  projectId: number;
  name: string;
  type: 'development' | 'deployment';
  deploymentType: 'production' | 'staging' | null;
  createdUs: number;
  updatedUs: number;
}
/** Internal job record. */
export interface EmuJob {
  id: number;
  projectId: number;
  environmentId: number;
  name: string;
  executeSteps: string[];
  createdUs: number;
  updatedUs: number;
  /** `generate_docs`: the run ends with a `dbt docs generate` step. */
  generateDocs: boolean;
  /** `run_generate_sources`: the run starts its dbt steps with `dbt source freshness`. */
  runGenerateSources: boolean;
}
/** Internal repository record. */
export interface EmuRepository {
  id: number;
  projectId: number;
  fullName: string;
  createdUs: number;
}
/** Internal user record. */
export interface EmuUser {
  id: number;
  firstName: string;
  lastName: string;
  email: string;
  createdUs: number;
  lastLoginUs: number | null;
  licenseType: string;
}
/** Internal connection record. */
export interface EmuConnection {
  id: number;
  name: string;
  adapterVersion: string;
  createdUs: number;
}
/** Run status codes (API reference §5). */
export type RunStatus = 1 | 2 | 3 | 10 | 20 | 30;

/** Internal run record; the JSON shape is rendered on demand. */
export interface EmuRun {
  id: number;
  triggerId: number;
  jobId: number;
  projectId: number;
  environmentId: number;
  cause: string;
  causeCategory: string;
  status: RunStatus;
  statusMessage: string | null;
  createdUs: number;
  dequeuedUs: number | null;
  startedUs: number | null;
  finishedUs: number | null;
  updatedUs: number;
  gitSha: string | null;
  gitBranch: string | null;
  steps: string[];
  /** Trigger body fields (overrides) as sent. */
  trigger: Record<string, unknown>;
  /** Lifecycle of a triggered run: emulator-clock µs at which it moves on, and how it ends. */
  plan?: { startingAtUs: number; runningAtUs: number; endsAtUs: number; outcome: 10 | 20 | 30 };
  /** Runs still going that no plan drives (fixture in-flight runs): finished by `finishInFlight()`. */
  held?: boolean;
}

const BASE_US = Date.UTC(2026, 7, 31, 6, 0, 0) * 1000; // fixtures end here
const RUN_SPACING_US = 5 * 60 * 1_000_000;
const MODEL_NAMES = [
  'stg_customers',
  'stg_orders',
  'stg_payments',
  'customers',
  'orders',
  'order_items',
  'revenue_daily',
  'churn_features',
];
const FIRST = ['Ada', 'Grace', 'Linus', 'Margaret', 'Ken', 'Barbara', 'Edsger', 'Frances', 'Donald', 'Radia'];
const LAST = [
  'Lovelace',
  'Hopper',
  'Torvalds',
  'Hamilton',
  'Thompson',
  'Liskov',
  'Dijkstra',
  'Allen',
  'Knuth',
  'Perlman',
];
const ADAPTERS = ['snowflake_v0', 'bigquery_v1', 'databricks_v0', 'postgres_v0', 'redshift_v0'];

/**
 * The emulator's data: fixtures generated from a seed, plus runs created later (triggers, `addRuns`).
 * Time is an emulator clock in epoch microseconds that starts at the fixtures' end and then follows the
 * wall clock, so new runs always sort after the fixture.
 */
export class EmulatorStore {
  /** Options the fixtures were generated with (defaults filled in). */
  readonly options: Required<EmulatorFixtureOptions>;
  readonly account: EmuAccount;
  readonly projects: EmuProject[] = [];
  readonly environments: EmuEnvironment[] = [];
  readonly jobs: EmuJob[] = [];
  readonly repositories: EmuRepository[] = [];
  readonly users: EmuUser[] = [];
  readonly connections: EmuConnection[] = [];
  /** Runs by ascending id. */
  readonly runs: EmuRun[] = [];
  readonly #runsById = new Map<number, EmuRun>();
  readonly #inFlight = new Set<EmuRun>();
  readonly #startedAtMs = performance.now();
  #nextRunId: number;
  #nextTriggerId: number;
  #lastIssuedUs = 0;
  /** Bumped on every run change; list endpoints cache sorted views keyed by it. */
  version = 0;
  /** Outcome of triggered runs per job (default success). */
  readonly jobOutcomes = new Map<number, 10 | 20 | 30>();
  /** Lifecycle durations of triggered runs, ms: queued → starting → running → end. */
  lifecycleMs = { queued: 200, starting: 200, running: 600 };

  constructor(options: EmulatorFixtureOptions = {}) {
    this.options = {
      seed: options.seed ?? 1,
      runs: options.runs ?? 250,
      inFlightRuns: Math.min(options.inFlightRuns ?? 3, options.runs ?? 250),
      projects: options.projects ?? 2,
      jobsPerProject: options.jobsPerProject ?? 3,
      users: options.users ?? 7,
      connections: options.connections ?? 2,
      accountId: options.accountId ?? 70403104191314,
    };
    const o = this.options;
    const random = createRandom(o.seed);
    const start = BASE_US - (o.runs + 10) * RUN_SPACING_US;
    const t = (offsetUs: number): number => start - offsetUs + randomInt(random, 0, 999_999);
    this.account = {
      id: o.accountId,
      name: 'Acme Analytics',
      createdUs: t(400 * 86_400e6),
      updatedUs: t(1e9),
    };
    for (let i = 0; i < o.connections; i++) {
      this.connections.push({
        id: 187001 + i,
        name: `${ADAPTERS[i % ADAPTERS.length]!.split('_')[0]} ${i === 0 ? 'prod' : `conn ${i}`}`,
        adapterVersion: ADAPTERS[i % ADAPTERS.length]!,
        createdUs: t(300 * 86_400e6),
      });
    }
    let envId = 187998;
    let jobId = 70403104278164;
    for (let p = 0; p < o.projects; p++) {
      const nModels = 3 + (p % 3) + randomInt(random, 0, 2);
      const project: EmuProject = {
        id: 241251 + p,
        name: p === 0 ? 'jaffle_shop' : `analytics_${p}`,
        connectionId: this.connections.length ? this.connections[p % this.connections.length]!.id : 0,
        repositoryId: 155021 + p,
        createdUs: t(200 * 86_400e6),
        updatedUs: t(20 * 86_400e6),
        models: MODEL_NAMES.slice(0, Math.min(nModels, MODEL_NAMES.length)),
        sources: ['raw.customers', 'raw.orders'].slice(0, 1 + (p % 2)),
      };
      this.projects.push(project);
      this.repositories.push({
        id: project.repositoryId,
        projectId: project.id,
        fullName: `acme/${project.name}`,
        createdUs: t(200 * 86_400e6),
      });
      this.environments.push({
        id: envId++,
        projectId: project.id,
        name: 'Development',
        type: 'development',
        deploymentType: null,
        createdUs: t(190 * 86_400e6),
        updatedUs: t(9e9),
      });
      const prod: EmuEnvironment = {
        id: envId++,
        projectId: project.id,
        name: 'Production',
        type: 'deployment',
        deploymentType: 'production',
        createdUs: t(190 * 86_400e6),
        updatedUs: t(8e9),
      };
      this.environments.push(prod);
      for (let j = 0; j < o.jobsPerProject; j++) {
        this.jobs.push({
          id: jobId++,
          projectId: project.id,
          environmentId: prod.id,
          name:
            ['Daily build', 'Hourly incremental', 'Nightly full refresh', 'Source freshness'][j % 4]! +
            (j >= 4 ? ` ${j}` : ''),
          executeSteps:
            j % 4 === 3 ? ['dbt source freshness'] : j % 2 === 0 ? ['dbt build'] : ['dbt run', 'dbt test'],
          createdUs: t(180 * 86_400e6),
          updatedUs: t(30 * 86_400e6),
          generateDocs: j % 2 === 0,
          runGenerateSources: j % 4 === 1,
        });
      }
    }
    for (let u = 0; u < o.users; u++) {
      const first = FIRST[u % FIRST.length]!;
      const last = LAST[(u * 3) % LAST.length]!;
      this.users.push({
        id: 18599 + u * 13,
        firstName: first,
        lastName: last,
        email: `${first}.${last}${u >= FIRST.length ? u : ''}@acme.example`.toLowerCase(),
        createdUs: t(150 * 86_400e6) - (t(0) % 1_000_000), // whole seconds: the fraction-less form
        lastLoginUs: u % 4 === 3 ? null : t(2 * 86_400e6),
        licenseType: u % 3 === 2 ? 'read_only' : 'developer',
      });
    }
    this.#nextRunId = 70403412876123;
    this.#nextTriggerId = 70403413190022;
    const firstRunUs = start;
    for (let i = 0; i < o.runs; i++) {
      const job = this.jobs.length ? this.jobs[i % this.jobs.length]! : undefined;
      if (!job) break;
      const createdUs = firstRunUs + i * RUN_SPACING_US + randomInt(random, 0, 60_000_000);
      // Every 10th run lands on a whole second, so the fraction-less datetime form shows up too.
      const created = i % 10 === 0 ? createdUs - (createdUs % 1_000_000) : createdUs;
      const inFlight = i >= o.runs - o.inFlightRuns;
      const roll = random();
      const status: RunStatus = inFlight ? (i % 2 === 0 ? 3 : 1) : roll < 0.08 ? 20 : roll < 0.11 ? 30 : 10;
      const run = this.#newRun(
        job,
        created,
        i % 3 === 0
          ? 'scheduled'
          : `Kicked off from UI by ${this.users[i % Math.max(1, this.users.length)]?.email ?? 'admin@acme.example'}`,
      );
      run.causeCategory = i % 3 === 0 ? 'scheduled' : 'ui';
      if (status === 1) {
        run.held = true;
      } else {
        run.dequeuedUs = created + randomInt(random, 2_000_000, 15_000_000);
        run.startedUs = run.dequeuedUs + randomInt(random, 1_000_000, 10_000_000);
        run.gitSha = sha(random);
        run.gitBranch = 'main';
        if (status === 3) {
          run.status = 3;
          run.held = true;
        } else {
          run.finishedUs = run.startedUs + randomInt(random, 20_000_000, 240_000_000);
          this.#finish(run, status, run.finishedUs);
        }
      }
      run.updatedUs = run.finishedUs ?? run.startedUs ?? created;
      this.#lastIssuedUs = Math.max(this.#lastIssuedUs, run.updatedUs);
    }
  }

  #newRun(job: EmuJob, createdUs: number, cause: string): EmuRun {
    const run: EmuRun = {
      id: this.#nextRunId,
      triggerId: this.#nextTriggerId,
      jobId: job.id,
      projectId: job.projectId,
      environmentId: job.environmentId,
      cause,
      causeCategory: 'api',
      status: 1,
      statusMessage: null,
      createdUs,
      dequeuedUs: null,
      startedUs: null,
      finishedUs: null,
      updatedUs: createdUs,
      gitSha: null,
      gitBranch: null,
      steps: job.executeSteps,
      trigger: {},
    };
    this.#nextRunId += 1 + (this.#nextRunId % 3); // gaps, as ids are shared across accounts in production
    this.#nextTriggerId += 2;
    this.runs.push(run);
    this.#runsById.set(run.id, run);
    this.#inFlight.add(run);
    this.version++;
    return run;
  }

  #finish(run: EmuRun, status: 10 | 20 | 30, atUs: number, message: string | null = null): void {
    run.status = status;
    run.finishedUs = atUs;
    run.updatedUs = atUs;
    run.statusMessage =
      status === 30
        ? (message ?? 'Cancelled by user.')
        : status === 20
          ? 'This run failed at step ' + this.stepNames(run).length + '.'
          : null;
    run.held = false;
    delete run.plan;
    this.#inFlight.delete(run);
    this.version++;
  }

  /** Emulator clock, epoch µs: strictly increasing between calls so new runs never tie. */
  nowUs(): number {
    const now = BASE_US + Math.round((performance.now() - this.#startedAtMs) * 1000);
    this.#lastIssuedUs = Math.max(now, this.#lastIssuedUs + 1);
    return this.#lastIssuedUs;
  }

  /** Run by id. */
  run(id: number): EmuRun | undefined {
    const run = this.#runsById.get(id);
    if (run) this.advance(run);
    return run;
  }

  /** Move triggered runs along their lifecycle (called before every read). */
  advanceAll(): void {
    for (const run of this.inFlight()) this.advance(run);
  }

  /** Runs not finished yet. */
  inFlight(): EmuRun[] {
    return [...this.#inFlight];
  }

  /** Advance one run according to its plan. */
  advance(run: EmuRun): void {
    const plan = run.plan;
    if (!plan || run.finishedUs !== null) return;
    const now = this.nowUs();
    if (now >= plan.endsAtUs) {
      run.dequeuedUs ??= plan.startingAtUs;
      run.startedUs ??= plan.runningAtUs;
      run.gitSha ??= sha(keyedRandom(this.options.seed, run.id));
      run.gitBranch ??= 'main';
      this.#finish(run, plan.outcome, plan.endsAtUs);
    } else if (now >= plan.runningAtUs) {
      if (run.status !== 3) {
        run.status = 3;
        run.dequeuedUs ??= plan.startingAtUs;
        run.startedUs = plan.runningAtUs;
        run.gitSha ??= sha(keyedRandom(this.options.seed, run.id));
        run.gitBranch ??= 'main';
        run.updatedUs = now;
        this.version++;
      }
    } else if (now >= plan.startingAtUs) {
      if (run.status !== 2) {
        run.status = 2;
        run.dequeuedUs = plan.startingAtUs;
        run.updatedUs = now;
        this.version++;
      }
    }
  }

  /** Trigger a run of `job` (POST .../run/): queued now, then moves on per {@link lifecycleMs}. */
  trigger(job: EmuJob, body: Record<string, unknown>, causeCategory = 'api'): EmuRun {
    const now = this.nowUs();
    const run = this.#newRun(job, now, String(body['cause']));
    run.causeCategory = causeCategory;
    run.trigger = body;
    if (Array.isArray(body['steps_override'])) run.steps = body['steps_override'].map(String);
    if (typeof body['git_branch'] === 'string') run.gitBranch = body['git_branch'];
    if (typeof body['git_sha'] === 'string') run.gitSha = body['git_sha'];
    const l = this.lifecycleMs;
    run.plan = {
      startingAtUs: now + l.queued * 1000,
      runningAtUs: now + (l.queued + l.starting) * 1000,
      endsAtUs: now + (l.queued + l.starting + l.running) * 1000,
      outcome: this.jobOutcomes.get(job.id) ?? 10,
    };
    return run;
  }

  /** Cancel a run now (no-op for a finished run, which is returned as is). */
  cancel(run: EmuRun): EmuRun {
    this.advance(run);
    if (run.finishedUs === null) this.#finish(run, 30, this.nowUs());
    return run;
  }

  /** Append `count` finished runs (status 10/20/30 by the fixture's mix) finishing now. */
  addRuns(count: number): EmuRun[] {
    const out: EmuRun[] = [];
    for (let i = 0; i < count; i++) {
      const job = this.jobs[(this.runs.length + i) % this.jobs.length];
      if (!job) break;
      const r = keyedRandom(this.options.seed, this.runs.length);
      const now = this.nowUs();
      const run = this.#newRun(job, now - 120_000_000, 'scheduled');
      run.causeCategory = 'scheduled';
      run.dequeuedUs = run.createdUs + 3_000_000;
      run.startedUs = run.createdUs + 8_000_000;
      run.gitSha = sha(r);
      run.gitBranch = 'main';
      const roll = r();
      this.#finish(run, roll < 0.08 ? 20 : roll < 0.11 ? 30 : 10, now);
      out.push(run);
    }
    return out;
  }

  /** Finish every run still in flight that no lifecycle plan drives (fixture in-flight runs). */
  finishInFlight(status: 10 | 20 | 30 = 10): EmuRun[] {
    const done: EmuRun[] = [];
    for (const run of this.inFlight()) {
      if (run.plan) continue;
      run.dequeuedUs ??= run.createdUs + 2_000_000;
      run.startedUs ??= run.dequeuedUs + 2_000_000;
      run.gitSha ??= sha(keyedRandom(this.options.seed, run.id));
      run.gitBranch ??= 'main';
      this.#finish(run, status, this.nowUs());
      done.push(run);
    }
    return done;
  }

  /** Job by id. */
  job(id: number): EmuJob | undefined {
    return this.jobs.find((j) => j.id === id);
  }

  /** Project by id. */
  project(id: number): EmuProject | undefined {
    return this.projects.find((p) => p.id === id);
  }

  /**
   * Step names of a run as dbt Cloud lists them: clone, profile, deps, `dbt source freshness` when the job
   * has `run_generate_sources`, one per execute step, and `dbt docs generate` last when `generate_docs`
   * (or `generate_docs_override`) is on. A failed run stops at its failing execute step, so it has no docs
   * step.
   */
  stepNames(run: EmuRun): string[] {
    const project = this.project(run.projectId);
    const conn = this.connections.find((c) => c.id === project?.connectionId);
    const job = this.job(run.jobId);
    const override = run.trigger['generate_docs_override'];
    const docs = typeof override === 'boolean' ? override : !!job?.generateDocs;
    const dbt = [
      ...(job?.runGenerateSources && !run.steps.includes('dbt source freshness')
        ? ['dbt source freshness']
        : []),
      ...run.steps,
      ...(docs && run.status !== 20 ? ['dbt docs generate'] : []),
    ];
    return [
      'Clone git repository',
      `Create profile from connection ${conn?.name ?? 'default'}`,
      'Invoke dbt with `dbt deps`',
      ...dbt.map((s) => `Invoke dbt with \`${s}\``),
    ];
  }

  /** The dbt command of step `index` (1-based), e.g. `dbt build`; undefined for clone/profile steps. */
  stepCommand(run: EmuRun, index: number): string | undefined {
    const name = this.stepNames(run)[index - 1];
    const m = name === undefined ? null : /^Invoke dbt with `(.+)`$/.exec(name);
    return m?.[1];
  }

  /** True when the run has artifacts (finished with success or error, not cancelled). */
  hasArtifacts(run: EmuRun): boolean {
    return run.status === 10 || run.status === 20;
  }

  // ---------------------------------------------------------------------------------------------
  // Rendering (JSON shapes of the API)

  /** Account JSON (ISO `T` datetimes). */
  renderAccount(): Record<string, unknown> {
    const a = this.account;
    return {
      id: a.id,
      name: a.name,
      state: 1,
      plan: 'enterprise',
      run_slots: 15,
      developer_seats: 25,
      it_seats: 2,
      explorer_seats: 0,
      analyst_seats: 0,
      read_only_seats: 40,
      locked: false,
      lock_reason: null,
      lock_cause: null,
      unlocked_at: null,
      pending_cancel: false,
      billing_email_address: null,
      pod_memory_request_mebibytes: 600,
      develop_pod_memory_request_mebibytes: 0,
      run_duration_limit_seconds: 86400,
      queue_limit: 50,
      enterprise_login_slug: 'acme',
      business_critical: false,
      starter_repo_url: null,
      git_auth_level: 'team',
      identifier: 'act_2ZQb7mKpX0aYc3',
      trial_end_date: null,
      static_subdomain: 'ab123',
      vanity_subdomain: null,
      run_locked_until: null,
      docs_job_id: null,
      freshness_job_id: null,
      copilot_locked_until: null,
      agent_credit_locked: false,
      account_migration_events: [],
      groups: [],
      created_at: formatDatetime(a.createdUs, 'iso'),
      updated_at: formatDatetime(a.updatedUs, 'iso'),
    };
  }

  /** Project JSON (space datetimes). */
  renderProject(p: EmuProject): Record<string, unknown> {
    return {
      id: p.id,
      name: p.name,
      account_id: this.account.id,
      description: `${p.name} marts`,
      connection_id: p.connectionId,
      repository_id: p.repositoryId,
      semantic_layer_config_id: null,
      state: 1,
      dbt_project_subdirectory: null,
      docs_job_id: null,
      freshness_job_id: null,
      type: 0,
      created_at: formatDatetime(p.createdUs, 'space'),
      updated_at: formatDatetime(p.updatedUs, 'space'),
      connection: null,
      environments: null,
      repository: null,
      group_permissions: null,
      docs_job: null,
      freshness_job: null,
      fusion_readiness: null,
    };
  }

  /** Environment JSON: v3 lists use space datetimes, v2 retrieve uses ISO `T`. */
  renderEnvironment(e: EmuEnvironment, style: 'space' | 'iso'): Record<string, unknown> {
    const project = this.project(e.projectId);
    return {
      id: e.id,
      account_id: this.account.id,
      project_id: e.projectId,
      name: e.name,
      connection_id: project?.connectionId ?? null,
      credentials_id: e.type === 'deployment' ? 301220 + (e.id % 100) : null,
      repository_id: project?.repositoryId ?? null,
      extended_attributes_id: null,
      custom_branch: null,
      use_custom_branch: false,
      dbt_project_subdirectory: null,
      dbt_version: 'latest',
      raw_dbt_version: 'latest',
      supports_docs: e.type === 'deployment',
      deployment_type: e.deploymentType,
      type: e.type,
      created_by_id: 18599,
      state: 1,
      is_deferrable: e.type === 'deployment',
      enable_model_query_history: false,
      enable_dbt_state: false,
      primary_profile_id: null,
      created_at: formatDatetime(e.createdUs, style),
      updated_at: formatDatetime(e.updatedUs, style),
      repository: null,
      connection: null,
      jobs: null,
      custom_environment_variables: null,
    };
  }

  /** Job JSON; `nested` gives the job-in-run shape (string schedule parts, `Z` datetimes). */
  renderJob(j: EmuJob, nested = false): Record<string, unknown> {
    const style = nested ? 'isoZ' : 'iso';
    return {
      id: j.id,
      account_id: this.account.id,
      project_id: j.projectId,
      environment_id: j.environmentId,
      name: j.name,
      description: '',
      dbt_version: null,
      raw_dbt_version: null,
      execute_steps: j.executeSteps,
      execution: { timeout_seconds: 3600 },
      generate_docs: j.generateDocs,
      run_generate_sources: j.runGenerateSources,
      generate_sources: false,
      settings: { threads: 8, target_name: 'prod' },
      job_type: 'scheduled',
      triggers: { github_webhook: false, schedule: true, git_provider_webhook: false, on_merge: false },
      schedule: nested
        ? { cron: '0 6 * * 1-5', date: 'days_of_week', time: 'at_exact_hours' }
        : {
            cron: '0 6 * * 1-5',
            date: { type: 'days_of_week', days: [1, 2, 3, 4, 5] },
            time: { type: 'at_exact_hours', hours: [6] },
          },
      deferring_job_definition_id: null,
      deferring_environment_id: null,
      is_deferrable: true,
      triggers_on_draft_pr: false,
      run_compare_changes: false,
      compare_changes_flags: '--select state:modified',
      run_lint: false,
      errors_on_lint_failure: true,
      cost_optimization_features: [],
      lifecycle_webhooks: false,
      lifecycle_webhooks_url: null,
      run_failure_count: 0,
      job_completion_trigger_condition: null,
      state: 1,
      deactivated: false,
      cron_humanized: 'At 06:00 AM, Monday through Friday',
      next_run: formatDatetime(BASE_US + 86_400e6, 'iso'),
      next_run_humanized: 'in 9 hours',
      created_at: formatDatetime(j.createdUs, style),
      updated_at: formatDatetime(j.updatedUs, style),
    };
  }

  /** Repository JSON. */
  renderRepository(r: EmuRepository): Record<string, unknown> {
    return {
      id: r.id,
      account_id: this.account.id,
      project_id: r.projectId,
      full_name: r.fullName,
      remote_url: `git://github.com/${r.fullName}.git`,
      remote_backend: 'github',
      git_clone_strategy: 'github_app',
      deploy_key_id: null,
      repository_credentials_id: null,
      github_installation_id: 31_337_000 + (r.id % 1000),
      github_webhook_id: null,
      git_provider_id: null,
      private_link_endpoint_id: null,
      state: 1,
      pull_request_url_template: `https://github.com/${r.fullName}/compare/{{destination}}...{{source}}`,
      created_at: formatDatetime(r.createdUs, 'space'),
      updated_at: formatDatetime(r.createdUs, 'space'),
      deploy_key: null,
    };
  }

  /** User JSON with one permission entry per license (nested list → child table). */
  renderUser(u: EmuUser): Record<string, unknown> {
    return {
      id: u.id,
      first_name: u.firstName,
      last_name: u.lastName,
      email: u.email,
      is_active: true,
      is_staff: false,
      last_login: formatDatetime(u.lastLoginUs, 'space'),
      created_at: formatDatetime(u.createdUs, 'iso'),
      apitoken_last_used: null,
      email_connected: false,
      email_verified: true,
      enterprise_connected: false,
      github_connected: u.id % 2 === 0,
      github_username: u.id % 2 === 0 ? u.firstName.toLowerCase() : null,
      gitlab_connected: false,
      gitlab_username: null,
      sso_only_user: false,
      permissions: [
        {
          id: u.id * 10 + 1,
          account_id: this.account.id,
          user_id: u.id,
          license_type: u.licenseType,
          state: 1,
          created_at: formatDatetime(u.createdUs, 'iso'),
          updated_at: formatDatetime(u.createdUs, 'iso'),
          scim_managed: false,
          groups: [],
          permission_statements: [],
        },
      ],
      licenses: null,
      auth_provider_infos: null,
    };
  }

  /** Connection JSON (v3 account-level list item; `config` only on retrieve). */
  renderConnection(c: EmuConnection, detail = false): Record<string, unknown> {
    return {
      id: c.id,
      account_id: this.account.id,
      name: c.name,
      adapter_version: c.adapterVersion,
      private_link_endpoint_id: null,
      is_ssh_tunnel_enabled: false,
      oauth_configuration_id: null,
      environment__count: this.environments.filter((e) => this.project(e.projectId)?.connectionId === c.id)
        .length,
      platform_metadata_credentials_id: null,
      analytics_credentials_id: null,
      config: detail
        ? { account: 'acme', database: 'ANALYTICS', warehouse: 'TRANSFORMING', role: 'TRANSFORMER' }
        : null,
      created_at: formatDatetime(c.createdUs, 'space'),
      updated_at: formatDatetime(c.createdUs, 'space'),
    };
  }

  /** Trigger JSON of a run. */
  renderTrigger(run: EmuRun): Record<string, unknown> {
    const b = run.trigger;
    const v = (k: string): unknown => (b[k] === undefined ? null : b[k]);
    return {
      id: run.triggerId,
      cause: run.cause,
      cause_humanized: run.causeCategory === 'scheduled' ? 'Triggered by schedule' : run.cause,
      cause_category: run.causeCategory,
      job_definition_id: run.jobId,
      git_branch: v('git_branch'),
      git_sha: v('git_sha'),
      azure_pull_request_id: v('azure_pull_request_id'),
      github_pull_request_id: v('github_pull_request_id'),
      gitlab_merge_request_id: v('gitlab_merge_request_id'),
      non_native_pull_request_id: v('non_native_pull_request_id'),
      schema_override: v('schema_override'),
      dbt_version_override: v('dbt_version_override'),
      threads_override: v('threads_override'),
      target_name_override: v('target_name_override'),
      generate_docs_override: v('generate_docs_override'),
      timeout_seconds_override: v('timeout_seconds_override'),
      steps_override: v('steps_override'),
      created_at: formatDatetime(run.createdUs, 'space'),
      job: null,
    };
  }

  /** Steps of a run as they stand (finished steps 10, the failing one 20, a cancelled one 30, the current one 3). */
  renderSteps(run: EmuRun, debugLogs = false): Record<string, unknown>[] {
    if (run.startedUs === null) return [];
    const names = this.stepNames(run);
    const r = keyedRandom(this.options.seed, run.id + 7);
    const end = run.finishedUs ?? this.nowUs();
    const total = Math.max(1, end - run.startedUs);
    let shown = names.length;
    if (run.finishedUs === null)
      shown = Math.max(
        1,
        Math.min(names.length, Math.ceil(((this.nowUs() - run.startedUs) / (total + 60e6)) * names.length)),
      );
    const out: Record<string, unknown>[] = [];
    for (let i = 0; i < shown; i++) {
      const last = i === shown - 1;
      const status = !last
        ? 10
        : run.status === 10
          ? 10
          : run.status === 20
            ? 20
            : run.status === 30
              ? 30
              : 3;
      const startedUs = run.startedUs + Math.floor((total * i) / names.length);
      const finishedUs = status === 3 ? null : run.startedUs + Math.floor((total * (i + 1)) / names.length);
      const logs = stepLogs(names[i]!, status, this.project(run.projectId), r);
      out.push({
        id: run.id * 10 + i + 1,
        run_id: run.id,
        account_id: this.account.id,
        index: i + 1,
        status,
        status_humanized: STATUS_HUMANIZED[status],
        status_color: STATUS_COLOR[status],
        name: names[i],
        logs,
        debug_logs: debugLogs ? `${logs}\n[debug] adapter connection closed` : '',
        truncated_debug_logs: '',
        log_location: 'db',
        log_path: null,
        debug_log_path: null,
        log_archive_type: 'db_flushed',
        created_at: formatDatetime(startedUs, 'space'),
        updated_at: formatDatetime(finishedUs ?? startedUs, 'space'),
        started_at: formatDatetime(startedUs, 'space'),
        finished_at: formatDatetime(finishedUs, 'space'),
        duration: formatDuration(finishedUs === null ? null : finishedUs - startedUs),
        duration_humanized: humanizeDuration(finishedUs === null ? null : finishedUs - startedUs),
        run_step_command: {
          run_step_id: run.id * 10 + i + 1,
          dbt_command: names[i]!.startsWith('Invoke') ? names[i]!.slice(17, -1) : null,
        },
      });
    }
    return out;
  }

  /** Run JSON; `include` is the parsed `include_related`. */
  renderRun(run: EmuRun, include: ReadonlySet<string>, hrefHost: string): Record<string, unknown> {
    const s = run.status;
    const now = this.nowUs();
    const duration = (run.finishedUs ?? now) - run.createdUs;
    const queued = (run.startedUs ?? run.dequeuedUs ?? now) - run.createdUs;
    const running = run.startedUs === null ? null : (run.finishedUs ?? now) - run.startedUs;
    const job = this.job(run.jobId);
    return {
      id: run.id,
      trigger_id: run.triggerId,
      account_id: this.account.id,
      environment_id: run.environmentId,
      project_id: run.projectId,
      job_definition_id: run.jobId,
      job_id: run.jobId,
      status: s,
      status_humanized: STATUS_HUMANIZED[s],
      status_message: run.statusMessage,
      dbt_version: 'latest',
      git_branch: run.gitBranch,
      git_sha: run.gitSha,
      owner_thread_id: null,
      executed_by_thread_id: run.startedUs === null ? null : `dbt-run-${run.id}-x7k2p`,
      deferring_run_id: null,
      artifacts_saved: this.hasArtifacts(run),
      artifact_s3_path: this.hasArtifacts(run) ? `prod/runs/${run.id}/artifacts/target` : null,
      has_docs_generated: s === 10 && this.stepNames(run).includes('Invoke dbt with `dbt docs generate`'),
      has_sources_generated:
        s >= 10 && this.stepNames(run).includes('Invoke dbt with `dbt source freshness`'),
      notifications_sent: run.finishedUs !== null,
      blocked_by: [],
      created_at: formatDatetime(run.createdUs, 'space'),
      updated_at: formatDatetime(run.updatedUs, 'space'),
      dequeued_at: formatDatetime(run.dequeuedUs, 'space'),
      started_at: formatDatetime(run.startedUs, 'space'),
      finished_at: formatDatetime(run.finishedUs, 'space'),
      last_checked_at: null,
      last_heartbeat_at: null,
      should_start_at: null,
      trigger: include.has('trigger') ? this.renderTrigger(run) : null,
      job: include.has('job') && job ? this.renderJob(job, true) : null,
      environment: include.has('environment')
        ? this.renderEnvironment(
            this.environments.find((e) => e.id === run.environmentId)!,
            'space',
          )
        : null,
      run_steps: include.has('run_steps') ? this.renderSteps(run, include.has('debug_logs')) : [],
      in_progress: s < 10,
      is_complete: s >= 10,
      is_success: s === 10,
      is_error: s === 20,
      is_cancelled: s === 30,
      is_running: null,
      duration: formatDuration(duration),
      queued_duration: formatDuration(queued),
      run_duration: formatDuration(running),
      duration_humanized: humanizeDuration(duration),
      queued_duration_humanized: humanizeDuration(queued),
      run_duration_humanized: humanizeDuration(running),
      created_at_humanized: '3 hours ago',
      finished_at_humanized: run.finishedUs === null ? '0 minutes from now' : '3 hours ago',
      retrying_run_id: null,
      can_retry: s === 20,
      retry_not_supported_reason:
        s === 20 ? null : s === 30 || s < 10 ? 'RETRY_NOT_FAILED_RUN' : 'RETRY_NOT_FAILED_RUN',
      href: `http://${hrefHost}/deploy/${this.account.id}/projects/${run.projectId}/runs/${run.id}/`,
      used_repo_cache: null,
      deprecation: null,
    };
  }
}

/** Status code → humanized text. */
export const STATUS_HUMANIZED: Record<number, string> = {
  1: 'Queued',
  2: 'Starting',
  3: 'Running',
  10: 'Success',
  20: 'Error',
  30: 'Cancelled',
};
const STATUS_COLOR: Record<number, string> = {
  1: '#B2B2B2',
  2: '#B2B2B2',
  3: '#0BACD9',
  10: '#27AE60',
  20: '#EB5757',
  30: '#B2B2B2',
};

function sha(random: () => number): string {
  let out = '';
  for (let i = 0; i < 40; i++) out += Math.floor(random() * 16).toString(16);
  return out;
}

function stepLogs(
  name: string,
  status: number,
  project: EmuProject | undefined,
  random: () => number,
): string {
  if (!name.startsWith('Invoke dbt with') || name.includes('dbt deps')) {
    return status === 3 ? `${name}…` : `${name}\nDone.`;
  }
  const models = project?.models ?? ['model'];
  const lines = [
    'Running with dbt=1.9.0',
    `Found ${models.length} models, ${models.length * 2} data tests, ${project?.sources.length ?? 0} sources`,
    "Concurrency: 8 threads (target='prod')",
  ];
  const failing = status === 20 ? models[Math.floor(random() * models.length)]! : undefined;
  models.forEach((m, i) => {
    lines.push(`${i + 1} of ${models.length} START sql table model analytics.${m} .......... [RUN]`);
    lines.push(
      `${i + 1} of ${models.length} ${m === failing ? 'ERROR creating' : 'OK created'} sql table model analytics.${m} .......... [${m === failing ? 'ERROR' : 'SUCCESS 1'} in ${(random() * 9 + 0.5).toFixed(2)}s]`,
    );
  });
  if (failing) {
    lines.push(
      '',
      `Database Error in model ${failing} (models/${failing}.sql)`,
      `  relation "raw.${failing}_source" does not exist`,
    );
    lines.push(`Done. PASS=${models.length - 1} WARN=0 ERROR=1 SKIP=0 TOTAL=${models.length}`);
  } else if (status === 30) {
    lines.push('Cancelled by user.');
  } else if (status === 10) {
    lines.push(
      `Completed successfully`,
      `Done. PASS=${models.length} WARN=0 ERROR=0 SKIP=0 TOTAL=${models.length}`,
    );
  }
  return lines.join('\n');
}
