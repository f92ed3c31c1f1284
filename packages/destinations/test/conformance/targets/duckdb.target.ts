import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ConformanceTarget } from './types.ts';

/** DuckDB: a new database file per test in a temp folder. */
export const target: ConformanceTarget = {
  name: 'duckdb',
  async setup(testName) {
    const dir = await mkdtemp(path.join(tmpdir(), `ferry-conf-duckdb-`));
    return {
      config: { type: 'duckdb', path: path.join(dir, `${testName.replace(/\W+/g, '_')}.duckdb`) },
      teardown: () => rm(dir, { recursive: true, force: true }),
    };
  },
};
