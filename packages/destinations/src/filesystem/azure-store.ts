import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { createGzip } from 'node:zlib';
import type * as AzureSdkModule from '@azure/storage-blob';
import type { BlobServiceClient, ContainerClient } from '@azure/storage-blob';
import { ConfigError, DestinationError } from '@ferry/core';
import type { FilesystemConfig } from '../config.ts';
import type {
  BucketLocation,
  FilesystemStore,
  PutFileOptions,
  PutFileResult,
  VersionedObject,
} from './filesystem-store.ts';
import { asVersioned, mapLimit, redactSecrets } from './object-store-util.ts';

type AzureSettings = NonNullable<FilesystemConfig['azure']>;
type AzureLocation = Extract<BucketLocation, { kind: 'azure' }>;

/**
 * Block size of uploads: files up to this size go in one Put Blob, larger ones as blocks of this size
 * (4 in flight) committed by one Put Block List, which is atomic like Put Blob.
 */
export const AZURE_BLOCK_SIZE = 8 * 1024 * 1024;

/** Deletes in flight at once (the Blob API deletes one blob per request). */
const DELETE_CONCURRENCY = 16;

/** The status and service error code of an SDK `RestError`. */
function restError(error: unknown): { status: number; code: string } {
  const e = error as { statusCode?: number; code?: string; details?: { errorCode?: string } };
  return { status: e?.statusCode ?? 0, code: e?.details?.errorCode ?? e?.code ?? '' };
}

function isTransient(error: unknown): boolean {
  const { status, code } = restError(error);
  return (
    status >= 500 ||
    status === 429 ||
    ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'REQUEST_SEND_ERROR'].includes(code)
  );
}

function isNotFound(error: unknown): boolean {
  return restError(error).status === 404;
}

/**
 * A conditional request lost: 412 ConditionNotMet (If-Match on a changed blob), or 409 BlobAlreadyExists
 * (If-None-Match: * on a blob that exists; Azure answers 409 there, not 412).
 */
function isPreconditionFailed(error: unknown): boolean {
  const { status } = restError(error);
  return status === 412 || status === 409;
}

/** The first non-empty value. */
const first = (...values: (string | undefined)[]) => values.find((v) => v !== undefined && v !== '');

/**
 * Azure Blob Storage (and ADLS Gen2 through its Blob API) through `@azure/storage-blob`, imported on first
 * use. Small objects go in one Put Blob, files as blocks (see {@link AZURE_BLOCK_SIZE}). Conditional writes
 * use `If-None-Match: *` to create and `If-Match: <ETag>` to replace or delete, which the pipeline lease
 * needs. Credentials: a connection string, a shared key or a SAS token, from the config or `AZURE_STORAGE_*`.
 */
export class AzureStore implements FilesystemStore {
  readonly url: string;
  /** Blobs per list page (the service's maximum is 5000; tests lower it to exercise pagination). */
  listPageSize = 5000;
  private readonly container: ContainerClient;
  private readonly prefix: string;
  private readonly secrets: string[];

  private constructor(service: BlobServiceClient, location: AzureLocation, secrets: string[], url: string) {
    this.container = service.getContainerClient(location.container);
    this.prefix = location.prefix ? `${location.prefix}/` : '';
    this.secrets = secrets;
    this.url = url;
  }

