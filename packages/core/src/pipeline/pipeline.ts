import { availableParallelism } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  DataError,
  DestinationError,
  FerryError,
  PackageFailedError,
  PipelineStepError,
  SchemaContractError,
} from '../errors.ts';
import type {
  DestinationClient,
  LoadJobFile,
  LoadPackagePlan,
  PipelineStateDoc,
  TableLoadPlan,
} from '../destination/destination.ts';
import type { Destination } from '../destination/destination.ts';
import { Dataset } from '../dataset/dataset.ts';
import { extractSource } from '../extract/extractor.ts';
import { source as makeSource, type Resource, type Source } from '../extract/resource.ts';
import { writeNormalizedManifest } from '../normalize/normalize-package.ts';
import {
  NormalizePool,
  normalizePackageParallel,
  type WorkerWriter,
} from '../normalize/parallel-normalize.ts';
import { limitsOf } from '../normalize/limits.ts';
import { NamingConvention } from '../schema/naming.ts';
import { Schema } from '../schema/schema.ts';
import type { StoredSchema } from '../schema/types.ts';
import {
  PackageStorage,
  type ExtractedFile,
  type ExtractedManifest,
  type PackageResource,
  type NormalizedJob,
  type NormalizedManifest,
} from '../storage/package-storage.ts';
import { acquireRunLock } from '../storage/run-lock.ts';
import type { PackageFailure } from '../storage/package-storage.ts';
import { removeWorkingFolder, wipeWorkingFolder } from '../storage/working-folder.ts';
import { remove, writeJsonAtomic } from '../util/fs.ts';
import { BUILTIN_WRITERS } from '../writers/writers.ts';
import type {
  ExtractInfo,
  LoadInfo,
  NormalizeInfo,
  PipelineEvent,
  PipelineOptions,
  SchemaChange,
} from './types.ts';
import { pipelineNameProblem } from './pipeline-name.ts';

/** Connection attempts after the first when the destination is not reachable yet (about 20 s in all). */
const CONNECT_RETRIES = 5;

const emptyState = (pipelineName: string): PipelineStateDoc => ({ version: 0, pipelineName, sources: {} });

/** Create a pipeline. Nothing touches disk or the destination until a step runs. */
export function pipeline(options: PipelineOptions): Pipeline {
  return new Pipeline(options);
}

/**
 * A pipeline moves data from sources into one destination dataset through load packages on disk:
 * extract → normalize → load, each step committed by a rename, with state committed at the destination
 * in the same transaction as the data.
 */
export class Pipeline {
  /** Pipeline name. */
  readonly name: string;
  /** Dataset name as given (normalized for the destination when used). */
  readonly datasetName: string;
  /** The destination. */
  readonly destination: Destination;
  /** Working folder `<dataDir>/<name>`. */
  readonly workingDir: string;
  /** Naming convention for this destination's identifier rules. */
  readonly naming: NamingConvention;
  private readonly storage: PackageStorage;
  private readonly options: PipelineOptions;
  private client: DestinationClient | undefined;
  private opened = false;
  private lastLoadId = 0n;

  constructor(options: PipelineOptions) {
    const nameProblem = pipelineNameProblem(options.name);
    if (nameProblem !== undefined) throw new FerryError('CONFIG_INVALID', nameProblem);
    this.options = options;
    this.name = options.name;
    this.datasetName = options.dataset ?? `${options.name}_dataset`;
    this.destination = options.destination;
    const dataDir = options.dataDir ?? process.env.FERRY_DATA_DIR ?? path.resolve('.ferry');
    this.workingDir = path.join(dataDir, options.name);
    this.storage = new PackageStorage(this.workingDir);
    const caps = options.destination.capabilities;
    this.naming = new NamingConvention({
      maxIdentifierLength: caps.maxIdentifierLength,
      identifierCase: caps.identifierCase,
    });
  }

  /** The dataset name normalized for the destination (the schema/prefix data lands in). */
  get destinationDataset(): string {
    return this.naming.normalizeIdentifier(this.datasetName);
  }

  private emit(event: PipelineEvent): void {
    this.options.onEvent?.(event);
  }

  private async open(): Promise<void> {
    if (this.opened) return;
    await this.storage.open();
    for (const stage of ['extracted', 'normalized', 'loaded', 'failed'] as const) {
      for (const id of await this.storage.list(stage))
        if (BigInt(id) > this.lastLoadId) this.lastLoadId = BigInt(id);
    }
    this.opened = true;
  }

