import { createReadStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type * as GcsSdkModule from '@google-cloud/storage';
import type { Bucket, Storage, StorageOptions } from '@google-cloud/storage';
import { ConfigError, DestinationError } from '@ferry/core';
import type { FilesystemConfig } from '../config.ts';
import type { FilesystemStore, PutFileOptions, PutFileResult, VersionedObject } from './filesystem-store.ts';
import { mapLimit, redactSecrets } from './object-store-util.ts';

type GcsSettings = NonNullable<FilesystemConfig['gcs']>;

/**
 * Files larger than this go through a resumable upload in chunks of this size (a multiple of 256 KiB, as
 * GCS requires), so a dropped connection resends one chunk; smaller ones in one multipart request.
 */
export const GCS_CHUNK_SIZE = 8 * 1024 * 1024;

/** Deletes in flight at once (the JSON API deletes one object per request). */
const DELETE_CONCURRENCY = 16;

/** The HTTP status of an SDK error (`ApiError.code`, or a gaxios response status). */
function statusOf(error: unknown): number {
  const e = error as { code?: unknown; status?: unknown; response?: { status?: number } };
  for (const v of [e?.code, e?.status, e?.response?.status]) if (typeof v === 'number') return v;
  return 0;
}

function isTransient(error: unknown): boolean {
  const status = statusOf(error);
  const code = String((error as { code?: unknown })?.code ?? '');
  return (
    status >= 500 ||
    status === 429 ||
    status === 408 ||
    ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN'].includes(code)
  );
}

const isNotFound = (error: unknown) => statusOf(error) === 404;
/** A precondition lost: 412 (ifGenerationMatch no longer true). */
const isPreconditionFailed = (error: unknown) => statusOf(error) === 412;

/** Counts the bytes that pass (the gzip output size). */
function byteCounter(onBytes: (n: number) => void): Transform {
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      onBytes(chunk.length);
      done(null, chunk);
    },
  });
}

/**
 * Google Cloud Storage through `@google-cloud/storage` (the JSON API), imported on first use. Conditional
 * writes use generation preconditions: `ifGenerationMatch=0` creates only if absent, `ifGenerationMatch=<g>`
 * replaces or deletes only that generation; the generation is this store's version (`VersionedObject.etag`).
 * Every call is retried (`RetryAlways`): Ferry's unconditional writes are idempotent (same key, same bytes),
 * and a conditional one that lost its response reads back as lost, which the lease handles by reading again.
 */
export class GcsStore implements FilesystemStore {
  readonly url: string;
  /** Objects per list page (the API's maximum is 1000; tests lower it to exercise pagination). */
  listPageSize = 1000;
  private readonly bucket: Bucket;
  private readonly prefix: string;
  private readonly secrets: string[];

  private constructor(storage: Storage, bucket: string, prefix: string, secrets: string[]) {
    this.bucket = storage.bucket(bucket);
    this.prefix = prefix ? `${prefix}/` : '';
    this.secrets = secrets;
    this.url = `gs://${bucket}/${this.prefix}`;
  }

  /**
   * Build the client. Credentials: `credentials` (a service-account key as JSON text), else `keyFilename`,
   * else Application Default Credentials. A custom `apiEndpoint` (a local server) is called without auth.
   */
  static async create(bucket: string, prefix: string, settings: GcsSettings): Promise<GcsStore> {
    const where = `filesystem destination gs://${bucket}/${prefix}`;
    let credentials: StorageOptions['credentials'];
    if (settings.credentials) {
      try {
        credentials = JSON.parse(settings.credentials) as StorageOptions['credentials'];
      } catch {
        // Never echo the text: it is a private key.
        throw new ConfigError(
          `${where}: gcs.credentials is not JSON; give the service-account key file's contents (or use gcs.key_filename)`,
          { path: 'gcs.credentials' },
        );
      }
    }
    let sdk: typeof GcsSdkModule;
    try {
      sdk = await import('@google-cloud/storage');
    } catch (error) {
      throw new ConfigError(
        `${where}: GCS needs @google-cloud/storage; install it (pnpm add @google-cloud/storage)`,
        { path: 'bucket_url', cause: error },
      );
    }
    const projectId = settings.projectId ?? (credentials as { project_id?: string } | undefined)?.project_id;
    const storage = new sdk.Storage({
      ...(projectId ? { projectId } : {}),
      ...(credentials ? { credentials } : {}),
      ...(settings.keyFilename ? { keyFilename: settings.keyFilename } : {}),
      ...(settings.apiEndpoint ? { apiEndpoint: settings.apiEndpoint.replace(/\/+$/, '') } : {}),
      retryOptions: {
        autoRetry: true,
        maxRetries: 3,
        idempotencyStrategy: sdk.IdempotencyStrategy.RetryAlways,
      },
    });
    const secrets = [
      settings.credentials,
      (credentials as { private_key?: string } | undefined)?.private_key,
    ];
    return new GcsStore(
      storage,
      bucket,
      prefix,
      secrets.filter((s): s is string => Boolean(s)),
    );
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  private fail(op: string, key: string, error: unknown): DestinationError {
    const status = statusOf(error);
    const message = redactSecrets((error as Error)?.message ?? String(error), this.secrets).split('\n')[0];
    return new DestinationError(
      `GCS ${op} of gs://${this.bucket.name}/${this.k(key)} failed${status ? ` (HTTP ${status})` : ''}: ${message}. Check the bucket, credentials and the service account's roles (Storage Object Admin).`,
      {
        transient: isTransient(error),
        // The SDK's error can carry the request and its auth header: keep only what is safe.
        cause: Object.assign(new Error(message), { name: 'GcsError', code: status }),
        context: { bucket: this.bucket.name, key: this.k(key), op },
      },
    );
  }

  async init(): Promise<void> {
    let exists: boolean;
    try {
      [exists] = await this.bucket.exists();
    } catch (error) {
      throw this.fail('buckets.get', '', error);
    }
    if (!exists)
      throw new DestinationError(
        `GCS bucket '${this.bucket.name}' does not exist (or is not visible with these credentials); create it first, Ferry does not create buckets.`,
      );
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    try {
      await this.bucket.file(this.k(key)).save(Buffer.from(body), { resumable: false });
    } catch (error) {
      throw this.fail('objects.insert', key, error);
    }
  }

  async putFile(key: string, localPath: string, options: PutFileOptions = {}): Promise<PutFileResult> {
    const size = (await stat(localPath)).size;
    // Gzip output is smaller than its input: the input size decides the upload kind.
    const resumable = size > GCS_CHUNK_SIZE;
    let bytes = 0;
    try {
      const sink = this.bucket.file(this.k(key)).createWriteStream({
        resumable,
        ...(resumable ? { chunkSize: GCS_CHUNK_SIZE } : {}),
        validation: 'crc32c',
        contentType: options.gzip ? 'application/gzip' : 'application/octet-stream',
      });
      const counter = byteCounter((n) => (bytes += n));
      if (options.gzip) await pipeline(createReadStream(localPath), createGzip(), counter, sink);
      else await pipeline(createReadStream(localPath), counter, sink);
    } catch (error) {
      throw this.fail(resumable ? 'resumable upload' : 'objects.insert', key, error);
    }
    return { bytes, parts: resumable ? Math.max(1, Math.ceil(bytes / GCS_CHUNK_SIZE)) : 1 };
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return (await this.bucket.file(this.k(key)).download())[0];
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.fail('objects.get', key, error);
    }
  }

