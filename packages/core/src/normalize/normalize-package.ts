import { isAscii } from 'node:buffer';
import { createReadStream } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { DataError } from '../errors.ts';
import type { FileFormat } from '../destination/capabilities.ts';
import type { FileWriter, FileWriterFactory } from '../destination/destination.ts';
import type { PipelineEvent } from '../pipeline/types.ts';
import type { NamingConvention } from '../schema/naming.ts';
import type { Schema } from '../schema/schema.ts';
import type { TableSchema } from '../schema/types.ts';
import type {
  ExtractedFile,
  ExtractedManifest,
  NormalizedJob,
  NormalizedManifest,
  PackageResource,
} from '../storage/package-storage.ts';
import { jobFileName } from '../storage/package-storage.ts';
import { parseJson } from '../util/json.ts';
import { writeJsonAtomic } from '../util/fs.ts';
import { FILE_EXTENSIONS, isRecordFileWriter, type RecordFileWriter } from '../writers/writers.ts';
import { NO_LIMITS, SizeGuard, type NormalizeLimits } from './limits.ts';
import { RowNormalizer } from './relational.ts';
import { resolveContract } from '../schema/schema.ts';

/** Options of {@link normalizePackage}. */
export interface NormalizePackageOptions {
  /** The extracted package folder (read). */
  extractedDir: string;
  /** A temp folder to write the normalized package into (the caller commits it). */
  outDir: string;
  /** The extracted manifest. */
  manifest: ExtractedManifest;
  /** The schema to evolve (mutated). */
  schema: Schema;
  /** Naming for the destination. */
  naming: NamingConvention;
  /** Loader file format. */
  format: FileFormat;
  /** Writer for that format. */
  writer: FileWriterFactory;
  /** Rotate files past this many rows. */
  fileMaxRows: number;
  /** Rotate files past about this many bytes. */
  fileMaxBytes: number;
  /** Event sink. */
  onEvent: (event: PipelineEvent) => void;
  /** Only these raw files (default: all of the manifest's). Parallel workers each take a share. */
  files?: ExtractedFile[];
  /** Prefix of file ids, so workers writing into one folder never collide. Default ''. */
  fileIdPrefix?: string;
  /** Widen column types in place (the destination can ALTER them). Default true; else variant columns. */
  widen?: boolean;
  /** The destination's limits (columns, row width, row and value size, nesting). Default none. */
  limits?: NormalizeLimits;
  /**
   * Generate a normalizer per resource once its schema settles (see {@link RowNormalizer}'s `codegen`).
   * Default true unless the environment has `FERRY_NORMALIZE_CODEGEN=off`; the output is the same either way.
   */
  codegen?: boolean;
}

interface OpenFile {
  writer: FileWriter;
  /** The writer takes row objects ({@link RecordFileWriter}). */
  record: boolean;
  table: TableSchema;
  columns: string[];
  columnCount: number;
  typeStamp: string;
  /** `schema.changeCount` when the file's shape was last checked against its table. */
  schemaStamp: number;
  job: NormalizedJob;
}

const toBase36 = (n: number, width: number) => n.toString(36).padStart(width, '0');

/**
 * Iterate a file's lines in batches (one array per read chunk): no per-line promise. Chunks are cut at
 * their last newline byte (never inside a UTF-8 sequence) and decoded in one go; pure-ASCII text (the
 * usual JSON) takes the cheaper Latin-1 decode, which yields the same string.
 */
