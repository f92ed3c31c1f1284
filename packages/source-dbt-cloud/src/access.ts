import type { DataItem, ResourceContext, Yielded } from '@ferry/core';
import type { DbtCloudClient } from './client/dbt-cloud-client.ts';
import { DbtCloudApiError } from './client/dbt-cloud-errors.ts';

/**
 * Resource-level permissions. dbt Cloud's least-privilege tokens (Job Viewer, Job Runner, Job Admin) get
 * 403 on some endpoints; the enterprise permissions table in dbt's docs
 * (https://docs.getdbt.com/docs/platform/manage-access/enterprise-permissions) says which permission sets
 * read what. A 403 on one resource does not fail a load: the resource is skipped and reported.
 */

/** Permission sets that can read each resource (the first ones named in a warning). */
export const DBT_CLOUD_READ_PERMISSIONS: Readonly<Record<string, string>> = {
  accounts: 'any permission set (the account itself)',
  account: 'any permission set (the account itself)',
  projects:
    'Account Admin, Account Viewer, Project Creator, Admin, Developer, Analyst, Job Admin or Job Viewer',
  environments:
    'Account Admin, Account Viewer, Project Creator, Admin, Developer, Analyst, Job Admin or Job Viewer',
  jobs: 'Job Viewer, Job Runner, Job Admin, Developer, Analyst, Admin, Account Viewer or Account Admin',
  job: 'Job Viewer, Job Runner, Job Admin, Developer, Analyst, Admin, Account Viewer or Account Admin',
  runs: 'Job Viewer, Job Runner, Job Admin, Developer, Analyst, Admin, Account Viewer or Account Admin',
  run: 'Job Viewer, Job Runner, Job Admin, Developer, Analyst, Admin, Account Viewer or Account Admin',
  run_artifacts:
    'Job Viewer, Job Runner, Job Admin, Developer, Analyst, Admin, Account Viewer or Account Admin',
  run_results:
    'Job Viewer, Job Runner, Job Admin, Developer, Analyst, Admin, Account Viewer or Account Admin',
  models: 'Job Viewer, Job Runner, Job Admin, Developer, Analyst, Admin, Account Viewer or Account Admin',
  repositories: 'Account Admin, Account Viewer, Project Creator, Admin, Git Admin or Developer',
  users: 'Account Admin, Account Viewer or Security Admin',
  connections: 'Account Admin, Account Viewer, Project Creator, Admin or Database Admin',
};

/** One resource the token may not read. */
export interface DbtCloudForbiddenResource {
  /** The resource (and table) not loaded, e.g. `users`. */
  resource: string;
  /** HTTP status dbt Cloud answered (403). */
  status: number;
  /** The endpoint that answered it (no token). */
  endpoint: string;
  /** Permission sets that grant read access to it. */
  permissionSets: string;
  /** True when the team named the resource in `resources:`; false when it came from the defaults. */
  explicit: boolean;
  /** Resources not loaded because they hang under this one (e.g. `environments` under `projects`). */
  dependents: string[];
  /** The warning line, naming resource, status and permission sets. */
  message: string;
}

/**
 * What a load with forbidden resources means for the exit status: `ok` when every forbidden resource
 * came from the defaults (the token is least-privilege on purpose), `partial` when one was named
 * explicitly in `resources:` (the team asked for data it did not get).
 */
export function forbiddenOutcome(forbidden: readonly DbtCloudForbiddenResource[]): 'ok' | 'partial' {
  return forbidden.some((f) => f.explicit) ? 'partial' : 'ok';
}

