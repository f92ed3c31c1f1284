import { createHash, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { copyFile, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { gunzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pipeline, resource, source, type DestinationClient } from '@ferry/core';
import { filesystem, openStore, type LoadMarker } from '@ferry/destinations/filesystem';
import type { FilesystemConfig } from '@ferry/destinations';
import { runs, staticSource } from '../conformance/fixtures.ts';
import { startS3Server, type S3TestServer } from '../support/s3-server.ts';

let root: string;
let s3: S3TestServer;
let buckets = 0;

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'ferry-fs-test-'));
  s3 = await startS3Server();
}, 60_000);
afterAll(async () => {
  await s3?.stop();
  await rm(root, { recursive: true, force: true });
});

const dirs = async () => {
  const d = await mkdtemp(path.join(root, 'case-'));
  return { bucket: path.join(d, 'bucket'), data: path.join(d, 'data'), fresh: path.join(d, 'fresh') };
};

async function withClient<T>(
  config: FilesystemConfig,
  dataset: string,
  fn: (c: DestinationClient) => Promise<T>,
): Promise<T> {
  const client = await filesystem(config).connect({ dataset, pipelineName: 'p' });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

const count = (config: FilesystemConfig, dataset: string, table: string) =>
  withClient(config, dataset, async (c) =>
    Number((await c.reader!.query(`SELECT COUNT(*) AS n FROM ${c.reader!.qualifiedTable(table)}`))[0]!.n),
  );

async function listFiles(dir: string): Promise<string[]> {
  if (!existsSync(dir)) return [];
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath, e.name)).split(path.sep).join('/'))
    .sort();
}

