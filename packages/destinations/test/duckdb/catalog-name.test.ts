import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { pipeline } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { runs, staticSource } from '../conformance/fixtures.ts';

/**
 * DuckDB names the catalog after the file: `pokemon.duckdb` holding dataset `pokemon` made every
 * `"pokemon"."table"` an "Ambiguous reference to catalog or schema" (dlt's own quick start names both
 * alike). Loads, merges, reads and drops work with the names alike.
 */
const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

it('a database file named like its dataset loads, merges, reads and drops', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-catalog-'));
  dirs.push(dir);
  const destination = duckdb({ path: path.join(dir, 'pokemon.duckdb') });
  const p = pipeline({ name: 'pokemon', dataset: 'pokemon', destination, dataDir: dir });
  expect((await p.run(staticSource(runs(5)))).rowCounts.runs).toBe(5);
  const merge = { writeDisposition: 'merge' as const, primaryKey: 'id' };
  await p.run(staticSource(runs(3, 3), merge));
  const rows = await p.dataset().sql('SELECT COUNT(*) AS n FROM pokemon.pokemon.runs');
  expect(Number(rows[0]!.n)).toBe(6);
  expect(await p.dataset().rowCounts()).toMatchObject({ runs: 6 });
  await p.drop();
  const again = pipeline({ name: 'pokemon', dataset: 'pokemon', destination, dataDir: dir });
  expect((await again.run(staticSource(runs(2)))).rowCounts.runs).toBe(2);
  await again.close();
});
