import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pipeline, resource, source } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';

const dir = await mkdtemp(path.join(tmpdir(), 'ferry-duckdb-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('duckdb destination', () => {
  it('keeps integers past 2^53 and microseconds exact; readers cannot reach local files', async () => {
    const file = path.join(dir, 'a.duckdb');
    const p = pipeline({
      name: 'exact',
      dataset: 'exact',
      destination: duckdb({ path: file }),
      dataDir: path.join(dir, 'data'),
    });
    const items = resource({ name: 'items' }, () => [
      [{ id: 9007199254740993n, at: '2023-05-27 21:05:16.109548+05:30' }],
    ]);
    await p.run(source({ name: 'src', resources: [items] }));
    const ds = p.dataset();
    try {
      const rows = await ds.sql(
        `SELECT CAST(id AS VARCHAR) AS id, strftime("at", '%Y-%m-%dT%H:%M:%S.%fZ') AS "at" FROM exact.items`,
      );
      expect(rows).toEqual([{ id: '9007199254740993', at: '2023-05-27T15:35:16.109548Z' }]);
      expect((await ds.table('items').toArray())[0]!.id).toBe(9007199254740993n);
      await expect(ds.sql(`SELECT * FROM read_text('/etc/hostname')`)).rejects.toThrow(/disabled|external/i);
    } finally {
      await ds.close();
    }
  });

  it('a reader on a file that does not exist yet says to run the pipeline first', async () => {
    const p = pipeline({
      name: 'missing',
      destination: duckdb({ path: path.join(dir, 'none.duckdb') }),
      dataDir: path.join(dir, 'data2'),
    });
    const ds = p.dataset();
    await expect(ds.tables()).rejects.toThrow(/does not exist yet: run the pipeline first/);
  });
});