async function* lineBatches(file: string): AsyncGenerator<string[]> {
  let rest: Buffer | undefined;
  for await (const read of createReadStream(file, { highWaterMark: 1 << 20 })) {
    const chunk = rest === undefined ? (read as Buffer) : Buffer.concat([rest, read as Buffer]);
    const end = chunk.lastIndexOf(0x0a);
    if (end < 0) {
      rest = chunk;
      continue;
    }
    rest = end + 1 < chunk.length ? chunk.subarray(end + 1) : undefined;
    const bytes = chunk.subarray(0, end);
    yield (isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8')).split('\n');
  }
  if (rest !== undefined && rest.length > 0) yield [rest.toString('utf8')];
}

/**
 * Normalize one extracted package: flatten and unpack every record, evolve the schema, and write
 * loader files per table into `outDir/new_jobs`, rotating by rows, bytes and schema changes.
 */
export async function normalizePackage(options: NormalizePackageOptions): Promise<NormalizedManifest> {
  const previousSchemaHash = options.schema.tables.size > 0 ? options.schema.toStored().versionHash : null;
  const { jobs, rowCounts } = await normalizeFiles(options);
  return writeNormalizedManifest(options, jobs, rowCounts, previousSchemaHash);
}

/** Write `schema.json`, `state.json` and `package.json` of a normalized package. */
export async function writeNormalizedManifest(
  options: Pick<NormalizePackageOptions, 'manifest' | 'schema' | 'outDir'>,
  jobs: NormalizedJob[],
  rowCounts: Record<string, number>,
  previousSchemaHash: string | null,
): Promise<NormalizedManifest> {
  const { manifest } = options;
  const normalized: NormalizedManifest = {
    loadId: manifest.loadId,
    schemaName: manifest.schemaName,
    createdAt: manifest.createdAt,
    resources: manifest.resources,
    jobs,
    rowCounts,
    previousSchemaHash,
  };
  await writeJsonAtomic(path.join(options.outDir, 'schema.json'), options.schema.toStored());
  await writeJsonAtomic(path.join(options.outDir, 'state.json'), manifest.state);
  await writeJsonAtomic(path.join(options.outDir, 'package.json'), normalized);
  return normalized;
}

/** Normalize raw files into loader files under `outDir/new_jobs`; the schema evolves in place. */
export async function normalizeFiles(
  options: NormalizePackageOptions,
): Promise<{ jobs: NormalizedJob[]; rowCounts: Record<string, number> }> {
  const { manifest } = options;
  const normalizer = await createFileNormalizer({ ...options, loadId: manifest.loadId });
  for (const file of options.files ?? manifest.files)
    await normalizer.normalizeFile(options.extractedDir, file, manifest.resources[file.resource]);
  return normalizer.finish();
}

/** Options of {@link createFileNormalizer}: a package's settings without the extracted files. */
export type FileNormalizerOptions = Omit<NormalizePackageOptions, 'manifest' | 'extractedDir' | 'files'> & {
  /** Load id of the package (row `_ferry_load_id`, deterministic root ids). */
  loadId: string;
};

/**
 * Normalizes raw files one at a time into one set of loader files (shared across raw files, rotated by
 * rows, bytes and schema changes), so files can be fed as extract closes them. `finish()` closes every
 * loader file (fsync) and returns the jobs; call it once, after the last `normalizeFile`.
 */
export interface FileNormalizer {
  /** Normalize one raw file of `extractedDir/raw`; `resource` is the manifest entry of its resource. */
  normalizeFile(
    extractedDir: string,
    file: ExtractedFile,
    resource: PackageResource | undefined,
  ): Promise<void>;
  /** Close all loader files and return the jobs and row counts written so far. */
  finish(): Promise<{ jobs: NormalizedJob[]; rowCounts: Record<string, number> }>;
}

/** A {@link FileNormalizer} writing into `options.outDir/new_jobs` (created). */
export async function createFileNormalizer(options: FileNormalizerOptions): Promise<FileNormalizer> {
  const { schema, naming, loadId } = options;
  const prefix = options.fileIdPrefix ?? '';
  const jobsDir = path.join(options.outDir, 'new_jobs');
  await mkdir(jobsDir, { recursive: true });
  await mkdir(path.join(options.outDir, 'started_jobs'), { recursive: true });
  await mkdir(path.join(options.outDir, 'completed_jobs'), { recursive: true });

  const limits = options.limits ?? NO_LIMITS;
  const normalizer = new RowNormalizer(schema, naming, {
    loadId,
    widen: options.widen ?? true,
    limits,
    ...(options.codegen === undefined ? {} : { codegen: options.codegen }),
  });
  const sizes = new SizeGuard(limits);
  const open = new Map<string, OpenFile>();
  const jobs: NormalizedJob[] = [];
  const rowCounts: Record<string, number> = {};
  const fileIds = new Map<string, number>();
  const ext = FILE_EXTENSIONS[options.format];
  const flushes: Promise<void>[] = [];

  const typeStampOf = (t: TableSchema) => {
    let s = '';
    for (const c of Object.values(t.columns)) s += c.dataType[0];
    return s;
  };

  // A full file closes (last chunk, fsync) in the background while the next one fills; all are awaited
  // before normalizeFiles returns, so the package is durable before it is committed.
  const closing: Promise<void>[] = [];
  const closeInBackground = (writer: FileWriter) => {
    const p = writer.close();
    p.catch(() => undefined); // handled: the error surfaces from Promise.all(closing) below
    closing.push(p);
  };

  const rotate = async (table: TableSchema): Promise<OpenFile> => {
    const current = open.get(table.name);
    if (current) closeInBackground(current.writer);
    const n = fileIds.get(table.name) ?? 0;
    fileIds.set(table.name, n + 1);
    const jobId = `${table.name}.${prefix}${toBase36(n, 5 - prefix.length)}`;
    const cols = Object.values(table.columns);
    const file = path.join(jobsDir, jobFileName(jobId, 0, ext));
    const writer = await options.writer(
      file,
      cols.map((c) => ({
        name: c.name,
        dataType: c.dataType,
        nullable: c.nullable,
        ...(c.precision === undefined ? {} : { precision: c.precision }),
        ...(c.scale === undefined ? {} : { scale: c.scale }),
      })),
    );
    const job: NormalizedJob = {
      jobId,
      table: table.name,
      format: options.format,
      columns: cols.map((c) => c.name),
      rows: 0,
      ext,
    };
    jobs.push(job);
    const entry: OpenFile = {
      writer,
      record: isRecordFileWriter(writer),
      table,
      columns: job.columns,
      columnCount: cols.length,
      typeStamp: typeStampOf(table),
      schemaStamp: schema.changeCount,
      job,
    };
    open.set(table.name, entry);
    return entry;
  };

  // Rows are buffered per record because emit is synchronous and rotation is async.
  const pendingTables: TableSchema[] = [];
  const pendingRows: Record<string, unknown>[] = [];
  const emit = (table: TableSchema, row: Record<string, unknown>) => {
    pendingTables.push(table);
    pendingRows.push(row);
  };

  /** The table gained columns (or, for typed formats, changed a type) since the file opened. */
  const shapeChanged = (f: OpenFile, table: TableSchema): boolean => {
    if (f.columnCount !== Object.keys(table.columns).length) return true;
    if (options.format === 'parquet' && f.typeStamp !== typeStampOf(table)) return true;
    f.schemaStamp = schema.changeCount;
    return false;
  };
  const needsRotation = (f: OpenFile | undefined, table: TableSchema): boolean =>
    !f ||
    f.job.rows >= options.fileMaxRows ||
    f.writer.bytes >= options.fileMaxBytes ||
    (f.schemaStamp !== schema.changeCount && shapeChanged(f, table));

  /**
   * Write a row to its open file (synchronous; the caller rotates first when needed). Core's writers take
   * the row object itself: its keys are the table's columns at most (the file rotates when the table gains
   * one) and the normalizer never sets a key to null, which is what `writeRecord` asks for.
   */
  const writeRow = (f: OpenFile, row: Record<string, unknown>) => {
    let p: void | Promise<void>;
    if (f.record) p = (f.writer as RecordFileWriter).writeRecord(row);
    else {
      const values = new Array<unknown>(f.columns.length);
      for (let i = 0; i < f.columns.length; i++) values[i] = row[f.columns[i]!];
      p = f.writer.write(values);
    }
    if (p) flushes.push(p);
    f.job.rows++;
    const name = f.table.name;
    rowCounts[name] = (rowCounts[name] ?? 0) + 1;
  };

  const normalizeFile = async (
    extractedDir: string,
    file: ExtractedFile,
    info: PackageResource | undefined,
  ): Promise<void> => {
    if (!info)
      throw new DataError(
        `load package ${loadId}: file ${file.file} names unknown resource '${file.resource}'`,
      );
    const filePath = path.join(extractedDir, 'raw', file.file);
    let line = 0;
    // Plain JSON.parse is exact here: the items were JS numbers already; only bigint files need more.
    const parse = file.bigints ? parseJson : JSON.parse;
    const seqPart = `${loadId}_${toBase36(file.seq, 4)}`;
    for await (const batch of lineBatches(filePath)) {
      for (const text of batch) {
        if (text.length === 0) continue;
        let record: unknown;
        try {
          record = parse(text);
        } catch (error) {
          throw new DataError(
            `load package ${loadId}: ${file.file} line ${line + 1} is not valid JSON`,
            { file: filePath, line: line + 1 },
            error,
          );
        }
        const rootId = seqPart + toBase36(line, 6);
        line++;
        normalizer.normalize(info, record as Record<string, unknown>, rootId, emit);
        if (
          sizes.needsCheck(text.length) &&
          !sizes.check(
            pendingRows,
            pendingTables,
            { resource: info.resource, position: `line ${line} of ${file.file}` },
            resolveContract(info.schemaContract).limits,
          )
        ) {
          pendingRows.length = 0;
          pendingTables.length = 0;
          continue;
        }
        for (let i = 0; i < pendingRows.length; i++) {
          const table = pendingTables[i]!;
          let f = open.get(table.name);
          if (needsRotation(f, table)) f = await rotate(table);
          writeRow(f!, pendingRows[i]!);
        }
        pendingRows.length = 0;
        pendingTables.length = 0;
        if (flushes.length > 0) {
          await Promise.all(flushes);
          flushes.length = 0;
        }
      }
    }
    for (const [table, n] of Object.entries(rowCounts))
      options.onEvent({ type: 'normalize', table, rows: n, loadId });
  };
  let finished = false;
  const finish = async () => {
    if (!finished) {
      finished = true;
      for (const f of open.values()) closeInBackground(f.writer);
    }
    await Promise.all(closing);
    return { jobs, rowCounts };
  };
  return { normalizeFile, finish };
}
