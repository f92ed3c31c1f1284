import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DuckDBInstance, type DuckDBConnection } from '@duckdb/node-api';
import { asyncBufferFromFile, parquetMetadataAsync, parquetReadObjects } from 'hyparquet';
import type { DataType, FileWriterFactory } from '@ferry/core';
import { duckdbParquetWriter, hyparquetWriter } from '@ferry/destinations/filesystem';

/** Every Ferry type, in its canonical form (what the normalizer hands a writer). */
const COLUMNS: { name: string; dataType: DataType; nullable: boolean }[] = [
  { name: 'id', dataType: 'bigint', nullable: false },
  { name: 'amount', dataType: 'double', nullable: true },
  { name: 'ok', dataType: 'bool', nullable: true },
  { name: 'name', dataType: 'text', nullable: true },
  { name: 'created_at', dataType: 'timestamp', nullable: true },
  { name: 'day', dataType: 'date', nullable: true },
  { name: 'price', dataType: 'decimal', nullable: true },
  { name: 'doc', dataType: 'json', nullable: true },
];

const BIG = 9007199254740993n; // 2^53 + 1: not representable as a JS number
const ROWS: unknown[][] = [
  [
    1,
    2.5,
    true,
    'plain',
    '2024-03-25T13:47:00.129690Z',
    '2024-02-29',
    '12345.678900000',
    { a: [1, 2, { b: 'x' }] },
  ],
  [
    BIG,
    -0.125,
    false,
    'café 名前 🚀 "quoted", comma\nnewline',
    '1969-12-31T23:59:59.999999Z',
    '1900-01-01',
    '-0.000000001',
    [1, 'two', null],
  ],
  [
    -9223372036854775808n,
    1e300,
    null,
    '',
    '2262-04-11T23:47:16.854775Z',
    '9999-12-31',
    '99999999999999999999.999999999',
    'a json string',
  ],
  [70403104190001, null, null, null, null, null, null, null],
  [
    9223372036854775807n,
    0,
    true,
    'x'.repeat(10_000),
    '2000-01-01T00:00:00.000001Z',
    '1970-01-01',
    '0',
    { big: 12345678901234567890n },
  ],
];

/** The expected value of each cell as text (exact). */
function expectedText(v: unknown, t: DataType): string | null {
  if (v === null) return null;
  if (t === 'json')
    return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? `__${x}__` : x)).replace(
      /"__(\d+)__"/g,
      '$1',
    );
  if (t === 'decimal') {
    const [i, f = ''] = String(v).replace(/^-?/, '').split('.');
    return `${String(v).startsWith('-') ? '-' : ''}${i}.${f.padEnd(9, '0')}`;
  }
  if (t === 'double') return String(v);
  return String(v);
}

function micros(ts: string): bigint {
  const ms = BigInt(Date.parse(ts.slice(0, 23) + 'Z'));
  return ms * 1000n + BigInt(ts.slice(23, 26));
}

let dir: string;
let db: DuckDBInstance;
let c: DuckDBConnection;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ferry-parquet-'));
  db = await DuckDBInstance.create(':memory:');
  c = await db.connect();
  await c.run(`SET TimeZone = 'UTC'`);
});
afterAll(async () => {
  c.closeSync();
  db.closeSync();
  await rm(dir, { recursive: true, force: true });
});

async function write(factory: FileWriterFactory, file: string, rows: unknown[][]): Promise<void> {
  const w = await factory(file, COLUMNS);
  for (const r of rows) await w.write(r);
  await w.close();
}

