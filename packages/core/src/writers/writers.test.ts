import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileWriterColumn } from '../destination/destination.ts';
import { parseJson } from '../util/json.ts';
import { csvWriter, isRecordFileWriter, jsonlWriter } from './writers.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'ferry-writers-'));
afterAll(() => rm(dir, { recursive: true, force: true }));
const columns = [
  { name: 'id', dataType: 'bigint' as const, nullable: false },
  { name: 'name', dataType: 'text' as const, nullable: true },
  { name: 'at', dataType: 'timestamp' as const, nullable: true },
  { name: 'payload', dataType: 'json' as const, nullable: true },
];

describe('loader file writers', () => {
  it('csv: NULL is empty, the empty string is "", quotes/newlines quoted, bigint exact, json as text', async () => {
    const file = path.join(dir, 'a.csv');
    const w = await csvWriter(file, columns);
    await w.write([12345678901234567890n, 'say "hi",\nbye', '2024-01-01T00:00:00.000001Z', { a: [1, 2n] }]);
    await w.write([1, '', null, null]);
    await w.close();
    expect(await readFile(file, 'utf8')).toBe(
      'id,name,at,payload\n12345678901234567890,"say ""hi"",\nbye",2024-01-01T00:00:00.000001Z,"{""a"":[1,2]}"\n1,"",,\n',
    );
  });

  it('jsonl: one object per row, nulls omitted, bigint exact', async () => {
    const file = path.join(dir, 'a.jsonl');
    const w = await jsonlWriter(file, columns);
    await w.write([12345678901234567890n, 'x', null, { a: 1 }]);
    await w.close();
    expect(await readFile(file, 'utf8')).toBe('{"id":12345678901234567890,"name":"x","payload":{"a":1}}\n');
  });
});

// ---- old vs new: the writers before the row-object path and the byte-chunk BufferedFile ----

