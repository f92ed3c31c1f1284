import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError } from '@ferry/core';
import type { FilesystemConfig } from '../config.ts';

/** Options of {@link FilesystemStore.putFile}. */
export interface PutFileOptions {
  /** Gzip the bytes on the way (JSONL with `compression: gzip`). Default false. */
  gzip?: boolean;
}

/** What a file upload did (tests and logs). */
export interface PutFileResult {
  /** Bytes stored. */
  bytes: number;
  /** Multipart parts used (1 for a single PUT or a local file). */
  parts: number;
}

/** A small object as read, with what identifies this version of it (the ETag on S3). */
export interface VersionedObject {
  /** The object's text. */
  text: string;
  /** S3's ETag of this version; undefined for a local file (its text identifies it). */
  etag?: string;
}

/**
 * The storage under a filesystem destination, as small as the destination needs: keys are `/`-separated
 * paths relative to the bucket URL. Every write is atomic (a reader sees the old object or the whole new
 * one), which the commit marker relies on. Implemented by {@link LocalStore} and {@link S3Store}.
 */
export interface FilesystemStore {
  /** `file:///abs/path` or `s3://bucket/prefix`, for messages (no secrets). */
  readonly url: string;
  /** Check the bucket or folder is usable (create the local folder). */
  init(): Promise<void>;
  /** Store a small object (markers, state, schema). */
  put(key: string, body: string | Uint8Array): Promise<void>;
  /** Upload a local file (streamed; multipart on S3 for large files). */
  putFile(key: string, localPath: string, options?: PutFileOptions): Promise<PutFileResult>;
  /** Read an object, or undefined when it does not exist. */
  get(key: string): Promise<Buffer | undefined>;
  /** Read a small object with its version, or undefined when it does not exist. */
  getVersioned(key: string): Promise<VersionedObject | undefined>;
  /**
   * Write a small object only if it is still as read: `expected` undefined means it must not exist,
   * else it must still be that version. Atomic against another conditional write or delete of the key
   * (a local folder: read, compare and write under a per-key mutex file; S3: If-None-Match / If-Match).
   * Returns whether it wrote.
   */
  putIf(key: string, body: string, expected: VersionedObject | undefined): Promise<boolean>;
  /** Delete an object only if it is still the version read. Returns whether it deleted. */
  deleteIf(key: string, expected: VersionedObject): Promise<boolean>;
  /** Download an object into a local file. */
  getFile(key: string, localPath: string): Promise<void>;
  /** Every key that starts with `prefix` (recursive), in no particular order. */
  list(prefix: string): Promise<string[]>;
  /** Delete keys (missing keys are fine). */
  delete(keys: string[]): Promise<void>;
  /** Whether a key exists. */
  exists(key: string): Promise<boolean>;
  /** The local path of a key when the store is a local folder (DuckDB reads it in place), else undefined. */
  localPath(key: string): string | undefined;
  /** Release clients. Idempotent. */
  close(): Promise<void>;
}

/** A parsed bucket URL. */
export type BucketLocation = { kind: 'local'; dir: string } | { kind: 's3'; bucket: string; prefix: string };

/**
 * Parse `bucketUrl`: `file:///abs/path`, a plain (relative or absolute) path, or `s3://bucket[/prefix]`.
 * Other schemes are refused with a clear error (GCS and Azure are planned, not built).
 */
export function parseBucketUrl(url: string): BucketLocation {
  if (!url)
    throw new ConfigError(
      'filesystem destination: bucket_url is empty; give a folder path, file:///abs/path or s3://bucket/prefix',
      { path: 'bucket_url' },
    );
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'local', dir: path.resolve(url) };
  if (scheme === 'file') return { kind: 'local', dir: fileURLToPath(url) };
  if (scheme === 's3') {
    const rest = url.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
    if (!bucket)
      throw new ConfigError(
        `filesystem destination: bucket_url '${url}' names no bucket; use s3://bucket/prefix`,
        { path: 'bucket_url' },
      );
    return { kind: 's3', bucket, prefix };
  }
  throw new ConfigError(
    `filesystem destination: bucket_url scheme '${scheme}://' is not supported; use a folder path, file:// or s3://`,
    { path: 'bucket_url' },
  );
}

/** Open the store for a config (the S3 SDK is imported only for `s3://`). */
export async function openStore(
  config: Pick<FilesystemConfig, 'bucketUrl' | 's3'>,
): Promise<FilesystemStore> {
  const location = parseBucketUrl(config.bucketUrl);
  if (location.kind === 'local') {
    const { LocalStore } = await import('./local-store.ts');
    return new LocalStore(location.dir);
  }
  const { S3Store } = await import('./s3-store.ts');
  return S3Store.create(location.bucket, location.prefix, config.s3 ?? {});
}
