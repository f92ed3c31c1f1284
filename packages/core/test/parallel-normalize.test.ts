import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pipeline, resource, source, type DataItem } from '@ferry/core';
import { filesOnly } from './fixtures/files-only.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function normalizeWith(workers: number, records: DataItem[]) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-par-'));
  dirs.push(dataDir);
  const p = pipeline({
    name: 'par',
    destination: filesOnly,
    dataDir,
    normalizeWorkers: workers,
    extractFileMaxItems: 6000,
  });
  const src = source({
    name: 'src',
    resources: [
      resource({ name: 'items' }, function* () {
        yield records;
      }),
    ],
  });
  const { loadId } = await p.extract(src);
  const info = await p.normalize();
  const dir = path.join(dataDir, 'par', 'normalized', loadId!, 'new_jobs');
  const rows: Record<string, unknown>[] = [];
  const files = (await readdir(dir)).sort();
  for (const f of files) {
    const table = f.split('.')[0]!;
    const text = (await readFile(path.join(dir, f), 'utf8')).replaceAll(loadId!, 'LOAD');
    for (const line of text.split('\n')) if (line) rows.push({ table, ...JSON.parse(line) });
  }
  rows.sort((a, b) =>
    `${a.table as string}|${a._ferry_id as string}`.localeCompare(
      `${b.table as string}|${b._ferry_id as string}`,
    ),
  );
  // Workers prefix their file ids with their index: a file of worker 1 shows the parallel path ran.
  return { info, rows, schema: await p.schema('src'), parallel: files.some((f) => f.startsWith('items.1')) };
}

describe('parallel normalize', () => {
  const records = Array.from({ length: 24_000 }, (_, i) => ({
    id: i,
    name: `n${i}`,
    at: '2024-01-01 00:00:00.5+00:00',
    tags: [i, i + 1],
    obj: { a: i },
  }));

  it('writes the same rows and schema as the main thread', async () => {
    const seq = await normalizeWith(0, records);
    const par = await normalizeWith(2, records);
    expect(par.info.rowCounts).toEqual({ items: 24_000, items__tags: 48_000 });
    expect(par.parallel).toBe(true);
    expect(seq.parallel).toBe(false);
    expect(par.rows).toEqual(seq.rows);
    expect(par.schema?.tables).toEqual(seq.schema?.tables);
  });

  it('falls back to the main thread when workers infer conflicting types, and stays correct', async () => {
    // File 1 (items 6000–11999) goes to worker 1, which then types `amount` as text; worker 0 types it bigint.
    const conflicting = records.map((r, i) => ({ ...r, amount: i >= 6000 && i < 12000 ? `text ${i}` : i }));
    const seq = await normalizeWith(0, conflicting);
    const par = await normalizeWith(2, conflicting);
    expect(par.rows).toEqual(seq.rows);
    expect(par.parallel).toBe(false);
    expect(Object.keys(par.schema!.tables.items!.columns)).toContain('amount__v_text');
    expect(par.schema?.tables).toEqual(seq.schema?.tables);
  });

  it('a column appearing mid-file rotates the file: no value is dropped', async () => {
    const shifting = Array.from({ length: 1000 }, (_, i) => ({
      id: i,
      ...(i >= 500 ? { late: `v${i}` } : {}),
      ...(i >= 700 ? { extra: { deep: i } } : {}),
    }));
    const { rows } = await normalizeWith(0, shifting);
    const items = rows.filter((r) => r.table === 'items');
    expect(items).toHaveLength(1000);
    expect(items.filter((r) => r.late !== undefined)).toHaveLength(500);
    expect(items.filter((r) => r.extra__deep !== undefined)).toHaveLength(300);
  });
});
