import { rm } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { FerryError, DataError, SchemaContractError } from '../errors.ts';
import type { FileFormat } from '../destination/capabilities.ts';
import type { FileWriterModule } from '../destination/destination.ts';
import type { PipelineEvent } from '../pipeline/types.ts';
import { widenType } from '../schema/infer.ts';
import { Schema } from '../schema/schema.ts';
import type { StoredSchema } from '../schema/types.ts';
import type {
  ExtractedFile,
  NormalizedJob,
  NormalizedManifest,
  PackageResource,
} from '../storage/package-storage.ts';
import { listDir } from '../util/fs.ts';
import { NO_LIMITS, type NormalizeLimits } from './limits.ts';
import {
  createFileNormalizer,
  writeNormalizedManifest,
  type FileNormalizer,
  type NormalizePackageOptions,
} from './normalize-package.ts';

/** Which writer a worker uses: one of core's, or a destination's module export. */
export type WorkerWriter = { builtin: FileFormat } | FileWriterModule;

/** What a worker receives when it starts (files follow as messages). */
export interface WorkerInput {
  outDir: string;
  loadId: string;
  schemaName: string;
  fileIdPrefix: string;
  schema: StoredSchema | undefined;
  naming: { maxIdentifierLength: number; identifierCase: 'lower' | 'upper' };
  format: FileFormat;
  writer: WorkerWriter;
  fileMaxRows: number;
  fileMaxBytes: number;
  widen: boolean;
  /** The destination's limits. */
  limits: NormalizeLimits;
  /** Code generation in the worker's normalizer (undefined: its default). */
  codegen?: boolean;
}

/** A closed raw file of `extractedDir/raw` and its resource's manifest entry. */
export interface RawFileEntry {
  extractedDir: string;
  file: ExtractedFile;
  resource: PackageResource | undefined;
}

/** Messages to a worker: a raw file to normalize, or the end of the package. */
export type WorkerCommand = ({ kind: 'file' } & RawFileEntry) | { kind: 'end' };

/** What a worker sends back. */
export interface WorkerOutput {
  kind: 'done';
  jobs: NormalizedJob[];
  rowCounts: Record<string, number>;
  schema: StoredSchema;
}

/** Messages from a worker. */
export type WorkerMessage =
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

function errorFrom(m: Extract<WorkerMessage, { kind: 'error' }>): Error {
  const context = m.context ?? {};
  return m.name === 'SchemaContractError'
    ? new SchemaContractError(m.message, context as ConstructorParameters<typeof SchemaContractError>[1])
    : m.name === 'DataError'
      ? new DataError(m.message, context)
      : new FerryError(m.code ?? 'NORMALIZE_FAILED', m.message, { context });
}

/** One normalize worker thread: files are posted as they come; `end()` resolves with its result. */
class NormalizeThread {
  readonly done: Promise<WorkerOutput>;
  private readonly worker: Worker;

  constructor(input: WorkerInput, onEvent: (e: PipelineEvent) => void) {
    // A normalize worker keeps little state (one record at a time, file buffers): a bounded heap keeps
    // memory flat whatever the package size, instead of V8 growing it while garbage piles up.
    this.worker = new Worker(WORKER_FILE, {
      workerData: input,
      resourceLimits: {
        maxOldGenerationSizeMb: WORKER_OLD_GEN_MB,
        maxYoungGenerationSizeMb: WORKER_YOUNG_GEN_MB,
      },
    });
    this.done = new Promise((resolve, reject) => {
      let settled = false;
      this.worker.on('message', (m: WorkerMessage) => {
        if (m.kind === 'event') onEvent(m.event);
        else {
          settled = true;
          if (m.kind === 'done') resolve(m);
          else reject(errorFrom(m));
          void this.worker.terminate();
        }
      });
      this.worker.on('error', (e) => {
        settled = true;
        reject(e);
      });
      this.worker.on('exit', (code) => {
        if (!settled) reject(new FerryError('NORMALIZE_FAILED', `normalize worker exited with code ${code}`));
      });
    });
    // Errors surface from finish(); an early one must not become an unhandled rejection meanwhile.
    this.done.catch(() => undefined);
  }