  /** Nesting depth of {@link exclusive} calls and the release of the run lock they hold. */
  private exclusiveDepth = 0;
  private releaseLock: (() => Promise<void>) | undefined;
  /** Whether the current client holds the destination's pipeline lock (until it closes). */
  private clientLocked = false;

  /**
   * Run `fn` holding the working folder's run lock (one writer per folder, across processes and hosts;
   * re-entrant within this object). The outermost call takes the lock and recovers what a crashed run
   * left (temp folders, a package committed twice); readers never do either.
   */
  private async exclusive<T>(fn: () => Promise<T>): Promise<T> {
    await this.open();
    if (this.exclusiveDepth === 0) {
      this.releaseLock = await acquireRunLock(this.storage.lockFile, this.name);
      try {
        await this.storage.recover();
      } catch (error) {
        await this.releaseLock();
        this.releaseLock = undefined;
        throw error;
      }
    }
    this.exclusiveDepth++;
    try {
      return await fn();
    } finally {
      this.exclusiveDepth--;
      if (this.exclusiveDepth === 0) {
        const release = this.releaseLock;
        this.releaseLock = undefined;
        await release?.();
      }
    }
  }

  /** A connected, initialized client (kept for the pipeline's lifetime; `close()` releases it). */
  async connect(): Promise<DestinationClient> {
    // A database that is still starting (compose, Kubernetes) refuses connections for a few seconds:
    // transient connect errors are retried with backoff before giving up.
    for (let attempt = 0; !this.client; attempt++) {
      try {
        const client = await this.destination.connect({
          dataset: this.destinationDataset,
          pipelineName: this.name,
        });
        try {
          await client.initialize();
        } catch (error) {
          await client.close().catch(() => undefined);
          throw error;
        }
        this.client = client;
      } catch (error) {
        const transient = error instanceof DestinationError ? error.transient : isNetworkError(error);
        if (!transient || attempt >= CONNECT_RETRIES) throw error;
        const delayMs = Math.min(8_000, 500 * 2 ** attempt);
        this.emit({
          type: 'warning',
          message: `cannot reach ${this.destination.describe()} yet (${(error as Error).message}); retrying in ${delayMs} ms`,
          context: { attempt: attempt + 1 },
        });
        await sleep(delayMs);
      }
    }
    // Writers (inside exclusive()) also hold the destination's pipeline lock, where it has one.
    if (this.exclusiveDepth > 0 && !this.clientLocked && this.client.lockPipeline) {
      await this.client.lockPipeline(this.name);
      this.clientLocked = true;
    }
    return this.client;
  }

  /**
   * Read what landed: tables, relations, SQL, row counts, loads, state and schema, the same on every
   * destination. Opens its own read-only connection; `close()` it when done.
   */
  dataset(): Dataset {
    return new Dataset(this.destination, this.destinationDataset, this.name, async () => {
      await this.open();
      const local = await this.storage.listSchemas();
      if (local.length > 0) return local;
      const state = await this.storage.readState();
      return state ? Object.keys(state.sources) : [];
    });
  }

  /** Keep the last run's LoadInfo (`trace.json`) for `ferry pipeline info` and the dashboard. */
  async writeTrace(info: LoadInfo): Promise<void> {
    await writeJsonAtomic(path.join(this.workingDir, 'trace.json'), info);
  }

  /** The last run's LoadInfo on this machine, or undefined (a fresh container has none). */
  async lastRun(): Promise<LoadInfo | undefined> {
    try {
      const { readFile } = await import('node:fs/promises');
      return JSON.parse(await readFile(path.join(this.workingDir, 'trace.json'), 'utf8')) as LoadInfo;
    } catch {
      return undefined;
    }
  }

  private normalizeWorkers(): number {
    return this.options.normalizeWorkers ?? Math.min(availableParallelism(), 4);
  }

  /** Format, writer and worker settings of this destination's normalize step. */
  private normalizeSettings() {
    const caps = this.destination.capabilities;
    const format = caps.preferredFileFormat;
    const builtin = BUILTIN_WRITERS[format];
    const writer = builtin ?? this.destination.fileWriter?.(format);
    if (!writer)
      throw new FerryError(
        'UNSUPPORTED',
        `destination ${this.destination.type} prefers '${format}' files but provides no writer for them`,
      );
    // Workers import the writer: core's by format, a destination's from the module it names (if any).
    const workerWriter: WorkerWriter | undefined = builtin
      ? { builtin: format }
      : this.destination.fileWriterModule?.(format);
    return {
      naming: this.naming,
      format,
      writer,
      workerWriter,
      workers: this.normalizeWorkers(),
      fileMaxRows: caps.fileMaxRows,
      fileMaxBytes: caps.fileMaxBytes,
      widen: caps.supportsAlterColumnType,
      limits: limitsOf(caps, this.destination.type),
      onEvent: (e: PipelineEvent) => this.emit(e),
    };
  }

