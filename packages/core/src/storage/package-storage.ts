import { mkdir, readFile, rename } from 'node:fs/promises';
import path from 'node:path';
import type { FileFormat } from '../destination/capabilities.ts';
import type { PipelineStateDoc } from '../destination/destination.ts';
import type { ResourceTableInfo } from '../normalize/relational.ts';
import type { StoredSchema } from '../schema/types.ts';
import { listDir, remove, syncDir, writeJsonAtomic, exists } from '../util/fs.ts';
import { assertOwnedFolder, claimWorkingFolder } from './working-folder.ts';

/**
 * How one resource's records become tables; recorded in the package so normalize needs no source code.
 * The same shape the normalizer takes.
 */
export type PackageResource = ResourceTableInfo;

/** A raw extracted file: JSON lines of one resource. */
export interface ExtractedFile {
  /** Resource the items came from. */
  resource: string;
  /** File name inside the package's `raw/` folder. */
  file: string;
  /** Global sequence number within the package (orders rows for merge de-duplication). */
  seq: number;
  /** Items in the file. */
  items: number;
  /** True when some item held a `bigint` (written as an exact literal): normalize then parses losslessly. */
  bigints?: boolean;
}

/** `package.json` of an extracted package. */
export interface ExtractedManifest {
  /** Load id. */
  loadId: string;
  /** Schema (source) name. */
  schemaName: string;
  /** ISO time of creation. */
  createdAt: string;
  /** Resources extracted, by name. */
  resources: Record<string, PackageResource>;
  /** Raw files in order. */
  files: ExtractedFile[];
  /** State after this package, or null when unchanged. */
  state: PipelineStateDoc | null;
}

/** A normalized job, as recorded in the manifest. */
export interface NormalizedJob {
  /** `<table>.<fileId>`. */
  jobId: string;
  /** Table. */
  table: string;
  /** File format. */
  format: FileFormat;
  /** Column names in file order. */
  columns: string[];
  /** Rows. */
  rows: number;
  /** File name without retry count: `<table>.<fileId>.<ext>`; on disk `<table>.<fileId>.<retry>.<ext>`. */
  ext: string;
}

/** `package.json` of a normalized package. */
export interface NormalizedManifest {
  /** Load id. */
  loadId: string;
  /** Schema name. */
  schemaName: string;
  /** ISO creation time (of the extract). */
  createdAt: string;
  /** Resources in the package (dispositions decide replace chains). */
  resources: Record<string, PackageResource>;
  /** Jobs. */
  jobs: NormalizedJob[];
  /** Rows per table. */
  rowCounts: Record<string, number>;
  /** Schema version hash before this package (to report changes). */
  previousSchemaHash: string | null;
}

/** `failure.json` of a package moved aside to `failed/` after a load error retrying cannot fix. */
export interface PackageFailure {
  /** Load id. */
  loadId: string;
  /** ISO time it was moved aside. */
  failedAt: string;
  /** Stage it was in: `normalized`, or `extracted` for a later package moved aside with it. */
  stage: 'extracted' | 'normalized';
  /** The error (no secrets: destination errors are redacted where they are made). */
  error: string;
  /** The package whose failure moved this one aside, when not itself. */
  movedWith?: string;
}

/** Job folders inside a normalized package. */
export type JobFolder = 'new_jobs' | 'started_jobs' | 'completed_jobs';

/**
 * The pipeline's working folder: packages move `extracted → normalized → loaded` by renames, each a
 * commit point. Temp folders are work in progress and are deleted when the next run takes the lock.
 */
export class PackageStorage {
  /** Root folder `<dataDir>/<pipeline>`. */
  readonly root: string;

  constructor(root: string) {
    this.root = root;
  }

  /** Folder of a stage (`failed`: packages moved aside after a terminal load error). */
  stageDir(stage: 'extracted' | 'normalized' | 'loaded' | 'failed' | 'tmp'): string {
    return path.join(this.root, stage);
  }