  post(command: WorkerCommand): void {
    this.worker.postMessage(command);
  }

  async terminate(): Promise<void> {
    await this.worker.terminate();
  }
}

/** Settings of a {@link NormalizePool}: a package's normalize options without the extracted files. */
export interface NormalizePoolOptions extends Omit<
  NormalizePackageOptions,
  'manifest' | 'extractedDir' | 'files' | 'fileIdPrefix'
> {
  /** Load id of the package. */
  loadId: string;
  /** Schema name (the source's name). */
  schemaName: string;
  /** Worker threads to use once the package is big enough; below 2, everything runs on this thread. */
  workers: number;
  /** How workers get the writer; undefined runs everything on this thread (the writer is a function). */
  workerWriter: WorkerWriter | undefined;
}

/** The result of a {@link NormalizePool}: the jobs and counts, and the schema they were written against. */
export interface PoolResult {
  jobs: NormalizedJob[];
  rowCounts: Record<string, number>;
  /** The merged schema (a new object when the pool had to renormalize; else `options.schema`). */
  schema: Schema;
  /** Whether worker threads did the work. */
  parallel: boolean;
}

/**
 * Normalizes raw files as they are handed in, so extract and normalize overlap: files go round-robin to
 * worker threads (each with its own copy of the schema) once the package holds at least
 * {@link PARALLEL_MIN_ITEMS} items; a smaller package normalizes on this thread at `finish()`. The main
 * thread merges the workers' schemas in worker order (deterministic). When two workers inferred types
 * that cannot load into the merged column, the package is normalized again on this thread (rare: it needs
 * a type conflict that straddles files), so the result is always correct.
 */
export class NormalizePool {
  private readonly options: NormalizePoolOptions;
  private readonly snapshot: StoredSchema | undefined;
  private readonly threads: NormalizeThread[] = [];
  /** Files not handed to a worker yet (all of them, while the package is small). */
  private readonly held: RawFileEntry[] = [];
  /** Every file handed in (a one-thread run, or a renormalize after a conflict, reads them all). */
  private readonly seen: RawFileEntry[] = [];
  private heldItems = 0;
  private next = 0;
  /** Latest rows per (worker, table), summed into one progress figure per table. */
  private readonly progress = new Map<string, number[]>();

  constructor(options: NormalizePoolOptions) {
    this.options = options;
    this.snapshot = options.schema.tables.size > 0 ? options.schema.toStored() : undefined;
  }

  private get parallel(): boolean {
    return this.options.workers >= 2 && this.options.workerWriter !== undefined;
  }

  /** Hand in a closed raw file of `extractedDir/raw`; `resource` is its resource's manifest entry. */
  add(extractedDir: string, file: ExtractedFile, resource: PackageResource | undefined): void {
    const entry = { extractedDir, file, resource };
    this.seen.push(entry);
    if (!this.parallel) return;
    this.held.push(entry);
    this.heldItems += file.items;
    if (this.threads.length === 0 && this.heldItems < PARALLEL_MIN_ITEMS) return;
    for (const e of this.held.splice(0)) this.dispatch(e);
  }

  private dispatch(entry: RawFileEntry): void {
    const n = this.options.workers;
    const w = this.next++ % n;
    if (this.threads[w] === undefined) {
      this.threads[w] = new NormalizeThread(
        {
          outDir: this.options.outDir,
          loadId: this.options.loadId,
          schemaName: this.options.schemaName,
          fileIdPrefix: w.toString(36),
          schema: this.snapshot,
          naming: {
            maxIdentifierLength: this.options.naming.maxIdentifierLength,
            identifierCase: this.options.naming.identifierCase,
          },
          format: this.options.format,
          writer: this.options.workerWriter!,
          fileMaxRows: this.options.fileMaxRows,
          fileMaxBytes: this.options.fileMaxBytes,
          widen: this.options.widen ?? true,
          limits: this.options.limits ?? NO_LIMITS,
          ...(this.options.codegen === undefined ? {} : { codegen: this.options.codegen }),
        },
        (e) => this.onWorkerEvent(w, e),
      );
    }
    this.threads[w].post({ kind: 'file', ...entry });
  }

