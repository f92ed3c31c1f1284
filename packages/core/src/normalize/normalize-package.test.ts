import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { FileFormat } from '../destination/capabilities.ts';
import type { FileWriter, FileWriterFactory } from '../destination/destination.ts';
import { NamingConvention } from '../schema/naming.ts';
import { Schema } from '../schema/schema.ts';
import type { ExtractedManifest } from '../storage/package-storage.ts';
import { parseJson, stringifyJson } from '../util/json.ts';
import { csvWriter, jsonlWriter } from '../writers/writers.ts';
import { normalizeFiles } from './normalize-package.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'ferry-normpkg-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** The same writer without `writeRecord`: normalize then copies each row into a values array (the old path). */
const valuesOnly =
  (factory: FileWriterFactory): FileWriterFactory =>
  async (file, columns) => {
    const w = await factory(file, columns);
    const plain: FileWriter = {
      write: (row) => w.write(row),
      get bytes() {
        return w.bytes;
      },
      close: () => w.close(),
    };
    return plain;
  };

/** Varied records: columns that appear late, nulls, type conflicts, widening, nesting, lists, bigints. */
function records(n: number): Record<string, unknown>[] {
  const texts = [
    '',
    'plain',
    'say "hi", \\ bye',
    'line\nbreak\r\n',
    'naïve 東京 🚀',
    '\u0000ctl',
    'lone \ud800',
  ];
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const r: Record<string, unknown> = {
      id: i,
      name: i % 7 === 0 ? null : texts[i % texts.length],
      // bigint → double widening after a while; -0 and 1e21 along the way.
      amount: i < 50 ? i : i % 3 === 0 ? -0 : i % 3 === 1 ? 1e21 : i + 0.25,
      // A type conflict: numbers first, then text for some rows → a variant column.
      code: i % 11 === 5 ? `c${i}` : i,
      at: i % 4 === 0 ? '2024-05-27 21:05:16.109548+00:00' : i % 4 === 1 ? '2024-05-27T21:05:16Z' : null,
      nested: { a: i % 2 === 0 ? { b: `deep ${i}`, c: null } : null, flag: i % 3 === 0 },
      tags: i % 5 === 0 ? [] : [`t${i}`, null, `t${i + 1}`],
      steps: [
        { index: 1, name: 'deps', extra: i > 120 ? { late: true } : undefined },
        { index: 2, name: texts[(i + 3) % texts.length] },
      ],
      doc: { keep: [1, { x: null }], s: 'q"' },
    };
    if (i > 80) r.late_column = `late ${i}`;
    if (i % 13 === 0) r.big = 9007199254740993n + BigInt(i);
    if (i % 17 === 0) r['Ünïcode Name'] = 'x';
    out.push(r);
  }
  return out;
}

/** Write records as an extracted package (two raw files, the second holding bigints). */
async function extractedPackage(
  name: string,
): Promise<{ extractedDir: string; manifest: ExtractedManifest }> {
  const extractedDir = path.join(dir, name);
  await mkdir(path.join(extractedDir, 'raw'), { recursive: true });
  const all = records(400);
  const parts = [all.slice(0, 200).map((r) => ({ ...r, big: undefined })), all.slice(200)];
  const files = [];
  for (let seq = 0; seq < parts.length; seq++) {
    const file = `items.${seq}.jsonl`;
    await writeFile(
      path.join(extractedDir, 'raw', file),
      parts[seq]!.map((r) => `${stringifyJson(r)}\n`).join(''),
    );
    files.push({ resource: 'items', file, seq, items: parts[seq]!.length, bigints: seq === 1 });
  }
  const manifest: ExtractedManifest = {
    loadId: '1700000000000000',
    schemaName: 'src',
    createdAt: new Date(0).toISOString(),
    resources: {
      items: {
        resource: 'items',
        table: 'items',
        writeDisposition: 'append',
        primaryKey: [],
        mergeKey: [],
        columns: { doc: { dataType: 'json' } },
        maxTableNesting: 1000,
      },
    },
    files,
    state: null,
  };
  return { extractedDir, manifest };
}

async function run(
  format: FileFormat,
  writer: FileWriterFactory,
  extractedDir: string,
  manifest: ExtractedManifest,
  out: string,
  codegen?: boolean,
) {
  const outDir = path.join(dir, out);
  const schema = new Schema('src');
  const result = await normalizeFiles({
    extractedDir,
    outDir,
    manifest,
    schema,
    naming: new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' }),
    format,
    writer,
    // Small files: rotation by rows and by schema change both happen.
    fileMaxRows: 97,
    fileMaxBytes: 1 << 20,
    onEvent: () => undefined,
    ...(codegen === undefined ? {} : { codegen }),
  });
  const jobsDir = path.join(outDir, 'new_jobs');
  const files: Record<string, string> = {};
  for (const f of (await readdir(jobsDir)).sort()) files[f] = await readFile(path.join(jobsDir, f), 'utf8');
  return { result, files, schema: schema.toStored() };
}