  /** Release the destination connection. */
  async close(): Promise<void> {
    const c = this.client;
    this.client = undefined;
    this.clientLocked = false;
    await c?.close();
  }

  private newLoadId(): string {
    let id = BigInt(Date.now()) * 1000n + BigInt(Math.floor((performance.now() % 1) * 1000));
    if (id <= this.lastLoadId) id = this.lastLoadId + 1n;
    this.lastLoadId = id;
    return id.toString();
  }

  /** True when packages from an earlier run wait to be normalized or loaded. */
  async hasPending(): Promise<boolean> {
    await this.open();
    return (await this.storage.list('extracted')).length + (await this.storage.list('normalized')).length > 0;
  }

  /** Pipeline state as the next extract would start from: the newest of local and pending packages. */
  async state(): Promise<PipelineStateDoc> {
    await this.open();
    let best = (await this.storage.readState()) ?? emptyState(this.name);
    const consider = (s: PipelineStateDoc | null | undefined) => {
      if (s && (s.lastLoadId ?? '') > (best.lastLoadId ?? '')) best = s;
    };
    for (const id of await this.storage.list('normalized'))
      consider(await this.storage.readPackageJson<PipelineStateDoc | null>('normalized', id, 'state.json'));
    for (const id of await this.storage.list('extracted'))
      consider((await this.storage.readManifest<ExtractedManifest>('extracted', id)).state);
    return best;
  }

  /** The current schema by name (local, including pending packages), or undefined. */
  async schema(name: string): Promise<StoredSchema | undefined> {
    await this.open();
    let best = await this.storage.readSchema(name);
    for (const id of await this.storage.list('normalized')) {
      const s = await this.storage.readPackageJson<StoredSchema>('normalized', id, 'schema.json');
      if (s && s.name === name && (!best || s.version > best.version)) best = s;
    }
    return best;
  }

  /**
   * Restore state and schemas from the destination when they are newer than the local copies (a fresh
   * container has none). Runs at the start of every `run()`.
   */
  async syncFromDestination(schemaNames: string[] = []): Promise<{ state: boolean; schemas: string[] }> {
    return this.exclusive(async () => {
      await this.open();
      const client = await this.connect();
      const result = { state: false, schemas: [] as string[] };
      const stored = await client.getStoredState(this.name);
      let local = await this.storage.readState();
      if (local?.lastLoadId && !(await client.isLoadCommitted(local.lastLoadId))) {
        // The destination no longer holds the load this local state came from (the dataset was dropped
        // or restored from an older backup): trust the destination, so no data is skipped.
        this.emit({
          type: 'warning',
          message: `local state belongs to load ${local.lastLoadId}, which ${this.destination.type} does not hold; using the destination's state${stored ? '' : ' (none: loading from the start)'}`,
        });
        await this.storage.writeState(emptyState(this.name));
        local = undefined;
        result.state = true;
      }
      if (stored && (!local || stored.loadId > (local.lastLoadId ?? ''))) {
        await this.storage.writeState({
          ...stored.state,
          lastLoadId: stored.state.lastLoadId ?? stored.loadId,
        });
        result.state = true;
      }
      const names = new Set([...schemaNames, ...(await this.storage.listSchemas())]);
      for (const name of names) {
        const remote = await client.getStoredSchema(name);
        const mine = await this.schema(name);
        if (remote && (!mine || remote.version > mine.version)) {
          await this.storage.writeSchema(remote);
          result.schemas.push(name);
        }
      }
      return result;
    });
  }

  /** Delete packages that were not loaded yet (the escape hatch after a terminal load failure). */
  async dropPending(): Promise<string[]> {
    return this.exclusive(async () => {
      await this.open();
      const dropped: string[] = [];
      for (const stage of ['extracted', 'normalized'] as const) {
        for (const id of await this.storage.list(stage)) {
          await this.storage.delete(stage, id);
          dropped.push(id);
        }
      }
      return dropped;
    });
  }

