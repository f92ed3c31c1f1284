/**
 * Ferry → Postgres, end to end, against `psql \copy` of the equivalent flat CSV in the same run.
 *
 *   node --conditions=@ferry/source bench/src/postgres/pg-bench.ts --rows 1000000 [--url postgres://…] [--repeat 1] [--workers N]
 *
 * 1. Ferry: a source generates N nested dbt-run-like records on the fly (14-digit ids, timestamps in the
 *    dbt Cloud forms, nullable strings, a nested object, a list of run steps); the pipeline extracts,
 *    normalizes and loads them into a fresh dataset (COPY FROM STDIN, one transaction). Timed end to end.
 * 2. Baseline: the root table Ferry produced is exported to CSV with `psql \copy … TO` (untimed), then
 *    `psql -1 -c "CREATE TABLE …" -c "\copy … FROM 'x.csv' CSV HEADER"` is timed. The child table is timed
 *    the same way, so both "root only" (the baseline) and "all tables" ratios are reported.
 * Peak RSS is this process's `maxRSS` (main thread + normalize workers), read after the Ferry run.
 */
import { spawnSync } from 'node:child_process';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { pipeline, resource, source, type DataItem, type LoadInfo } from '@ferry/core';
import { postgres } from '@ferry/destinations/postgres';
import { mulberry32 } from '../records.ts';

const { values: args } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    url: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    repeat: { type: 'string', default: '1' },
    workers: { type: 'string' },
    keep: { type: 'boolean', default: false },
  },
});
const ROWS = Number(args.rows);
const URL_ = args.url!;
const REPEAT = Number(args.repeat);

const rng = mulberry32;

const pad = (n: number, w = 2) => String(n).padStart(w, '0');
const HEX = '0123456789abcdef';

const DAY_TEXT = new Map<number, string>();
/** `YYYY-MM-DDTHH:MM:SS` of epoch ms, without a Date per call (generation must stay cheap next to Ferry). */
function iso(ms: number): string {
  const day = Math.floor(ms / 86_400_000);
  let d = DAY_TEXT.get(day);
  if (d === undefined) {
    d = new Date(day * 86_400_000).toISOString().slice(0, 10);
    DAY_TEXT.set(day, d);
  }
  const sec = Math.floor((ms - day * 86_400_000) / 1000);
  return `${d}T${pad(Math.floor(sec / 3600))}:${pad(Math.floor(sec / 60) % 60)}:${pad(sec % 60)}`;
}

/** A dbt Cloud run as the API sends it (dbt-cloud-api.md §5: mixed timestamp forms). */
function runRecord(i: number, r: () => number): DataItem {
  const base = Date.UTC(2024, 0, 1) + i * 37_000;
  const micros = Math.floor(r() * 1e6);
  const created = iso(base);
  const status = r() < 0.85 ? 10 : r() < 0.5 ? 20 : 30;
  const inProgress = r() < 0.03;
  let sha = '';
  for (let k = 0; k < 40; k++) sha += HEX[Math.floor(r() * 16)];
  const duration = Math.floor(r() * 3600);
  return {
    id: 70403104190000 + i,
    account_id: 43786,
    job_definition_id: 278164 + (i % 50),
    environment_id: 218762,
    project_id: 270542,
    status,
    status_humanized: status === 10 ? 'Success' : status === 20 ? 'Error' : 'Cancelled',
    in_progress: inProgress,
    git_branch: r() < 0.3 ? null : `feature/branch-${i % 997}`,
    git_sha: sha,
    created_at: `${created.replace('T', ' ')}.${pad(micros, 6)}+00:00`,
    updated_at: `${iso(base + 61_000)}.${pad(micros, 6)}+00:00`,
    dequeued_at: `${iso(base + 1_000)}.${pad((micros + 17) % 1e6, 6)}Z`,
    started_at: `${iso(base + 2_000).replace('T', ' ')}+00:00`,
    finished_at: inProgress ? null : `${created.replace('T', ' ')}.${pad((micros + 1) % 1e6, 6)}+00:00`,
    duration: `${pad(Math.floor(duration / 3600))}:${pad(Math.floor(duration / 60) % 60)}:${pad(duration % 60)}`,
    run_duration_s: duration + r(),
    href: `https://cloud.getdbt.com/deploy/43786/projects/270542/runs/${70403104190000 + i}/`,
    trigger: {
      id: 90000000 + i,
      cause: r() < 0.5 ? 'Kicked off from the UI' : 'Triggered via API',
      schema_override: r() < 0.7 ? null : `dbt_pr_${i % 101}`,
    },
    run_steps: [
      { index: 1, name: 'Invoke dbt with `dbt deps`', status: 10 },
      { index: 2, name: 'Invoke dbt with `dbt build`', status },
    ],
  };
}

