import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  buildCatalog,
  buildCompiledSql,
  buildManifest,
  buildRunResults,
  buildSources,
  artifactPaths,
  resolveStep,
} from './emulator-artifacts.ts';
import { EmulatorFaults, type EmulatorFault } from './emulator-faults.ts';
import { parseFilterDatetime } from './emulator-format.ts';
import { listParam, oneParam } from './emulator-params.ts';
import { EmulatorStore, type EmulatorFixtureOptions, type EmuRun } from './emulator-store.ts';

/** Options of {@link startEmulator}. */
export interface EmulatorOptions extends EmulatorFixtureOptions {
  /** Port; default 0 (any free port). */
  port?: number;
  /** Bind address. Default `127.0.0.1` (loopback only). */
  host?: string;
  /** The one valid API token. Default `dbtc_emulator_token`. */
  token?: string;
  /** Latency added to every response, ms. Default 0. */
  latencyMs?: number;
  /** Requests per minute per token before 429. Default: no limit. */
  rateLimitPerMinute?: number;
  /** Lifecycle of triggered runs, ms per phase. Default queued 200, starting 200, running 600. */
  lifecycleMs?: { queued?: number; starting?: number; running?: number };
  /** Artifacts answer 404 for this long after a run finishes (async upload), ms. Default 0. */
  artifactDelayMs?: number;
  /**
   * Artifacts to serve for steps running a given dbt command instead of the generated ones, keyed by the
   * command's start (`'dbt build'`), e.g. real `manifest.json` / `run_results.json` pairs. Default: none.
   */
  commandArtifacts?: Record<string, { manifest?: unknown; runResults?: unknown }>;
  /**
   * More tokens, each with one permission set, as least-privilege service tokens behave (dbt's enterprise
   * permissions table): Job Viewer and Job Runner get 403 on users, repositories and connections, Job
   * Runner also on projects and environments, Job Admin on users and repositories. Default: none (the
   * main token is an Account Admin).
   */
  scopedTokens?: Record<string, EmulatorPermissionSet>;
}

/** Permission sets the emulator's scoped tokens can carry. */
export type EmulatorPermissionSet = 'account_admin' | 'job_admin' | 'job_runner' | 'job_viewer';

/** Resource kinds each permission set may not read (path segment after the account, or under a project). */
const FORBIDDEN_KINDS: Record<EmulatorPermissionSet, ReadonlySet<string>> = {
  account_admin: new Set(),
  job_admin: new Set(['users', 'repositories']),
  job_viewer: new Set(['users', 'repositories', 'connections']),
  job_runner: new Set(['users', 'repositories', 'connections', 'projects', 'environments']),
};

/** True when `set` may not read the path `segs` (after `/api/vN/`). */
function forbiddenPath(set: EmulatorPermissionSet, segs: readonly string[]): boolean {
  const kinds = FORBIDDEN_KINDS[set];
  if (segs[0] !== 'accounts' || segs.length < 3) return false;
  const kind = segs[2]!;
  if (kind === 'projects' && segs.length >= 5) return kinds.has(segs[4]!) || kinds.has('projects');
  return kinds.has(kind);
}

/** One request as the emulator saw it. */
export interface EmulatorRequest {
  /** HTTP method. */
  method: string;
  /** URL path (`/api/v2/accounts/…/runs/`). */
  path: string;
  /** Parsed query. */
  query: URLSearchParams;
  /** Status answered (0 for a reset connection). */
  status: number;
  /** Epoch ms when it arrived. */
  at: number;
  /** The `Accept` header sent. */
  accept: string | undefined;
}

/** The request log, for tests and benchmarks. */
export class EmulatorRequestLog {
  /** Every request, in arrival order. */
  readonly all: EmulatorRequest[] = [];

  /** Number of requests whose path matches `path` (RegExp or substring) and, if given, `method`/`status`. */
  count(path?: RegExp | string, options: { method?: string; status?: number } = {}): number {
    return this.filter(path, options).length;
  }

  /** Requests whose path matches (see {@link count}). */
  filter(path?: RegExp | string, options: { method?: string; status?: number } = {}): EmulatorRequest[] {
    return this.all.filter(
      (r) =>
        (path === undefined || (typeof path === 'string' ? r.path.includes(path) : path.test(r.path))) &&
        (options.method === undefined || r.method === options.method) &&
        (options.status === undefined || r.status === options.status),
    );
  }

