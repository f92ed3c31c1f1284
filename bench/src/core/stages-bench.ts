/**
 * Peak RSS and time per stage (extract, normalize, load) for N synthetic records into DuckDB.
 *
 *   node --conditions=@ferry/source bench/src/core/stages-bench.ts 1000000 [workers]
 */
import { pipeline, resource, source } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { runPages } from '../records.ts';
import { rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
const n = Number(process.argv[2] ?? 1000000);
const workers = Number(process.argv[3] ?? 2);
const dir = path.join(tmpdir(), 'ferry-stages');
rmSync(dir, { recursive: true, force: true });
const mb = () => Math.round(process.resourceUsage().maxRSS / 1024);
const p = pipeline({
  name: 'b',
  dataset: 'b',
  destination: duckdb({ path: path.join(dir, 'x.duckdb') }),
  dataDir: path.join(dir, 'data'),
  normalizeWorkers: workers,
});
const src = source({ name: 'b', resources: [resource({ name: 'runs' }, () => runPages(n))] });
let t = performance.now();
await p.extract(src);
console.log('extract', ((performance.now() - t) / 1000).toFixed(1), 's maxRSS', mb());
t = performance.now();
await p.normalize();
console.log('normalize', ((performance.now() - t) / 1000).toFixed(1), 's maxRSS', mb());
t = performance.now();
await p.load();
console.log('load', ((performance.now() - t) / 1000).toFixed(1), 's maxRSS', mb());
await p.close();
rmSync(dir, { recursive: true, force: true });
