import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FerryError, DataError, SchemaContractError } from '../errors.ts';
import type { FileFormat } from '../destination/capabilities.ts';
import type { PipelineEvent } from '../pipeline/types.ts';
import { widenType } from '../schema/infer.ts';
import { Schema } from '../schema/schema.ts';
import type { StoredSchema } from '../schema/types.ts';
import type { ExtractedFile, ExtractedManifest, NormalizedJob } from '../storage/package-storage.ts';
import { listDir } from '../util/fs.ts';
import {
  normalizePackage,
  writeNormalizedManifest,
  type NormalizePackageOptions,
} from './normalize-package.ts';

/** What a worker receives. */
export interface WorkerInput {
  extractedDir: string;
  outDir: string;
  manifest: ExtractedManifest;
  files: ExtractedFile[];
  fileIdPrefix: string;
  schema: StoredSchema | undefined;
  naming: { maxIdentifierLength: number; identifierCase: 'lower' | 'upper' };
  format: FileFormat;
  fileMaxRows: number;
  fileMaxBytes: number;
  widen: boolean;
}

/** What a worker sends back. */
export interface WorkerOutput {
  kind: 'done';
  jobs: NormalizedJob[];
  rowCounts: Record<string, number>;
  schema: StoredSchema;
}

type WorkerMessage =
  | WorkerOutput
  | { kind: 'event'; event: PipelineEvent }
  | { kind: 'error'; name: string; message: string; code?: string; context?: Record<string, unknown> };

/** Heap limits of a normalize worker (old and young generation, MB). */
const WORKER_OLD_GEN_MB = Number(process.env.FERRY_NORMALIZE_WORKER_HEAP_MB ?? 128);
const WORKER_YOUNG_GEN_MB = 48;

/** Below this many items a package normalizes on the main thread: starting workers costs more. */
export const PARALLEL_MIN_ITEMS = 20_000;

const WORKER_FILE = fileURLToPath(
  new URL(`./normalize-worker${path.extname(fileURLToPath(import.meta.url))}`, import.meta.url),
);

function runWorker(input: WorkerInput, onEvent: (e: PipelineEvent) => void): Promise<WorkerOutput> {
  return new Promise((resolve, reject) => {
    // A normalize worker keeps little state (one record at a time, file buffers): a bounded heap keeps
    // memory flat whatever the package size, instead of V8 growing it while garbage piles up.
    const worker = new Worker(WORKER_FILE, {
      workerData: input,
      resourceLimits: {
        maxOldGenerationSizeMb: WORKER_OLD_GEN_MB,
        maxYoungGenerationSizeMb: WORKER_YOUNG_GEN_MB,
      },
    });
    let settled = false;
    worker.on('message', (m: WorkerMessage) => {
      if (m.kind === 'event') onEvent(m.event);
      else if (m.kind === 'done') {
        settled = true;
        resolve(m);
      } else {
        settled = true;
        const context = m.context ?? {};
        reject(
          m.name === 'SchemaContractError'
            ? new SchemaContractError(
                m.message,
                context as ConstructorParameters<typeof SchemaContractError>[1],
              )
            : m.name === 'DataError'
              ? new DataError(m.message, context)
              : new FerryError(m.code ?? 'NORMALIZE_FAILED', m.message, { context }),
        );
      }
    });
    worker.on('error', (e) => {
      if (!settled) reject(e);
    });
    worker.on('exit', (code) => {
      if (!settled) reject(new FerryError('NORMALIZE_FAILED', `normalize worker exited with code ${code}`));
    });
  });
}

/** Whether values typed `from` by a worker can load into a column of the merged type `to`. */
function compatible(from: string, to: string, widen: boolean): boolean {
  return from === to || (widen && widenType(from as never, to as never) === to);
}

/**
 * Normalize a package with worker threads, each taking a share of the raw files and its own copy of
 * the schema; the main thread merges the schemas in worker order (deterministic). When two workers
 * inferred types that cannot load into the merged column, the package is normalized again on the main
 * thread (rare: it needs a type conflict that straddles files), so the result is always correct.
 */
export async function normalizePackageParallel(
  options: NormalizePackageOptions & { workers: number; naming: NormalizePackageOptions['naming'] },
): Promise<{ manifest: Awaited<ReturnType<typeof normalizePackage>>; schema: Schema; parallel: boolean }> {
  const { manifest, schema } = options;
  const files = manifest.files;
  const items = files.reduce((sum, f) => sum + f.items, 0);
  const n = items < PARALLEL_MIN_ITEMS ? 1 : Math.min(options.workers, files.length);
  if (n < 2) return { manifest: await normalizePackage(options), schema, parallel: false };
  const snapshot = schema.tables.size > 0 ? schema.toStored() : undefined;
  const previousSchemaHash = snapshot?.versionHash ?? null;
  const shares: ExtractedFile[][] = Array.from({ length: n }, () => []);
  files.forEach((f, i) => shares[i % n]!.push(f));
  const results = await Promise.all(
    shares.map((share, w) =>
      runWorker(
        {
          extractedDir: options.extractedDir,
          outDir: options.outDir,
          manifest,
          files: share,
          fileIdPrefix: w.toString(36),
          schema: snapshot,
          naming: {
            maxIdentifierLength: options.naming.maxIdentifierLength,
            identifierCase: options.naming.identifierCase,
          },
          format: options.format,
          fileMaxRows: options.fileMaxRows,
          fileMaxBytes: options.fileMaxBytes,
          widen: options.widen ?? true,
        },
        options.onEvent,
      ),
    ),
  );
  for (const r of results) schema.merge(r.schema, options.naming);
  const merged = schema.toStored();
  const conflict = results.some((r) =>
    Object.values(r.schema.tables).some((t) =>
      Object.values(t.columns).some((c) => {
        const m = merged.tables[t.name]?.columns[c.name];
        return !m || !compatible(c.dataType, m.dataType, options.widen ?? true);
      }),
    ),
  );
  if (conflict) {
    const jobsDir = path.join(options.outDir, 'new_jobs');
    for (const f of await listDir(jobsDir)) await rm(path.join(jobsDir, f));
    const fresh = new Schema(manifest.schemaName, snapshot);
    return {
      manifest: await normalizePackage({ ...options, schema: fresh }),
      schema: fresh,
      parallel: false,
    };
  }
  // Jobs in file order, rows summed: the same package a sequential run writes, split differently.
  const jobs = results.flatMap((r) => r.jobs).sort((a, b) => (a.jobId < b.jobId ? -1 : 1));
  const rowCounts: Record<string, number> = {};
  for (const r of results)
    for (const [t, c] of Object.entries(r.rowCounts)) rowCounts[t] = (rowCounts[t] ?? 0) + c;
  return {
    manifest: await writeNormalizedManifest(options, jobs, rowCounts, previousSchemaHash),
    schema,
    parallel: true,
  };
}