/** The JSONL line the writer wrote before (object per row, JSON.stringify, bigint replacer). */
function referenceJsonlLine(names: string[], row: readonly unknown[]): string {
  const obj: Record<string, unknown> = {};
  for (let i = 0; i < names.length; i++) {
    const v = row[i];
    if (v !== null && v !== undefined) obj[names[i]!] = v;
  }
  const replacer = (_k: string, v: unknown): unknown =>
    typeof v === 'bigint' ? (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(v.toString()) : v;
  return `${JSON.stringify(obj, replacer)}\n`;
}

/** The CSV line the writer wrote before. */
function referenceCsvLine(types: FileWriterColumn['dataType'][], row: readonly unknown[]): string {
  const text = (t: string) =>
    t.length === 0 ? '""' : /[",\n\r]/.test(t) ? `"${t.replaceAll('"', '""')}"` : t;
  const replacer = (_k: string, v: unknown): unknown =>
    typeof v === 'bigint' ? (JSON as unknown as { rawJSON(s: string): unknown }).rawJSON(v.toString()) : v;
  return `${types
    .map((type, i) => {
      const v = row[i];
      if (v === null || v === undefined) return '';
      if (type === 'text' || type === 'timestamp' || type === 'date' || type === 'decimal')
        return text(String(v));
      if (type === 'json') return text(JSON.stringify(v, replacer));
      return typeof v === 'string' ? text(v) : String(v);
    })
    .join(',')}\n`;
}

const varied: FileWriterColumn[] = [
  { name: 'id', dataType: 'bigint', nullable: false },
  { name: 'text', dataType: 'text', nullable: true },
  { name: 'num', dataType: 'double', nullable: true },
  { name: 'flag', dataType: 'bool', nullable: true },
  { name: 'at', dataType: 'timestamp', nullable: true },
  { name: 'day', dataType: 'date', nullable: true },
  { name: 'amount', dataType: 'decimal', nullable: true, precision: 38, scale: 9 },
  { name: 'doc', dataType: 'json', nullable: true },
  { name: 'say "hi"\\ né', dataType: 'text', nullable: true },
];

const TEXTS = [
  '',
  'plain',
  'say "hi", then \\ leave',
  'line one\nline two\r\nthree\ttab',
  '\u0000\u0001\u001f control',
  'naïve café 東京 🚀 e\u0301',
  'lone \ud800 surrogate \udfff',
  '\u2028\u2029 separators',
  ',leading comma',
  '"',
  ' ',
  'null',
];
const NUMBERS = [
  0,
  -0,
  1,
  -1,
  1.5,
  1e21,
  -1e21,
  1e-7,
  123456789.123,
  Number.MAX_SAFE_INTEGER,
  2 ** 60,
  5e-324,
];
const BIGINTS = [
  0,
  42,
  -42,
  Number.MAX_SAFE_INTEGER,
  9007199254740993n,
  -9223372036854775808n,
  9223372036854775807n,
];
const DOCS = [
  { a: 1 },
  [1, 'two', null, { three: [3n ** 40n] }],
  { nested: { deep: { deeper: ['x', { y: null }] } }, s: 'quote " and \n newline', u: '🚀' },
  [],
  {},
  'a json string',
  12.5,
  true,
  { big: 18446744073709551615n, list: [-0, 1e21] },
];

/** Deterministic varied rows: every column null/absent now and then. */
function variedRows(n: number): unknown[][] {
  let seed = 7;
  const rnd = (k: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return Math.floor(seed / 65536) % k;
  };
  const pick = <T>(xs: readonly T[]): T => xs[rnd(xs.length)]!;
  const rows: unknown[][] = [];
  for (let i = 0; i < n; i++) {
    const maybe = (v: unknown) => (rnd(5) === 0 ? (rnd(2) === 0 ? null : undefined) : v);
    rows.push([
      pick(BIGINTS),
      maybe(pick(TEXTS)),
      maybe(pick(NUMBERS)),
      maybe(rnd(2) === 0),
      maybe(`2024-0${1 + rnd(9)}-1${rnd(10)}T0${rnd(10)}:00:00.${String(rnd(1_000_000)).padStart(6, '0')}Z`),
      maybe(`2024-01-${10 + rnd(20)}`),
      maybe(pick(['0', '-1.5', '123456789012345678901234567890.123456789', '1e21'])),
      maybe(pick(DOCS)),
      maybe(pick(TEXTS)),
    ]);
  }
  return rows;
}

/** A row as normalize hands it over: an object holding only the non-null values. */
function asRecord(names: string[], row: readonly unknown[], reverse: boolean): Record<string, unknown> {
  const obj: Record<string, unknown> = {};
  const order = names.map((_, i) => i);
  if (reverse) order.reverse();
  for (const i of order) {
    const v = row[i];
    if (v !== null && v !== undefined) obj[names[i]!] = v;
  }
  return obj;
}

const splitLines = (text: string) => text.split('\n').slice(0, -1);

describe('writers: new output equals the old writers', () => {
  const names = varied.map((c) => c.name);
  const rows = variedRows(3000);

  it('jsonl write(values) is byte-identical; writeRecord(row) has the same keys and values on every line', async () => {
    const expected = rows.map((r) => referenceJsonlLine(names, r)).join('');
    const a = await jsonlWriter(path.join(dir, 'values.jsonl'), varied);
    for (const r of rows) await a.write(r);
    await a.close();
    expect(await readFile(path.join(dir, 'values.jsonl'), 'utf8')).toBe(expected);

    for (const reverse of [false, true]) {
      const file = path.join(dir, `record-${reverse}.jsonl`);
      const b = await jsonlWriter(file, varied);
      expect(isRecordFileWriter(b)).toBe(true);
      if (!isRecordFileWriter(b)) return;
      for (const r of rows) await b.writeRecord(asRecord(names, r, reverse));
      await b.close();
      const got = await readFile(file, 'utf8');
      // Keys in column order: byte-identical; in another order: the same object on every line.
      if (!reverse) expect(got).toBe(expected);
      const gotLines = splitLines(got);
      const wantLines = splitLines(expected);
      expect(gotLines).toHaveLength(rows.length);
      for (let i = 0; i < wantLines.length; i++) {
        const g = parseJson(gotLines[i]!) as Record<string, unknown>;
        const w = parseJson(wantLines[i]!) as Record<string, unknown>;
        expect(Object.keys(g).sort()).toEqual(Object.keys(w).sort());
        expect(g).toStrictEqual(w);
      }
    }
    // Spot checks of the literal text: exact bigints, no nulls, 1e21 as JSON writes it.
    expect(expected).toContain('"id":9223372036854775807');
    expect(expected).toContain('"id":-9223372036854775808');
    expect(expected).toContain('18446744073709551615');
    expect(expected).toContain('1e+21');
    for (const l of splitLines(expected)) expect(Object.values(parseJson(l) as object)).not.toContain(null);
  });

  it('csv write(values) and writeRecord(row) are byte-identical to the old writer', async () => {
    const types = varied.map((c) => c.dataType);
    const header = `${names.map((n) => (/[",\n\r]/.test(n) ? `"${n.replaceAll('"', '""')}"` : n)).join(',')}\n`;
    const expected = header + rows.map((r) => referenceCsvLine(types, r)).join('');
    const a = await csvWriter(path.join(dir, 'values.csv'), varied);
    for (const r of rows) await a.write(r);
    await a.close();
    // Compared as UTF-8 bytes: a lone surrogate was (and is) written as U+FFFD by the encoder.
    const want = Buffer.from(expected, 'utf8');
    expect((await readFile(path.join(dir, 'values.csv'))).equals(want)).toBe(true);
    const b = await csvWriter(path.join(dir, 'record.csv'), varied);
    if (!isRecordFileWriter(b)) throw new Error('csv writer takes row objects');
    for (const r of rows) await b.writeRecord(asRecord(names, r, true));
    await b.close();
    expect((await readFile(path.join(dir, 'record.csv'))).equals(want)).toBe(true);
  });
});
