import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import type * as S3SdkModule from '@aws-sdk/client-s3';
import type { S3Client } from '@aws-sdk/client-s3';
import { DestinationError } from '@ferry/core';
import type { FilesystemConfig } from '../config.ts';
import type { FilesystemStore, PutFileOptions, PutFileResult, VersionedObject } from './filesystem-store.ts';
import { asVersioned } from './object-store-util.ts';

type S3Sdk = typeof S3SdkModule;
type S3Settings = NonNullable<FilesystemConfig['s3']>;

/** Multipart part size: S3's minimum, so files over 5 MiB upload in parallel parts. */
export const PART_SIZE = 5 * 1024 * 1024;

const TRANSIENT_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'TimeoutError',
  'RequestTimeout',
  'SlowDown',
  'Throttling',
  'ThrottlingException',
  'InternalError',
  'ServiceUnavailable',
]);

function isTransient(error: unknown): boolean {
  const e = error as {
    name?: string;
    code?: string;
    $metadata?: { httpStatusCode?: number };
    $retryable?: unknown;
  };
  const status = e?.$metadata?.httpStatusCode ?? 0;
  return (
    status >= 500 ||
    status === 429 ||
    Boolean(e?.$retryable) ||
    TRANSIENT_CODES.has(e?.name ?? '') ||
    TRANSIENT_CODES.has(e?.code ?? '')
  );
}

function isNotFound(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === 'NoSuchKey' || e?.name === 'NotFound' || e?.$metadata?.httpStatusCode === 404;
}

/** A conditional request lost: 412 Precondition Failed, or 409 ConditionalRequestConflict (a concurrent one). */
function isPreconditionFailed(error: unknown): boolean {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  const status = e?.$metadata?.httpStatusCode;
  return (
    e?.name === 'PreconditionFailed' ||
    e?.name === 'ConditionalRequestConflict' ||
    status === 412 ||
    status === 409
  );
}

/**
 * S3 (or an S3-compatible store: MinIO, R2, s3rver, moto) through `@aws-sdk/client-s3`, imported on first
 * use. Large files go through `@aws-sdk/lib-storage`'s `Upload` (multipart, 4 parts in flight).
 * Credentials come from the config or the SDK's standard chain (`AWS_ACCESS_KEY_ID`, profiles, …).
 */
export class S3Store implements FilesystemStore {
  readonly url: string;
  /** Maximum keys per list page (S3's maximum is 1000; tests lower it to exercise pagination). */
  listPageSize = 1000;
  private readonly sdk: S3Sdk;
  private readonly client: S3Client;
  private readonly bucket: string;
  private readonly prefix: string;

  private constructor(sdk: S3Sdk, client: S3Client, bucket: string, prefix: string) {
    this.sdk = sdk;
    this.client = client;
    this.bucket = bucket;
    this.prefix = prefix ? `${prefix}/` : '';
    this.url = `s3://${bucket}/${prefix}`;
  }

  /** Build the client from settings (endpoint, region, path style, credentials). */
  static async create(bucket: string, prefix: string, settings: S3Settings): Promise<S3Store> {
    const sdk = await import('@aws-sdk/client-s3');
    const credentials =
      settings.accessKeyId && settings.secretAccessKey
        ? {
            accessKeyId: settings.accessKeyId,
            secretAccessKey: settings.secretAccessKey,
            ...(settings.sessionToken ? { sessionToken: settings.sessionToken } : {}),
          }
        : undefined;
    const client = new sdk.S3Client({
      region: settings.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? 'us-east-1',
      ...(settings.endpoint ? { endpoint: settings.endpoint } : {}),
      forcePathStyle: settings.forcePathStyle ?? Boolean(settings.endpoint),
      ...(credentials ? { credentials } : {}),
      // S3-compatible stores often reject the SDK's default flexible checksums; send them only when required.
      ...(settings.endpoint
        ? {
            requestChecksumCalculation: 'WHEN_REQUIRED' as const,
            responseChecksumValidation: 'WHEN_REQUIRED' as const,
          }
        : {}),
      maxAttempts: 4,
    });
    return new S3Store(sdk, client, bucket, prefix);
  }

  private k(key: string): string {
    return this.prefix + key;
  }

  private fail(op: string, key: string, error: unknown): DestinationError {
    const e = error as { name?: string; message?: string; $metadata?: { httpStatusCode?: number } };
    const status = e?.$metadata?.httpStatusCode;
    return new DestinationError(
      `S3 ${op} of s3://${this.bucket}/${this.k(key)} failed: ${e?.name ?? 'Error'}${status ? ` (HTTP ${status})` : ''}: ${e?.message ?? String(error)}. Check the bucket, endpoint, region and credentials.`,
      {
        transient: isTransient(error),
        cause: error,
        context: { bucket: this.bucket, key: this.k(key), op },
      },
    );
  }