/** Build the warning for a 403 on `resource`. */
export function forbiddenWarning(
  resource: string,
  error: DbtCloudApiError,
  explicit: boolean,
  dependents: string[],
): DbtCloudForbiddenResource {
  const permissionSets = DBT_CLOUD_READ_PERMISSIONS[resource] ?? 'a permission set that reads it';
  const also = dependents.length ? ` (nor ${dependents.join(', ')}, which are read through it)` : '';
  const path = new URL(error.url).pathname;
  return {
    resource,
    status: error.status ?? 403,
    endpoint: path,
    permissionSets,
    explicit,
    dependents,
    message:
      `dbt Cloud resource '${resource}' not loaded${also}: ${String(error.status ?? 403)} on GET ${path}. ` +
      `The token's permission sets do not include one that reads it (${permissionSets}). ` +
      (explicit
        ? 'It is named in resources:, so the run ends as a partial success; grant the permission or drop it from resources:.'
        : 'It is a default resource, so the run still succeeds; name resources: explicitly to stop asking.'),
  };
}

/** True for the 403 a least-privilege token gets. */
export function isForbidden(error: unknown): error is DbtCloudApiError {
  return error instanceof DbtCloudApiError && error.status === 403;
}

/**
 * Tracks 403s across the resources of one load: each resource is reported once; when every root
 * resource of the load was forbidden, the token cannot read anything here (wrong account, or no
 * permission at all) and the load fails instead of succeeding with nothing.
 */
export class DbtCloudAccessTracker {
  /** Forbidden resources so far, in the order they were met. */
  readonly forbidden: DbtCloudForbiddenResource[] = [];
  readonly #blocked = new Set<string>();
  #rootsTotal = 0;
  #rootsStarted = 0;
  #rootsDone = 0;
  #rootsForbidden = 0;
  #firstError: DbtCloudApiError | undefined;

  readonly #explicit: ReadonlySet<string>;
  readonly #onWarning: (warning: DbtCloudForbiddenResource) => void;

  /** `explicit`: resources the team named; `onWarning`: told once per forbidden resource. */
  constructor(explicit: ReadonlySet<string>, onWarning: (warning: DbtCloudForbiddenResource) => void) {
    this.#explicit = explicit;
    this.#onWarning = onWarning;
  }

  /** Set how many root resources a load runs (the all-forbidden check waits for all of them). */
  setRootCount(n: number): void {
    this.#rootsTotal = n;
  }

  /** True when `resource` was already forbidden in this load (its transformer skips further calls). */
  blocked(resource: string): boolean {
    return this.#blocked.has(resource);
  }

  /** Record a 403 on `resource` (once). */
  record(resource: string, error: DbtCloudApiError, dependents: string[]): void {
    if (this.#blocked.has(resource)) return;
    this.#blocked.add(resource);
    this.#firstError ??= error;
    const w = forbiddenWarning(
      resource,
      error,
      this.#explicit.has(resource) || dependents.some((d) => this.#explicit.has(d)),
      dependents,
    );
    this.forbidden.push(w);
    this.#onWarning(w);
  }

  /** Wrap a root resource's function: a 403 is recorded and ends the resource without rows. */
  guardRoot(
    resource: string,
    dependents: string[],
    fn: (ctx: ResourceContext) => AsyncIterable<Yielded> | Iterable<Yielded>,
  ): (ctx: ResourceContext) => AsyncIterable<Yielded> {
    return (ctx) => this.#runRoot(resource, dependents, fn, ctx);
  }

