import {
  ConfigError,
  defineCapabilities,
  type ConnectOptions,
  type Destination,
  type DestinationCapabilities,
  type FileFormat,
  type FileWriterFactory,
  type FileWriterModule,
} from '@ferry/core';
import type { FilesystemConfig } from '../config.ts';
import type { FilesystemClient } from './filesystem-client.ts';
import { FilesystemLayout } from './filesystem-layout.ts';
import { locationUrl, openStore, parseBucketUrl } from './filesystem-store.ts';
import { hyparquetWriter } from './parquet-hyparquet-writer.ts';
import { duckdbParquetWriter } from './parquet-duckdb-writer.ts';

export { hyparquetWriter } from './parquet-hyparquet-writer.ts';
export { duckdbParquetWriter } from './parquet-duckdb-writer.ts';
export { DEFAULT_LAYOUT, LAYOUT_PLACEHOLDERS, FilesystemLayout } from './filesystem-layout.ts';
export {
  parseBucketUrl,
  locationUrl,
  openStore,
  type FilesystemStore,
  type BucketLocation,
} from './filesystem-store.ts';
export type { LoadMarker, StateFile } from './filesystem-catalog.ts';
export type { FilesystemClient } from './filesystem-client.ts';

/** Uploads in flight at once (files of one package). */
export const PARALLEL_UPLOADS = 4;

/** Capabilities of a filesystem destination writing `format` files. */
export function filesystemCapabilities(
  format: 'parquet' | 'jsonl',
  mergeFallback: 'refuse' | 'append' = 'refuse',
): DestinationCapabilities {
  return defineCapabilities({
    preferredFileFormat: format,
    supportedFileFormats: ['parquet', 'jsonl'],
    // Files and the marker are separate objects: the marker written last is the commit.
    supportsTransactions: false,
    // Files are immutable; the engine refuses merge before touching data unless the config opts into append.
    mergeStrategies: [],
    mergeFallback,
    // Column names become Parquet fields and DuckDB view columns (the reader); DuckDB's own limit is generous.
    maxIdentifierLength: 120,
    maxParallelLoadJobs: PARALLEL_UPLOADS,
    // Rotate at 128 MiB of Parquet (about 1.5M dbt-run rows): big enough for scans, small enough to retry.
    fileMaxBytes: 128 * 1024 * 1024,
  });
}

let duckdbAvailable: boolean | undefined;

/**
 * The Parquet writer: DuckDB-encoded when `@duckdb/node-api` is installed (measured ~1.7× faster than
 * hyparquet-writer on 17-column rows), else pure-JS hyparquet-writer. Both write the same Parquet types.
 */
export const parquetWriter: FileWriterFactory = async (path, columns) => {
  if (duckdbAvailable === undefined) {
    try {
      await import('@duckdb/node-api');
      duckdbAvailable = true;
    } catch {
      duckdbAvailable = false;
    }
  }
  return (duckdbAvailable ? duckdbParquetWriter : hyparquetWriter)(path, columns);
};

/**
 * Files in a local folder, an S3 or GCS bucket or an Azure container (dlt's filesystem destination): Parquet (default) or JSONL
 * (optionally gzip), keys from a layout (default `{table_name}/{load_id}.{file_id}.{ext}`), commit
 * markers, state and schema stored as files so a fresh container restores from the bucket. Append and
 * replace; merge is refused. SQL through DuckDB views over the committed files.
 */
export function filesystem(config: Omit<FilesystemConfig, 'type'> & { type?: 'filesystem' }): Destination {
  const format = config.format ?? 'parquet';
  if (format !== 'parquet' && format !== 'jsonl')
    throw new ConfigError(
      `filesystem destination: format '${String(format)}' is not supported; use parquet or jsonl`,
      { path: 'format' },
    );
  const compression = config.compression ?? 'none';
  if (compression !== 'none' && compression !== 'gzip')
    throw new ConfigError(
      `filesystem destination: compression '${String(compression)}' is not supported; use gzip or none`,
      { path: 'compression' },
    );
  if (compression === 'gzip' && format !== 'jsonl')
    throw new ConfigError(
      'filesystem destination: compression gzip applies to jsonl only (Parquet is compressed inside, with snappy)',
      { path: 'compression' },
    );
  const location = parseBucketUrl(config.bucketUrl);
  const layout = new FilesystemLayout(config.layout);
  const capabilities = filesystemCapabilities(format, config.mergeFallback ?? 'refuse');
  const describe = () => `filesystem:${locationUrl(location)}`;
  return {
    type: 'filesystem',
    capabilities,
    describe,
    fileWriter(f: FileFormat): FileWriterFactory | undefined {
      return f === 'parquet' ? parquetWriter : undefined;
    },
    // Normalize workers import `parquetWriter` from this module, so Parquet encoding uses every core.
    fileWriterModule(f: FileFormat): FileWriterModule | undefined {
      return f === 'parquet' ? { module: import.meta.url, exportName: 'parquetWriter' } : undefined;
    },
    async connect(options: ConnectOptions): Promise<FilesystemClient> {
      const { FilesystemClient } = await import('./filesystem-client.ts');
      const store = await openStore(config);
      return new FilesystemClient(store, {
        dataset: options.dataset,
        pipelineName: options.pipelineName,
        layout,
        gzip: compression === 'gzip',
        parallelUploads: PARALLEL_UPLOADS,
      });
    },
  };
}