  /**
   * Build the client. Credentials, first found wins: `connectionString` (or `AZURE_STORAGE_CONNECTION_STRING`),
   * `accountKey` (or `AZURE_STORAGE_ACCOUNT_KEY` / `AZURE_STORAGE_KEY`), `sasToken` (or
   * `AZURE_STORAGE_SAS_TOKEN`). The account is the `abfss://` host's, else `accountName` (or
   * `AZURE_STORAGE_ACCOUNT_NAME` / `AZURE_STORAGE_ACCOUNT`). The endpoint is `endpoint`, else the account's
   * public blob endpoint. Retries: 4 tries with the SDK's exponential backoff.
   */
  static async create(location: AzureLocation, settings: AzureSettings): Promise<AzureStore> {
    const env = process.env;
    const connectionString = first(settings.connectionString, env.AZURE_STORAGE_CONNECTION_STRING);
    const accountKey = first(settings.accountKey, env.AZURE_STORAGE_ACCOUNT_KEY, env.AZURE_STORAGE_KEY);
    const sasToken = first(settings.sasToken, env.AZURE_STORAGE_SAS_TOKEN)?.replace(/^\?/, '');
    const account = first(
      location.account,
      settings.accountName,
      env.AZURE_STORAGE_ACCOUNT_NAME,
      env.AZURE_STORAGE_ACCOUNT,
    );
    const secrets = [connectionString, accountKey, sasToken].filter((s): s is string => Boolean(s));
    const display = location.account
      ? `abfss://${location.container}@${location.account}/${location.prefix}`
      : `az://${location.container}/${location.prefix}`;
    let sdk: typeof AzureSdkModule;
    try {
      sdk = await import('@azure/storage-blob');
    } catch (error) {
      throw new ConfigError(
        `filesystem destination ${display}: Azure needs @azure/storage-blob; install it (pnpm add @azure/storage-blob)`,
        { path: 'bucket_url', cause: error },
      );
    }
    const options = { retryOptions: { maxTries: 4 }, userAgentOptions: { userAgentPrefix: 'ferry' } };
    let service: BlobServiceClient;
    try {
      if (connectionString) {
        service = sdk.BlobServiceClient.fromConnectionString(connectionString, options);
      } else {
        if (!account)
          throw new ConfigError(
            `filesystem destination ${display}: no Azure storage account; set azure.account_name (or AZURE_STORAGE_ACCOUNT_NAME), use an abfss://container@account.dfs.core.windows.net URL, or give a connection string`,
            { path: 'azure.account_name' },
          );
        const endpoint = (
          settings.endpoint ??
          location.blobEndpoint ??
          `https://${account}.blob.core.windows.net`
        ).replace(/\/+$/, '');
        if (accountKey) {
          service = new sdk.BlobServiceClient(
            endpoint,
            new sdk.StorageSharedKeyCredential(account, accountKey),
            options,
          );
        } else if (sasToken) {
          service = new sdk.BlobServiceClient(
            `${endpoint}?${sasToken}`,
            new sdk.AnonymousCredential(),
            options,
          );
        } else {
          throw new ConfigError(
            `filesystem destination ${display}: no Azure credentials; set azure.account_key, azure.sas_token or azure.connection_string (or AZURE_STORAGE_ACCOUNT_KEY, AZURE_STORAGE_SAS_TOKEN, AZURE_STORAGE_CONNECTION_STRING)`,
            { path: 'azure' },
          );
        }
      }
    } catch (error) {
      if (error instanceof ConfigError) throw error;
      // The SDK's parse errors can quote the connection string: say what failed, not what it was.
      throw new ConfigError(
        `filesystem destination ${display}: the Azure settings are not usable: ${redactSecrets((error as Error).message, secrets)}`,
        { path: 'azure' },
      );
    }
    return new AzureStore(service, location, secrets, display);
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  private fail(op: string, key: string, error: unknown): DestinationError {
    const { status, code } = restError(error);
    const message = redactSecrets((error as Error)?.message ?? String(error), this.secrets).split('\n')[0];
    return new DestinationError(
      `Azure ${op} of ${this.container.containerName}/${this.k(key)} failed: ${code || 'Error'}${status ? ` (HTTP ${status})` : ''}: ${message}. Check the container, account, endpoint and credentials.`,
      {
        transient: isTransient(error),
        // The SDK's error carries the request, whose URL holds a SAS token: keep only what is safe.
        cause: Object.assign(new Error(message), { name: 'RestError', statusCode: status, code }),
        context: { container: this.container.containerName, key: this.k(key), op },
      },
    );
  }

  async init(): Promise<void> {
    let exists: boolean;
    try {
      exists = await this.container.exists();
    } catch (error) {
      throw this.fail('GetContainerProperties', '', error);
    }
    if (!exists)
      throw new DestinationError(
        `Azure container '${this.container.containerName}' does not exist (or is not visible with these credentials); create it first, Ferry does not create containers.`,
      );
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    const bytes = typeof body === 'string' ? Buffer.from(body) : body;
    try {
      await this.container.getBlockBlobClient(this.k(key)).upload(bytes, bytes.byteLength);
    } catch (error) {
      throw this.fail('PutBlob', key, error);
    }
  }

  async putFile(key: string, localPath: string, options: PutFileOptions = {}): Promise<PutFileResult> {
    const blob = this.container.getBlockBlobClient(this.k(key));
    const size = (await stat(localPath)).size;
    try {
      if (!options.gzip) {
        await blob.uploadFile(localPath, {
          blockSize: AZURE_BLOCK_SIZE,
          maxSingleShotSize: AZURE_BLOCK_SIZE,
          concurrency: 4,
        });
        return { bytes: size, parts: size <= AZURE_BLOCK_SIZE ? 1 : Math.ceil(size / AZURE_BLOCK_SIZE) };
      }
      let bytes = 0;
      await blob.uploadStream(createReadStream(localPath).pipe(createGzip()), AZURE_BLOCK_SIZE, 4, {
        onProgress: (p) => (bytes = Math.max(bytes, p.loadedBytes)),
      });
      return { bytes, parts: Math.max(1, Math.ceil(bytes / AZURE_BLOCK_SIZE)) };
    } catch (error) {
      throw this.fail('upload', key, error);
    }
  }

  /** A blob's bytes and ETag, or undefined when it does not exist. */
  private async getObject(key: string): Promise<{ bytes: Buffer; etag?: string } | undefined> {
    try {
      const out = await this.container.getBlobClient(this.k(key)).download();
      const chunks: Buffer[] = [];
      for await (const chunk of out.readableStreamBody!) chunks.push(chunk as Buffer);
      const bytes = Buffer.concat(chunks);
      return out.etag ? { bytes, etag: out.etag } : { bytes };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.fail('GetBlob', key, error);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    return (await this.getObject(key))?.bytes;
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    return asVersioned(await this.getObject(key));
  }

  async putIf(key: string, body: string, expected: VersionedObject | undefined): Promise<boolean> {
    const bytes = Buffer.from(body);
    const conditions = expected === undefined ? { ifNoneMatch: '*' } : { ifMatch: expected.etag ?? '"none"' };
    try {
      await this.container.getBlockBlobClient(this.k(key)).upload(bytes, bytes.byteLength, { conditions });
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      throw this.fail('PutBlob', key, error);
    }
  }

  async deleteIf(key: string, expected: VersionedObject): Promise<boolean> {
    try {
      await this.container
        .getBlobClient(this.k(key))
        .delete({ conditions: { ifMatch: expected.etag ?? '"none"' } });
      return true;
    } catch (error) {
      if (isPreconditionFailed(error) || isNotFound(error)) return false;
      throw this.fail('DeleteBlob', key, error);
    }
  }

  async getFile(key: string, localPath: string): Promise<void> {
    await mkdir(path.dirname(localPath), { recursive: true });
    try {
      await this.container.getBlobClient(this.k(key)).downloadToFile(localPath);
    } catch (error) {
      throw this.fail('GetBlob', key, error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    try {
      const pages = this.container
        .listBlobsFlat({ prefix: this.k(prefix) })
        .byPage({ maxPageSize: this.listPageSize });
      for await (const page of pages)
        for (const blob of page.segment.blobItems) keys.push(blob.name.slice(this.prefix.length));
    } catch (error) {
      throw this.fail('ListBlobs', prefix, error);
    }
    return keys;
  }

  async delete(keys: string[]): Promise<void> {
    await mapLimit(keys, DELETE_CONCURRENCY, async (key) => {
      try {
        await this.container.getBlobClient(this.k(key)).deleteIfExists();
      } catch (error) {
        throw this.fail('DeleteBlob', key, error);
      }
    });
  }

  async exists(key: string): Promise<boolean> {
    try {
      return await this.container.getBlobClient(this.k(key)).exists();
    } catch (error) {
      throw this.fail('GetBlobProperties', key, error);
    }
  }

  localPath(): undefined {
    return undefined;
  }

  /** Nothing to release: the SDK holds no connections beyond Node's keep-alive agent. */
  async close(): Promise<void> {}
}