  /** Package folder in a stage. */
  packageDir(stage: 'extracted' | 'normalized' | 'loaded' | 'failed', loadId: string): string {
    return path.join(this.root, stage, loadId);
  }

  /**
   * Claim the working folder (see `working-folder.ts`: created with Ferry's marker, or refused when it
   * holds someone else's files) and create the stage folders. Reads need no more; writers take the run
   * lock and call {@link recover}.
   */
  async open(): Promise<void> {
    await claimWorkingFolder(this.root, path.basename(this.root));
    for (const stage of ['extracted', 'normalized', 'loaded', 'tmp'] as const) {
      await mkdir(this.stageDir(stage), { recursive: true });
    }
  }

  /** The run lock file of this working folder (see `run-lock.ts`). */
  get lockFile(): string {
    return path.join(this.root, 'run.lock');
  }

  /**
   * Delete half-written work from a crashed run. Only under the run lock: another live run's temp
   * folders are its work in progress (a reader such as `ferry pipeline show` must never delete them).
   */
  async recover(): Promise<void> {
    await assertOwnedFolder(this.root, 'clean up temp folders in');
    await remove(this.stageDir('tmp'));
    await mkdir(this.stageDir('tmp'), { recursive: true });
    // A package normalized but whose extracted copy was not yet removed: the normalized one wins.
    for (const loadId of await this.list('extracted')) {
      if (
        (await exists(this.packageDir('normalized', loadId))) ||
        (await exists(this.packageDir('loaded', loadId)))
      ) {
        await remove(this.packageDir('extracted', loadId));
      }
    }
  }

  /** Load ids in a stage, ascending. */
  async list(stage: 'extracted' | 'normalized' | 'loaded' | 'failed'): Promise<string[]> {
    return (await listDir(this.stageDir(stage))).filter((n) => /^\d+$/.test(n));
  }

  /** A fresh temp folder for work in progress. */
  async tempDir(label: string): Promise<string> {
    const dir = path.join(this.stageDir('tmp'), `${label}-${process.pid}-${Date.now().toString(36)}`);
    await mkdir(dir, { recursive: true });
    return dir;
  }

  /** Commit a temp folder into a stage under `loadId` (atomic rename). */
  async commit(
    tempDir: string,
    stage: 'extracted' | 'normalized' | 'loaded',
    loadId: string,
  ): Promise<string> {
    const target = this.packageDir(stage, loadId);
    await rename(tempDir, target);
    await syncDir(this.stageDir(stage));
    return target;
  }

  /** Move a package between stages (atomic rename). */
  async move(loadId: string, from: 'extracted' | 'normalized', to: 'normalized' | 'loaded'): Promise<void> {
    await rename(this.packageDir(from, loadId), this.packageDir(to, loadId));
    await syncDir(this.stageDir(to));
  }

  /**
   * Move a pending package aside to `failed/<loadId>` (atomic rename) with its `failure.json`; kept for
   * inspection, never loaded again. Job files go back to `new_jobs` first by the caller.
   */
  async moveToFailed(stage: 'extracted' | 'normalized', failure: PackageFailure): Promise<string> {
    await mkdir(this.stageDir('failed'), { recursive: true });
    const target = this.packageDir('failed', failure.loadId);
    await writeJsonAtomic(path.join(this.packageDir(stage, failure.loadId), 'failure.json'), failure);
    await rename(this.packageDir(stage, failure.loadId), target);
    await syncDir(this.stageDir('failed'));
    return target;
  }

  /** Packages moved aside, oldest first, with why. */
  async listFailed(): Promise<(PackageFailure & { dir: string })[]> {
    const out: (PackageFailure & { dir: string })[] = [];
    for (const loadId of await this.list('failed')) {
      const dir = this.packageDir('failed', loadId);
      const failure = await readFile(path.join(dir, 'failure.json'), 'utf8')
        .then((t) => JSON.parse(t) as PackageFailure)
        .catch(() => ({ loadId, failedAt: '', stage: 'normalized' as const, error: 'unknown' }));
      out.push({ ...failure, dir });
    }
    return out;
  }

