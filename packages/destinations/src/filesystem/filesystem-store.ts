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
  /** This version's ETag (S3, Azure) or generation (GCS); undefined for a local file (its text identifies it). */
  etag?: string;
}

/**
 * The storage under a filesystem destination, as small as the destination needs: keys are `/`-separated
 * paths relative to the bucket URL. Every write is atomic (a reader sees the old object or the whole new
 * one), which the commit marker relies on. Implemented by `LocalStore`, `S3Store`, `AzureStore` and `GcsStore`.
 */
export interface FilesystemStore {
  /** `file:///abs/path`, `s3://bucket/prefix`, `gs://…` or `az://…`, for messages (no secrets). */
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
export type BucketLocation =
  | { kind: 'local'; dir: string }
  | { kind: 's3'; bucket: string; prefix: string }
  | {
      kind: 'azure';
      /** Blob container (the filesystem of an ADLS Gen2 account). */
      container: string;
      /** Storage account from an `abfss://container@account.dfs.core.windows.net` URL; undefined for `az://`. */
      account?: string;
      /** Blob endpoint derived from an `abfss://` host (`https://account.blob.<suffix>`); undefined for `az://`. */
      blobEndpoint?: string;
      prefix: string;
    }
  | { kind: 'gcs'; bucket: string; prefix: string };

const SUPPORTED =
  'a folder path, file:///abs/path, s3://bucket/prefix, gs://bucket/prefix, az://container/prefix or abfss://container@account.dfs.core.windows.net/prefix';

/** Split `name[/prefix]` into the name and a prefix without leading or trailing slashes. */
function splitFirst(rest: string): [string, string] {
  const slash = rest.indexOf('/');
  const name = slash < 0 ? rest : rest.slice(0, slash);
  const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/^\/+|\/+$/g, '');
  return [name, prefix];
}

/**
 * Parse `bucketUrl`: `file:///abs/path`, a plain (relative or absolute) path, `s3://bucket[/prefix]`,
 * `gs://bucket[/prefix]` (also `gcs://`), `az://container[/prefix]` (also `azure://`; the account comes from
 * the `azure` settings) or `abfss://container@account.dfs.core.windows.net[/prefix]` (also `abfs://`, the
 * account and cloud from the host, as Spark and dlt spell ADLS Gen2 paths). Other schemes are refused.
 */
export function parseBucketUrl(url: string): BucketLocation {
  if (!url)
    throw new ConfigError(`filesystem destination: bucket_url is empty; give ${SUPPORTED}`, {
      path: 'bucket_url',
    });
  const scheme = /^([a-z][a-z0-9+.-]*):\/\//i.exec(url)?.[1]?.toLowerCase();
  if (scheme === undefined) return { kind: 'local', dir: path.resolve(url) };
  if (scheme === 'file') return { kind: 'local', dir: fileURLToPath(url) };
  const [name, prefix] = splitFirst(url.slice(scheme.length + 3));
  const noName = (what: string, example: string) =>
    new ConfigError(`filesystem destination: bucket_url '${url}' names no ${what}; use ${example}`, {
      path: 'bucket_url',
    });
  if (scheme === 's3') {
    if (!name) throw noName('bucket', 's3://bucket/prefix');
    return { kind: 's3', bucket: name, prefix };
  }
  if (scheme === 'gs' || scheme === 'gcs') {
    if (!name) throw noName('bucket', 'gs://bucket/prefix');
    return { kind: 'gcs', bucket: name, prefix };
  }
  if (scheme === 'az' || scheme === 'azure') {
    if (!name) throw noName('container', 'az://container/prefix');
    return { kind: 'azure', container: name, prefix };
  }
  if (scheme === 'abfss' || scheme === 'abfs') {
    const at = /^([^@]+)@([a-z0-9]+)\.dfs\.(.+)$/i.exec(name);
    if (!at)
      throw new ConfigError(
        `filesystem destination: bucket_url '${url}' is not container@account.dfs.core.windows.net; use abfss://container@account.dfs.core.windows.net/prefix (or az://container/prefix with azure.account_name)`,
        { path: 'bucket_url' },
      );
    const [, container, account, suffix] = at as unknown as [string, string, string, string];
    // The Blob API of the same account (ADLS Gen2 accounts answer it too, with the same conditional writes).
    const blobEndpoint = `${scheme === 'abfs' ? 'http' : 'https'}://${account}.blob.${suffix}`;
    return { kind: 'azure', container, account, blobEndpoint, prefix };
  }
  throw new ConfigError(
    `filesystem destination: bucket_url scheme '${scheme}://' is not supported; use ${SUPPORTED}`,
    { path: 'bucket_url' },
  );
}

/** A location as a URL for messages and `describe()` (no secrets: none are in a bucket URL). */
export function locationUrl(location: BucketLocation): string {
  switch (location.kind) {
    case 'local':
      return location.dir;
    case 's3':
      return `s3://${location.bucket}/${location.prefix}`;
    case 'gcs':
      return `gs://${location.bucket}/${location.prefix}`;
    case 'azure':
      return location.account
        ? `abfss://${location.container}@${location.account}.dfs.${new URL(location.blobEndpoint!).host.split('.blob.')[1]}/${location.prefix}`
        : `az://${location.container}/${location.prefix}`;
  }
}

/** Open the store for a config (each SDK is imported only for its own scheme). */
export async function openStore(
  config: Pick<FilesystemConfig, 'bucketUrl' | 's3' | 'azure' | 'gcs'>,
): Promise<FilesystemStore> {
  const location = parseBucketUrl(config.bucketUrl);
  switch (location.kind) {
    case 'local': {
      const { LocalStore } = await import('./local-store.ts');
      return new LocalStore(location.dir);
    }
    case 's3': {
      const { S3Store } = await import('./s3-store.ts');
      return S3Store.create(location.bucket, location.prefix, config.s3 ?? {});
    }
    case 'azure': {
      const { AzureStore } = await import('./azure-store.ts');
      return AzureStore.create(location, config.azure ?? {});
    }
    case 'gcs': {
      const { GcsStore } = await import('./gcs-store.ts');
      return GcsStore.create(location.bucket, location.prefix, config.gcs ?? {});
    }
  }
}
