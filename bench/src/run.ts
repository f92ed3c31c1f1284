/**
 * `pnpm bench [name] [args...]`: runs one benchmark of this folder from the project root, with the
 * workspace's TypeScript sources (`--conditions=@ferry/source`). Without a name it runs `compiled` (the
 * quickest: no database) at a small scale and lists the others. Each benchmark's own header says what it
 * measures, its baseline and its arguments; bench/RESULTS.md has the figures and the exact commands.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';

/** Benchmark name → script (relative to bench/src) and what it needs. */
const BENCHES: Record<string, { script: string; needs: string }> = {
  compiled: { script: 'core/compiled-bench.ts', needs: 'nothing (generated vs generic normalizer)' },
  floor: { script: 'core/floor-bench.ts', needs: 'DuckDB (bundled)' },
  duckdb: { script: 'core/duckdb-bench.ts', needs: 'DuckDB (bundled)' },
  stages: { script: 'core/stages-bench.ts', needs: 'DuckDB (bundled)' },
  iterate: { script: 'core/iterate-bench.ts', needs: 'DuckDB; Postgres when DATABASE_URL is set' },
  pg: { script: 'postgres/pg-bench.ts', needs: 'Postgres (DATABASE_URL) and psql' },
  'pg-floor': { script: 'postgres/pg-floor-bench.ts', needs: 'Postgres (DATABASE_URL) and psql' },
  parquet: { script: 'filesystem/parquet-bench.ts', needs: 'DuckDB (bundled)' },
  paging: { script: 'dbt-cloud/paging.ts', needs: 'nothing (local emulator)' },
};

const [name, ...rest] = process.argv.slice(2);
const chosen = name === undefined || name.startsWith('-') ? 'compiled' : name;
const args =
  name === undefined ? ['--scale', '0.1', '--repeat', '1'] : name.startsWith('-') ? [name, ...rest] : rest;
const bench = BENCHES[chosen];
if (bench === undefined) {
  console.error(`unknown benchmark '${chosen}'. Benchmarks: ${Object.keys(BENCHES).join(', ')}`);
  process.exit(2);
}
if (name === undefined) {
  console.log('pnpm bench <name> [args]; benchmarks:');
  for (const [n, b] of Object.entries(BENCHES))
    console.log(`  ${n.padEnd(9)} bench/src/${b.script}  (needs ${b.needs})`);
  console.log(`running: compiled ${args.join(' ')}\n`);
}
const root = path.resolve(import.meta.dirname, '../..');
const result = spawnSync(
  process.execPath,
  ['--conditions=@ferry/source', path.join(import.meta.dirname, bench.script), ...args],
  { cwd: root, stdio: 'inherit' },
);
process.exit(result.status ?? 1);
