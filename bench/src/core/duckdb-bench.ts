/**
 * Core benchmark: N synthetic nested records through the Ferry pipeline into DuckDB, against DuckDB's
 * own `read_json_auto` + insert of the same rows from a JSONL file, in the same run. Each side runs in
 * its own child process so its peak RSS is its own.
 *
 *   node --conditions=@ferry/source bench/src/core/duckdb-bench.ts --rows 1000000 [--rows 3000000]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', multiple: true },
    child: { type: 'string' },
    dir: { type: 'string' },
    n: { type: 'string' },
  },
});

async function childPipeline(dir: string, n: number) {
  const { pipeline, resource, source } = await import('@ferry/core');
  const { duckdb } = await import('@ferry/destinations/duckdb');
  const { runPages } = await import('../records.ts');
  const runs = resource({ name: 'runs' }, () => runPages(n));
  const p = pipeline({
    name: 'bench',
    dataset: 'bench',
    destination: duckdb({ path: path.join(dir, 'ferry.duckdb') }),
    dataDir: path.join(dir, 'data'),
  });
  const t = performance.now();
  const info = await p.run(source({ name: 'bench', resources: [runs] }));
  const seconds = (performance.now() - t) / 1000;
  return {
    seconds,
    rows: info.rowCounts,
    timings: info.timings,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

async function childBaseline(dir: string, n: number) {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const { writeRunsJsonl } = await import('../records.ts');
  const file = path.join(dir, 'runs.jsonl');
  await writeRunsJsonl(file, n);
  const db = await DuckDBInstance.create(path.join(dir, 'baseline.duckdb'));
  const c = await db.connect();
  const t = performance.now();
  await c.run(
    `CREATE SCHEMA bench; CREATE TABLE bench.runs AS SELECT * FROM read_json_auto('${file}'); CHECKPOINT;`,
  );
  const seconds = (performance.now() - t) / 1000;
  const count = Number((await c.runAndReadAll('SELECT COUNT(*) FROM bench.runs')).getRows()[0]![0]);
  c.closeSync();
  db.closeSync();
  return { seconds, rows: { runs: count }, maxRssMb: process.resourceUsage().maxRSS / 1024 };
}

if (values.child) {
  const dir = values.dir!;
  const n = Number(values.n);
  const result = values.child === 'pipeline' ? await childPipeline(dir, n) : await childBaseline(dir, n);
  process.stdout.write(JSON.stringify(result));
} else {
  const sizes = (values.rows ?? ['1000000']).map(Number);
  const script = new URL(import.meta.url).pathname;
  const lines: string[] = [];
  for (const n of sizes) {
    const dir = mkdtempSync(path.join(tmpdir(), 'ferry-bench-'));
    const run = (kind: string) => {
      const r = spawnSync(
        process.execPath,
        ['--conditions=@ferry/source', script, '--child', kind, '--dir', dir, '--n', String(n)],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      );
      if (r.status !== 0) throw new Error(`${kind} failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as {
        seconds: number;
        rows: Record<string, number>;
        maxRssMb: number;
        timings?: Record<string, number>;
      };
    };
    const base = run('baseline');
    const ferry = run('pipeline');
    rmSync(dir, { recursive: true, force: true });
    const ratio = ferry.seconds / base.seconds;
    const t = ferry.timings ?? {};
    const line = `| ${n.toLocaleString('en-US')} | ${ferry.seconds.toFixed(2)} | ${Math.round(n / ferry.seconds).toLocaleString('en-US')} | ${base.seconds.toFixed(2)} | ${Math.round(n / base.seconds).toLocaleString('en-US')} | ${ratio.toFixed(2)}× | ${Math.round(ferry.maxRssMb)} | ${Math.round(base.maxRssMb)} | extract ${((t.extract ?? 0) / 1000).toFixed(1)} s, normalize ${((t.normalize ?? 0) / 1000).toFixed(1)} s, load ${((t.load ?? 0) / 1000).toFixed(1)} s |`;
    lines.push(line);
    console.error(`rows ${n}: ferry ${JSON.stringify(ferry)} baseline ${JSON.stringify(base)}`);
  }
  console.log(
    '| records | Ferry s | Ferry records/s | baseline s | baseline rows/s | ratio | Ferry peak RSS MB | baseline peak RSS MB | Ferry stages |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|');
  for (const l of lines) console.log(l);
}