  /** Forget the log (e.g. between the two runs of an incremental test). */
  reset(): void {
    this.all.length = 0;
  }
}

/** A running emulator. */
export interface DbtCloudEmulator {
  /** Root URL to pass as `baseUrl` (`http://127.0.0.1:<port>`). */
  readonly url: string;
  /** The valid token. */
  readonly token: string;
  /** The account the token belongs to. */
  readonly accountId: number;
  /** The data (fixtures and runs created since), for tests that compute expectations. */
  readonly store: EmulatorStore;
  /** Every request received. */
  readonly requests: EmulatorRequestLog;
  /** Fault injection (mutable while running). */
  readonly faults: EmulatorFaults;
  /** Append `n` newly finished runs; returns their ids. */
  addRuns(n: number): number[];
  /** Finish every fixture run still in flight (default status 10); returns their ids. */
  finishInFlight(status?: 10 | 20 | 30): number[];
  /** How triggered runs of `jobId` end. Default success. */
  setJobOutcome(jobId: number, outcome: 'success' | 'error' | 'cancelled'): void;
  /** Change {@link EmulatorOptions.artifactDelayMs} while running (e.g. to let late artifacts appear). */
  setArtifactDelayMs(ms: number): void;
  /** Stop the server (closes idle keep-alive connections too). */
  close(): Promise<void>;
}

interface Reply {
  status: number;
  body?: unknown;
  text?: string;
  contentType?: string;
  headers?: Record<string, string>;
}

const ORDERABLE_RUN_FIELDS = new Set(['id', 'created_at', 'finished_at']);
const HTML_ERROR = (status: number, text: string): string =>
  `<html>\r\n<head><title>${status} ${text}</title></head>\r\n<body>\r\n<center><h1>${status} ${text}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n`;

function envelope(
  status: number,
  userMessage: string,
  data: unknown,
  extra?: unknown,
): Record<string, unknown> {
  const out: Record<string, unknown> = {
    status: {
      code: status,
      is_success: status < 400,
      user_message: userMessage,
      developer_message: status < 400 ? '' : null,
    },
    data,
  };
  if (extra !== undefined) out['extra'] = extra;
  return out;
}

function ok(data: unknown, extra?: unknown): Reply {
  return { status: 200, body: envelope(200, 'Success!', data, extra) };
}

function fail(status: number, userMessage: string, data: unknown = null): Reply {
  return { status, body: envelope(status, userMessage, data) };
}

const NOT_FOUND = (): Reply =>
  fail(404, 'The requested resource was not found. Please check that you have the proper permissions.');