describe('filesystem destination (local)', () => {
  it('writes the default layout, the schema, the state and a marker that lists the files', async () => {
    const d = await dirs();
    const config: FilesystemConfig = { type: 'filesystem', bucketUrl: d.bucket };
    const p = pipeline({ name: 'p', dataset: 'ds', destination: filesystem(config), dataDir: d.data });
    const info = await p.run(staticSource(runs(10, 1)));
    const loadId = info.loadIds[0]!;
    // Records start at 1 so every column exists in the first record: one file per table (no rotation).
    const files = await listFiles(path.join(d.bucket, 'ds'));
    expect(files).toContain(`runs/${loadId}.00000.parquet`);
    expect(files).toContain(`runs__run_steps/${loadId}.00000.parquet`);
    expect(files).toContain(`_ferry_loads/${loadId}.json`);
    expect(files.some((f) => /^_ferry_version\/conformance__\d{10}__.+\.json$/.test(f))).toBe(true);
    const marker = JSON.parse(
      await readFile(path.join(d.bucket, 'ds', '_ferry_loads', `${loadId}.json`), 'utf8'),
    ) as LoadMarker;
    expect(marker.files).toEqual({
      runs: [`runs/${loadId}.00000.parquet`],
      runs__run_steps: [`runs__run_steps/${loadId}.00000.parquet`],
    });
    expect(marker.replaced_tables).toEqual([]);
    expect(await count(config, 'ds', 'runs')).toBe(10);
    const loads = await withClient(config, 'ds', (c) =>
      c.reader!.query(`SELECT load_id, status FROM ${c.reader!.qualifiedTable('_ferry_loads')}`),
    );
    expect(loads).toEqual([{ load_id: loadId, status: 0 }]);
    const tables = await withClient(config, 'ds', (c) => c.introspect());
    expect(tables.runs?.columns.id?.dataType).toBe('bigint');
    expect(tables.runs?.columns.created_at?.dataType).toBe('timestamp');
  });

  it('uses a custom layout with date placeholders', async () => {
    const d = await dirs();
    const config: FilesystemConfig = {
      type: 'filesystem',
      bucketUrl: `file://${d.bucket}`,
      layout: '{schema_name}/{table_name}/{YYYY}-{MM}-{DD}/{load_id}_{file_id}.{ext}',
    };
    const info = await pipeline({
      name: 'p',
      dataset: 'ds',
      destination: filesystem(config),
      dataDir: d.data,
    }).run(staticSource(runs(3, 1)));
    const loadId = info.loadIds[0]!;
    const day = new Date(Number(BigInt(loadId) / 1000n)).toISOString().slice(0, 10);
    expect(await listFiles(path.join(d.bucket, 'ds', 'conformance', 'runs'))).toEqual([
      `${day}/${loadId}_00000.parquet`,
    ]);
    expect(await count(config, 'ds', 'runs')).toBe(3);
  });

  it('gzip JSONL: keys end in .jsonl.gz and hold JSON lines', async () => {
    const d = await dirs();
    const config: FilesystemConfig = {
      type: 'filesystem',
      bucketUrl: d.bucket,
      format: 'jsonl',
      compression: 'gzip',
    };
    const info = await pipeline({
      name: 'p',
      dataset: 'ds',
      destination: filesystem(config),
      dataDir: d.data,
    }).run(staticSource(runs(4, 1)));
    const key = path.join(d.bucket, 'ds', 'runs', `${info.loadIds[0]}.00000.jsonl.gz`);
    const lines = gunzipSync(await readFile(key))
      .toString('utf8')
      .trim()
      .split('\n');
    expect(lines).toHaveLength(4);
    expect(JSON.parse(lines[0]!).id).toBe(70403104190001);
    expect(await count(config, 'ds', 'runs')).toBe(4);
  });

  it('replace deletes the older files only after the new files and the marker are written; readers ignore leftovers', async () => {
    const d = await dirs();
    const config: FilesystemConfig = { type: 'filesystem', bucketUrl: d.bucket };
    const ds = path.join(d.bucket, 'ds');
    const replaceRun = (n: number, from: number, onLoadEvent?: () => void) =>
      pipeline({
        name: 'p',
        dataset: 'ds',
        destination: filesystem(config),
        dataDir: d.data,
        onEvent: (e) => e.type === 'load' && onLoadEvent?.(),
      }).run(staticSource(runs(n, from), { writeDisposition: 'replace' }));
    await replaceRun(20, 1);
    const first = await listFiles(path.join(ds, 'runs'));
    expect(first).toHaveLength(1);
    const saved = path.join(root, `saved-${Date.now()}.parquet`);
    await copyFile(path.join(ds, 'runs', first[0]!), saved);

    // While the second load writes its files, the first load's files are all still there.
    const seenWhileLoading: boolean[] = [];
    const second = await replaceRun(5, 101, () =>
      seenWhileLoading.push(existsSync(path.join(ds, 'runs', first[0]!))),
    );
    expect(seenWhileLoading.length).toBeGreaterThan(0);
    expect(seenWhileLoading.every(Boolean)).toBe(true);
    expect(await listFiles(path.join(ds, 'runs'))).toEqual([`${second.loadIds[0]}.00000.parquet`]);
    expect(await count(config, 'ds', 'runs')).toBe(5);
    const marker = JSON.parse(
      await readFile(path.join(ds, '_ferry_loads', `${second.loadIds[0]}.json`), 'utf8'),
    ) as LoadMarker;
    expect(marker.replaced_tables.sort()).toEqual(['runs', 'runs__run_steps']);

    // A crash between the marker and the deletion leaves the old file; a crashed load leaves a file with no marker.
    await copyFile(saved, path.join(ds, 'runs', first[0]!));
    await copyFile(saved, path.join(ds, 'runs', '1000000000000001.00000.parquet'));
    expect(await count(config, 'ds', 'runs')).toBe(5);

    const third = await replaceRun(2, 201);
    expect(await listFiles(path.join(ds, 'runs'))).toEqual([`${third.loadIds[0]}.00000.parquet`]);
    expect(await count(config, 'ds', 'runs')).toBe(2);
  });

  it('a failed upload leaves the load invisible and pending; the next run finishes it exactly once', async () => {
    const d = await dirs();
    const config: FilesystemConfig = { type: 'filesystem', bucketUrl: d.bucket };
    // A plain file where the table folder must go: every upload into runs/ fails (ENOTDIR).
    await mkdir(path.join(d.bucket, 'ds'), { recursive: true });
    await writeFile(path.join(d.bucket, 'ds', 'runs'), 'in the way');
    const p = () =>
      pipeline({
        name: 'p',
        dataset: 'ds',
        destination: filesystem(config),
        dataDir: d.data,
        loadRetries: 0,
      });
    await expect(p().run(staticSource(runs(30, 1)))).rejects.toThrow(/upload of runs\.00000 to runs\//);
    expect(await listFiles(path.join(d.bucket, 'ds', '_ferry_loads'))).toEqual([]);
    expect(await p().hasPending()).toBe(true);
    await rm(path.join(d.bucket, 'ds', 'runs'));
    const info = await p().run(staticSource(runs(30, 1)));
    expect(info.extras).toEqual({ resumedPending: true });
    expect(await count(config, 'ds', 'runs')).toBe(30);
    expect(await count(config, 'ds', 'runs__run_steps')).toBe(60);
    expect(await listFiles(path.join(d.bucket, 'ds', '_ferry_loads'))).toHaveLength(1);
  });

  it('refuses merge with a clear error before writing anything', async () => {
    const d = await dirs();
    const config: FilesystemConfig = { type: 'filesystem', bucketUrl: d.bucket };
    const p = pipeline({ name: 'p', dataset: 'ds', destination: filesystem(config), dataDir: d.data });
    await expect(
      p.run(staticSource(runs(2), { writeDisposition: 'merge', primaryKey: 'id' })),
    ).rejects.toThrow(/merge .*filesystem does not support.*append or replace/);
    expect(await listFiles(path.join(d.bucket, 'ds'))).toEqual([]);
    expect(filesystem(config).capabilities.mergeStrategies).toEqual([]);
  });

  it('merge_fallback: append appends a merge resource and says so in a warning event', async () => {
    const d = await dirs();
    const config: FilesystemConfig = { type: 'filesystem', bucketUrl: d.bucket, mergeFallback: 'append' };
    const warnings: string[] = [];
    const p = pipeline({
      name: 'p',
      dataset: 'ds',
      destination: filesystem(config),
      dataDir: d.data,
      onEvent: (e) => e.type === 'warning' && warnings.push(e.message),
    });
    await p.run(staticSource(runs(2), { writeDisposition: 'merge', primaryKey: 'id' }));
    await p.run(staticSource(runs(2), { writeDisposition: 'merge', primaryKey: 'id' }));
    expect(await count(config, 'ds', 'runs')).toBe(4);
    expect(warnings.some((w) => /cannot merge; rows are appended/.test(w))).toBe(true);
  });

  it('refuses bad configs clearly', () => {
    expect(() => filesystem({ type: 'filesystem', bucketUrl: 'hdfs://bucket/x' })).toThrow(
      /scheme 'hdfs:\/\/' is not supported/,
    );
    expect(() =>
      filesystem({
        type: 'filesystem',
        bucketUrl: '/tmp/x',
        layout: '{table_name}/{day}/{load_id}.{file_id}.{ext}',
      }),
    ).toThrow(/unknown placeholder \{day\}/);
    expect(() => filesystem({ type: 'filesystem', bucketUrl: '/tmp/x', compression: 'gzip' })).toThrow(
      /gzip applies to jsonl only/,
    );
  });
});

describe('local store: conditional writes (the lease files rely on them)', () => {
  it('of eight creates at once exactly one wins; a replace or delete of a changed file does nothing', async () => {
    const d = await dirs();
    const store = await openStore({ bucketUrl: d.bucket });
    await store.init();
    const wins = await Promise.all(
      Array.from({ length: 8 }, (_, i) => store.putIf('locks/p.json', `claim ${i}`, undefined)),
    );
    expect(wins.filter(Boolean)).toHaveLength(1);
    const first = (await store.getVersioned('locks/p.json'))!;
    expect(first.text).toBe(`claim ${wins.indexOf(true)}`);
    // Replace only the version read; a second replace from the same (now stale) read loses.
    expect(await store.putIf('locks/p.json', 'renewed', first)).toBe(true);
    expect(await store.putIf('locks/p.json', 'stale writer', first)).toBe(false);
    expect((await store.getVersioned('locks/p.json'))!.text).toBe('renewed');
    expect(await store.deleteIf('locks/p.json', first)).toBe(false);
    expect((await store.getVersioned('locks/p.json'))!.text).toBe('renewed');
    expect(await store.deleteIf('locks/p.json', { text: 'renewed' })).toBe(true);
    expect(await store.getVersioned('locks/p.json')).toBeUndefined();
    // No temp or aside file is left behind.
    expect(await listFiles(d.bucket)).toEqual([]);
    await store.close();
  });
});

describe.each(['local', 's3'] as const)('fresh container restores from the bucket (%s)', (kind) => {
  it('state and schema come back from the bucket; a state file without a marker is ignored', async () => {
    const d = await dirs();
    let config: FilesystemConfig;
    if (kind === 's3') {
      const bucket = `state-${process.pid}-${buckets++}`;
      await s3.createBucket(bucket);
      config = { type: 'filesystem', bucketUrl: `s3://${bucket}/lake`, s3: s3.settings };
    } else {
      config = { type: 'filesystem', bucketUrl: d.bucket };
    }
    const all = runs(7).map((r, i) => ({ ...r, updated_at: `2024-01-0${i + 1}T00:00:00.000001Z` }));
    let served = 5;
    const make = () =>
      source({
        name: 'conformance',
        resources: [
          resource(
            { name: 'runs', incremental: { cursorPath: 'updated_at', rowOrder: 'asc' } },
            function* () {
              yield all.slice(0, served);
            },
          ),
        ],
      });
    const first = await pipeline({
      name: 'p',
      dataset: 'ds',
      destination: filesystem(config),
      dataDir: d.data,
    }).run(make());
    expect(first.rowCounts.runs).toBe(5);

    // A crashed later load: its state file exists, its marker does not.
    await withClient(config, 'ds', async (c) => {
      const stored = await c.getStoredState('p');
      expect(stored?.loadId).toBe(first.loadIds[0]);
      const store = await openStore(config);
      const bogus = { ...stored!, state: { ...stored!.state, sources: {} } };
      await store.put(
        'ds/_ferry_pipeline_state/p__9999999999999999.json',
        JSON.stringify({
          version: 99,
          engine_version: 1,
          pipeline_name: 'p',
          state: bogus.state,
          created_at: '',
          version_hash: '',
          _ferry_load_id: '9999999999999999',
        }),
      );
      await store.close();
      expect((await c.getStoredState('p'))?.loadId).toBe(first.loadIds[0]);
      expect((await c.getStoredSchema('conformance'))?.tables.runs?.columns.updated_at?.dataType).toBe(
        'timestamp',
      );
    });

    served = 7;
    const fresh = pipeline({ name: 'p', dataset: 'ds', destination: filesystem(config), dataDir: d.fresh });
    const info = await fresh.run(make());
    expect(info.rowCounts.runs).toBe(2);
    expect(await count(config, 'ds', 'runs')).toBe(7);
    const cursor = (await fresh.state()).sources.conformance?.resources.runs?.incremental?.updated_at;
    expect(cursor?.lastValue).toBe('2024-01-07T00:00:00.000001Z');
    const again = await pipeline({
      name: 'p',
      dataset: 'ds',
      destination: filesystem(config),
      dataDir: path.join(d.fresh, 'again'),
    }).run(make());
    expect(again.empty).toBe(true);
  });
});

describe('S3 store (real @aws-sdk/client-s3 against s3rver on 127.0.0.1)', () => {
  it('uploads a file over 5 MiB in several parts and reads it back intact', async () => {
    const bucket = `multipart-${process.pid}`;
    await s3.createBucket(bucket);
    const store = await openStore({ bucketUrl: `s3://${bucket}/p`, s3: s3.settings });
    const file = path.join(root, 'big.bin');
    const body = randomBytes(12 * 1024 * 1024 + 123);
    await writeFile(file, body);
    const result = await store.putFile('ds/big.bin', file);
    expect(result.parts).toBeGreaterThan(1);
    const back = await store.get('ds/big.bin');
    expect(createHash('md5').update(back!).digest('hex')).toBe(createHash('md5').update(body).digest('hex'));
    await store.getFile('ds/big.bin', path.join(root, 'down', 'big.bin'));
    expect((await readFile(path.join(root, 'down', 'big.bin'))).equals(body)).toBe(true);
    await store.close();
  });

  it('lists past a page (continuation tokens), deletes in batches, reports missing keys', async () => {
    const bucket = `list-${process.pid}`;
    await s3.createBucket(bucket);
    const store = await openStore({ bucketUrl: `s3://${bucket}`, s3: s3.settings });
    (store as unknown as { listPageSize: number }).listPageSize = 2;
    for (let i = 0; i < 5; i++) await store.put(`ds/t/${i}.json`, `{"i":${i}}`);
    await store.put('other/x.json', '{}');
    expect((await store.list('ds/')).sort()).toEqual([0, 1, 2, 3, 4].map((i) => `ds/t/${i}.json`));
    expect(await store.exists('ds/t/3.json')).toBe(true);
    expect(await store.get('ds/t/missing.json')).toBeUndefined();
    await store.delete(await store.list('ds/'));
    expect(await store.list('ds/')).toEqual([]);
    expect(await store.exists('other/x.json')).toBe(true);
    await store.close();
  });

  it('a missing bucket fails with a message that says to create it', async () => {
    const d = await dirs();
    const config: FilesystemConfig = {
      type: 'filesystem',
      bucketUrl: 's3://no-such-bucket/x',
      s3: s3.settings,
    };
    await expect(
      pipeline({ name: 'p', dataset: 'ds', destination: filesystem(config), dataDir: d.data }).run(
        staticSource(runs(1)),
      ),
    ).rejects.toThrow(/bucket 'no-such-bucket' does not exist.*create it/);
  });
});
