import { createTestDatabase, startPostgres, type TestPostgres } from '../../support/postgres.ts';
import type { ConformanceTarget } from './types.ts';

/**
 * Build a Postgres conformance target: one server per test file (a postgres:15 container, or the server
 * of DATABASE_URL), a fresh database per case, dropped at teardown.
 */
function postgresTarget(name: string, mode: 'auto' | 'url'): ConformanceTarget {
  let server: TestPostgres | undefined;
  return {
    name,
    async start() {
      const previous = process.env.FERRY_PG_MODE;
      if (mode === 'url') process.env.FERRY_PG_MODE = 'url';
      try {
        server = await startPostgres();
      } finally {
        if (mode === 'url') {
          if (previous === undefined) delete process.env.FERRY_PG_MODE;
          else process.env.FERRY_PG_MODE = previous;
        }
      }
    },
    async stop() {
      await server?.stop();
      server = undefined;
    },
    async setup(testName) {
      if (!server) throw new Error(`${name}: start() did not run or failed`);
      const db = await createTestDatabase(server.url, testName);
      return { config: { type: 'postgres', credentials: db.url }, teardown: () => db.drop() };
    },
  };
}

/**
 * `postgres`: a postgres:15 container when Docker is reachable (else DATABASE_URL), `postgres-url`:
 * always the server named by DATABASE_URL (the path for machines without Docker), so CI runs both.
 */
export const targets: ConformanceTarget[] = [
  postgresTarget('postgres', 'auto'),
  postgresTarget('postgres-url', 'url'),
];
