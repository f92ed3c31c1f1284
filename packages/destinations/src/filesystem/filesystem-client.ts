import {
  DestinationError,
  FerryError,
  SCHEMA_ENGINE_VERSION,
  UnsupportedError,
  shortHash,
  stringifyJson,
  type DatasetReader,
  type DestinationClient,
  type LoadJobFile,
  type LoadPackagePlan,
  type StoredSchema,
  type StoredStateRecord,
  type TableSchema,
} from '@ferry/core';
import {
  FilesystemCatalog,
  markerKey,
  stateKey,
  versionKey,
  type LoadMarker,
  type StateFile,
} from './filesystem-catalog.ts';
import { PipelineLease } from '../lease.ts';
import { fileLeaseStore } from './filesystem-lease.ts';
import type { FilesystemLayout } from './filesystem-layout.ts';
import { FilesystemReader } from './filesystem-reader.ts';
import type { FilesystemStore } from './filesystem-store.ts';

/** Settings the client needs from the destination. */
export interface FilesystemClientOptions {
  /** Dataset (folder) name. */
  dataset: string;
  /** Pipeline name (state file names). */
  pipelineName: string;
  /** Key layout. */
  layout: FilesystemLayout;
  /** Gzip JSONL files. */
  gzip: boolean;
  /** Uploads in flight at once. */
  parallelUploads: number;
}

/**
 * A dataset in a bucket or folder. Loading a package: upload every job file to its layout key (the same
 * key on a retry), then the schema version, the state and, last, the marker `_ferry_loads/<load_id>.json`.
 * A load without a marker is invisible (readers go through the markers), so a crash anywhere before the
 * marker leaves nothing visible and the retry overwrites the same keys. Replace deletes the chain's older
 * files only after the marker; a crash before that leaves files the readers already ignore and the next
 * replace deletes.
 */
export class FilesystemClient implements DestinationClient {
  /** Dataset name. */
  readonly dataset: string;
  /** Catalog of markers, state and schema files. */
  readonly catalog: FilesystemCatalog;
  /** Read access through DuckDB views over the committed files. */
  readonly reader: DatasetReader;
  private readonly store: FilesystemStore;
  private readonly options: FilesystemClientOptions;
  private readonly fsReader: FilesystemReader;
  private closed = false;
  private lease: PipelineLease | undefined;

  constructor(store: FilesystemStore, options: FilesystemClientOptions) {
    this.store = store;
    this.options = options;
    this.dataset = options.dataset;
    this.catalog = new FilesystemCatalog(store, options.dataset);
    this.fsReader = new FilesystemReader(this.catalog);
    this.reader = this.fsReader;
  }

  private wrap(error: unknown, what: string): FerryError {
    if (error instanceof FerryError) return error;
    const code = (error as NodeJS.ErrnoException)?.code;
    return new DestinationError(
      `filesystem ${this.store.url}${this.catalog.prefix}: ${what} failed: ${(error as Error)?.message ?? String(error)}`,
      {
        transient: code === 'EBUSY' || code === 'EAGAIN' || code === 'EMFILE',
        cause: error,
      },
    );
  }

  async initialize(): Promise<void> {
    try {
      await this.store.init();
    } catch (error) {
      throw this.wrap(error, 'opening the bucket');
    }
  }

  /**
   * A lease file `_ferry_pipeline_lease/<pipeline>.json` in the dataset folder, renewed while this client
   * is open: a second run of the pipeline from another working folder fails with `PIPELINE_BUSY`.
   */
  async lockPipeline(pipelineName: string): Promise<void> {
    this.lease ??= new PipelineLease(
      fileLeaseStore(this.store, (relative) => this.catalog.key(relative)),
      pipelineName,
      `${this.store.url}${this.catalog.prefix}`,
    );
    try {
      await this.lease.acquire();
    } catch (error) {
      throw this.wrap(error, `taking the lease of pipeline '${pipelineName}'`);
    }
  }

  isLoadCommitted(loadId: string): Promise<boolean> {
    return this.catalog.isCommitted(loadId);
  }

  async getStoredState(pipelineName: string): Promise<StoredStateRecord | undefined> {
    const file = await this.catalog.newestState(pipelineName);
    if (!file) return undefined;
    return { pipelineName, loadId: file._ferry_load_id, version: file.version, state: file.state };
  }

  getStoredSchema(schemaName: string): Promise<StoredSchema | undefined> {
    return this.catalog.newestSchema(schemaName);
  }

  /** The key of a job's file under the dataset folder. */
  fileKey(plan: Pick<LoadPackagePlan, 'loadId' | 'schema'>, job: LoadJobFile): string {
    const ext = job.format === 'jsonl' && this.options.gzip ? 'jsonl.gz' : job.format;
    const fileId = job.jobId.startsWith(`${job.table}.`) ? job.jobId.slice(job.table.length + 1) : job.jobId;
    return this.options.layout.render({
      tableName: job.table,
      loadId: plan.loadId,
      fileId,
      ext,
      schemaName: plan.schema.name,
    });
  }