  /** Extract a source (or resources) into a new package. */
  async extract(input: Source | Resource | Resource[]): Promise<ExtractInfo> {
    return this.exclusive(async () => {
      await this.open();
      const src = toSource(input);
      this.checkSource(src);
      const started = performance.now();
      this.emit({ type: 'stage', stage: 'extract', status: 'start' });
      const loadId = this.newLoadId();
      const ex = await this.extractToTemp(src, loadId);
      if (ex.empty) {
        await remove(ex.dir);
        this.emit({ type: 'stage', stage: 'extract', status: 'end', ms: performance.now() - started });
        return { loadId: undefined, items: ex.items };
      }
      await this.storage.commit(ex.dir, 'extracted', loadId);
      this.emit({ type: 'stage', stage: 'extract', status: 'end', loadId, ms: performance.now() - started });
      return { loadId, items: ex.items };
    });
  }

  /**
   * Extract into a temp folder (with its `package.json` written unless empty). `empty` means nothing to
   * load: no files, no state change, no replace. `onFileClosed` sees each raw file once it is durable.
   */
  private async extractToTemp(
    src: Source,
    loadId: string,
    onFileClosed?: (extractedDir: string, file: ExtractedFile, resource: PackageResource) => void,
  ): Promise<{ dir: string; manifest: ExtractedManifest; items: Record<string, number>; empty: boolean }> {
    const dir = await this.storage.tempDir('extract');
    const controller = new AbortController();
    let manifest: ExtractedManifest;
    try {
      manifest = await extractSource(src, {
        dir,
        loadId,
        state: await this.state(),
        onEvent: (e) => this.emit(e),
        signal: controller.signal,
        ...(this.options.extractFileMaxItems ? { fileMaxItems: this.options.extractFileMaxItems } : {}),
        appendInsteadOfMerge: new Set(this.unmergeable(src)),
        ...(onFileClosed ? { onFileClosed: (f, r) => onFileClosed(dir, f, r) } : {}),
      });
    } catch (error) {
      await remove(dir);
      throw stepError(
        'extract',
        `extract of source '${src.name}' failed: ${(error as Error).message}`,
        loadId,
        error,
      );
    }
    const items: Record<string, number> = {};
    for (const f of manifest.files) items[f.resource] = (items[f.resource] ?? 0) + f.items;
    const hasReplace = Object.values(manifest.resources).some((r) => r.writeDisposition === 'replace');
    const empty = manifest.files.length === 0 && manifest.state === null && !hasReplace;
    if (!empty) await writeJsonAtomic(path.join(dir, 'package.json'), manifest);
    return { dir, manifest, items, empty };
  }

  /**
   * Extract and normalize one package with the two overlapping: each raw file goes to a normalize worker
   * as soon as extract closes it, so the workers run while the source is still being read. The extracted
   * package is never committed on its own: a crash before the normalized commit leaves only temp folders
   * (deleted on the next start) and the next run extracts again from the same state, as after a crash
   * during extract. If normalize fails, the extracted package is committed so the next run retries it.
   */
  private async extractAndNormalize(src: Source, timings: LoadInfo['timings']): Promise<ExtractInfo> {
    const t0 = performance.now();
    const settings = this.normalizeSettings();
    const loadId = this.newLoadId();
    const schema = new Schema(src.name, await this.schema(src.name));
    const previousSchemaHash = schema.tables.size > 0 ? schema.toStored().versionHash : null;
    const out = await this.storage.tempDir('normalize');
    const pool = new NormalizePool({ ...settings, outDir: out, schema, loadId, schemaName: src.name });
    this.emit({ type: 'stage', stage: 'extract', status: 'start' });
    let ex: Awaited<ReturnType<Pipeline['extractToTemp']>>;
    try {
      ex = await this.extractToTemp(src, loadId, (dir, file, resource) => pool.add(dir, file, resource));
    } catch (error) {
      await pool.abort();
      await remove(out);
      throw error;
    }
    timings.extract = performance.now() - t0;
    if (ex.empty) {
      await pool.abort();
      await remove(out);
      await remove(ex.dir);
      this.emit({ type: 'stage', stage: 'extract', status: 'end', ms: timings.extract });
      return { loadId: undefined, items: ex.items };
    }
    this.emit({ type: 'stage', stage: 'extract', status: 'end', loadId, ms: timings.extract });
    const t1 = performance.now();
    this.emit({ type: 'stage', stage: 'normalize', status: 'start', loadId });
    let result: Awaited<ReturnType<NormalizePool['finish']>>;
    try {
      result = await pool.finish();
    } catch (error) {
      await remove(out);
      await this.storage.commit(ex.dir, 'extracted', loadId);
      if (isDataFault(error)) throw await this.moveAside(loadId, 'extracted', 'normalize', error);
      throw stepError(
        'normalize',
        `normalize of package ${loadId} failed: ${(error as Error).message}`,
        loadId,
        error,
      );
    }
    await writeNormalizedManifest(
      { manifest: ex.manifest, schema: result.schema, outDir: out },
      result.jobs,
      result.rowCounts,
      previousSchemaHash,
    );
    await this.storage.commit(out, 'normalized', loadId);
    await this.storage.writeSchema(result.schema.toStored());
    await remove(ex.dir);
    timings.normalize = performance.now() - t1;
    this.emit({ type: 'stage', stage: 'normalize', status: 'end', loadId, ms: timings.normalize });
    return { loadId, items: ex.items };
  }