  async init(): Promise<void> {
    try {
      await this.client.send(new this.sdk.HeadBucketCommand({ Bucket: this.bucket }));
    } catch (error) {
      if (isNotFound(error))
        throw new DestinationError(
          `S3 bucket '${this.bucket}' does not exist (or is not visible with these credentials); create it first, Ferry does not create buckets.`,
          { cause: error },
        );
      throw this.fail('HeadBucket', '', error);
    }
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.k(key), Body: body }),
      );
    } catch (error) {
      throw this.fail('PutObject', key, error);
    }
  }

  async putFile(key: string, localPath: string, options: PutFileOptions = {}): Promise<PutFileResult> {
    const { Upload } = await import('@aws-sdk/lib-storage');
    const size = (await stat(localPath)).size;
    const body = options.gzip ? createReadStream(localPath).pipe(createGzip()) : createReadStream(localPath);
    let parts = 0;
    let bytes = 0;
    try {
      const upload = new Upload({
        client: this.client,
        params: { Bucket: this.bucket, Key: this.k(key), Body: body },
        partSize: PART_SIZE,
        queueSize: 4,
        leavePartsOnError: false,
      });
      upload.on('httpUploadProgress', (p) => {
        parts = Math.max(parts, p.part ?? 1);
        bytes = Math.max(bytes, p.loaded ?? 0);
      });
      await upload.done();
    } catch (error) {
      throw this.fail('upload', key, error);
    }
    return { bytes: options.gzip ? bytes : size, parts: Math.max(parts, 1) };
  }

  /** An object's bytes and ETag, or undefined when it does not exist. */
  private async getObject(key: string): Promise<{ bytes: Buffer; etag?: string } | undefined> {
    try {
      const out = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }),
      );
      const bytes = Buffer.from(await out.Body!.transformToByteArray());
      return out.ETag ? { bytes, etag: out.ETag } : { bytes };
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw this.fail('GetObject', key, error);
    }
  }

  async get(key: string): Promise<Buffer | undefined> {
    return (await this.getObject(key))?.bytes;
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    return asVersioned(await this.getObject(key));
  }

  // S3 conditional writes (If-None-Match: * to create, If-Match: <ETag> to replace): 412 when it changed.
  async putIf(key: string, body: string, expected: VersionedObject | undefined): Promise<boolean> {
    const condition = expected === undefined ? { IfNoneMatch: '*' } : { IfMatch: expected.etag };
    try {
      await this.client.send(
        new this.sdk.PutObjectCommand({ Bucket: this.bucket, Key: this.k(key), Body: body, ...condition }),
      );
      return true;
    } catch (error) {
      if (isPreconditionFailed(error)) return false;
      throw this.fail('PutObject', key, error);
    }
  }

  async deleteIf(key: string, expected: VersionedObject): Promise<boolean> {
    try {
      await this.client.send(
        new this.sdk.DeleteObjectCommand({ Bucket: this.bucket, Key: this.k(key), IfMatch: expected.etag }),
      );
      return true;
    } catch (error) {
      if (isPreconditionFailed(error) || isNotFound(error)) return false;
      throw this.fail('DeleteObject', key, error);
    }
  }

  async getFile(key: string, localPath: string): Promise<void> {
    await mkdir(path.dirname(localPath), { recursive: true });
    try {
      const out = await this.client.send(
        new this.sdk.GetObjectCommand({ Bucket: this.bucket, Key: this.k(key) }),
      );
      await pipeline(out.Body as Readable, createWriteStream(localPath));
    } catch (error) {
      throw this.fail('GetObject', key, error);
    }
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    try {
      do {
        const page = await this.client.send(
          new this.sdk.ListObjectsV2Command({
            Bucket: this.bucket,
            Prefix: this.k(prefix),
            MaxKeys: this.listPageSize,
            ...(token ? { ContinuationToken: token } : {}),
          }),
        );
        for (const o of page.Contents ?? []) if (o.Key) keys.push(o.Key.slice(this.prefix.length));
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
      } while (token);
    } catch (error) {
      throw this.fail('ListObjectsV2', prefix, error);
    }
    return keys;
  }

  async delete(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += 1000) {
      const batch = keys.slice(i, i + 1000);
      try {
        const out = await this.client.send(
          new this.sdk.DeleteObjectsCommand({
            Bucket: this.bucket,
            Delete: { Objects: batch.map((k) => ({ Key: this.k(k) })), Quiet: true },
          }),
        );
        const failed = (out.Errors ?? []).filter((e) => e.Code !== 'NoSuchKey');
        if (failed.length > 0)
          throw Object.assign(
            new Error(`${failed.length} objects not deleted, first: ${failed[0]!.Key} (${failed[0]!.Code})`),
            { name: 'DeleteObjectsError' },
          );
      } catch (error) {
        throw this.fail('DeleteObjects', batch[0] ?? '', error);
      }
    }
  }

  async exists(key: string): Promise<boolean> {
    try {
      await this.client.send(new this.sdk.HeadObjectCommand({ Bucket: this.bucket, Key: this.k(key) }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw this.fail('HeadObject', key, error);
    }
  }

  localPath(): undefined {
    return undefined;
  }

  async close(): Promise<void> {
    this.client.destroy();
  }
}
