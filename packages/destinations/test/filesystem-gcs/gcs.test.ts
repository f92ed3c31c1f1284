import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesystem, openStore, parseBucketUrl } from '@ferry/destinations/filesystem';
import { startGcsServer, type GcsTestServer } from '../support/gcs-server/gcs-server.ts';
import { storeCases } from '../filesystem-azure/store-cases.ts';

let gcs: GcsTestServer;
let n = 0;
beforeAll(async () => {
  // The client must never look for a metadata server (no credentials are needed for a custom endpoint).
  process.env.METADATA_SERVER_DETECTION = 'none';
  gcs = await startGcsServer();
});
afterAll(async () => {
  await gcs?.stop();
});
/** A fresh bucket and a config on it. */
const fresh = (format: 'parquet' | 'jsonl' = 'parquet') => {
  const bucket = `gcst-${process.pid}-${n++}`;
  gcs.createBucket(bucket);
  return {
    type: 'filesystem' as const,
    bucketUrl: `gs://${bucket}/lake`,
    format,
    ...(format === 'jsonl' ? { compression: 'gzip' as const } : {}),
    gcs: { apiEndpoint: gcs.endpoint, projectId: 'ferry-test' },
  };
};

describe('GCS URLs and settings', () => {
  it('gs:// and gcs:// name a bucket and a prefix', () => {
    expect(parseBucketUrl('gs://acme-lake/raw/dbt/')).toEqual({
      kind: 'gcs',
      bucket: 'acme-lake',
      prefix: 'raw/dbt',
    });
    expect(parseBucketUrl('gcs://acme-lake')).toEqual({ kind: 'gcs', bucket: 'acme-lake', prefix: '' });
    expect(() => parseBucketUrl('gs:///x')).toThrow(/names no bucket/);
    expect(filesystem({ bucketUrl: 'gs://acme/raw' }).describe()).toBe('filesystem:gs://acme/raw');
  });

  it('credentials that are not JSON fail without echoing them', async () => {
    const secret = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkq-secret\n-----END PRIVATE KEY-----';
    const error = (await openStore({ bucketUrl: 'gs://b/x', gcs: { credentials: secret } }).catch(
      (e: unknown) => e,
    )) as Error;
    expect(error.message).toMatch(/gcs\.credentials is not JSON/);
    expect(JSON.stringify({ m: error.message, s: error.stack })).not.toContain('MIIEvQIBADANBgkq');
  });
});

describe('GCS store (real @google-cloud/storage against the local JSON API server)', () => {
  it('conditional writes: ifGenerationMatch=0 creates once, =<generation> replaces and deletes only that one', async () => {
    const config = fresh();
    const before = gcs.requests.length;
    await storeCases.conditionalWrites(config);
    const sent = gcs.requests.slice(before);
    expect(sent.filter((r) => r.query.ifGenerationMatch === '0')).toHaveLength(8);
    expect(sent.some((r) => r.method === 'DELETE' && /^\d+$/.test(r.query.ifGenerationMatch ?? ''))).toBe(
      true,
    );
  });

  it('a file over 8 MiB goes up as a resumable upload in two chunks and reads back intact', async () => {
    const before = gcs.requests.length;
    await storeCases.largeFiles(fresh(), 2);
    const sent = gcs.requests.slice(before);
    expect(sent.filter((r) => r.query.uploadType === 'resumable' && r.method === 'PUT')).toHaveLength(2);
  });

  it('lists past a page (pageToken), deletes with missing keys', async () =>
    storeCases.listAndDelete(fresh()));

  it('pipeline lease: four clients at once, one wins', async () => storeCases.leaseRace(fresh()));

  it('loads Parquet and gzip JSONL and reads them back through dataset()', async () => {
    await storeCases.pipelineReadBack(fresh('parquet'));
    await storeCases.pipelineReadBack(fresh('jsonl'));
  });

  it('retries an injected 503 on upload; a missing bucket says to create it', async () => {
    const config = fresh();
    const store = await openStore(config);
    gcs.failNext(1, 503, (m, p) => m === 'POST' && p.startsWith('/upload/'));
    await store.put('k', 'v');
    expect((await store.get('k'))?.toString()).toBe('v');
    const missing = await openStore({ ...config, bucketUrl: 'gs://no-such-bucket/x' });
    await expect(missing.init()).rejects.toThrow(/does not exist .*create it first/);
  }, 20_000);
});
