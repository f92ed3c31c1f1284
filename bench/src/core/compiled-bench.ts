/**
 * The generated normalizer (issue 18) against the generic `RowNormalizer`, in one run, on several shapes.
 *
 *   node --conditions=@ferry/source bench/src/core/compiled-bench.ts [--scale 1] [--repeat 3] [--shape runs,...]
 *   pnpm bench compiled [--scale 1] [--repeat 3]
 *
 * Each (shape, mode) runs in its own child process: it builds the records in memory first (untimed),
 * then normalizes every one with `codegen: false` (generic) or `codegen: true` (generated fast path, the
 * default), rows counted and dropped. Modes are interleaved, so a drift of this shared machine's speed
 * touches both alike; the ratio is generic ÷ generated of the medians, CPU seconds beside wall seconds
 * (the machine is shared: CPU time is the steadier figure). Peak RSS is the child's `maxRSS`; Δ subtracts
 * its RSS after the records were built, so it is what normalizing added.
 *
 * Shapes (records at `--scale 1`):
 * - `runs`: the benchmark's dbt Cloud runs (`records.ts`): 15 fields, a nested object, 2 child rows.
 * - `narrow`: 5 scalar fields, no nesting, no child rows.
 * - `wide`: 300 scalar fields of mixed types (text, bigint, double, bool, timestamp).
 * - `nested`: objects 4 levels deep, 40 leaf fields, no lists.
 * - `children`: a list of 50 objects (5 fields each) and a list of 20 scalars per record: 71 rows each.
 * - `github`: dlt's GitHub issues page (shared/peer-cases), repeated: a real API shape, 2 child tables.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    scale: { type: 'string', default: '1' },
    repeat: { type: 'string', default: '3' },
    shape: { type: 'string', default: 'runs,narrow,wide,nested,children,github' },
    child: { type: 'string' },
    mode: { type: 'string' },
  },
});

const SHAPES = ['runs', 'narrow', 'wide', 'nested', 'children', 'github'] as const;
type ShapeName = (typeof SHAPES)[number];
const BASE_RECORDS: Record<ShapeName, number> = {
  runs: 300_000,
  narrow: 1_000_000,
  wide: 10_000,
  nested: 200_000,
  children: 10_000,
  github: 30_000,
};

interface Result {
  seconds: number;
  cpu: number;
  rows: number;
  rssBeforeMb: number;
  maxRssMb: number;
  hits: number;
  generic: number;
}

const TS = (i: number) =>
  `2024-01-${String((i % 28) + 1).padStart(2, '0')} 10:${String(i % 60).padStart(2, '0')}:00.123456+00:00`;

async function build(shape: ShapeName, n: number): Promise<Record<string, unknown>[]> {
  const out: Record<string, unknown>[] = [];
  switch (shape) {
    case 'runs': {
      const { runPages } = await import('../records.ts');
      for (const p of runPages(n)) for (const r of p) out.push(r);
      return out;
    }
    case 'narrow':
      for (let i = 0; i < n; i++)
        out.push({
          id: i,
          name: `n${i}`,
          ok: i % 2 === 0,
          score: i / 7,
          code: i % 3 === 0 ? null : `c${i % 100}`,
        });
      return out;
    case 'wide':
      for (let i = 0; i < n; i++) {
        const r: Record<string, unknown> = { id: i };
        for (let k = 0; k < 299; k++) {
          const t = k % 5;
          r[`f${k}`] =
            (i + k) % 10 === 0
              ? null
              : t === 0
                ? `t${i}_${k}`
                : t === 1
                  ? i * k
                  : t === 2
                    ? i / (k + 1)
                    : t === 3
                      ? (i & 1) === 0
                      : TS(i + k);
        }
        out.push(r);
      }
      return out;
    case 'nested':
      for (let i = 0; i < n; i++) {
        const leaf = (p: number) => ({
          a: i + p,
          b: `s${p}`,
          c: p % 2 === 0,
          d: i / (p + 1),
          e: p === 3 ? null : TS(i),
        });
        out.push({
          id: i,
          l1: { x: leaf(0), l2: { y: leaf(1), l3: { z: leaf(2), l4: leaf(3) } } },
          k: { m: leaf(4), n: leaf(5), o: leaf(6) },
        });
      }
      return out;
    case 'children':
      for (let i = 0; i < n; i++)
        out.push({
          id: i,
          items: Array.from({ length: 50 }, (_, k) => ({
            k,
            sku: `s${k}`,
            qty: (i + k) % 9,
            price: k / 3,
            at: TS(k),
          })),
          tags: Array.from({ length: 20 }, (_, k) => `tag${k}`),
        });
      return out;
    case 'github': {
      const file = path.resolve(
        import.meta.dirname,
        '../../../../shared/peer-cases/dlt-github-issues/issues.page.json',
      );
      const page = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>[];
      for (let i = 0; i < n; i++) out.push(page[i % page.length]!);
      return out;
    }
  }
}

async function child(shape: ShapeName, n: number, codegen: boolean): Promise<Result> {
  const { NamingConvention, RowNormalizer, Schema } = await import('@ferry/core');
  const records = await build(shape, n);
  const info = {
    resource: shape,
    table: shape,
    writeDisposition: 'append' as const,
    primaryKey: [],
    mergeKey: [],
    columns: {},
    maxTableNesting: 1000,
  };
  const normalizer = new RowNormalizer(
    new Schema('bench'),
    new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' }),
    { loadId: '1763900000000001', codegen },
  );
  globalThis.gc?.();
  const rssBeforeMb = process.memoryUsage().rss / 1048576;
  let rows = 0;
  const emit = () => void rows++;
  const cpu0 = process.cpuUsage();
  const t = performance.now();
  for (let i = 0; i < records.length; i++) normalizer.normalize(info, records[i]!, `r${i}`, emit);
  const seconds = (performance.now() - t) / 1000;
  const cpu = process.cpuUsage(cpu0);
  const stats = normalizer.codegenStats;
  return {
    seconds,
    cpu: (cpu.user + cpu.system) / 1e6,
    rows,
    rssBeforeMb,
    maxRssMb: process.resourceUsage().maxRSS / 1024,
    hits: stats.hits,
    generic: stats.generic,
  };
}

const scale = Number(values.scale);
if (values.child) {
  const shape = values.child as ShapeName;
  const n = Math.max(1, Math.round(BASE_RECORDS[shape] * scale));
  process.stdout.write(JSON.stringify(await child(shape, n, values.mode === 'compiled')));
} else {
  const shapes = values.shape.split(',') as ShapeName[];
  for (const s of shapes)
    if (!SHAPES.includes(s)) throw new Error(`unknown shape '${s}'; shapes: ${SHAPES.join(', ')}`);
  const repeat = Number(values.repeat);
  const script = new URL(import.meta.url).pathname;
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `compiled-bench --scale ${scale} --repeat ${repeat} (${new Date().toISOString()}, Node ${process.version})`,
  );
  console.log(
    '| shape | records | rows | generic s (CPU s) | generated s (CPU s) | × faster wall | × faster CPU | fast-path records | generic peak RSS MB (Δ) | generated peak RSS MB (Δ) |',
  );
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const shape of shapes) {
    const runs: Record<'generic' | 'compiled', Result[]> = { generic: [], compiled: [] };
    for (let r = 0; r < repeat; r++) {
      for (const mode of r % 2 === 0
        ? (['generic', 'compiled'] as const)
        : (['compiled', 'generic'] as const)) {
        const out = spawnSync(
          process.execPath,
          [
            '--expose-gc',
            '--conditions=@ferry/source',
            script,
            '--child',
            shape,
            '--mode',
            mode,
            '--scale',
            String(scale),
          ],
          { encoding: 'utf8', maxBuffer: 1 << 20 },
        );
        if (out.status !== 0) throw new Error(`${shape}/${mode} failed: ${out.stderr}`);
        runs[mode].push(JSON.parse(out.stdout) as Result);
      }
    }
    const pick = (mode: 'generic' | 'compiled') => {
      const s = median(runs[mode].map((x) => x.seconds));
      return { ...runs[mode].find((x) => x.seconds === s)!, cpuMedian: median(runs[mode].map((x) => x.cpu)) };
    };
    const g = pick('generic');
    const c = pick('compiled');
    if (g.rows !== c.rows) throw new Error(`${shape}: generic emitted ${g.rows} rows, generated ${c.rows}`);
    const records = c.hits + c.generic;
    const mem = (x: Result) =>
      `${x.maxRssMb.toFixed(0)} (+${Math.max(0, x.maxRssMb - x.rssBeforeMb).toFixed(0)})`;
    console.log(
      `| ${shape} | ${records.toLocaleString('en-US')} | ${c.rows.toLocaleString('en-US')} | ${g.seconds.toFixed(2)} (${g.cpuMedian.toFixed(2)}) | ${c.seconds.toFixed(2)} (${c.cpuMedian.toFixed(2)}) | ${(g.seconds / c.seconds).toFixed(2)}× | ${(g.cpuMedian / c.cpuMedian).toFixed(2)}× | ${((100 * c.hits) / records).toFixed(1)}% | ${mem(g)} | ${mem(c)} |`,
    );
    console.log(
      `  all runs s: generic ${JSON.stringify(runs.generic.map((x) => +x.seconds.toFixed(2)))}, generated ${JSON.stringify(runs.compiled.map((x) => +x.seconds.toFixed(2)))}`,
    );
  }
}
