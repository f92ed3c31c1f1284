import path from 'node:path';
import { mkdir } from 'node:fs/promises';
import { DataError } from '../errors.ts';
import type { PipelineStateDoc, ResourceState } from '../destination/destination.ts';
import type { PipelineEvent } from '../pipeline/types.ts';
import { BufferedFile } from '../writers/buffered-file.ts';
import { stringifyJson } from '../util/json.ts';
import type { ExtractedFile, ExtractedManifest, PackageResource } from '../storage/package-storage.ts';
import { IncrementalTracker } from './incremental.ts';
import type { DataItem, Resource, ResourceContext, Source, Yielded } from './resource.ts';

/** Raw files rotate after this many items, so normalize can split work and ids stay short. */
const RAW_FILE_MAX_ITEMS = 100_000;
/** Root resources extracted at once (they are usually I/O bound). */
const RESOURCE_CONCURRENCY = 4;

function asArray(v: string | string[] | undefined): string[] {
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function isPlainObject(v: unknown): v is DataItem {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
}

/** The package-level description of a resource. */
export function describeResource(src: Source, r: Resource): PackageResource {
  const o = r.options;
  const info: PackageResource = {
    resource: r.name,
    table: o.tableName ?? r.name,
    writeDisposition: o.writeDisposition ?? 'append',
    primaryKey: asArray(o.primaryKey),
    mergeKey: asArray(o.mergeKey),
    columns: o.columns ?? {},
    maxTableNesting: o.maxTableNesting ?? src.options.maxTableNesting ?? 1000,
  };
  if (info.writeDisposition === 'merge') info.mergeStrategy = o.mergeStrategy ?? 'delete-insert';
  const contract = o.schemaContract ?? src.options.schemaContract;
  if (contract !== undefined) info.schemaContract = contract;
  return info;
}

class RawWriter {
  private file: BufferedFile | undefined;
  private current: ExtractedFile | undefined;
  items = 0;
  private readonly dir: string;
  private readonly resource: string;
  private readonly nextSeq: () => number;
  private readonly files: ExtractedFile[];
  private readonly maxItems: number;
  private readonly onClosed: ((file: ExtractedFile) => void) | undefined;

  constructor(
    dir: string,
    resource: string,
    nextSeq: () => number,
    files: ExtractedFile[],
    maxItems: number,
    onClosed?: (file: ExtractedFile) => void,
  ) {
    this.maxItems = maxItems;
    this.onClosed = onClosed;
    this.dir = dir;
    this.resource = resource;
    this.nextSeq = nextSeq;
    this.files = files;
  }

  private rotating: Promise<void> | undefined;

  /** Close the current file (durable) and report it when it holds items. */
  private async closeCurrent(): Promise<void> {
    const file = this.file;
    const current = this.current;
    this.file = undefined;
    if (!file) return;
    await file.close();
    if (current && current.items > 0) this.onClosed?.(current);
  }

  private async rotate(): Promise<void> {
    await this.closeCurrent();
    const seq = this.nextSeq();
    const safe = this.resource.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 80);
    this.current = { resource: this.resource, file: `${safe}.${seq}.jsonl`, seq, items: 0 };
    this.files.push(this.current);
    this.file = await BufferedFile.create(path.join(this.dir, this.current.file));
  }

  /** Append one item; safe for concurrent callers (transformers with concurrency > 1). */
  async write(item: DataItem): Promise<void> {
    while (!this.file || this.current!.items >= this.maxItems) {
      if (!this.rotating) {
        this.rotating = this.rotate().finally(() => {
          this.rotating = undefined;
        });
      }
      await this.rotating;
    }
    const file = this.file;
    this.current!.items++;
    this.items++;
    let line: string;
    try {
      line = JSON.stringify(item);
    } catch (error) {
      // Only items holding a bigint take the slow path; the file is flagged for a lossless parse.
      if (!(error instanceof TypeError)) throw error;
      line = stringifyJson(item);
      this.current!.bigints = true;
    }
    const p = file.appendLine(line);
    if (p) await p;
  }

  async close(): Promise<void> {
    await this.closeCurrent();
  }
}