  /** Normalize every extracted package. */
  async normalize(): Promise<NormalizeInfo> {
    return this.exclusive(async () => {
      await this.open();
      const loadIds = await this.storage.list('extracted');
      const rowCounts: Record<string, number> = {};
      let last: StoredSchema | undefined;
      const settings = this.normalizeSettings();
      for (const loadId of loadIds) {
        const started = performance.now();
        this.emit({ type: 'stage', stage: 'normalize', status: 'start', loadId });
        const manifest = await this.storage.readManifest<ExtractedManifest>('extracted', loadId);
        let schema = new Schema(manifest.schemaName, await this.schema(manifest.schemaName));
        const out = await this.storage.tempDir('normalize');
        let normalized: NormalizedManifest;
        try {
          const result = await normalizePackageParallel({
            ...settings,
            extractedDir: this.storage.packageDir('extracted', loadId),
            outDir: out,
            manifest,
            schema,
          });
          normalized = result.manifest;
          schema = result.schema;
        } catch (error) {
          await remove(out);
          if (isDataFault(error)) throw await this.moveAside(loadId, 'extracted', 'normalize', error);
          throw stepError(
            'normalize',
            `normalize of package ${loadId} failed: ${(error as Error).message}`,
            loadId,
            error,
          );
        }
        await this.storage.commit(out, 'normalized', loadId);
        last = schema.toStored();
        await this.storage.writeSchema(last);
        await this.storage.delete('extracted', loadId);
        for (const [t, n] of Object.entries(normalized.rowCounts)) rowCounts[t] = (rowCounts[t] ?? 0) + n;
        this.emit({
          type: 'stage',
          stage: 'normalize',
          status: 'end',
          loadId,
          ms: performance.now() - started,
        });
      }
      return { loadIds, rowCounts, schema: last };
    });
  }

  private async buildPlan(loadId: string, manifest: NormalizedManifest): Promise<LoadPackagePlan> {
    const schema = (await this.storage.readPackageJson<StoredSchema>('normalized', loadId, 'schema.json'))!;
    const state =
      (await this.storage.readPackageJson<PipelineStateDoc | null>('normalized', loadId, 'state.json')) ??
      undefined;
    const rootOf = (name: string): string => {
      let t = schema.tables[name];
      while (t?.parent) t = schema.tables[t.parent];
      return t?.name ?? name;
    };
    const jobsByTable = new Map<string, LoadJobFile[]>();
    for (const job of manifest.jobs) {
      const found = await this.storage.findJob(loadId, job);
      const file: LoadJobFile = {
        jobId: job.jobId,
        table: job.table,
        path: found.path,
        format: job.format,
        columns: job.columns,
        rows: job.rows,
      };
      const list = jobsByTable.get(job.table) ?? [];
      list.push(file);
      jobsByTable.set(job.table, list);
    }
    const mergeRootsWithRows = new Set<string>();
    for (const t of jobsByTable.keys()) {
      const root = schema.tables[rootOf(t)];
      if (root?.writeDisposition === 'merge') mergeRootsWithRows.add(root.name);
    }
    const tables: TableLoadPlan[] = [];
    for (const t of Object.values(schema.tables)) {
      const rootName = rootOf(t.name);
      const root = schema.tables[rootName]!;
      const jobs = jobsByTable.get(t.name) ?? [];
      if (jobs.length === 0 && !mergeRootsWithRows.has(rootName)) continue;
      const plan: TableLoadPlan = {
        table: t.name,
        root: rootName,
        writeDisposition: root.writeDisposition,
        jobs,
      };
      if (root.mergeStrategy) plan.mergeStrategy = root.mergeStrategy;
      tables.push(plan);
    }
    const replaceChains: { root: string; tables: string[] }[] = [];
    for (const r of Object.values(manifest.resources)) {
      if (r.writeDisposition !== 'replace') continue;
      const root = Object.values(schema.tables).find((t) => !t.parent && t.resource === r.resource);
      if (!root) continue;
      replaceChains.push({
        root: root.name,
        tables: Object.values(schema.tables)
          .filter((t) => rootOf(t.name) === root.name)
          .map((t) => t.name),
      });
    }
    const jobById = new Map(manifest.jobs.map((j) => [j.jobId, j] as const));
    let done = 0;
    const plan: LoadPackagePlan = {
      loadId,
      schema,
      tables,
      replaceChains,
      state: state ?? undefined,
      events: {
        jobStarted: async (job) => {
          job.path = await this.storage.moveJob(loadId, jobById.get(job.jobId)!, 'started_jobs');
        },
        jobCompleted: async (job) => {
          job.path = await this.storage.moveJob(loadId, jobById.get(job.jobId)!, 'completed_jobs');
          done++;
          this.emit({
            type: 'load',
            loadId,
            jobsDone: done,
            jobsTotal: manifest.jobs.length,
            table: job.table,
          });
        },
      },
    };
    return plan;
  }

