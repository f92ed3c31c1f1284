import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { FerryError, pipeline } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { runs, staticSource } from '../conformance/fixtures.ts';

/**
 * Ferry deletes only what it owns (issue 15, "What broke" 2): a working folder carries Ferry's marker
 * file; `sync` (resetFromDestination), `drop` and the run's temp cleanup refuse a folder without it,
 * naming the folder, and touch none of its files. On real DuckDB.
 */
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), 'ferry-owned-'));
  dirs.push(d);
  return d;
}

describe('working folder ownership', () => {
  it('a data_dir whose <pipeline> folder holds someone else files is refused by run, naming it; nothing is deleted', async () => {
    const root = await tempDir();
    const theirs = path.join(root, 'reports');
    await mkdir(theirs, { recursive: true });
    await writeFile(path.join(theirs, 'q3.xlsx'), 'precious');
    const p = pipeline({
      name: 'reports',
      destination: duckdb({ path: path.join(root, 'db.duckdb') }),
      dataDir: root,
    });
    const error = (await p.run(staticSource(runs(3))).catch((e: unknown) => e)) as FerryError;
    expect(error).toBeInstanceOf(FerryError);
    expect(error.code).toBe('FOLDER_NOT_OWNED');
    expect(error.message).toContain(theirs);
    expect(error.message).toContain('q3.xlsx');
    expect(await readdir(theirs)).toEqual(['q3.xlsx']);
    await p.close();
  });

  it('resetFromDestination (ferry pipeline sync) refuses a folder without the marker and wipes an owned one', async () => {
    const root = await tempDir();
    const destination = duckdb({ path: path.join(root, 'db.duckdb') });
    const p = pipeline({ name: 'owned', destination, dataDir: root });
    const incremental = (n: number) => staticSource(runs(n), { incremental: { cursorPath: 'id' } });
    expect((await p.run(incremental(4))).rowCounts.runs).toBe(4);
    const folder = path.join(root, 'owned');
    expect(existsSync(path.join(folder, '.ferry-working-folder'))).toBe(true);

    // Someone drops a file in: still Ferry's folder (the marker is there), the wipe clears it.
    await writeFile(path.join(folder, 'stray.txt'), 'x');
    const restored = await p.resetFromDestination(['conformance']);
    expect(restored.state).toBe(true);
    expect(existsSync(path.join(folder, 'stray.txt'))).toBe(false);
    // The restored cursor resumes: of six rows, only the two new ones load.
    expect((await p.run(incremental(6))).rowCounts.runs).toBe(2);

    // Without the marker and with files Ferry never writes, the folder is not Ferry's: refused, untouched.
    await rm(path.join(folder, '.ferry-working-folder'));
    await writeFile(path.join(folder, 'notes.md'), 'mine');
    const again = pipeline({ name: 'owned', destination, dataDir: root });
    const error = (await again.resetFromDestination(['conformance']).catch((e: unknown) => e)) as FerryError;
    expect(error.code).toBe('FOLDER_NOT_OWNED');
    expect(error.message).toContain(folder);
    expect(existsSync(path.join(folder, 'notes.md'))).toBe(true);
    expect(existsSync(path.join(folder, 'state.json'))).toBe(true);
    await again.close();
  });

  it('a folder in Ferry layout from before the marker is adopted; drop removes it and the dataset', async () => {
    const root = await tempDir();
    const destination = duckdb({ path: path.join(root, 'db.duckdb') });
    const p = pipeline({ name: 'legacy', destination, dataDir: root });
    await p.run(staticSource(runs(3)));
    const folder = path.join(root, 'legacy');
    await rm(path.join(folder, '.ferry-working-folder'));
    const q = pipeline({ name: 'legacy', destination, dataDir: root });
    expect((await q.run(staticSource(runs(1, 3)))).rowCounts.runs).toBe(1);
    expect(existsSync(path.join(folder, '.ferry-working-folder'))).toBe(true);
    await q.drop();
    expect(existsSync(folder)).toBe(false);
    const fresh = pipeline({ name: 'legacy', destination, dataDir: root });
    expect((await fresh.run(staticSource(runs(2)))).rowCounts.runs).toBe(2);
    const rows = await fresh.dataset().sql(`SELECT COUNT(*) AS n FROM ${fresh.destinationDataset}.runs`);
    expect(Number(rows[0]!.n)).toBe(2);
    await fresh.close();
  });
});
