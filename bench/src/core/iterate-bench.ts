/**
 * Dataset API: iterate over N rows of a loaded table in batches and sample RSS as it goes. Memory must
 * stay flat (the destination streams). DuckDB always; Postgres when DATABASE_URL is set.
 *
 *   node --conditions=@ferry/source bench/src/core/iterate-bench.ts --rows 1000000
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { pipeline, resource, source, type Destination } from '@ferry/core';
import { createDestination } from '@ferry/destinations';

const { values } = parseArgs({
  options: { rows: { type: 'string', default: '1000000' }, batch: { type: 'string', default: '10000' } },
});
const n = Number(values.rows);
const batchSize = Number(values.batch);
const mb = () => Math.round(process.memoryUsage().rss / 1048576);

function* flatPages(): Generator<Record<string, unknown>[]> {
  for (let start = 0; start < n; start += 10_000) {
    const page: Record<string, unknown>[] = [];
    for (let i = start; i < Math.min(n, start + 10_000); i++) {
      page.push({
        id: 70403104190000 + i,
        status: i % 3 === 0 ? 20 : 10,
        name: `run ${i}`,
        created_at: `2024-01-01T00:00:${String(i % 60).padStart(2, '0')}.000001Z`,
      });
    }
    yield page;
  }
}

async function measure(label: string, destination: Destination) {
  const dir = mkdtempSync(path.join(tmpdir(), 'ferry-iter-'));
  const p = pipeline({
    name: `iter_${Date.now()}`,
    dataset: `iter_${process.pid}`,
    destination,
    dataDir: dir,
  });
  await p.run(source({ name: 'iter', resources: [resource({ name: 'runs' }, flatPages)] }));
  const ds = p.dataset();
  global.gc?.();
  const before = mb();
  const samples: number[] = [];
  let seen = 0;
  let sum = 0n;
  const t = performance.now();
  for await (const batch of ds
    .table('runs')
    .select('id', 'status', 'name', 'created_at')
    .iterate({ batchSize })) {
    for (const r of batch) sum += r.id as bigint;
    seen += batch.length;
    if (seen % 100_000 < batchSize) samples.push(mb());
  }
  const seconds = (performance.now() - t) / 1000;
  await ds.close();
  const client = await destination.connect({ dataset: p.destinationDataset, pipelineName: p.name });
  await client.dropDataset();
  await client.close();
  rmSync(dir, { recursive: true, force: true });
  const expected = BigInt(n) * 70403104190000n + (BigInt(n) * BigInt(n - 1)) / 2n;
  console.log(
    `| ${label} | ${seen.toLocaleString('en-US')} | ${batchSize.toLocaleString('en-US')} | ${seconds.toFixed(2)} | ${Math.round(seen / seconds).toLocaleString('en-US')} | ${before} | ${Math.min(...samples)} | ${Math.max(...samples)} | ${samples.at(-1)} | ${sum === expected ? 'exact' : 'MISMATCH'} |`,
  );
}

console.log(
  '| destination | rows | batch | seconds | rows/s | RSS before MB | RSS min while iterating MB | RSS max MB | RSS at end MB | sum(id) |',
);
console.log('|---|---|---|---|---|---|---|---|---|---|');
const dir = mkdtempSync(path.join(tmpdir(), 'ferry-iter-db-'));
await measure('duckdb', await createDestination({ type: 'duckdb', path: path.join(dir, 'iter.duckdb') }));
if (process.env.DATABASE_URL)
  await measure(
    'postgres',
    await createDestination({ type: 'postgres', credentials: process.env.DATABASE_URL }),
  );
rmSync(dir, { recursive: true, force: true });