/** Start the dbt Cloud API emulator on loopback. Deterministic for a given seed and size. */
export async function startEmulator(options: EmulatorOptions = {}): Promise<DbtCloudEmulator> {
  const store = new EmulatorStore(options);
  if (options.lifecycleMs)
    Object.assign(
      store.lifecycleMs,
      Object.fromEntries(Object.entries(options.lifecycleMs).filter(([, v]) => v !== undefined)),
    );
  const token = options.token ?? 'dbtc_emulator_token';
  const faults = new EmulatorFaults();
  faults.latencyMs = options.latencyMs ?? 0;
  faults.rateLimitPerMinute = options.rateLimitPerMinute;
  const requests = new EmulatorRequestLog();
  let artifactDelayUs = (options.artifactDelayMs ?? 0) * 1000;
  const host = options.host ?? '127.0.0.1';
  let hrefHost = host;
  const sortedCache = new Map<string, { version: number; runs: EmuRun[] }>();
  // Successive pages of one query filter the same runs: keep the filtered list until the runs change.
  const filteredCache = new Map<string, { version: number; runs: EmuRun[] }>();

  const sortedRuns = (orderBy: string): EmuRun[] => {
    const cached = sortedCache.get(orderBy);
    if (cached && cached.version === store.version) return cached.runs;
    const desc = orderBy.startsWith('-');
    const field = desc ? orderBy.slice(1) : orderBy;
    const key = (r: EmuRun): number | null =>
      field === 'id' ? r.id : field === 'created_at' ? r.createdUs : r.finishedUs;
    const runs = [...store.runs].sort((a, b) => {
      const ka = key(a);
      const kb = key(b);
      // Postgres NULL ordering: NULLS LAST ascending, NULLS FIRST descending.
      if (ka === null || kb === null) {
        if (ka === kb) return a.id - b.id;
        return (ka === null ? 1 : -1) * (desc ? -1 : 1);
      }
      return (desc ? kb - ka : ka - kb) || (desc ? b.id - a.id : a.id - b.id);
    });
    sortedCache.set(orderBy, { version: store.version, runs });
    return runs;
  };

  const page = <T>(
    items: T[],
    params: URLSearchParams,
    filters: Record<string, unknown>,
    orderBy: string | null,
    render: (item: T) => unknown,
  ): Reply => {
    const limitText = oneParam(params, 'limit');
    const offsetText = oneParam(params, 'offset');
    const limit = limitText === undefined ? 100 : Number(limitText);
    const offset = offsetText === undefined ? 0 : Number(offsetText);
    if (!Number.isInteger(limit) || limit < 1)
      return fail(400, 'The request was invalid. Please double check the provided data and try again.', {
        limit: 'Ensure this value is greater than or equal to 1.',
      });
    if (limit > 100)
      return fail(400, 'The limit parameter must not exceed 100.', {
        limit: 'Ensure this value is less than or equal to 100.',
      });
    if (!Number.isInteger(offset) || offset < 0)
      return fail(400, 'The request was invalid. Please double check the provided data and try again.', {
        offset: 'Ensure this value is greater than or equal to 0.',
      });
    const slice = items.slice(offset, offset + limit).map(render);
    return ok(slice, {
      filters: { account_id: store.account.id, limit, offset, ...filters },
      order_by: orderBy,
      pagination: { count: slice.length, total_count: items.length },
    });
  };

  // Finished runs never change: keep their JSON text (plain and with trigger only, to bound memory) so
  // large fixtures page without re-rendering. Cleared past 300k entries.
  const runJson = new Map<string, string>();
  const renderRunText = (r: EmuRun, include: ReadonlySet<string>): string => {
    const cacheable =
      r.finishedUs !== null && (include.size === 0 || (include.size === 1 && include.has('trigger')));
    if (!cacheable) return JSON.stringify(store.renderRun(r, include, hrefHost));
    const key = `${r.id}${include.size ? 't' : ''}`;
    let text = runJson.get(key);
    if (text === undefined) {
      text = JSON.stringify(store.renderRun(r, include, hrefHost));
      if (runJson.size > 300_000) runJson.clear();
      runJson.set(key, text);
    }
    return text;
  };

  const entityList = <T extends { id: number; createdUs?: number }>(
    items: T[],
    params: URLSearchParams,
    render: (item: T) => unknown,
    extraFilters: Record<string, unknown> = {},
  ): Reply => {
    let list = items;
    const filters: Record<string, unknown> = { ...extraFilters };
    const pk = oneParam(params, 'pk');
    if (pk !== undefined) {
      list = list.filter((i) => String(i.id) === pk);
      filters['pk'] = Number(pk);
    }
    const pkIn = listParam(params, 'pk__in');
    if (pkIn.length) {
      list = list.filter((i) => pkIn.includes(String(i.id)));
      filters['pk__in'] = pkIn.map(Number);
    }
    const state = oneParam(params, 'state');
    if (state === 'deleted' || state === '2') list = [];
    const orderBy = oneParam(params, 'order_by') ?? 'id';
    const desc = orderBy.startsWith('-');
    const field = desc ? orderBy.slice(1) : orderBy;
    list = [...list].sort((a, b) => {
      const ka =
        field === 'created_at'
          ? (a.createdUs ?? 0)
          : field === 'name' || field === 'email'
            ? String((a as Record<string, unknown>)[field === 'email' ? 'email' : 'name'])
            : a.id;
      const kb =
        field === 'created_at'
          ? (b.createdUs ?? 0)
          : field === 'name' || field === 'email'
            ? String((b as Record<string, unknown>)[field === 'email' ? 'email' : 'name'])
            : b.id;
      const c = ka < kb ? -1 : ka > kb ? 1 : a.id - b.id;
      return desc ? -c : c;
    });
    return page(list, params, filters, orderBy, render);
  };

  const listRuns = (params: URLSearchParams): Reply => {
    store.advanceAll();
    const orderBy = oneParam(params, 'order_by') ?? 'id';
    if (!ORDERABLE_RUN_FIELDS.has(orderBy.replace(/^-/, ''))) {
      return fail(
        400,
        `Ordering by '${orderBy}' is not supported. Use id, created_at or finished_at, optionally prefixed with '-'.`,
        { order_by: 'Invalid ordering field.' },
      );
    }
    const include = new Set(listParam(params, 'include_related'));
    const filters: Record<string, unknown> = {};
    const preds: ((r: EmuRun) => boolean)[] = [];
    const intFilter = (key: string, get: (r: EmuRun) => number): void => {
      const v = oneParam(params, key);
      if (v === undefined) return;
      filters[key] = Number(v);
      preds.push((r) => get(r) === Number(v));
    };
    const inFilter = (key: string, get: (r: EmuRun) => number): void => {
      const vs = listParam(params, key).map(Number);
      if (!vs.length) return;
      const set = new Set(vs);
      filters[key] = vs;
      preds.push((r) => set.has(get(r)));
    };
    intFilter('job_definition_id', (r) => r.jobId);
    intFilter('environment_id', (r) => r.environmentId);
    intFilter('project_id', (r) => r.projectId);
    intFilter('status', (r) => r.status);
    intFilter('pk', (r) => r.id);
    inFilter('project_id__in', (r) => r.projectId);
    inFilter('status__in', (r) => r.status);
    inFilter('pk__in', (r) => r.id);
    const idGt = oneParam(params, 'id__gt');
    if (idGt !== undefined) {
      filters['id__gt'] = Number(idGt);
      preds.push((r) => r.id > Number(idGt));
    }
    for (const [key, get] of [
      ['created_at__range', (r: EmuRun) => r.createdUs],
      ['finished_at__range', (r: EmuRun) => r.finishedUs],
    ] as const) {
      const range = listParam(params, key);
      if (!range.length) continue;
      const lo = parseFilterDatetime(range[0]!);
      const hi = range[1] === undefined ? undefined : parseFilterDatetime(range[1]);
      if (lo === undefined || (range[1] !== undefined && hi === undefined)) {
        return fail(400, 'The request was invalid. Please double check the provided data and try again.', {
          [key]: 'Enter a valid date/time.',
        });
      }
      filters[key] = range;
      preds.push((r) => {
        const v = get(r);
        return v !== null && v >= lo && (hi === undefined || v <= hi);
      });
    }
    const state = oneParam(params, 'state');
    if (state === 'deleted' || state === '2') preds.push(() => false);
    const cacheKey = [...params.entries()]
      .filter(([k]) => k !== 'limit' && k !== 'offset' && k !== 'include_related')
      .map(([k, v]) => `${k}=${v}`)
      .sort()
      .join('&');
    let list: EmuRun[];
    const cached = filteredCache.get(cacheKey);
    if (cached && cached.version === store.version) list = cached.runs;
    else {
      const sorted = sortedRuns(orderBy);
      list = preds.length ? sorted.filter((r) => preds.every((p) => p(r))) : sorted;
      if (filteredCache.size > 32) filteredCache.clear();
      filteredCache.set(cacheKey, { version: store.version, runs: list });
    }
    const reply = page(list, params, filters, orderBy, (r) => r);
    if (reply.status !== 200) return reply;
    // Splice cached run texts into the envelope instead of re-rendering every run.
    const body = reply.body as { data: EmuRun[]; extra: unknown; status: unknown };
    return {
      status: 200,
      contentType: 'application/json',
      text: `{"status":${JSON.stringify(body.status)},"data":[${body.data.map((r) => renderRunText(r, include)).join(',')}],"extra":${JSON.stringify(body.extra)}}`,
    };
  };

  const runArtifact = (run: EmuRun, path: string, stepText: string | undefined): Reply => {
    store.advance(run);
    if (stepText !== undefined && !/^\d+$/.test(stepText))
      return fail(400, 'The request was invalid. Please double check the provided data and try again.', {
        step: 'A valid integer is required.',
      });
    const step = resolveStep(store, run, stepText === undefined ? undefined : Number(stepText));
    const paths = artifactPaths(store, run, step);
    if (
      !paths.includes(path) ||
      (run.finishedUs !== null && store.nowUs() - run.finishedUs < artifactDelayUs)
    )
      return NOT_FOUND();
    const command = store.stepCommand(run, step) ?? '';
    const real = Object.entries(options.commandArtifacts ?? {}).find(([k]) => command.startsWith(k))?.[1];
    if (path === 'run_results.json')
      return { status: 200, body: real?.runResults ?? buildRunResults(store, run, step) };
    if (path === 'manifest.json') return { status: 200, body: real?.manifest ?? buildManifest(store, run) };
    if (path === 'catalog.json') return { status: 200, body: buildCatalog(store, run) };
    if (path === 'sources.json') return { status: 200, body: buildSources(store, run) };
    return { status: 200, text: buildCompiledSql(path), contentType: 'text/plain' };
  };

  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const text = Buffer.concat(chunks).toString('utf8');
    if (text.trim() === '') return {};
    return JSON.parse(text);
  };

  const route = async (
    req: IncomingMessage,
    method: string,
    segs: string[],
    params: URLSearchParams,
  ): Promise<Reply> => {
    // segs: after /api/vN/, e.g. ['accounts', '70403104191314', 'runs']
    if (segs[0] !== 'accounts') return NOT_FOUND();
    if (segs.length === 1) {
      if (method !== 'GET') return fail(405, 'Method not allowed.');
      return ok([store.renderAccount()], {
        filters: { pk__in: [store.account.id] },
        order_by: null,
        pagination: { count: 1, total_count: 1 },
      });
    }
    const a = segs[1]!;
    if (!/^\d+$/.test(a)) return NOT_FOUND();
    if (a !== String(store.account.id)) return fail(403, 'Access denied: Token is not scoped to account.');
    const [, , kind, id, sub, ...rest] = segs;
    const num = id === undefined ? undefined : Number(id);
    if (id !== undefined && !/^\d+$/.test(id)) return NOT_FOUND();
    if (kind === undefined)
      return method === 'GET' ? ok(store.renderAccount()) : fail(405, 'Method not allowed.');
    switch (kind) {
      case 'projects': {
        if (id === undefined) {
          let list = store.projects;
          const q = oneParam(params, 'name__icontains');
          if (q) list = list.filter((p) => p.name.toLowerCase().includes(q.toLowerCase()));
          return entityList(list, params, (p) => store.renderProject(p), q ? { name__icontains: q } : {});
        }
        const project = store.project(num!);
        if (!project) return NOT_FOUND();
        if (sub === undefined) return ok(store.renderProject(project));
        if (sub === 'environments') {
          const envs = store.environments.filter((e) => e.projectId === project.id);
          if (rest[0] === undefined)
            return entityList(envs, params, (e) => store.renderEnvironment(e, 'space'), {
              project_id: project.id,
            });
          const env = envs.find((e) => String(e.id) === rest[0]);
          return env ? ok(store.renderEnvironment(env, 'iso')) : NOT_FOUND();
        }
        if (sub === 'repositories') {
          const repos = store.repositories.filter((r) => r.projectId === project.id);
          if (rest[0] === undefined)
            return entityList(repos, params, (r) => store.renderRepository(r), { project_id: project.id });
          const repo = repos.find((r) => String(r.id) === rest[0]);
          return repo ? ok(store.renderRepository(repo)) : NOT_FOUND();
        }
        if (sub === 'connections') {
          const conns = store.connections.filter((c) => c.id === project.connectionId);
          return entityList(
            conns,
            params,
            (c) => ({ ...store.renderConnection(c), project_id: project.id, type: 'adapter' }),
            { project_id: project.id },
          );
        }
        return NOT_FOUND();
      }
      case 'environments': {
        if (id === undefined) {
          const pids = [...listParam(params, 'project_id'), ...listParam(params, 'project_id__in')].map(
            Number,
          );
          const list = pids.length
            ? store.environments.filter((e) => pids.includes(e.projectId))
            : store.environments;
          return entityList(
            list,
            params,
            (e) => store.renderEnvironment(e, 'space'),
            pids.length ? { project_id__in: pids } : {},
          );
        }
        const env = store.environments.find((e) => e.id === num);
        return env ? ok(store.renderEnvironment(env, 'iso')) : NOT_FOUND();
      }
      case 'jobs': {
        if (id === undefined) {
          let list = store.jobs;
          const filters: Record<string, unknown> = {};
          const pids = [...listParam(params, 'project_id'), ...listParam(params, 'project_id__in')].map(
            Number,
          );
          if (pids.length) {
            list = list.filter((j) => pids.includes(j.projectId));
            filters['project_id__in'] = pids;
          }
          const env = oneParam(params, 'environment_id');
          if (env !== undefined) {
            list = list.filter((j) => j.environmentId === Number(env));
            filters['environment_id'] = Number(env);
          }
          return entityList(list, params, (j) => store.renderJob(j), filters);
        }
        const job = store.job(num!);
        if (!job) return NOT_FOUND();
        if (sub === undefined)
          return method === 'GET' ? ok(store.renderJob(job)) : fail(405, 'Method not allowed.');
        if ((sub === 'run' || sub === 'rerun') && method === 'POST') {
          const body =
            sub === 'rerun' ? { cause: 'rerun' } : ((await readBody(req)) as Record<string, unknown>);
          if (typeof body['cause'] !== 'string' || body['cause'].trim() === '') {
            return fail(
              400,
              'The request was invalid. Please double check the provided data and try again.',
              { cause: 'This field is required.' },
            );
          }
          const run = store.trigger(job, body, sub === 'rerun' ? 'rerun' : 'api');
          return ok(store.renderRun(run, new Set(['trigger', 'job']), hrefHost));
        }
        if (sub === 'artifacts' && method === 'GET') {
          const latest = [...store.runs].reverse().find((r) => r.jobId === job.id && store.hasArtifacts(r));
          return latest ? runArtifact(latest, rest.join('/'), oneParam(params, 'step')) : NOT_FOUND();
        }
        return NOT_FOUND();
      }
      case 'runs': {
        if (id === undefined) return method === 'GET' ? listRuns(params) : fail(405, 'Method not allowed.');
        const run = store.run(num!);
        if (!run) return NOT_FOUND();
        if (sub === undefined)
          return ok(store.renderRun(run, new Set(listParam(params, 'include_related')), hrefHost));
        if (sub === 'retry' && method === 'POST') {
          // Retry from the point of failure: only a failed run can be retried.
          if (run.status !== 20)
            return fail(400, 'Only failed runs can be retried.', {
              run_id: 'Run is not in a retryable state.',
            });
          const job = store.job(run.jobId);
          if (!job) return NOT_FOUND();
          const retried = store.trigger(job, { cause: `Retry of run ${run.id}` }, 'retry');
          return ok(store.renderRun(retried, new Set(['trigger', 'job']), hrefHost));
        }
        if (sub === 'cancel' && method === 'POST')
          return ok(store.renderRun(store.cancel(run), new Set(['trigger', 'job']), hrefHost));
        if (sub === 'artifacts') {
          if (rest.length === 0)
            return { status: 200, body: envelope(200, 'Success!', artifactPaths(store, run)) };
          return runArtifact(run, rest.map(decodeURIComponent).join('/'), oneParam(params, 'step'));
        }
        return NOT_FOUND();
      }
      case 'steps': {
        const runId = Math.floor(num! / 10);
        const run = store.run(runId);
        const step = run ? store.renderSteps(run, true).find((s) => s['id'] === num) : undefined;
        return step ? ok(step) : NOT_FOUND();
      }
      case 'repositories': {
        if (id === undefined) {
          const pids = [...listParam(params, 'project_id'), ...listParam(params, 'project_id__in')].map(
            Number,
          );
          const list = pids.length
            ? store.repositories.filter((r) => pids.includes(r.projectId))
            : store.repositories;
          return entityList(list, params, (r) => store.renderRepository(r));
        }
        const repo = store.repositories.find((r) => r.id === num);
        return repo ? ok(store.renderRepository(repo)) : NOT_FOUND();
      }
      case 'users': {
        if (id === undefined) return entityList(store.users, params, (u) => store.renderUser(u));
        const user = store.users.find((u) => u.id === num);
        return user ? ok(store.renderUser(user)) : NOT_FOUND();
      }
      case 'connections': {
        if (id === undefined) return entityList(store.connections, params, (c) => store.renderConnection(c));
        const conn = store.connections.find((c) => c.id === num);
        return conn ? ok(store.renderConnection(conn, true)) : NOT_FOUND();
      }
      default:
        return NOT_FOUND();
    }
  };

  const send = (res: ServerResponse, reply: Reply): void => {
    const headers: Record<string, string> = { ...reply.headers };
    let payload: string;
    if (reply.text !== undefined) {
      payload = reply.text;
      headers['content-type'] = reply.contentType ?? 'text/html; charset=utf-8';
    } else {
      payload = JSON.stringify(reply.body ?? null);
      headers['content-type'] = 'application/json';
    }
    headers['content-length'] = String(Buffer.byteLength(payload));
    res.writeHead(reply.status, headers);
    res.end(payload);
  };

  const faultReply = (fault: EmulatorFault): Reply | undefined => {
    if (fault.kind === 'html200')
      return {
        status: 200,
        text: '<!DOCTYPE html><html><body><h1>dbt Cloud</h1><p>Loading…</p></body></html>',
      };
    if (fault.kind === 'status') {
      const headers: Record<string, string> = {};
      if (fault.retryAfter !== undefined && fault.retryAfter !== null)
        headers['retry-after'] = fault.retryAfter;
      if (fault.status === 429) return { ...fail(429, 'Too many requests.'), headers };
      if (fault.html ?? true)
        return {
          status: fault.status,
          text: HTML_ERROR(
            fault.status,
            fault.status === 502
              ? 'Bad Gateway'
              : fault.status === 503
                ? 'Service Temporarily Unavailable'
                : 'Error',
          ),
          headers,
        };
      return { ...fail(fault.status, 'There was a server error.'), headers };
    }
    return undefined;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://emulator');
    const method = req.method ?? 'GET';
    const entry: EmulatorRequest = {
      method,
      path: url.pathname,
      query: url.searchParams,
      status: 0,
      at: Date.now(),
      accept: req.headers['accept'],
    };
    requests.all.push(entry);
    let latency = faults.latencyMs;
    const fault = faults.take(method, url.pathname);
    if (fault?.kind === 'delay') latency += fault.ms;
    if (latency > 0) await new Promise((r) => setTimeout(r, latency));
    const afterSideEffect =
      (fault?.kind === 'status' || fault?.kind === 'reset') && fault.afterSideEffect === true;
    if (fault?.kind === 'reset' && !afterSideEffect) {
      req.socket.destroy();
      return;
    }
    let reply: Reply;
    const m = /^\/api\/(v2|v3)\/(.*)$/.exec(url.pathname);
    const auth = req.headers['authorization'] ?? '';
    const am = /^(token|bearer)\s+(.+)$/i.exec(auth.trim());
    if (!m) reply = NOT_FOUND();
    else if (!am || (am[2] !== token && !Object.hasOwn(options.scopedTokens ?? {}, am[2]!)))
      reply = fail(401, 'Invalid token.');
    else if (
      am[2] !== token &&
      forbiddenPath(
        options.scopedTokens![am[2]!]!,
        m[2]!.split('/').filter((x) => x !== ''),
      )
    )
      reply = fail(403, 'You do not have permission to perform this action.');
    else if (faults.overLimit(Date.now())) {
      reply = {
        ...fail(429, 'Too many requests.'),
        headers: faults.rateLimitRetryAfter === null ? {} : { 'retry-after': faults.rateLimitRetryAfter },
      };
    } else if (fault && !afterSideEffect && faultReply(fault)) reply = faultReply(fault)!;
    else {
      const segs = m[2]!.split('/').filter((s) => s !== '');
      try {
        reply = await route(req, method, segs, url.searchParams);
      } catch (error) {
        reply = fail(400, 'The request was invalid. Please double check the provided data and try again.', {
          detail: String((error as Error).message),
        });
      }
      const due = reply.status === 200 ? faults.insertionsDue(url.pathname) : 0;
      if (due > 0) store.addRuns(due);
      if (afterSideEffect && fault) {
        if (fault.kind === 'reset') {
          req.socket.destroy();
          return;
        }
        reply = faultReply(fault)!;
      }
    }
    entry.status = reply.status;
    send(res, reply);
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) send(res, fail(500, `Emulator error: ${String(error)}`));
    });
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const url = `http://${host}:${address.port}`;
  hrefHost = `${host}:${address.port}`;
  return {
    url,
    token,
    accountId: store.account.id,
    store,
    requests,
    faults,
    addRuns: (n) => store.addRuns(n).map((r) => r.id),
    finishInFlight: (status = 10) => store.finishInFlight(status).map((r) => r.id),
    setJobOutcome: (jobId, outcome) =>
      store.jobOutcomes.set(jobId, outcome === 'success' ? 10 : outcome === 'error' ? 20 : 30),
    setArtifactDelayMs: (ms) => {
      artifactDelayUs = ms * 1000;
    },
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