  private onWorkerEvent(worker: number, event: PipelineEvent): void {
    if (event.type !== 'normalize') return this.options.onEvent(event);
    const per = this.progress.get(event.table) ?? [];
    per[worker] = event.rows;
    this.progress.set(event.table, per);
    let rows = 0;
    for (const n of per) rows += n ?? 0;
    this.options.onEvent({ ...event, rows });
  }

  /** Stop the workers without waiting for their result (extract failed). */
  async abort(): Promise<void> {
    await Promise.all(this.threads.map((t) => t.terminate()));
  }

  /** Normalize what is left, wait for the workers and merge their schemas. Call once, after the last `add`. */
  async finish(): Promise<PoolResult> {
    const { options } = this;
    if (this.threads.length === 0) {
      const normalizer = await createFileNormalizer(options);
      await this.normalizeHere(normalizer);
      return { ...(await normalizer.finish()), schema: options.schema, parallel: false };
    }
    for (const e of this.held.splice(0)) this.dispatch(e);
    let results: WorkerOutput[];
    try {
      for (const t of this.threads) t.post({ kind: 'end' });
      results = await Promise.all(this.threads.map((t) => t.done));
    } finally {
      await this.abort();
    }
    for (const r of results) options.schema.merge(r.schema, options.naming);
    const merged = options.schema.toStored();
    const widen = options.widen ?? true;
    const conflict = results.some((r) =>
      Object.values(r.schema.tables).some((t) =>
        Object.values(t.columns).some((c) => {
          const m = merged.tables[t.name]?.columns[c.name];
          return !m || !compatible(c.dataType, m.dataType, widen);
        }),
      ),
    );
    if (conflict) {
      const jobsDir = path.join(options.outDir, 'new_jobs');
      for (const f of await listDir(jobsDir)) await rm(path.join(jobsDir, f));
      const fresh = new Schema(options.schemaName, this.snapshot);
      const normalizer = await createFileNormalizer({ ...options, schema: fresh });
      await this.normalizeHere(normalizer);
      return { ...(await normalizer.finish()), schema: fresh, parallel: false };
    }
    // Jobs in file order, rows summed: the same package a sequential run writes, split differently.
    const jobs = results.flatMap((r) => r.jobs).sort((a, b) => (a.jobId < b.jobId ? -1 : 1));
    const rowCounts: Record<string, number> = {};
    for (const r of results)
      for (const [t, c] of Object.entries(r.rowCounts)) rowCounts[t] = (rowCounts[t] ?? 0) + c;
    return { jobs, rowCounts, schema: options.schema, parallel: true };
  }

  private async normalizeHere(normalizer: FileNormalizer): Promise<void> {
    for (const e of this.seen) await normalizer.normalizeFile(e.extractedDir, e.file, e.resource);
  }
}

/** Whether values typed `from` by a worker can load into a column of the merged type `to`. */
function compatible(from: string, to: string, widen: boolean): boolean {
  return from === to || (widen && widenType(from as never, to as never) === to);
}

/**
 * Normalize an extracted package with worker threads when it is big enough (see {@link NormalizePool}),
 * and write its normalized manifest.
 */
export async function normalizePackageParallel(
  options: NormalizePackageOptions & { workers: number; workerWriter: WorkerWriter | undefined },
): Promise<{ manifest: NormalizedManifest; schema: Schema; parallel: boolean }> {
  const { manifest } = options;
  const previousSchemaHash = options.schema.tables.size > 0 ? options.schema.toStored().versionHash : null;
  const pool = new NormalizePool({ ...options, loadId: manifest.loadId, schemaName: manifest.schemaName });
  for (const file of options.files ?? manifest.files)
    pool.add(options.extractedDir, file, manifest.resources[file.resource]);
  const result = await pool.finish();
  return {
    manifest: await writeNormalizedManifest(
      { manifest, schema: result.schema, outDir: options.outDir },
      result.jobs,
      result.rowCounts,
      previousSchemaHash,
    ),
    schema: result.schema,
    parallel: result.parallel,
  };
}