  private async resetJobs(loadId: string, jobs: NormalizedJob[]): Promise<void> {
    for (const job of jobs) {
      const found = await this.storage.findJob(loadId, job);
      if (found.folder !== 'new_jobs') await this.storage.moveJob(loadId, job, 'new_jobs', true);
    }
  }

  private async finishLocal(loadId: string): Promise<void> {
    const state = await this.storage.readPackageJson<PipelineStateDoc | null>(
      'normalized',
      loadId,
      'state.json',
    );
    if (state) await this.storage.writeState(state);
    await this.storage.move(loadId, 'normalized', 'loaded');
    // Loaded data files are not needed again; keep the manifests for `ferry pipeline info`.
    for (const folder of ['new_jobs', 'started_jobs', 'completed_jobs'])
      await remove(path.join(this.storage.packageDir('loaded', loadId), folder));
  }

  /** Load every normalized package, oldest first. */
  async load(): Promise<{ loadIds: string[]; rowCounts: Record<string, number> }> {
    return this.exclusive(async () => {
      await this.open();
      const loadIds = await this.storage.list('normalized');
      const rowCounts: Record<string, number> = {};
      const retries = this.options.loadRetries ?? 5;
      for (const loadId of loadIds) {
        const started = performance.now();
        this.emit({ type: 'stage', stage: 'load', status: 'start', loadId });
        const manifest = await this.storage.readManifest<NormalizedManifest>('normalized', loadId);
        for (let attempt = 0; ; attempt++) {
          try {
            const client = await this.connect();
            if (!(await client.isLoadCommitted(loadId))) {
              const plan = await this.buildPlan(loadId, manifest);
              this.checkPlan(plan);
              await client.loadPackage(plan);
            }
            break;
          } catch (error) {
            const transient = error instanceof DestinationError ? error.transient : isNetworkError(error);
            await this.close().catch(() => undefined);
            await this.resetJobs(loadId, manifest.jobs);
            if (!transient && error instanceof DestinationError && error.terminal)
              throw await this.moveAside(loadId, 'normalized', 'load', error);
            if (!transient || attempt >= retries) {
              throw stepError(
                'load',
                `load of package ${loadId} failed: ${(error as Error).message}. The package stays pending; fix the cause and run again.`,
                loadId,
                error,
              );
            }
            const delayMs = Math.min(15_000, 500 * 2 ** attempt);
            this.emit({
              type: 'retry',
              loadId,
              attempt: attempt + 1,
              error: (error as Error).message,
              delayMs,
            });
            await sleep(delayMs);
          }
        }
        await this.finishLocal(loadId);
        for (const [t, n] of Object.entries(manifest.rowCounts)) rowCounts[t] = (rowCounts[t] ?? 0) + n;
        this.emit({ type: 'stage', stage: 'load', status: 'end', loadId, ms: performance.now() - started });
      }
      return { loadIds, rowCounts };
    });
  }