/** Options of {@link extractSource}. */
export interface ExtractOptions {
  /** Folder to write into (a temp folder, committed by the caller). */
  dir: string;
  /** Load id of the package. */
  loadId: string;
  /** State before this extract; not mutated. */
  state: PipelineStateDoc;
  /** Event sink. */
  onEvent: (event: PipelineEvent) => void;
  /** Cancellation. */
  signal: AbortSignal;
  /** Items per raw file. Default 100,000. */
  fileMaxItems?: number;
  /** Merge resources written as append (the destination cannot merge and opted into appending). */
  appendInsteadOfMerge?: ReadonlySet<string>;
  /**
   * Called with each raw file once it is closed and durable (with its resource's manifest entry), so
   * normalize can start on it while extract goes on. Default: none.
   */
  onFileClosed?: (file: ExtractedFile, resource: PackageResource) => void;
}

/**
 * Extract a source into raw JSONL files under `dir`. Root resources run concurrently; transformers run
 * per parent item. Returns the manifest (with the new state, or null when unchanged).
 */
export async function extractSource(src: Source, options: ExtractOptions): Promise<ExtractedManifest> {
  const rawDir = path.join(options.dir, 'raw');
  await mkdir(rawDir, { recursive: true });
  const files: ExtractedFile[] = [];
  let seq = 0;
  const nextSeq = () => seq++;
  const state: PipelineStateDoc = structuredClone(options.state);
  const srcState = (state.sources[src.name] ??= { resources: {} });

  // Transformers hang under their parents; parents not selected explicitly still run, unselected.
  const selected = new Set(src.resources.map((r) => r.name));
  const children = new Map<Resource, Resource[]>();
  const roots: Resource[] = [];
  const visit = (r: Resource) => {
    if (r.transform) {
      const parent = r.transform.parent;
      const list = children.get(parent) ?? [];
      if (!list.includes(r)) list.push(r);
      children.set(parent, list);
      visit(parent);
    } else if (!roots.includes(r)) roots.push(r);
  };
  for (const r of src.resources) visit(r);

  const resources: Record<string, PackageResource> = {};
  const writers = new Map<string, RawWriter>();
  const counts: Record<string, number> = {};
  const trackers = new Map<string, IncrementalTracker>();

  const contextFor = (r: Resource): ResourceContext => {
    const rs: ResourceState = (srcState.resources[r.name] ??= {});
    const extras = (rs.extras ??= {});
    let tracker: IncrementalTracker | undefined;
    const inc = r.options.incremental;
    if (inc) {
      tracker = new IncrementalTracker(
        r.name,
        inc,
        rs.incremental?.[inc.cursorPath],
        asArray(r.options.primaryKey),
      );
      trackers.set(r.name, tracker);
    }
    return { incremental: tracker?.cursor, state: extras, signal: options.signal };
  };

  const isSelected = (r: Resource) => (r.options.selected ?? true) && selected.has(r.name);

  const emitProgress = (name: string, force = false) => {
    const n = counts[name] ?? 0;
    if (force || n % 5000 === 0) options.onEvent({ type: 'extract', resource: name, items: n });
  };

  const consume = async (
    r: Resource,
    iterable: AsyncIterable<Yielded> | Iterable<Yielded>,
    ctxTracker: IncrementalTracker | undefined,
    contexts: Map<Resource, ResourceContext>,
  ): Promise<void> => {
    const sel = isSelected(r);
    if (sel && !writers.has(r.name)) {
      const info = describeResource(src, r);
      if (options.appendInsteadOfMerge?.has(r.name)) {
        info.writeDisposition = 'append';
        delete info.mergeStrategy;
      }
      resources[r.name] = info;
      const onClosed = options.onFileClosed;
      writers.set(
        r.name,
        new RawWriter(
          rawDir,
          r.name,
          nextSeq,
          files,
          options.fileMaxItems ?? RAW_FILE_MAX_ITEMS,
          onClosed && ((file) => onClosed(file, info)),
        ),
      );
    }
    const writer = writers.get(r.name);
    const kids = children.get(r) ?? [];
    let index = 0;
    let stop = false;
    for await (const yielded of iterable as AsyncIterable<Yielded>) {
      if (options.signal.aborted) throw options.signal.reason;
      const batch = Array.isArray(yielded) ? (yielded as DataItem[]) : [yielded as DataItem];
      const kept: DataItem[] = [];
      for (const item of batch) {
        if (!isPlainObject(item)) {
          throw new DataError(
            `resource '${r.name}' yielded item ${index} that is not a plain object (${item === null ? 'null' : Array.isArray(item) ? 'array' : typeof item}). Yield objects or arrays of objects.`,
            { resource: r.name, item: index },
          );
        }
        index++;
        if (ctxTracker) {
          const verdict = ctxTracker.process(item);
          if (verdict === 'skip') continue;
          if (verdict === 'stop') {
            stop = true;
            break;
          }
        }
        if (writer) {
          await writer.write(item);
          counts[r.name] = (counts[r.name] ?? 0) + 1;
          emitProgress(r.name);
        }
        kept.push(item);
      }
      // Transformers run per parent item, `concurrency` at a time (default 1 keeps the parent's order).
      for (const kid of kids) {
        const kctx = contexts.get(kid)!;
        const run = (item: DataItem) =>
          consume(kid, kid.transform!.fn(item, kctx), trackers.get(kid.name), contexts);
        const limit = Math.max(1, kid.transform!.concurrency);
        if (limit === 1) {
          for (const item of kept) await run(item);
        } else {
          let next = 0;
          const lane = async () => {
            while (next < kept.length) await run(kept[next++]!);
          };
          await Promise.all(Array.from({ length: Math.min(limit, kept.length) }, lane));
        }
      }
      if (stop) break;
    }
  };

  const contexts = new Map<Resource, ResourceContext>();
  const collect = (r: Resource) => {
    contexts.set(r, contextFor(r));
    for (const k of children.get(r) ?? []) collect(k);
  };
  for (const r of roots) collect(r);

  const queue = [...roots];
  const worker = async () => {
    for (let r = queue.shift(); r; r = queue.shift()) {
      const ctx = contexts.get(r)!;
      await consume(r, r.fn!(ctx), trackers.get(r.name), contexts);
      emitProgress(r.name, true);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(RESOURCE_CONCURRENCY, roots.length) }, worker));
  } finally {
    for (const w of writers.values()) await w.close();
  }

  for (const [name, tracker] of trackers) {
    const next = tracker.newState();
    if (!next) continue;
    const rs = (srcState.resources[name] ??= {});
    const inc = [...contexts.keys()].find((r) => r.name === name)?.options.incremental;
    if (inc) (rs.incremental ??= {})[inc.cursorPath] = next;
  }
  // Drop empty resource entries so the state document stays small and comparable.
  for (const [name, rs] of Object.entries(srcState.resources)) {
    if (rs.extras && Object.keys(rs.extras).length === 0) delete rs.extras;
    if (Object.keys(rs).length === 0) delete srcState.resources[name];
  }
  if (Object.keys(srcState.resources).length === 0 && !(src.name in options.state.sources))
    delete state.sources[src.name];
  const changed = stringifyJson(state) !== stringifyJson(options.state);
  if (changed) {
    state.version = (options.state.version ?? 0) + 1;
    state.lastLoadId = options.loadId;
  }
  return {
    loadId: options.loadId,
    schemaName: src.name,
    createdAt: new Date().toISOString(),
    resources,
    files: files.filter((f) => f.items > 0),
    state: changed ? state : null,
  };
}
