/**
 * Filesystem/Parquet benchmark, two parts, each variant in its own child process (its own peak RSS):
 *
 * 1. End to end: N synthetic dbt-run-like records through the Ferry pipeline into a local Parquet
 *    filesystem destination, against DuckDB `COPY (SELECT * FROM read_json(...)) TO 'x.parquet'` of the
 *    same records from a JSONL file, in the same run.
 * 2. The Parquet writer alone on the same rows as the normalizer emits them (arrays of canonical values,
 *    built in memory before timing): hyparquet-writer and the DuckDB-encoded writer that Ferry ships,
 *    against DuckDB's appender + `COPY TO` from JS rows and DuckDB `read_json` + `COPY TO`.
 *
 *   node --conditions=@ferry/source bench/src/filesystem/parquet-bench.ts --rows 1000000 [--part e2e|writer]
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';

const { values } = parseArgs({
  options: {
    rows: { type: 'string' },
    part: { type: 'string' },
    child: { type: 'string' },
    dir: { type: 'string' },
    n: { type: 'string' },
  },
});

interface Result {
  seconds: number;
  rows: number;
  maxRssMb: number;
  mib?: number;
  detail?: string;
}

const rss = () => process.resourceUsage().maxRSS / 1024;

function dirMib(dir: string): number {
  let total = 0;
  for (const e of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (e.isFile() && e.name.endsWith('.parquet')) total += statSync(path.join(e.parentPath, e.name)).size;
  }
  return total / 1024 / 1024;
}

async function duckdbCopyJsonl(dir: string, n: number): Promise<Result> {
  const { DuckDBInstance } = await import('@duckdb/node-api');
  const file = path.join(dir, 'runs.jsonl');
  const { writeRunsJsonl } = await import('../records.ts');
  await writeRunsJsonl(file, n);
  const db = await DuckDBInstance.create(':memory:');
  const c = await db.connect();
  const out = path.join(dir, 'duckdb.parquet');
  const t = performance.now();
  await c.run(`COPY (SELECT * FROM read_json('${file}')) TO '${out}' (FORMAT parquet)`);
  const seconds = (performance.now() - t) / 1000;
  const count = Number(
    (await c.runAndReadAll(`SELECT COUNT(*) FROM read_parquet('${out}')`)).getRows()[0]![0],
  );
  c.closeSync();
  db.closeSync();
  return { seconds, rows: count, maxRssMb: rss(), mib: statSync(out).size / 1024 / 1024 };
}

async function ferryPipeline(
  dir: string,
  n: number,
  format: 'parquet' | 'jsonl' = 'parquet',
): Promise<Result> {
  const { pipeline, resource, source } = await import('@ferry/core');
  const { filesystem } = await import('@ferry/destinations/filesystem');
  const { runPages } = await import('../records.ts');
  const bucket = path.join(dir, 'bucket');
  const runs = resource({ name: 'runs' }, () => runPages(n));
  const p = pipeline({
    name: 'bench',
    dataset: 'bench',
    destination: filesystem({ type: 'filesystem', bucketUrl: bucket, format }),
    dataDir: path.join(dir, 'data'),
  });
  const t = performance.now();
  const info = await p.run(source({ name: 'bench', resources: [runs] }));
  const seconds = (performance.now() - t) / 1000;
  const tm = info.timings;
  const s = (v: number | undefined) => ((v ?? 0) / 1000).toFixed(1);
  return {
    seconds,
    rows: info.rowCounts.runs ?? 0,
    maxRssMb: rss(),
    mib: dirMib(bucket),
    detail: `extract ${s(tm.extract)} s, normalize ${s(tm.normalize)} s, load ${s(tm.load)} s; ${JSON.stringify(info.rowCounts)}`,
  };
}

/** The normalizer's columns and canonical row arrays for `n` records (built before timing). */
async function canonicalRows(n: number) {
  const { parseTimestamp } = await import('@ferry/core');
  const { runPages } = await import('../records.ts');
  const columns = [
    { name: 'id', dataType: 'bigint' },
    { name: 'account_id', dataType: 'bigint' },
    { name: 'job_definition_id', dataType: 'bigint' },
    { name: 'environment_id', dataType: 'bigint' },
    { name: 'status', dataType: 'bigint' },
    { name: 'in_progress', dataType: 'bool' },
    { name: 'created_at', dataType: 'timestamp' },
    { name: 'finished_at', dataType: 'timestamp' },
    { name: 'duration_seconds', dataType: 'double' },
    { name: 'git_branch', dataType: 'text' },
    { name: 'git_sha', dataType: 'text' },
    { name: 'status_message', dataType: 'text' },
    { name: 'href', dataType: 'text' },
    { name: 'trigger__id', dataType: 'bigint' },
    { name: 'trigger__cause', dataType: 'text' },
    { name: '_ferry_load_id', dataType: 'text' },
    { name: '_ferry_id', dataType: 'text' },
  ] as const;
  const rows: unknown[][] = [];
  let i = 0;
  for (const page of runPages(n)) {
    for (const r of page) {
      const trig = r.trigger as { id: number; cause: string };
      rows.push([
        r.id,
        r.account_id,
        r.job_definition_id,
        r.environment_id,
        r.status,
        r.in_progress,
        parseTimestamp(r.created_at as string),
        r.finished_at === null ? null : parseTimestamp(r.finished_at as string),
        r.duration_seconds,
        r.git_branch,
        r.git_sha,
        r.status_message,
        r.href,
        trig.id,
        trig.cause,
        '1735000000000000',
        `1735000000000000_0000${(i++).toString(36).padStart(6, '0')}`,
      ]);
    }
  }
  return { columns: columns.map((c) => ({ ...c, nullable: true })), rows };
}