describe.each([
  ['duckdb', duckdbParquetWriter],
  ['hyparquet', hyparquetWriter],
] as const)('%s Parquet writer', (label, factory) => {
  it('writes every type; DuckDB reads back the same values and types', async () => {
    const file = path.join(dir, `${label}-types.parquet`);
    await write(factory, file, ROWS);
    const types = (await c.runAndReadAll(`DESCRIBE SELECT * FROM read_parquet('${file}')`))
      .getRowObjectsJS()
      .map((r) => [r.column_name, r.column_type]);
    expect(types).toEqual([
      ['id', 'BIGINT'],
      ['amount', 'DOUBLE'],
      ['ok', 'BOOLEAN'],
      ['name', 'VARCHAR'],
      ['created_at', 'TIMESTAMP WITH TIME ZONE'],
      ['day', 'DATE'],
      ['price', 'DECIMAL(38,9)'],
      ['doc', 'VARCHAR'],
    ]);
    const schema = (
      await c.runAndReadAll(
        `SELECT name, logical_type FROM parquet_schema('${file}') WHERE name = 'created_at'`,
      )
    ).getRowObjectsJS();
    expect(String(schema[0]!.logical_type)).toMatch(
      /TimestampType\(isAdjustedToUTC=1, unit=TimeUnit\(MILLIS=<null>, MICROS=MicroSeconds\(\), NANOS=<null>\)\)/,
    );
    const rows = (
      await c.runAndReadAll(
        `SELECT CAST(id AS VARCHAR) AS id, CAST(amount AS VARCHAR) AS amount, CAST(ok AS VARCHAR) AS ok, name, strftime(created_at, '%Y-%m-%dT%H:%M:%S.%fZ') AS created_at, epoch_us(created_at) AS at_us, CAST(day AS VARCHAR) AS day, CAST(price AS VARCHAR) AS price, doc FROM read_parquet('${file}')`,
      )
    ).getRowObjectsJS();
    expect(rows).toHaveLength(ROWS.length);
    ROWS.forEach((src, i) => {
      const got = rows[i]!;
      expect(got.id).toBe(String(src[0]));
      expect(got.amount === null ? null : Number(got.amount)).toBe(src[1] as number | null);
      expect(got.ok).toBe(src[2] === null ? null : String(src[2]));
      expect(got.name).toBe(src[3]);
      expect(got.created_at).toBe(src[4]);
      expect(got.at_us).toBe(src[4] === null ? null : micros(src[4] as string));
      expect(got.day).toBe(src[5]);
      expect(got.price).toBe(expectedText(src[6], 'decimal'));
      expect(got.doc).toBe(expectedText(src[7], 'json'));
    });
  });

  it('writes every type; hyparquet (pure JS) reads back the same values and types', async () => {
    const file = path.join(dir, `${label}-types-hy.parquet`);
    await write(factory, file, ROWS);
    const buffer = await asyncBufferFromFile(file);
    const meta = await parquetMetadataAsync(buffer);
    const el = Object.fromEntries(meta.schema.slice(1).map((s) => [s.name, s]));
    expect(el.id!.type).toBe('INT64');
    expect(el.amount!.type).toBe('DOUBLE');
    expect(el.ok!.type).toBe('BOOLEAN');
    expect(el.name!.type).toBe('BYTE_ARRAY');
    expect(el.name!.logical_type?.type ?? el.name!.converted_type).toMatch(/STRING|UTF8/);
    expect(el.created_at!.type).toBe('INT64');
    expect(el.created_at!.logical_type).toEqual({ type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' });
    expect(el.day!.type).toBe('INT32');
    expect(el.day!.converted_type).toBe('DATE');
    expect(el.price!.converted_type).toBe('DECIMAL');
    expect([el.price!.precision, el.price!.scale]).toEqual([38, 9]);
    expect(el.doc!.logical_type?.type ?? el.doc!.converted_type).toMatch(/STRING|UTF8/);
    const rows = (await parquetReadObjects({
      file: buffer,
      parsers: { timestampFromMicroseconds: (v: bigint) => v, dateFromDays: (d: number) => d },
    })) as Record<string, unknown>[];
    expect(rows).toHaveLength(ROWS.length);
    ROWS.forEach((src, i) => {
      const got = rows[i]!;
      expect(BigInt(got.id as bigint)).toBe(BigInt(src[0] as number | bigint));
      expect(got.amount ?? null).toBe(src[1]);
      expect(got.ok ?? null).toBe(src[2]);
      expect(got.name ?? null).toBe(src[3]);
      expect(got.created_at ?? null).toBe(src[4] === null ? null : micros(src[4] as string));
      expect(got.day ?? null).toBe(
        src[5] === null ? null : Date.parse(`${src[5] as string}T00:00:00Z`) / 86_400_000,
      );
      // hyparquet decodes decimals to JS numbers (float): compare at float precision
      if (src[6] === null) expect(got.price ?? null).toBeNull();
      else expect(got.price as number).toBeCloseTo(Number(src[6]), 6);
      expect(got.doc ?? null).toBe(expectedText(src[7], 'json'));
    });
  });

  it('an empty file is valid Parquet with the typed columns', async () => {
    const file = path.join(dir, `${label}-empty.parquet`);
    await write(factory, file, []);
    const n = (
      await c.runAndReadAll(`SELECT COUNT(*) AS n FROM read_parquet('${file}')`)
    ).getRowObjectsJS()[0]!.n;
    expect(Number(n)).toBe(0);
    const meta = await parquetMetadataAsync(await asyncBufferFromFile(file));
    expect(meta.schema.slice(1).map((s) => s.name)).toEqual(COLUMNS.map((col) => col.name));
  });

  it('streams several row groups and both readers agree on 120,000 rows', async () => {
    const file = path.join(dir, `${label}-many.parquet`);
    const w = await factory(file, COLUMNS);
    for (let i = 0; i < 120_000; i++) {
      await w.write([
        BigInt(i) + BIG,
        i / 4,
        i % 2 === 0,
        `row ${i}`,
        `2024-01-01T00:00:${String(i % 60).padStart(2, '0')}.${String(i % 1_000_000).padStart(6, '0')}Z`,
        '2024-01-02',
        `${i}.5`,
        { i },
      ]);
    }
    expect(w.bytes).toBeGreaterThan(0);
    await w.close();
    const agg = (
      await c.runAndReadAll(
        `SELECT COUNT(*) AS n, CAST(SUM(id - ${BIG}) AS VARCHAR) AS s, CAST(SUM(epoch_us(created_at) % 1000000) AS VARCHAR) AS us FROM read_parquet('${file}')`,
      )
    ).getRowObjectsJS()[0]!;
    expect(Number(agg.n)).toBe(120_000);
    expect(agg.s).toBe(String((119_999 * 120_000) / 2));
    const rows = (await parquetReadObjects({ file: await asyncBufferFromFile(file), columns: ['id'] })) as {
      id: bigint;
    }[];
    expect(rows).toHaveLength(120_000);
    expect(rows[119_999]!.id).toBe(BIG + 119_999n);
  });
});