describe('normalizeFiles: row objects to the writer write what values arrays wrote', () => {
  it('jsonl: the same files, and on every line the same keys and values', async () => {
    const { extractedDir, manifest } = await extractedPackage('jsonl');
    const old = await run('jsonl', valuesOnly(jsonlWriter), extractedDir, manifest, 'jsonl-old');
    const now = await run('jsonl', jsonlWriter, extractedDir, manifest, 'jsonl-new');
    expect(now.result).toEqual(old.result);
    expect(now.schema).toEqual(old.schema);
    expect(Object.keys(now.files)).toEqual(Object.keys(old.files));
    expect(Object.keys(old.files).length).toBeGreaterThan(8);
    let lines = 0;
    let bigints = 0;
    for (const [name, text] of Object.entries(old.files)) {
      const want = text.split('\n');
      const got = now.files[name]!.split('\n');
      expect(got).toHaveLength(want.length);
      for (let i = 0; i < want.length - 1; i++) {
        const g = parseJson(got[i]!) as Record<string, unknown>;
        const w = parseJson(want[i]!) as Record<string, unknown>;
        expect(Object.keys(g).sort()).toEqual(Object.keys(w).sort());
        expect(g).toStrictEqual(w);
        expect(Object.values(g)).not.toContain(null);
        for (const v of Object.values(g)) if (typeof v === 'bigint') bigints++;
        lines++;
      }
    }
    expect(lines).toBe(Object.values(old.result.rowCounts).reduce((a, b) => a + b, 0));
    expect(bigints).toBeGreaterThan(0);
    // The variant column and the late columns made it into both.
    expect(Object.keys(now.schema.tables.items!.columns)).toEqual(
      expect.arrayContaining(['late_column', 'big']),
    );
    expect(Object.keys(now.schema.tables.items!.columns).some((c) => c.startsWith('code__v_'))).toBe(true);
  });

  it('csv: byte-identical files', async () => {
    const { extractedDir, manifest } = await extractedPackage('csv');
    const old = await run('csv', valuesOnly(csvWriter), extractedDir, manifest, 'csv-old');
    const now = await run('csv', csvWriter, extractedDir, manifest, 'csv-new');
    expect(now.result).toEqual(old.result);
    expect(now.files).toEqual(old.files);
  });

  for (const format of ['jsonl', 'csv'] as const) {
    it(`${format}: the generated normalizer writes byte-identical files, jobs and schema to the generic one`, async () => {
      const { extractedDir, manifest } = await extractedPackage(`codegen-${format}`);
      const writer = format === 'csv' ? csvWriter : jsonlWriter;
      const generic = await run(format, writer, extractedDir, manifest, `codegen-${format}-off`, false);
      const compiled = await run(format, writer, extractedDir, manifest, `codegen-${format}-on`, true);
      expect(compiled.result).toEqual(generic.result);
      expect(JSON.stringify(compiled.schema)).toBe(JSON.stringify(generic.schema));
      expect(Object.keys(compiled.files)).toEqual(Object.keys(generic.files));
      for (const [name, text] of Object.entries(generic.files)) expect(compiled.files[name], name).toBe(text);
    });
  }

  it('reads lines across read chunks: multi-byte characters at chunk ends, ASCII and non-ASCII chunks, no final newline', async () => {
    const extractedDir = path.join(dir, 'chunks');
    await mkdir(path.join(extractedDir, 'raw'), { recursive: true });
    // ~3.5 MB: the first ~1.2 MB pure ASCII, then text with 2-, 3- and 4-byte characters of varying length,
    // so chunk boundaries (1 MiB) fall inside characters and lines; empty lines in between are skipped.
    const texts: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const unit = i < 1500 ? 'ascii ' : i % 3 === 0 ? 'é' : i % 3 === 1 ? '東' : '🚀';
      texts.push(`${i}:${unit.repeat(100 + (i % 251))}`);
    }
    const body = texts.map((t, i) => JSON.stringify({ i, t }) + (i % 700 === 0 ? '\n\n' : '\n')).join('');
    await writeFile(path.join(extractedDir, 'raw', 'items.0.jsonl'), body.slice(0, -1));
    const manifest: ExtractedManifest = {
      loadId: '1700000000000001',
      schemaName: 'src',
      createdAt: new Date(0).toISOString(),
      resources: {
        items: {
          resource: 'items',
          table: 'items',
          writeDisposition: 'append',
          primaryKey: [],
          mergeKey: [],
          columns: {},
          maxTableNesting: 1000,
        },
      },
      files: [{ resource: 'items', file: 'items.0.jsonl', seq: 0, items: texts.length }],
      state: null,
    };
    const { result, files } = await run('jsonl', jsonlWriter, extractedDir, manifest, 'chunks-out');
    expect(result.rowCounts).toEqual({ items: texts.length });
    const rows = Object.values(files)
      .join('')
      .split('\n')
      .filter((l) => l.length > 0)
      .map((l) => JSON.parse(l) as { i: number; t: string; _ferry_id: string });
    expect(rows.map((r) => r.t)).toEqual(texts);
    expect(rows.map((r) => r.i)).toEqual(texts.map((_, i) => i));
    // Root ids follow the line number among non-empty lines.
    expect(rows[4999]!._ferry_id).toBe(`1700000000000001_0000${(4999).toString(36).padStart(6, '0')}`);
  });
});
