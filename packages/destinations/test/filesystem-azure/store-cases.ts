import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { expect } from 'vitest';
import { pipeline, resource, source } from '@ferry/core';
import { filesystem, openStore } from '@ferry/destinations/filesystem';
import type { FilesystemConfig } from '@ferry/destinations';

/** Cases every cloud object store must pass (Azure on Azurite, GCS on the local server). */
export const storeCases = {
  /** Of eight creates at once one wins; a stale replace or delete does nothing; a fresh one works. */
  async conditionalWrites(config: Pick<FilesystemConfig, 'bucketUrl' | 'azure' | 'gcs'>) {
    const store = await openStore(config);
    try {
      const wins = await Promise.all(
        Array.from({ length: 8 }, (_, i) => store.putIf('lease.json', `{"n":${i}}`, undefined)),
      );
      expect(wins.filter(Boolean)).toHaveLength(1);
      const v1 = (await store.getVersioned('lease.json'))!;
      expect(v1.text).toBe(`{"n":${wins.indexOf(true)}}`);
      expect(v1.etag).toBeTruthy();
      expect(await store.putIf('lease.json', 'second', v1)).toBe(true);
      expect(await store.putIf('lease.json', 'stale', v1)).toBe(false);
      expect(await store.deleteIf('lease.json', v1)).toBe(false);
      const v2 = (await store.getVersioned('lease.json'))!;
      expect(v2.text).toBe('second');
      expect(await store.deleteIf('lease.json', v2)).toBe(true);
      expect(await store.getVersioned('lease.json')).toBeUndefined();
      expect(await store.deleteIf('lease.json', v2)).toBe(false);
    } finally {
      await store.close();
    }
  },

  /** A file over one block/chunk goes in `parts` parts and reads back intact; gzip stores gzip bytes. */
  async largeFiles(config: Pick<FilesystemConfig, 'bucketUrl' | 'azure' | 'gcs'>, parts: number) {
    const dir = await mkdtemp(path.join(tmpdir(), 'ferry-store-'));
    const store = await openStore(config);
    try {
      const file = path.join(dir, 'big.bin');
      const bytes = randomBytes(8 * 1024 * 1024 + 123);
      await writeFile(file, bytes);
      expect(await store.putFile('t/big.bin', file)).toEqual({ bytes: bytes.length, parts });
      await store.getFile('t/big.bin', path.join(dir, 'back.bin'));
      expect((await readFile(path.join(dir, 'back.bin'))).equals(bytes)).toBe(true);
      await writeFile(path.join(dir, 'small.jsonl'), '{"a":1}\n');
      const gz = await store.putFile('t/small.jsonl.gz', path.join(dir, 'small.jsonl'), { gzip: true });
      expect(gz.parts).toBe(1);
      expect(gunzipSync((await store.get('t/small.jsonl.gz'))!).toString()).toBe('{"a":1}\n');
    } finally {
      await store.close();
      await rm(dir, { recursive: true, force: true });
    }
  },

  /** Listing pages through (page size 2), stays under the prefix, deletes tolerate missing keys. */
  async listAndDelete(config: Pick<FilesystemConfig, 'bucketUrl' | 'azure' | 'gcs'>) {
    const store = await openStore(config);
    (store as unknown as { listPageSize: number }).listPageSize = 2;
    try {
      await store.init();
      const keys = ['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'b/1'];
      for (const k of keys) await store.put(k, k);
      expect((await store.list('a/')).sort()).toEqual(keys.slice(0, 5));
      expect(await store.exists('b/1')).toBe(true);
      expect(await store.exists('b/2')).toBe(false);
      expect(await store.get('b/2')).toBeUndefined();
      await store.delete(['a/1', 'a/2', 'a/3', 'a/4', 'a/5', 'a/missing']);
      expect(await store.list('')).toEqual(['b/1']);
    } finally {
      await store.close();
    }
  },

  /** Four clients claim one pipeline's lease at once: exactly one wins, the others get PIPELINE_BUSY. */
  async leaseRace(config: FilesystemConfig) {
    const destination = filesystem(config);
    const clients = await Promise.all(
      Array.from({ length: 4 }, () => destination.connect({ dataset: 'ds', pipelineName: 'race' })),
    );
    try {
      const outcomes = await Promise.all(
        clients.map((c) =>
          c.lockPipeline!('race').then(
            () => 'won',
            (e: { code?: string }) => (e.code === 'PIPELINE_BUSY' ? 'busy' : String(e)),
          ),
        ),
      );
      expect(outcomes.sort()).toEqual(['busy', 'busy', 'busy', 'won']);
    } finally {
      for (const c of clients) await c.close();
    }
    // The winner gave the lease back on close: a new client takes it at once.
    const again = await destination.connect({ dataset: 'ds', pipelineName: 'race' });
    try {
      await again.lockPipeline!('race');
    } finally {
      await again.close();
    }
  },

  /** A pipeline loads, and `dataset()` reads the rows back through DuckDB over the downloaded files. */
  async pipelineReadBack(config: FilesystemConfig) {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-store-data-'));
    try {
      const p = pipeline({ name: 'p', dataset: 'lake', destination: filesystem(config), dataDir });
      const rows = Array.from({ length: 40 }, (_, i) => ({ id: i, name: `n${i}`, tags: [{ t: i }] }));
      const info = await p.run(
        source({
          name: 's',
          resources: [
            resource({ name: 'items' }, function* () {
              yield rows;
            }),
          ],
        }),
      );
      expect(info.rowCounts).toEqual({ items: 40, items__tags: 40 });
      const ds = p.dataset();
      try {
        expect(await ds.rowCounts()).toEqual({ items: 40, items__tags: 40 });
        const top = await ds.table('items').select('id', 'name').orderBy('id', 'desc').limit(1).toArray();
        expect(top).toEqual([{ id: 39n, name: 'n39' }]);
      } finally {
        await ds.close();
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  },
};