  /**
   * Move a package that can never load aside to `failed/` (kept for inspection, listed by
   * {@link failedPackages}), with every later pending package (their state builds on its uncommitted
   * state, so loading them would skip its rows). The local schema is dropped so the next run restores
   * the destination's committed one; local state was never advanced. The next run extracts again from
   * the last committed state. Returns the error to throw.
   */
  private async moveAside(
    loadId: string,
    stage: 'extracted' | 'normalized',
    step: 'normalize' | 'load',
    error: unknown,
  ): Promise<PackageFailedError> {
    const message = (error as Error).message;
    const failedAt = new Date().toISOString();
    let schemaName: string | undefined;
    try {
      schemaName = (await this.storage.readManifest<{ schemaName?: string }>(stage, loadId)).schemaName;
    } catch {
      schemaName = undefined;
    }
    const base: Omit<PackageFailure, 'loadId' | 'stage'> = { failedAt, error: message };
    const failedDir = await this.storage.moveToFailed(stage, { ...base, loadId, stage });
    const moved = [loadId];
    for (const later of ['normalized', 'extracted'] as const) {
      for (const id of await this.storage.list(later)) {
        if (BigInt(id) <= BigInt(loadId)) continue;
        await this.storage.moveToFailed(later, { ...base, loadId: id, stage: later, movedWith: loadId });
        moved.push(id);
      }
    }
    if (schemaName !== undefined) await this.storage.deleteSchema(schemaName);
    this.emit({
      type: 'warning',
      message: `package ${loadId} moved aside to ${failedDir}`,
      context: { loadId, movedAside: moved },
    });
    return new PackageFailedError(
      `${step} of package ${loadId} failed and retrying cannot fix it: ${message}. ` +
        `The package was moved aside to ${failedDir} (kept for inspection, listed by 'ferry pipeline info')` +
        `${moved.length > 1 ? `, with ${moved.length - 1} later pending package(s) built on it` : ''}; ` +
        `its state was not committed, so the next run extracts again from the last committed state. ` +
        `Fix the cause (the source data, the resource's columns or schema contract, or the destination), then run again.`,
      { loadId, failedDir, movedAside: moved, step, cause: error },
    );
  }

  /**
   * Packages moved aside after a failure retrying cannot fix, oldest first, with why (`failure.json`).
   * Only reads: a missing working folder is an empty list, not created.
   */
  async failedPackages(): Promise<(PackageFailure & { dir: string })[]> {
    return this.storage.listFailed();
  }

  /**
   * `ferry pipeline sync`: wipe the local working folder (state, schemas, pending packages; packages in
   * `failed/` are kept for inspection) and restore state and schemas from the destination, holding the
   * run lock and the destination's pipeline lock throughout. Refuses (`FOLDER_NOT_OWNED`, naming it) a
   * working folder Ferry did not create.
   */
  async resetFromDestination(schemaNames: string[] = []): Promise<{ state: boolean; schemas: string[] }> {
    try {
      return await this.exclusive(async () => {
        await this.connect();
        await wipeWorkingFolder(this.workingDir, ['run.lock', 'run.lock.mutex', 'failed']);
        this.opened = false;
        await this.open();
        return this.syncFromDestination(schemaNames);
      });
    } finally {
      await this.close();
    }
  }

  /**
   * `ferry pipeline drop`: drop the dataset at the destination (every table, state and load history),
   * then delete the local working folder, holding the run lock and the destination's pipeline lock.
   * Refuses (`FOLDER_NOT_OWNED`, naming it) a working folder Ferry did not create, before dropping
   * anything.
   */
  async drop(): Promise<void> {
    try {
      await this.exclusive(async () => {
        const client = await this.connect();
        await client.dropDataset();
        await wipeWorkingFolder(this.workingDir, ['run.lock', 'run.lock.mutex']);
      });
    } finally {
      await this.close();
    }
    // The run lock is released: only the marker is left.
    await removeWorkingFolder(this.workingDir);
    this.opened = false;
  }

  /** Resources this destination cannot merge: refused, or appended when the destination opted in. */
  private unmergeable(src: Source): string[] {
    const caps = this.destination.capabilities;
    return src.resources
      .filter(
        (r) =>
          r.options.writeDisposition === 'merge' &&
          !caps.mergeStrategies.includes(r.options.mergeStrategy ?? 'delete-insert'),
      )
      .map((r) => r.name);
  }

  /** Refuse, before extracting anything, a source this destination cannot load. */
  private checkSource(src: Source): void {
    const caps = this.destination.capabilities;
    for (const name of this.unmergeable(src)) {
      const r = src.resources.find((x) => x.name === name)!;
      const strategy = r.options.mergeStrategy ?? 'delete-insert';
      if (caps.mergeFallback === 'append') {
        this.emit({
          type: 'warning',
          message: `resource '${name}': destination ${this.destination.type} cannot merge; rows are appended (merge_fallback: append)`,
          context: { resource: name },
        });
        continue;
      }
      throw new FerryError(
        'UNSUPPORTED',
        `resource '${name}' uses merge (${strategy}), which destination ${this.destination.type} does not support (it supports: ${caps.mergeStrategies.join(', ') || 'no merge'}). Use write_disposition append or replace for this resource, or let the destination append instead (merge_fallback: append).`,
        { context: { resource: name } },
      );
    }
  }

