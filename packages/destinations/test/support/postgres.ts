import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import pg from 'pg';
import { afterAll, beforeAll } from 'vitest';

/** A Postgres server for one test file. */
export interface TestPostgres {
  /** Connection string of the server's maintenance database (superuser). */
  url: string;
  /** `container` (testcontainers, postgres:15) or `url` (DATABASE_URL). */
  mode: 'container' | 'url';
  /** Stop the container (no-op for `url`). Idempotent. */
  stop(): Promise<void>;
}

/** Default for machines without Docker: the local server `.ci/run` points `DATABASE_URL` at. */
const HOW_TO = [
  'no Postgres server for the tests. Either:',
  '  - start Docker (`eval "$(../shared/tools/docker-up)"` on the project machines; with TESTCONTAINERS_RYUK_DISABLED=true',
  '    TESTCONTAINERS_HOST_OVERRIDE=localhost) so the tests start postgres:15 with @testcontainers/postgresql, or',
  '  - set DATABASE_URL to a server where the user may CREATE DATABASE, e.g. postgres://postgres@127.0.0.1:5432/test.',
  'FERRY_PG_MODE=container|url forces one of the two.',
].join('\n');

/** Whether a Docker engine answers (`DOCKER_HOST` or the default socket, and `docker info` works). */
export function dockerReachable(): boolean {
  if (!process.env.DOCKER_HOST && !existsSync('/var/run/docker.sock')) return false;
  try {
    execFileSync('docker', ['info', '--format', '{{.ServerVersion}}'], { stdio: 'pipe', timeout: 10_000 });
    return true;
  } catch {
    return false;
  }
}

/**
 * Start (or find) a Postgres server for one test file. `FERRY_PG_MODE=container|url` forces a path; by
 * default a reachable Docker engine wins (postgres:15 through @testcontainers/postgresql, the path a
 * user with Docker runs), then `DATABASE_URL`. With neither it throws, with instructions: never a skip.
 */
export async function startPostgres(): Promise<TestPostgres> {
  const forced = process.env.FERRY_PG_MODE;
  if (forced && forced !== 'container' && forced !== 'url')
    throw new Error(`FERRY_PG_MODE must be 'container' or 'url', not '${forced}'`);
  const useContainer = forced === 'container' || (forced === undefined && dockerReachable());
  if (useContainer) return startContainer();
  const url = process.env.DATABASE_URL;
  if (!url)
    throw new Error(
      `${forced === 'url' ? 'FERRY_PG_MODE=url but DATABASE_URL is not set. ' : ''}${HOW_TO}${process.env.CI === 'true' ? '\n(CI=true: a missing database is a failure.)' : ''}`,
    );
  return { url, mode: 'url', stop: async () => undefined };
}

async function startContainer(): Promise<TestPostgres> {
  const { PostgreSqlContainer } = await import('@testcontainers/postgresql');
  /** Publishes 5432 on 127.0.0.1 only (testcontainers binds every interface by default). */
  class LoopbackPostgreSqlContainer extends PostgreSqlContainer {
    constructor(image: string) {
      super(image);
      this.hostConfig.PortBindings = { '5432/tcp': [{ HostIp: '127.0.0.1', HostPort: '0' }] };
    }
  }
  const container = await new LoopbackPostgreSqlContainer('postgres:15')
    .withUsername('postgres')
    .withPassword('ferry-test')
    .withDatabase('test')
    .withLabels({ 'dev.ferry.test': 'postgres' })
    // A throwaway server: initdb without fsync (start-up is mostly initdb).
    .withEnvironment({ POSTGRES_INITDB_ARGS: '--no-sync' })
    // Durability does not matter for a throwaway server; this keeps COPY-heavy tests fast.
    .withCommand([
      'postgres',
      '-c',
      'fsync=off',
      '-c',
      'synchronous_commit=off',
      '-c',
      'full_page_writes=off',
      '-c',
      'max_connections=200',
    ])
    .start();
  const id = container.getId();
  // Backstop: if the worker exits without afterAll (a crash), remove the container anyway.
  const removeOnExit = () => {
    try {
      execFileSync('docker', ['rm', '-f', '-v', id], { stdio: 'ignore', timeout: 15_000 });
    } catch {
      // already gone
    }
  };
  process.once('exit', removeOnExit);
  let stopped = false;
  return {
    url: container.getConnectionUri(),
    mode: 'container',
    stop: async () => {
      if (stopped) return;
      stopped = true;
      process.removeListener('exit', removeOnExit);
      await container.stop({ remove: true, removeVolumes: true, timeout: 1000 });
    },
  };
}

/** `url` with its database replaced. */
export function withDatabase(url: string, database: string): string {
  const u = new URL(url);
  u.pathname = `/${database}`;
  return u.toString();
}

let seq = 0;

/**
 * Create a fresh database on the server (unique name from `label`), return its URL and a drop function
 * that terminates leftover sessions (a crashed child's) and drops it.
 */
export async function createTestDatabase(
  serverUrl: string,
  label: string,
): Promise<{ url: string; name: string; drop(): Promise<void> }> {
  const name =
    `ferry_${label.toLowerCase().replace(/[^a-z0-9]+/g, '_')}_${process.pid}_${Date.now().toString(36)}_${seq++}`.slice(
      0,
      63,
    );
  await admin(serverUrl, (c) => c.query(`CREATE DATABASE "${name}"`));
  return {
    name,
    url: withDatabase(serverUrl, name),
    drop: () =>
      admin(serverUrl, (c) => c.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)).then(
        () => undefined,
      ),
  };
}

/** Run something on a short-lived connection. */
export async function admin<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * One Postgres server for the calling test file: started in `beforeAll`, stopped in `afterAll` after the
 * file's `cleanups` ran (newest first). Read `server` inside tests, not at import time.
 */
export function postgresForFile(): { readonly server: TestPostgres; cleanups: (() => Promise<unknown>)[] } {
  let server: TestPostgres | undefined;
  const cleanups: (() => Promise<unknown>)[] = [];
  beforeAll(async () => {
    server = await startPostgres();
  }, 180_000);
  afterAll(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
    await server?.stop();
  });
  return {
    get server() {
      if (!server) throw new Error('the Postgres server starts in beforeAll; use it inside tests');
      return server;
    },
    cleanups,
  };
}
