import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { filesystem, openStore, parseBucketUrl } from '@ferry/destinations/filesystem';
import { AZURITE_KEY, startAzurite, type AzuriteServer } from './azurite.ts';
import { storeCases } from './store-cases.ts';

let az: AzuriteServer;
let n = 0;
beforeAll(async () => {
  az = await startAzurite();
}, 60_000);
afterAll(async () => {
  await az?.stop();
});
/** A fresh container and a config on it. */
const fresh = async (format: 'parquet' | 'jsonl' = 'parquet') => {
  const container = `azt-${process.pid}-${n++}`;
  await az.createContainer(container);
  return {
    type: 'filesystem' as const,
    bucketUrl: `az://${container}/lake`,
    format,
    ...(format === 'jsonl' ? { compression: 'gzip' as const } : {}),
    azure: az.settings,
  };
};

describe('Azure Blob URLs', () => {
  it('abfss:// carries the account and the cloud; az:// takes the account from the settings', () => {
    expect(parseBucketUrl('abfss://raw@acmelake.dfs.core.windows.net/dbt/cloud/')).toEqual({
      kind: 'azure',
      container: 'raw',
      account: 'acmelake',
      blobEndpoint: 'https://acmelake.blob.core.windows.net',
      prefix: 'dbt/cloud',
    });
    expect(parseBucketUrl('abfss://raw@acme.dfs.core.chinacloudapi.cn')).toMatchObject({
      blobEndpoint: 'https://acme.blob.core.chinacloudapi.cn',
    });
    expect(parseBucketUrl('az://raw/x')).toEqual({ kind: 'azure', container: 'raw', prefix: 'x' });
    expect(() => parseBucketUrl('abfss://raw/x')).toThrow(/container@account\.dfs\.core\.windows\.net/);
    expect(() => parseBucketUrl('az://')).toThrow(/names no container/);
    expect(filesystem({ bucketUrl: 'abfss://raw@acme.dfs.core.windows.net/p' }).describe()).toBe(
      'filesystem:abfss://raw@acme.dfs.core.windows.net/p',
    );
  });

  it('refuses a config without account or credentials, naming the settings to set', async () => {
    const env = { ...process.env };
    for (const k of Object.keys(process.env)) if (k.startsWith('AZURE_STORAGE')) delete process.env[k];
    try {
      await expect(openStore({ bucketUrl: 'az://c/x' })).rejects.toThrow(/azure\.account_name/);
      await expect(openStore({ bucketUrl: 'az://c/x', azure: { accountName: 'a' } })).rejects.toThrow(
        /azure\.account_key, azure\.sas_token or azure\.connection_string/,
      );
    } finally {
      Object.assign(process.env, env);
    }
  });
});

describe('Azure store (real @azure/storage-blob against Azurite on 127.0.0.1)', () => {
  it('conditional writes: If-None-Match: * creates once, If-Match replaces and deletes only the version read', async () =>
    storeCases.conditionalWrites(await fresh()));

  it('a file over 8 MiB goes up in two blocks and reads back intact; gzip JSONL stays gzip', async () =>
    storeCases.largeFiles(await fresh(), 2));

  it('lists past a page, deletes with missing keys', async () => storeCases.listAndDelete(await fresh()));

  it('pipeline lease: four clients at once, one wins', async () => storeCases.leaseRace(await fresh()));

  it('loads Parquet and gzip JSONL and reads them back through dataset()', async () => {
    await storeCases.pipelineReadBack(await fresh('parquet'));
    await storeCases.pipelineReadBack(await fresh('jsonl'));
  });

  it('a connection string works like the key; a SAS token too', async () => {
    const config = await fresh();
    const container = parseBucketUrl(config.bucketUrl);
    const connectionString = `DefaultEndpointsProtocol=http;AccountName=${az.settings.accountName};AccountKey=${AZURITE_KEY};BlobEndpoint=${az.endpoint};`;
    const viaString = await openStore({ bucketUrl: config.bucketUrl, azure: { connectionString } });
    await viaString.put('k', 'v');
    const { generateBlobSASQueryParameters, ContainerSASPermissions, StorageSharedKeyCredential } =
      await import('@azure/storage-blob');
    const sas = generateBlobSASQueryParameters(
      {
        containerName: (container as { container: string }).container,
        permissions: ContainerSASPermissions.parse('racwdl'),
        expiresOn: new Date(Date.now() + 3600_000),
      },
      new StorageSharedKeyCredential(az.settings.accountName, AZURITE_KEY),
    ).toString();
    const viaSas = await openStore({
      bucketUrl: config.bucketUrl,
      azure: { accountName: az.settings.accountName, endpoint: az.endpoint, sasToken: `?${sas}` },
    });
    expect((await viaSas.get('k'))?.toString()).toBe('v');
  });

  it('a missing container says to create it; a wrong key fails without showing the key', async () => {
    const missing = await openStore({ bucketUrl: 'az://no-such-container/x', azure: az.settings });
    await expect(missing.init()).rejects.toThrow(/does not exist .*create it first/);
    const config = await fresh();
    const wrongKey = Buffer.from('not-the-key-but-a-secret-0123456789').toString('base64');
    const store = await openStore({ ...config, azure: { ...az.settings, accountKey: wrongKey } });
    const error = (await store.put('x', 'y').catch((e: unknown) => e)) as Error & { cause?: unknown };
    expect(error.message).toMatch(/Azure PutBlob of .*failed: .*\(HTTP 403\)/);
    const everything = JSON.stringify({ m: error.message, c: String(error.cause), s: error.stack });
    expect(everything).not.toContain(wrongKey);
  });
});