  private checkPlan(plan: LoadPackagePlan): void {
    const caps = this.destination.capabilities;
    const changed = new Set([
      ...plan.tables.map((t) => t.table),
      ...plan.replaceChains.flatMap((c) => c.tables),
    ]);
    // The schema version, state and loads marker tables change in the same transaction.
    const total = changed.size + 3;
    if (total > caps.maxTablesPerTransaction) {
      throw new FerryError(
        'UNSUPPORTED',
        `package ${plan.loadId} changes ${changed.size} tables (${total} with Ferry's 3 system tables), more than destination ${this.destination.type} allows in one transaction (maxTablesPerTransaction = ${caps.maxTablesPerTransaction}); nothing was loaded. Load fewer resources per run, or lower maxTableNesting so nested lists make fewer child tables.`,
        {
          context: {
            loadId: plan.loadId,
            tables: changed.size,
            maxTablesPerTransaction: caps.maxTablesPerTransaction,
          },
        },
      );
    }
    for (const t of plan.tables) {
      if (
        t.writeDisposition === 'merge' &&
        !caps.mergeStrategies.includes(t.mergeStrategy ?? 'delete-insert')
      ) {
        throw new FerryError(
          'UNSUPPORTED',
          `table '${t.table}' uses merge (${t.mergeStrategy ?? 'delete-insert'}), which destination ${this.destination.type} does not support (it supports: ${caps.mergeStrategies.join(', ') || 'no merge'}). Use write_disposition append or replace for this resource.`,
        );
      }
    }
  }

  /**
   * Run a source end to end. Pending packages from an interrupted run are finished first; in that case
   * nothing new is extracted (exactly the rows of a clean run), and the next run extracts again.
   */
  async run(input: Source | Resource | Resource[]): Promise<LoadInfo> {
    return this.exclusive(async () => {
      const t0 = performance.now();
      const src = toSource(input);
      this.checkSource(src);
      const timings: LoadInfo['timings'] = { total: 0 };
      try {
        await this.open();
        let t = performance.now();
        this.emit({ type: 'stage', stage: 'sync', status: 'start' });
        await this.syncFromDestination([src.name]);
        timings.sync = performance.now() - t;
        this.emit({ type: 'stage', stage: 'sync', status: 'end', ms: timings.sync });
        const before = await this.schema(src.name);
        const pending = await this.hasPending();
        if (pending)
          this.emit({
            type: 'warning',
            message: 'finishing packages of an interrupted run first; new data is extracted on the next run',
          });
        let extracted: ExtractInfo | undefined;
        if (pending) {
          t = performance.now();
          await this.normalize();
          timings.normalize = performance.now() - t;
        } else {
          extracted = await this.extractAndNormalize(src, timings);
        }
        t = performance.now();
        const loaded = await this.load();
        timings.load = performance.now() - t;
        const after = await this.schema(src.name);
        const changes: SchemaChange[] = after ? new Schema(src.name, after).diff(before) : [];
        timings.total = performance.now() - t0;
        const info: LoadInfo = {
          pipelineName: this.name,
          dataset: this.destinationDataset,
          destination: this.destination.describe(),
          loadIds: loaded.loadIds,
          rowCounts: loaded.rowCounts,
          schemaChanges: changes,
          timings,
          schemaVersion: after?.version ?? 0,
          empty: loaded.loadIds.length === 0 && extracted?.loadId === undefined,
          extras: pending ? { resumedPending: true } : {},
        };
        await this.writeTrace(info);
        return info;
      } finally {
        await this.close();
      }
    });
  }
}

/** `error` itself when it is Ferry's own, else a {@link PipelineStepError} of `step` (message + cause). */
function stepError(
  step: 'extract' | 'normalize' | 'load',
  message: string,
  loadId: string,
  error: unknown,
): Error {
  return error instanceof FerryError ? error : new PipelineStepError(step, message, { loadId, cause: error });
}

/** An error in the data itself (re-running the same package fails the same way). */
function isDataFault(error: unknown): boolean {
  return error instanceof DataError || error instanceof SchemaContractError;
}

function toSource(input: Source | Resource | Resource[]): Source {
  if (Array.isArray(input)) return makeSource({ name: input[0]?.name ?? 'resources', resources: input });
  if (input.kind === 'resource') return makeSource({ name: input.name, resources: [input] });
  return input;
}

function isNetworkError(error: unknown): boolean {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  return (
    typeof code === 'string' &&
    ['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EAI_AGAIN'].includes(code)
  );
}