  async loadPackage(plan: LoadPackagePlan): Promise<void> {
    for (const t of plan.tables) {
      if (t.writeDisposition === 'merge') {
        throw new UnsupportedError(
          `table '${t.table}': the filesystem destination does not merge (files are immutable); use write_disposition append or replace`,
          { table: t.table },
        );
      }
    }
    const files: Record<string, string[]> = {};
    const queue: { job: LoadJobFile; key: string }[] = [];
    for (const t of plan.tables) {
      for (const job of t.jobs) {
        const key = this.fileKey(plan, job);
        (files[t.table] ??= []).push(key);
        queue.push({ job, key });
      }
    }
    let next = 0;
    let failure: { error: unknown } | undefined;
    // After a failure no worker starts another job, and all settle before the error surfaces: the engine
    // moves the job files back for the retry only once nothing here still touches them.
    const worker = async () => {
      while (!failure && next < queue.length) {
        const { job, key } = queue[next++]!;
        try {
          await plan.events.jobStarted(job);
          try {
            await this.store.putFile(this.catalog.key(key), job.path, {
              gzip: job.format === 'jsonl' && this.options.gzip,
            });
          } catch (error) {
            throw this.wrap(error, `upload of ${job.jobId} to ${key}`);
          }
          await plan.events.jobCompleted(job);
        } catch (error) {
          failure ??= { error };
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.options.parallelUploads, queue.length) }, worker));
    if (failure) throw failure.error;

    const before = await this.catalog.loads();
    const now = new Date().toISOString();
    try {
      const vKey = versionKey(plan.schema);
      if (!(await this.store.exists(this.catalog.key(vKey))))
        await this.store.put(this.catalog.key(vKey), `${JSON.stringify(plan.schema)}\n`);
      if (plan.state) {
        const text = stringifyJson(plan.state);
        const state: StateFile = {
          version: plan.state.version,
          engine_version: SCHEMA_ENGINE_VERSION,
          pipeline_name: plan.state.pipelineName,
          state: plan.state,
          created_at: now,
          version_hash: shortHash(text),
          _ferry_load_id: plan.loadId,
        };
        await this.store.put(
          this.catalog.key(stateKey(plan.state.pipelineName, plan.loadId)),
          `${stringifyJson(state)}\n`,
        );
      }
      const replaced = [...new Set(plan.replaceChains.flatMap((c) => c.tables))];
      const marker: LoadMarker = {
        load_id: plan.loadId,
        schema_name: plan.schema.name,
        status: 0,
        inserted_at: now,
        schema_version_hash: plan.schema.versionHash,
        files,
        replaced_tables: replaced,
      };
      // The commit: one atomic object. Everything before it is invisible until it exists.
      this.lease?.assertHeld();
      await this.store.put(this.catalog.key(markerKey(plan.loadId)), `${JSON.stringify(marker)}\n`);
    } catch (error) {
      throw this.wrap(error, `commit of load ${plan.loadId}`);
    }
    const replaced = plan.replaceChains.flatMap((c) => c.tables);
    if (replaced.length > 0) await this.deleteReplaced(replaced, files, before);
  }

  /**
   * After a replace commits: delete the replaced tables' files of older loads and any stray file under
   * the table's folder that no committed load lists (left by a crashed load). Failures are not errors:
   * the load is committed and readers ignore those files; the next replace deletes them.
   */
  private async deleteReplaced(
    tables: string[],
    current: Record<string, string[]>,
    before: LoadMarker[],
  ): Promise<void> {
    const keep = new Set(Object.values(current).flat());
    const live = new Set<string>();
    for (const [t, keys] of FilesystemCatalog.visibleFiles(before))
      if (!tables.includes(t)) for (const k of keys) live.add(k);
    const doomed = new Set<string>();
    for (const load of before)
      for (const t of tables) for (const k of load.files[t] ?? []) if (!keep.has(k)) doomed.add(k);
    try {
      for (const t of tables) {
        const folder = this.options.layout.tableFolder(t);
        if (!folder) continue;
        for (const full of await this.store.list(this.catalog.key(folder))) {
          const k = full.slice(this.catalog.prefix.length);
          if (!keep.has(k) && !live.has(k)) doomed.add(k);
        }
      }
      if (doomed.size > 0) await this.store.delete([...doomed].map((k) => this.catalog.key(k)));
    } catch {
      // Committed already; leftovers are invisible and the next replace removes them.
    }
  }

  async introspect(): Promise<Record<string, TableSchema>> {
    const tables: Record<string, TableSchema> = {};
    for (const s of await this.catalog.schemas()) Object.assign(tables, s.tables);
    return tables;
  }

  async dropDataset(): Promise<void> {
    await this.fsReader.reset();
    try {
      const keys = await this.store.list(this.catalog.prefix);
      // Markers first: a half-finished drop leaves no visible load pointing at deleted files.
      const markers = keys.filter((k) => k.startsWith(this.catalog.key('_ferry_loads/')));
      await this.store.delete(markers);
      await this.store.delete(keys.filter((k) => !markers.includes(k)));
      const local = this.store.localPath(this.catalog.prefix);
      if (local) await (await import('node:fs/promises')).rm(local, { recursive: true, force: true });
    } catch (error) {
      throw this.wrap(error, 'dropping the dataset');
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.lease?.release().catch(() => undefined);
    await this.fsReader.close();
    await this.store.close();
  }
}
