/**
 * How close to `psql \copy` can a JS pipeline get into Postgres? Issue 4's question, answered with the
 * best design there is for it, in one run:
 *
 *   node --conditions=@ferry/source bench/src/postgres/pg-floor-bench.ts --rows 1000000 [--url postgres://…] [--rotate 200000]
 *
 * 1. Ferry's pipeline as it is (extract → normalize workers → binary COPY), into a fresh dataset.
 * 2. The baseline: that root table exported to CSV (untimed), then `psql \copy` of it into a new table.
 * 3. The JS floor: generating the records and `RowNormalizer.normalize` of each, rows dropped.
 * 4. The same plus binary COPY encoding into files (core's writer path), no load.
 * 5. A fused, streaming prototype: the main thread normalizes each record straight into binary COPY files
 *    (no raw files, no threads, no JSON round trip), and every closed file is streamed into one open
 *    transaction at once, so the server's COPY runs on the other core while normalize goes on.
 * Same records as the other benches (`records.ts`: 1 root row + 2 child rows per record).
 */
import { spawnSync } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline as streamPipeline } from 'node:stream/promises';
import { parseArgs } from 'node:util';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  pipeline,
  resource,
  source,
  type FileWriter,
  type RecordFileWriter,
  type TableSchema,
} from '@ferry/core';
import { pgCopyWriter, postgres } from '@ferry/destinations/postgres';
import { RUNS_INFO, benchNormalizer } from '../normalizer.ts';
import { runPages } from '../records.ts';