async function writerVariant(kind: string, dir: string, n: number): Promise<Result> {
  const { columns, rows } = await canonicalRows(n);
  const out = path.join(dir, `${kind}.parquet`);
  const t = performance.now();
  if (kind === 'hyparquet' || kind === 'duckdb-writer') {
    const mod = await import('@ferry/destinations/filesystem');
    const factory = kind === 'hyparquet' ? mod.hyparquetWriter : mod.duckdbParquetWriter;
    // One file per 500k rows, as the normalizer rotates (the filesystem destination's fileMaxRows).
    for (let start = 0, part = 0; start < rows.length; start += 500_000, part++) {
      const w = await factory(path.join(dir, `${kind}.${part}.parquet`), columns);
      for (let i = start; i < Math.min(rows.length, start + 500_000); i++) {
        const p = w.write(rows[i]!);
        if (p) await p;
      }
      await w.close();
    }
  } else {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    const db = await DuckDBInstance.create(':memory:');
    const c = await db.connect();
    const ddlType: Record<string, string> = {
      bigint: 'BIGINT',
      bool: 'BOOLEAN',
      timestamp: 'TIMESTAMPTZ',
      double: 'DOUBLE',
      text: 'VARCHAR',
    };
    await c.run(
      `CREATE TABLE t (${columns.map((col) => `"${col.name}" ${ddlType[col.dataType]}`).join(', ')})`,
    );
    const appender = await c.createAppender('t');
    for (const r of rows) {
      for (let k = 0; k < columns.length; k++) {
        const v = r[k];
        if (v === null || v === undefined) appender.appendNull();
        else if (columns[k]!.dataType === 'bigint') appender.appendBigInt(BigInt(v as number));
        else if (columns[k]!.dataType === 'bool') appender.appendBoolean(v as boolean);
        else if (columns[k]!.dataType === 'double') appender.appendDouble(v as number);
        else appender.appendVarchar(v as string);
      }
      appender.endRow();
    }
    appender.closeSync();
    await c.run(`COPY (SELECT * FROM t) TO '${out}' (FORMAT parquet)`);
    c.closeSync();
    db.closeSync();
  }
  const seconds = (performance.now() - t) / 1000;
  return { seconds, rows: rows.length, maxRssMb: rss(), mib: dirMib(dir) };
}

if (values.child) {
  const dir = values.dir!;
  const n = Number(values.n);
  let result: Result;
  if (values.child === 'duckdb-copy') result = await duckdbCopyJsonl(dir, n);
  else if (values.child === 'pipeline') result = await ferryPipeline(dir, n);
  else if (values.child === 'pipeline-jsonl') result = await ferryPipeline(dir, n, 'jsonl');
  else result = await writerVariant(values.child, dir, n);
  process.stdout.write(JSON.stringify(result));
  process.exit(0);
} else {
  const n = Number(values.rows ?? 1_000_000);
  const parts = values.part ? [values.part] : ['e2e', 'writer'];
  const script = new URL(import.meta.url).pathname;
  const run = (kind: string): Result => {
    const dir = mkdtempSync(path.join(tmpdir(), 'ferry-fs-bench-'));
    try {
      const r = spawnSync(
        process.execPath,
        ['--conditions=@ferry/source', script, '--child', kind, '--dir', dir, '--n', String(n)],
        { encoding: 'utf8', maxBuffer: 1 << 24 },
      );
      if (r.status !== 0) throw new Error(`${kind} failed: ${r.stderr}`);
      return JSON.parse(r.stdout) as Result;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
  const fmt = (label: string, r: Result, base: Result) =>
    `| ${label} | ${r.seconds.toFixed(2)} | ${Math.round(r.rows / r.seconds).toLocaleString('en-US')} | ${(r.seconds / base.seconds).toFixed(2)}× | ${Math.round(r.maxRssMb)} | ${(r.mib ?? 0).toFixed(1)} | ${r.detail ?? ''} |`;
  const header = [
    '| variant | s | rows/s | × DuckDB COPY | peak RSS MB | Parquet MiB | notes |',
    '|---|---|---|---|---|---|---|',
  ];
  if (parts.includes('e2e')) {
    const base = run('duckdb-copy');
    const ferry = run('pipeline');
    const jsonl = run('pipeline-jsonl');
    console.log(`\nEnd to end, ${n.toLocaleString('en-US')} records (root rows; child rows in notes)\n`);
    console.log(
      [
        ...header,
        fmt('DuckDB `COPY (SELECT * FROM read_json(jsonl)) TO parquet`', base, base),
        fmt('Ferry pipeline → filesystem (local, parquet)', ferry, base),
        fmt('Ferry pipeline → filesystem (local, jsonl: no Parquet encoding, for attribution)', jsonl, base),
      ].join('\n'),
    );
  }
  if (parts.includes('writer')) {
    const base = run('duckdb-copy');
    const lines = [fmt('DuckDB `read_json(jsonl)` → `COPY TO parquet`', base, base)];
    for (const [kind, label] of [
      ['duckdb-appender', 'DuckDB appender from JS rows → `COPY TO parquet`'],
      ['duckdb-writer', 'Ferry `duckdbParquetWriter` (JSONL side file → DuckDB `COPY TO`)'],
      ['hyparquet', 'Ferry `hyparquetWriter` (hyparquet-writer 0.17, pure JS)'],
    ] as const) {
      lines.push(fmt(label, run(kind), base));
    }
    console.log(
      `\nWriter alone, ${n.toLocaleString('en-US')} rows of 17 typed columns (rows built before timing)\n`,
    );
    console.log([...header, ...lines].join('\n'));
  }
}