  /**
   * The object's text at its current generation: its metadata, then the bytes of that very generation
   * (a write in between makes the old generation 404 on a bucket without versioning: read again).
   */
  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    for (let attempt = 0; attempt < 5; attempt++) {
      let generation: string;
      try {
        const [metadata] = await this.bucket.file(this.k(key)).getMetadata();
        generation = String(metadata.generation);
      } catch (error) {
        if (isNotFound(error)) return undefined;
        throw this.fail('objects.get', key, error);
      }
      try {
        const [bytes] = await this.bucket.file(this.k(key), { generation }).download();
        return { text: bytes.toString('utf8'), etag: generation };
      } catch (error) {
        if (!isNotFound(error)) throw this.fail('objects.get', key, error);
      }
    }
    throw new DestinationError(
      `GCS gs://${this.bucket.name}/${this.k(key)} changed on every read (5 times); another writer is rewriting it in a loop.`,
      { transient: true },
    );
  }

  async putIf(key: string, body: string, expected: VersionedObject | undefined): Promise<boolean> {
    const ifGenerationMatch = expected === undefined ? 0 : Number(expected.etag ?? -1);
    try {
      await this.bucket
        .file(this.k(key))
        .save(Buffer.from(body), { resumable: false, preconditionOpts: { ifGenerationMatch } });
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      throw this.fail('objects.insert', key, error);
    }
  }

  async deleteIf(key: string, expected: VersionedObject): Promise<boolean> {
    try {
      await this.bucket.file(this.k(key)).delete({ ifGenerationMatch: Number(expected.etag ?? -1) });
      return true;
    } catch (error) {
      if (isPreconditionFailed(error) || isNotFound(error)) return false;
      throw this.fail('objects.delete', key, error);
    }
  }

  async getFile(key: string, localPath: string): Promise<void> {
    await mkdir(path.dirname(localPath), { recursive: true });
    try {
      await this.bucket.file(this.k(key)).download({ destination: localPath });
    } catch (error) {
      throw this.fail('objects.get', key, error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let pageToken: string | undefined;
    try {
      do {
        const [files, next] = await this.bucket.getFiles({
          prefix: this.k(prefix),
          autoPaginate: false,
          maxResults: this.listPageSize,
          ...(pageToken ? { pageToken } : {}),
        });
        for (const f of files) keys.push(f.name.slice(this.prefix.length));
        pageToken = (next as { pageToken?: string } | null)?.pageToken;
      } while (pageToken);
    } catch (error) {
      throw this.fail('objects.list', prefix, error);
    }
    return keys;
  }

  async delete(keys: string[]): Promise<void> {
    await mapLimit(keys, DELETE_CONCURRENCY, async (key) => {
      try {
        await this.bucket.file(this.k(key)).delete({ ignoreNotFound: true });
      } catch (error) {
        throw this.fail('objects.delete', key, error);
      }
    });
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await this.bucket.file(this.k(key)).exists())[0];
    } catch (error) {
      throw this.fail('objects.get', key, error);
    }
  }

  localPath(): undefined {
    return undefined;
  }

  /** Nothing to release: the SDK holds no connections beyond Node's keep-alive agent. */
  async close(): Promise<void> {}
}