  /** Delete the local schema file (the destination's copy is restored by the next sync). */
  async deleteSchema(name: string): Promise<void> {
    await remove(path.join(this.root, 'schemas', `${name}.schema.json`));
  }

  /** Delete a package. */
  async delete(stage: 'extracted' | 'normalized' | 'loaded', loadId: string): Promise<void> {
    await remove(this.packageDir(stage, loadId));
  }

  /** Read a manifest. */
  async readManifest<T>(stage: 'extracted' | 'normalized' | 'loaded', loadId: string): Promise<T> {
    return JSON.parse(await readFile(path.join(this.packageDir(stage, loadId), 'package.json'), 'utf8')) as T;
  }

  /** Read a JSON file of a package, or undefined. */
  async readPackageJson<T>(
    stage: 'extracted' | 'normalized' | 'loaded',
    loadId: string,
    name: string,
  ): Promise<T | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.packageDir(stage, loadId), name), 'utf8')) as T;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Current path of a job file (it moves between job folders) and its retry count. */
  async findJob(
    loadId: string,
    job: NormalizedJob,
  ): Promise<{ folder: JobFolder; path: string; retry: number }> {
    const dir = this.packageDir('normalized', loadId);
    for (const folder of ['new_jobs', 'started_jobs', 'completed_jobs'] as const) {
      for (const name of await listDir(path.join(dir, folder))) {
        const parsed = parseJobFileName(name);
        if (parsed && parsed.jobId === job.jobId)
          return { folder, path: path.join(dir, folder, name), retry: parsed.retry };
      }
    }
    throw new Error(`load package ${loadId}: job file ${job.jobId} is missing from ${dir}`);
  }

  /** Move a job file to another folder, optionally bumping its retry count. */
  async moveJob(loadId: string, job: NormalizedJob, to: JobFolder, bumpRetry = false): Promise<string> {
    const current = await this.findJob(loadId, job);
    const retry = current.retry + (bumpRetry ? 1 : 0);
    const target = path.join(
      this.packageDir('normalized', loadId),
      to,
      jobFileName(job.jobId, retry, job.ext),
    );
    if (target !== current.path) await rename(current.path, target);
    return target;
  }

  /** Local committed state (`state.json`), or undefined. */
  async readState(): Promise<PipelineStateDoc | undefined> {
    try {
      return JSON.parse(await readFile(path.join(this.root, 'state.json'), 'utf8')) as PipelineStateDoc;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Write the local committed state. */
  async writeState(state: PipelineStateDoc): Promise<void> {
    await writeJsonAtomic(path.join(this.root, 'state.json'), state);
  }

  /** Local schema by name, or undefined. */
  async readSchema(name: string): Promise<StoredSchema | undefined> {
    try {
      return JSON.parse(
        await readFile(path.join(this.root, 'schemas', `${name}.schema.json`), 'utf8'),
      ) as StoredSchema;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  /** Write the local schema. */
  async writeSchema(schema: StoredSchema): Promise<void> {
    await writeJsonAtomic(path.join(this.root, 'schemas', `${schema.name}.schema.json`), schema);
  }

  /** Names of local schemas. */
  async listSchemas(): Promise<string[]> {
    return (await listDir(path.join(this.root, 'schemas')))
      .filter((n) => n.endsWith('.schema.json'))
      .map((n) => n.slice(0, -'.schema.json'.length));
  }
}

/** `<table>.<fileId>.<retry>.<ext>`: the retry count lives in the name (dlt's convention). */
export function jobFileName(jobId: string, retry: number, ext: string): string {
  return `${jobId}.${retry}.${ext}`;
}

/** Parse a job file name back into its job id and retry count. */
export function parseJobFileName(name: string): { jobId: string; retry: number; ext: string } | undefined {
  const m = /^(.+\.[0-9a-z]{5})\.(\d+)\.([a-z.]+)$/.exec(name);
  if (!m) return undefined;
  return { jobId: m[1]!, retry: Number(m[2]), ext: m[3]! };
}