  async *#runRoot(
    resource: string,
    dependents: string[],
    fn: (ctx: ResourceContext) => AsyncIterable<Yielded> | Iterable<Yielded>,
    ctx: ResourceContext,
  ): AsyncGenerator<Yielded> {
    // The first root of a load (or one after an unfinished load) starts a fresh report.
    if (this.#rootsStarted === 0 || this.#rootsStarted >= this.#rootsTotal) this.#reset();
    this.#rootsStarted++;
    let forbidden = false;
    try {
      yield* fn(ctx);
    } catch (error) {
      if (!isForbidden(error)) throw error;
      forbidden = true;
      this.record(resource, error, dependents);
    } finally {
      this.#rootsDone++;
      if (forbidden) this.#rootsForbidden++;
    }
    if (this.#rootsDone < this.#rootsTotal) return;
    const all = this.#rootsForbidden === this.#rootsTotal;
    this.#rootsStarted = 0;
    if (all)
      throw new DbtCloudApiError(
        `dbt Cloud answered 403 for every resource of this load (${this.forbidden.map((f) => f.resource).join(', ')}): ` +
          'the token is not scoped to this account or has no permission set here. Check accountId and the token.',
        {
          status: 403,
          url: this.#firstError?.url ?? '',
          code: 'DBT_CLOUD_FORBIDDEN',
          cause: this.#firstError,
        },
      );
  }

  #reset(): void {
    this.forbidden.length = 0;
    this.#blocked.clear();
    this.#rootsStarted = 0;
    this.#rootsDone = 0;
    this.#rootsForbidden = 0;
    this.#firstError = undefined;
  }

  /** Wrap a transformer's function: a 403 is recorded once, later parent items skip the call. */
  guardTransformer(
    resource: string,
    fn: (item: DataItem, ctx: ResourceContext) => AsyncIterable<Yielded> | Iterable<Yielded>,
  ): (item: DataItem, ctx: ResourceContext) => AsyncIterable<Yielded> {
    return (item, ctx) => this.#runChild(resource, fn, item, ctx);
  }

  async *#runChild(
    resource: string,
    fn: (item: DataItem, ctx: ResourceContext) => AsyncIterable<Yielded> | Iterable<Yielded>,
    item: DataItem,
    ctx: ResourceContext,
  ): AsyncGenerator<Yielded> {
    if (this.blocked(resource)) return;
    try {
      yield* fn(item, ctx);
    } catch (error) {
      if (!isForbidden(error)) throw error;
      this.record(resource, error, []);
    }
  }
}

/** What {@link probeDbtCloudAccess} found for one resource. */
export interface DbtCloudAccessProbe {
  /** Resource name. */
  resource: string;
  /** The endpoint asked (one page of at most 1 row). */
  endpoint: string;
  /** `read` (200), `forbidden` (403) or `error` (anything else, with the message). */
  access: 'read' | 'forbidden' | 'error';
  /** HTTP status, when one came. */
  status?: number;
  /** Permission sets that read it (for `forbidden`). */
  permissionSets?: string;
  /** The error message (for `error`). */
  error?: string;
}

/**
 * Ask each list resource once (`limit=1`) and say what the token can read: for `ferry dbt-cloud
 * check-access` and `validate --check-access`. Environments and repositories are probed under the first
 * project the token can see.
 */
export async function probeDbtCloudAccess(
  client: DbtCloudClient,
  signal?: AbortSignal,
): Promise<DbtCloudAccessProbe[]> {
  const a = client.accountPath;
  const out: DbtCloudAccessProbe[] = [];
  const probe = async (
    resource: string,
    version: 'v2' | 'v3',
    path: string,
  ): Promise<unknown[] | undefined> => {
    const endpoint = `/api/${version}/${path}`;
    try {
      const data = await client.get<unknown>(version, path, { limit: 1 }, signal);
      out.push({ resource, endpoint, access: 'read', status: 200 });
      return Array.isArray(data) ? data : [];
    } catch (error) {
      if (isForbidden(error))
        out.push({
          resource,
          endpoint,
          access: 'forbidden',
          status: 403,
          permissionSets: DBT_CLOUD_READ_PERMISSIONS[resource] ?? '',
        });
      else
        out.push({
          resource,
          endpoint,
          access: 'error',
          ...(error instanceof DbtCloudApiError && error.status !== undefined
            ? { status: error.status }
            : {}),
          error: (error as Error).message,
        });
      return undefined;
    }
  };
  await probe('accounts', 'v3', 'accounts/');
  const projects = await probe('projects', 'v3', `${a}/projects/`);
  const first = (projects?.[0] as Record<string, unknown> | undefined)?.['id'];
  if (first !== undefined) {
    await probe('environments', 'v3', `${a}/projects/${String(first)}/environments/`);
    await probe('repositories', 'v3', `${a}/projects/${String(first)}/repositories/`);
  }
  await probe('jobs', 'v2', `${a}/jobs/`);
  await probe('runs', 'v2', `${a}/runs/`);
  await probe('users', 'v3', `${a}/users/`);
  await probe('connections', 'v3', `${a}/connections/`);
  return out;
}
