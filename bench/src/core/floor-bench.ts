/**
 * The floor of a JavaScript normalizer against the issue-2 and issue-5 baselines, in one run.
 *
 *   node --conditions=@ferry/source bench/src/core/floor-bench.ts --rows 1000000 [--repeat 3]
 *
 * Each variant runs in its own child process, on the same deterministic records as `duckdb-bench.ts`:
 *
 * - `ctas`: DuckDB `CREATE TABLE AS SELECT * FROM read_json_auto(jsonl)` (issue 2's baseline; the JSONL
 *   is written before timing).
 * - `parquet`: DuckDB `COPY (SELECT * FROM read_json(jsonl)) TO 'x.parquet'` (issue 5's baseline).
 * - `generate`: only producing the records in JS (the benchmark's source; every pipeline pays it).
 * - `flatten`: generating + `RowNormalizer.normalize` of each record (flatten, infer, coerce, child rows,
 *   ids), rows dropped: the least a JS normalizer does, with no file, no encoding and no load.
 * - `flatten+json`: the same plus `JSON.stringify` of every emitted row, the cheapest loader encoding
 *   (kept in memory, no disk).
 *
 * Everything a Ferry pipeline does on top (raw files, threads, disk, the load itself) only adds to
 * `flatten+json`, so its ratio to a baseline is a lower bound for the pipeline's ratio on this machine.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    repeat: { type: 'string', default: '3' },
    child: { type: 'string' },
    dir: { type: 'string' },
    n: { type: 'string' },
  },
});

/** What one child reports: wall seconds of the timed part, CPU seconds of the process, peak RSS. */
interface Result {
  seconds: number;
  cpu: number;
  maxRssMb: number;
  check: number;
}

const VARIANTS = ['ctas', 'parquet', 'generate', 'flatten', 'flatten+json'] as const;
type Variant = (typeof VARIANTS)[number];

async function duckdbBaseline(dir: string, n: number, variant: 'ctas' | 'parquet'): Promise<Result> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const file = path.join(dir, 'runs.jsonl');
  const { writeRunsJsonl } = await import('../records.ts');
  await writeRunsJsonl(file, n);
  const db = await DuckDBInstance.create(path.join(dir, 'baseline.duckdb'));
  const c = await db.connect();
  const out = path.join(dir, 'runs.parquet');
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  await c.run(
    variant === 'ctas'
      ? `CREATE TABLE runs AS SELECT * FROM read_json_auto('${file}'); CHECKPOINT;`
      : `COPY (SELECT * FROM read_json('${file}')) TO '${out}' (FORMAT parquet)`,
  );
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const from = variant === 'ctas' ? 'runs' : `read_parquet('${out}')`;
  const check = Number((await c.runAndReadAll(`SELECT COUNT(*) FROM ${from}`)).getRows()[0]![0]);
  c.closeSync();
  db.closeSync();
  return {
    seconds,
    cpu: (cpu.user + cpu.system) / 1e6,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    check,
  };
}

async function jsFloor(n: number, variant: 'generate' | 'flatten' | 'flatten+json'): Promise<Result> {
  const { RUNS_INFO, benchNormalizer } = await import('../normalizer.ts');
  const { runPages } = await import('../records.ts');
  const normalizer = benchNormalizer();
  const info = RUNS_INFO;
  let rows = 0;
  let bytes = 0;
  const emit =
    variant === 'flatten+json'
      ? (_t: unknown, row: Record<string, unknown>) => {
          rows++;
          bytes += JSON.stringify(row).length;
        }
      : () => {
          rows++;
        };
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  let i = 0;
  for (const page of runPages(n)) {
    if (variant === 'generate') {
      rows += page.length;
      continue;
    }
    for (const record of page) normalizer.normalize(info, record, `r${i++}`, emit);
  }
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  return {
    seconds,
    cpu: (cpu.user + cpu.system) / 1e6,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    check: variant === 'flatten+json' ? bytes : rows,
  };
}

if (values.child) {
  const variant = values.child as Variant;
  const n = Number(values.n);
  const result =
    variant === 'ctas' || variant === 'parquet'
      ? await duckdbBaseline(values.dir!, n, variant)
      : await jsFloor(n, variant);
  process.stdout.write(JSON.stringify(result));
} else {
  const n = Number(values.rows);
  const repeat = Number(values.repeat);
  const script = new URL(import.meta.url).pathname;
  const runs: Record<Variant, Result[]> = {
    ctas: [],
    parquet: [],
    generate: [],
    flatten: [],
    'flatten+json': [],
  };
  // Interleaved, so a drift in the machine's speed touches every variant alike.
  for (let r = 0; r < repeat; r++) {
    for (const variant of VARIANTS) {
      const dir = mkdtempSync(path.join(tmpdir(), 'ferry-floor-'));
      try {
        const out = spawnSync(
          process.execPath,
          ['--conditions=@ferry/source', script, '--child', variant, '--dir', dir, '--n', String(n)],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        );
        if (out.status !== 0) throw new Error(`${variant} failed: ${out.stderr}`);
        runs[variant].push(JSON.parse(out.stdout) as Result);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const med = (v: Variant) => median(runs[v].map((x) => x.seconds));
  const ctas = med('ctas');
  const parquet = med('parquet');
  console.log(
    `| variant (${n.toLocaleString('en-US')} records, median of ${repeat}) | wall s | CPU s | peak RSS MB | ÷ DuckDB CTAS | ÷ DuckDB COPY TO parquet | check |`,
  );
  console.log('|---|---|---|---|---|---|---|');
  for (const v of VARIANTS) {
    const s = med(v);
    const pick = runs[v].find((x) => x.seconds === s)!;
    console.log(
      `| ${v} | ${s.toFixed(2)} | ${pick.cpu.toFixed(2)} | ${pick.maxRssMb.toFixed(0)} | ${(s / ctas).toFixed(2)}× | ${(s / parquet).toFixed(2)}× | ${pick.check} |`,
    );
  }
  console.log(
    `all runs (s): ${JSON.stringify(Object.fromEntries(VARIANTS.map((v) => [v, runs[v].map((x) => +x.seconds.toFixed(2))])))}`,
  );
}