const { values } = parseArgs({
  options: {
    rows: { type: 'string', default: '1000000' },
    url: { type: 'string', default: process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/test' },
    rotate: { type: 'string', default: '200000' },
  },
});
const N = Number(values.rows);
const URL_ = values.url!;
const ROTATE = Number(values.rotate);

/** Run psql commands in one session; returns the wall seconds. */
function psql(...commands: string[]): number {
  const t = performance.now();
  const r = spawnSync('psql', [URL_, '-v', 'ON_ERROR_STOP=1', '-q', ...commands.flatMap((c) => ['-c', c])], {
    encoding: 'utf8',
  });
  if (r.status !== 0) throw new Error(`psql failed: ${r.stderr}`);
  return (performance.now() - t) / 1000;
}

async function ferry(dir: string): Promise<number> {
  psql('DROP SCHEMA IF EXISTS floor_ferry CASCADE', 'DROP SCHEMA IF EXISTS floor_ferry_staging CASCADE');
  const p = pipeline({
    name: 'floor',
    dataset: 'floor_ferry',
    destination: postgres({ credentials: URL_ }),
    dataDir: path.join(dir, 'data'),
  });
  const t = performance.now();
  const info = await p.run(
    source({ name: 'bench', resources: [resource({ name: 'runs' }, () => runPages(N))] }),
  );
  const s = (performance.now() - t) / 1000;
  if (info.rowCounts.runs !== N) throw new Error(`ferry loaded ${JSON.stringify(info.rowCounts)}`);
  return s;
}

function baseline(dir: string): number {
  const csv = path.join(dir, 'runs.csv');
  psql(`\\copy floor_ferry.runs TO '${csv}' WITH (FORMAT csv, HEADER true)`);
  psql('DROP SCHEMA IF EXISTS floor_psql CASCADE', 'CREATE SCHEMA floor_psql');
  return psql(
    'BEGIN',
    'CREATE TABLE floor_psql.runs (LIKE floor_ferry.runs)',
    `\\copy floor_psql.runs FROM '${csv}' WITH (FORMAT csv, HEADER true)`,
    'COMMIT',
  );
}

function flattenOnly(): number {
  const normalizer = benchNormalizer();
  let rows = 0;
  const t = performance.now();
  let i = 0;
  for (const page of runPages(N))
    for (const record of page)
      normalizer.normalize(RUNS_INFO, record, `r${i++}`, () => {
        rows++;
      });
  if (rows !== 3 * N) throw new Error(`flatten emitted ${rows} rows`);
  return (performance.now() - t) / 1000;
}

async function fusedStreaming(
  dir: string,
  load = true,
): Promise<{ seconds: number; normalize: number; copyBusy: number }> {
  psql(
    'DROP SCHEMA IF EXISTS floor_proto CASCADE',
    'CREATE SCHEMA floor_proto',
    'CREATE TABLE floor_proto.runs (LIKE floor_ferry.runs)',
    'CREATE TABLE floor_proto.runs__run_steps (LIKE floor_ferry.runs__run_steps)',
  );
  const client = new pg.Client({ connectionString: URL_ });
  await client.connect();
  const t0 = performance.now();
  await client.query('BEGIN');
  const normalizer = benchNormalizer();
  let copies: Promise<void> = Promise.resolve();
  let copyBusy = 0;
  interface Open {
    writer: FileWriter;
    columns: string[];
    rows: number;
    file: string;
  }
  const open = new Map<string, Open>();
  let fileNo = 0;
  const closeAndCopy = async (table: string, f: Open) => {
    await f.writer.close();
    if (!load) return;
    const sql = `COPY floor_proto.${table} (${f.columns.map((c) => `"${c}"`).join(', ')}) FROM STDIN WITH (FORMAT binary)`;
    copies = copies.then(async () => {
      const s = performance.now();
      await streamPipeline(createReadStream(f.file, { highWaterMark: 1 << 20 }), client.query(copyFrom(sql)));
      copyBusy += performance.now() - s;
    });
  };
  const tables: TableSchema[] = [];
  const rows: Record<string, unknown>[] = [];
  const emit = (t: TableSchema, r: Record<string, unknown>) => {
    tables.push(t);
    rows.push(r);
  };
  let i = 0;
  for (const page of runPages(N)) {
    for (const record of page) {
      normalizer.normalize(RUNS_INFO, record, `1763900000000001_${(i++).toString(36)}`, emit);
      for (let k = 0; k < rows.length; k++) {
        const t = tables[k]!;
        let f = open.get(t.name);
        if (!f || f.rows >= ROTATE || f.columns.length !== Object.keys(t.columns).length) {
          if (f) await closeAndCopy(t.name, f);
          const cols = Object.values(t.columns);
          const file = path.join(dir, `f${fileNo++}.pgcopy`);
          const writer = await pgCopyWriter(
            file,
            cols.map((c) => ({ name: c.name, dataType: c.dataType, nullable: c.nullable })),
          );
          f = { writer, columns: cols.map((c) => c.name), rows: 0, file };
          open.set(t.name, f);
        }
        const p = (f.writer as RecordFileWriter).writeRecord(rows[k]!);
        if (p) await p;
        f.rows++;
      }
      tables.length = 0;
      rows.length = 0;
    }
  }
  const normalize = (performance.now() - t0) / 1000;
  for (const [table, f] of open) await closeAndCopy(table, f);
  await copies;
  await client.query('COMMIT');
  const seconds = (performance.now() - t0) / 1000;
  const { rows: counts } = await client.query<{ n: string }>('SELECT count(*) AS n FROM floor_proto.runs');
  await client.end();
  if (Number(counts[0]!.n) !== (load ? N : 0)) throw new Error(`prototype loaded ${counts[0]!.n} root rows`);
  return { seconds, normalize, copyBusy: copyBusy / 1000 };
}

const dir = await mkdtemp(path.join(tmpdir(), 'ferry-pg-floor-'));
try {
  const ferrySeconds = await ferry(dir);
  const psqlSeconds = baseline(dir);
  const floor = flattenOnly();
  const encoded = await fusedStreaming(dir, false);
  const proto = await fusedStreaming(dir);
  const r = (s: number) => `${(s / psqlSeconds).toFixed(2)}×`;
  console.log(
    `| variant (${N.toLocaleString('en-US')} records; 1 root + 2 child rows each) | wall s | ÷ psql \\copy root |`,
  );
  console.log('|---|---|---|');
  console.log(`| psql \\copy of the root table's CSV (baseline) | ${psqlSeconds.toFixed(2)} | 1.00× |`);
  console.log(`| Ferry pipeline as it is | ${ferrySeconds.toFixed(2)} | ${r(ferrySeconds)} |`);
  console.log(`| JS floor: generate + flatten, rows dropped | ${floor.toFixed(2)} | ${r(floor)} |`);
  console.log(
    `| JS floor + binary COPY encoding into files (the prototype without its load) | ${encoded.seconds.toFixed(2)} | ${r(encoded.seconds)} |`,
  );
  console.log(
    `| fused + streaming prototype (normalize loop ${proto.normalize.toFixed(2)} s, COPY busy ${proto.copyBusy.toFixed(2)} s) | ${proto.seconds.toFixed(2)} | ${r(proto.seconds)} |`,
  );
} finally {
  psql(
    'DROP SCHEMA IF EXISTS floor_ferry CASCADE',
    'DROP SCHEMA IF EXISTS floor_ferry_staging CASCADE',
    'DROP SCHEMA IF EXISTS floor_psql CASCADE',
    'DROP SCHEMA IF EXISTS floor_proto CASCADE',
  );
  await rm(dir, { recursive: true, force: true });
}