function runsSource(n: number) {
  return source({
    name: 'bench',
    resources: [
      resource({ name: 'runs' }, function* () {
        const r = rng(42);
        for (let i = 0; i < n; i += 1000) {
          const page: DataItem[] = [];
          for (let k = i; k < Math.min(n, i + 1000); k++) page.push(runRecord(k, r));
          yield page;
        }
      }),
    ],
  });
}

function psql(...commands: string[]): number {
  const t = performance.now();
  const res = spawnSync(
    'psql',
    [URL_, '-X', '-q', '-v', 'ON_ERROR_STOP=1', ...commands.flatMap((c) => ['-c', c])],
    { encoding: 'utf8' },
  );
  if (res.status !== 0) throw new Error(`psql failed: ${res.stderr}`);
  return performance.now() - t;
}

const cpuSeconds = (u: NodeJS.CpuUsage) => (u.user + u.system) / 1e6;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const s = (ms: number) => (ms / 1000).toFixed(2);

async function main(): Promise<void> {
  const admin = new pg.Client({ connectionString: URL_ });
  await admin.connect();
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-pg-bench-'));
  const ferryRuns: {
    total: number;
    info: LoadInfo;
    cpuTotal: number;
    cpuByStage: Record<string, number>;
    rssByStage: Record<string, number>;
  }[] = [];
  const psqlRoot: number[] = [];
  const psqlChild: number[] = [];
  let csvBytes = 0;
  let childCsvBytes = 0;
  let maxRssMb = 0;
  const gen = { cpu: 0 };
  try {
    for (let rep = 0; rep < REPEAT; rep++) {
      const dataset = `bench_ferry_${rep}`;
      await admin.query(
        `DROP SCHEMA IF EXISTS ${dataset} CASCADE; DROP SCHEMA IF EXISTS ${dataset}_staging CASCADE; DROP SCHEMA IF EXISTS bench_psql CASCADE`,
      );
      const dataDir = path.join(dir, `data-${rep}`);
      const stageCpu = new Map<string, NodeJS.CpuUsage>();
      const cpuByStage: Record<string, number> = {};
      const rssByStage: Record<string, number> = {};
      const p = pipeline({
        name: `pg_bench_${rep}`,
        dataset,
        destination: postgres({ credentials: URL_ }),
        dataDir,
        onEvent: (e) => {
          if (e.type !== 'stage') return;
          if (e.status === 'start') stageCpu.set(e.stage, process.cpuUsage());
          else {
            cpuByStage[e.stage] =
              (cpuByStage[e.stage] ?? 0) + cpuSeconds(process.cpuUsage(stageCpu.get(e.stage)));
            // maxRSS only grows: its value at each stage's end shows which stage reached the peak.
            rssByStage[e.stage] = Math.round(process.resourceUsage().maxRSS / 1024);
          }
        },
        ...(args.workers === undefined ? {} : { normalizeWorkers: Number(args.workers) }),
      });
      const t = performance.now();
      const cpu0 = process.cpuUsage();
      const info = await p.run(runsSource(ROWS));
      const total = performance.now() - t;
      const cpuTotal = cpuSeconds(process.cpuUsage(cpu0));
      maxRssMb = Math.max(maxRssMb, process.resourceUsage().maxRSS / 1024);
      ferryRuns.push({ total, info, cpuTotal, cpuByStage, rssByStage });
      const { rows } = await admin.query(
        `SELECT (SELECT COUNT(*) FROM ${dataset}.runs)::int AS runs, (SELECT COUNT(*) FROM ${dataset}.runs__run_steps)::int AS steps`,
      );
      if (rows[0].runs !== ROWS || rows[0].steps !== 2 * ROWS)
        throw new Error(`row counts ${JSON.stringify(rows[0])}, expected ${ROWS} / ${2 * ROWS}`);
      console.error(
        `ferry run ${rep + 1}: ${s(total)} s ${JSON.stringify(Object.fromEntries(Object.entries(info.timings).map(([k, v]) => [k, Math.round(v ?? 0)])))} cpu ${cpuTotal.toFixed(1)} s ${JSON.stringify(cpuByStage)} maxRSS MB at stage end ${JSON.stringify(rssByStage)}`,
      );
      await rm(dataDir, { recursive: true, force: true });

      // Baseline on the very same data: export each table (untimed), then time psql's \copy into a copy of it.
      const rootCsv = path.join(dir, 'runs.csv');
      const childCsv = path.join(dir, 'runs__run_steps.csv');
      psql(
        `\\copy ${dataset}.runs TO '${rootCsv}' WITH (FORMAT csv, HEADER true)`,
        `\\copy ${dataset}.runs__run_steps TO '${childCsv}' WITH (FORMAT csv, HEADER true)`,
      );
      csvBytes = (await stat(rootCsv)).size;
      childCsvBytes = (await stat(childCsv)).size;
      psql('CREATE SCHEMA bench_psql');
      psqlRoot.push(
        psql(
          `CREATE TABLE bench_psql.runs (LIKE ${dataset}.runs)`,
          `\\copy bench_psql.runs FROM '${rootCsv}' WITH (FORMAT csv, HEADER true)`,
        ),
      );
      psqlChild.push(
        psql(
          `CREATE TABLE bench_psql.runs__run_steps (LIKE ${dataset}.runs__run_steps)`,
          `\\copy bench_psql.runs__run_steps FROM '${childCsv}' WITH (FORMAT csv, HEADER true)`,
        ),
      );
      console.error(
        `psql \\copy run ${rep + 1}: root ${s(psqlRoot.at(-1)!)} s, child ${s(psqlChild.at(-1)!)} s`,
      );
      await rm(rootCsv);
      await rm(childCsv);
      if (!args.keep)
        await admin.query(
          `DROP SCHEMA IF EXISTS ${dataset} CASCADE; DROP SCHEMA IF EXISTS bench_psql CASCADE`,
        );
    }
    // What generating the records costs by itself (it runs inside Ferry's extract stage).
    const gen0 = process.cpuUsage();
    const r = rng(42);
    let sink = 0;
    for (let i = 0; i < ROWS; i++) sink += (runRecord(i, r).id as number) & 1;
    gen.cpu = cpuSeconds(process.cpuUsage(gen0));
    console.error(`generating ${ROWS} records alone: ${gen.cpu.toFixed(1)} CPU s (${sink > 0 ? 'ok' : ''})`);
  } finally {
    await admin.end();
    await rm(dir, { recursive: true, force: true });
  }

  const ferry = median(ferryRuns.map((r) => r.total));
  const pick = (k: keyof LoadInfo['timings']) => median(ferryRuns.map((r) => r.info.timings[k] ?? 0));
  const cpu = (k: string) => median(ferryRuns.map((r) => r.cpuByStage[k] ?? 0)).toFixed(1);
  const root = median(psqlRoot);
  const both = median(psqlRoot.map((r, i) => r + psqlChild[i]!));
  const server = await (async () => {
    const c = new pg.Client({ connectionString: URL_ });
    await c.connect();
    try {
      return (await c.query('SHOW server_version')).rows[0].server_version as string;
    } finally {
      await c.end();
    }
  })();
  const lines = [
    `| what | time s (median of ${REPEAT}) | rows/s (root rows) | ratio to psql root |`,
    '|---|---|---|---|',
    `| Ferry end to end (${ROWS.toLocaleString('en')} nested records → runs + runs__run_steps) | ${s(ferry)} | ${Math.round(ROWS / (ferry / 1000)).toLocaleString('en')} | ${(ferry / root).toFixed(2)}× |`,
    `| · sync / extract / normalize / load | ${s(pick('sync'))} / ${s(pick('extract'))} / ${s(pick('normalize'))} / ${s(pick('load'))} | | load alone ${(pick('load') / root).toFixed(2)}× |`,
    `| · CPU s of the Ferry process (all threads): total / extract (incl. generating the records: ${gen.cpu.toFixed(1)}) / normalize / load | ${median(ferryRuns.map((r) => r.cpuTotal)).toFixed(1)} / ${cpu('extract')} / ${cpu('normalize')} / ${cpu('load')} | | |`,
    `| psql \\copy of the flat root CSV (${(csvBytes / 2 ** 20).toFixed(1)} MiB) | ${s(root)} | ${Math.round(ROWS / (root / 1000)).toLocaleString('en')} | 1.00× |`,
    `| psql \\copy of root + child CSVs (${((csvBytes + childCsvBytes) / 2 ** 20).toFixed(1)} MiB, the same data Ferry loads) | ${s(both)} | ${Math.round(ROWS / (both / 1000)).toLocaleString('en')} | ${(both / root).toFixed(2)}× (Ferry vs this: ${(ferry / both).toFixed(2)}×) |`,
    '',
    `Peak RSS of the Ferry process (main thread + normalize workers): ${Math.round(maxRssMb)} MB; maxRSS at the end of sync / extract / normalize / load (first run): ${['sync', 'extract', 'normalize', 'load'].map((k) => ferryRuns[0]?.rssByStage[k] ?? '-').join(' / ')} MB. Server: PostgreSQL ${server}; Node ${process.version}.`,
  ];
  console.log(lines.join('\n'));
}

await main();
