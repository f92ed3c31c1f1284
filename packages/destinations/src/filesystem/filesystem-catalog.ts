import { DestinationError, parseJson, type PipelineStateDoc, type StoredSchema } from '@ferry/core';
import type { FilesystemStore } from './filesystem-store.ts';

/** Folder (under the dataset) of the commit markers. */
export const LOADS_FOLDER = '_ferry_loads';
/** Folder of the pipeline state files. */
export const STATE_FOLDER = '_ferry_pipeline_state';
/** Folder of the schema versions. */
export const VERSION_FOLDER = '_ferry_version';

/**
 * The commit marker `_ferry_loads/<load_id>.json`, written last: a load exists only once this exists.
 * It lists the load's files, so readers never depend on listing data folders or on the layout.
 */
export interface LoadMarker {
  /** Load id (digits). */
  load_id: string;
  /** Schema (source) name. */
  schema_name: string;
  /** 0 = loaded (as in the SQL destinations' `_ferry_loads`). */
  status: number;
  /** When the marker was written (ISO). */
  inserted_at: string;
  /** Schema version hash the load's data follows. */
  schema_version_hash: string;
  /** Keys (relative to the dataset folder) of the load's data files, by table. */
  files: Record<string, string[]>;
  /** Tables this load replaced: for them only files of this load and later ones count. */
  replaced_tables: string[];
}

/** The state file `_ferry_pipeline_state/<pipeline>__<load_id>.json`. */
export interface StateFile {
  /** State version. */
  version: number;
  /** Ferry schema engine version. */
  engine_version: number;
  /** Pipeline name. */
  pipeline_name: string;
  /** The state document. */
  state: PipelineStateDoc;
  /** Written at (ISO). */
  created_at: string;
  /** Hash of the state text. */
  version_hash: string;
  /** Load that committed it. */
  _ferry_load_id: string;
}

/** Compare digit strings as numbers. */
export function compareLoadIds(a: string, b: string): number {
  return a.length - b.length || (a < b ? -1 : a > b ? 1 : 0);
}

/** Key of a load's marker. */
export const markerKey = (loadId: string) => `${LOADS_FOLDER}/${loadId}.json`;
/** Key of a state file. */
export const stateKey = (pipeline: string, loadId: string) => `${STATE_FOLDER}/${pipeline}__${loadId}.json`;
/** Key of a schema version (version zero-padded so keys sort by version). */
export const versionKey = (schema: StoredSchema) =>
  `${VERSION_FOLDER}/${schema.name}__${String(schema.version).padStart(10, '0')}__${schema.versionHash}.json`;

const MARKER_RE = /^_ferry_loads\/(\d+)\.json$/;

/**
 * Reads a dataset's Ferry files from a store: markers (cached: a marker never changes once written),
 * state files and schema versions. Keys passed to the store are prefixed with the dataset folder.
 */
export class FilesystemCatalog {
  /** Store. */
  readonly store: FilesystemStore;
  /** `<dataset>/`. */
  readonly prefix: string;
  private readonly markers = new Map<string, LoadMarker>();

  constructor(store: FilesystemStore, dataset: string) {
    this.store = store;
    this.prefix = `${dataset}/`;
  }

  /** Full store key of a dataset-relative key. */
  key(relative: string): string {
    return this.prefix + relative;
  }

  private async readJson<T>(relative: string): Promise<T | undefined> {
    const body = await this.store.get(this.key(relative));
    if (!body) return undefined;
    try {
      return parseJson(body.toString('utf8')) as T;
    } catch (error) {
      throw new DestinationError(
        `${this.store.url}${this.key(relative)} is not valid JSON; it is a Ferry system file, restore or delete it`,
        { cause: error },
      );
    }
  }

  /** Every committed load, oldest first. */
  async loads(): Promise<LoadMarker[]> {
    const ids: string[] = [];
    for (const k of await this.store.list(this.key(`${LOADS_FOLDER}/`))) {
      const m = MARKER_RE.exec(k.slice(this.prefix.length));
      if (m) ids.push(m[1]!);
    }
    ids.sort(compareLoadIds);
    const out: LoadMarker[] = [];
    for (const id of ids) {
      let marker = this.markers.get(id);
      if (!marker) {
        marker = await this.readJson<LoadMarker>(markerKey(id));
        if (!marker) continue;
        this.markers.set(id, marker);
      }
      out.push(marker);
    }
    return out;
  }

  /** Whether a load's marker exists. */
  async isCommitted(loadId: string): Promise<boolean> {
    return this.markers.has(loadId) || (await this.store.exists(this.key(markerKey(loadId))));
  }

  /** The data files readers see, by table: committed loads only; a replace hides older loads' files. */
  static visibleFiles(loads: LoadMarker[]): Map<string, string[]> {
    const files = new Map<string, string[]>();
    for (const load of loads) {
      for (const t of load.replaced_tables) files.set(t, []);
      for (const [t, keys] of Object.entries(load.files)) files.set(t, [...(files.get(t) ?? []), ...keys]);
    }
    return files;
  }

  /** Newest state of a pipeline whose load is committed. */
  async newestState(pipeline: string): Promise<StateFile | undefined> {
    const head = this.key(`${STATE_FOLDER}/${pipeline}__`);
    const ids = (await this.store.list(head))
      .map((k) => /^(\d+)\.json$/.exec(k.slice(head.length))?.[1])
      .filter((id): id is string => id !== undefined)
      .sort(compareLoadIds)
      .reverse();
    for (const id of ids) {
      if (await this.isCommitted(id)) return this.readJson<StateFile>(stateKey(pipeline, id));
    }
    return undefined;
  }

  /** Stored versions of a schema, newest first: `{version, hash, key}`. */
  async versions(schemaName: string): Promise<{ version: number; hash: string; key: string }[]> {
    const head = this.key(`${VERSION_FOLDER}/${schemaName}__`);
    const out: { version: number; hash: string; key: string }[] = [];
    for (const k of await this.store.list(head)) {
      const m = /^(\d{10})__([^/]+)\.json$/.exec(k.slice(head.length));
      if (m) out.push({ version: Number(m[1]), hash: m[2]!, key: k.slice(this.prefix.length) });
    }
    return out.sort((a, b) => b.version - a.version);
  }

  /** Newest schema version of `schemaName` that a committed load uses (a crashed load's version is ignored). */
  async newestSchema(schemaName: string, loads?: LoadMarker[]): Promise<StoredSchema | undefined> {
    const committed = new Set(
      (loads ?? (await this.loads()))
        .filter((l) => l.schema_name === schemaName)
        .map((l) => l.schema_version_hash),
    );
    for (const v of await this.versions(schemaName)) {
      if (committed.has(v.hash)) return this.readJson<StoredSchema>(v.key);
    }
    return undefined;
  }

  /** The newest committed schema of every schema name in the dataset. */
  async schemas(loads?: LoadMarker[]): Promise<StoredSchema[]> {
    const all = loads ?? (await this.loads());
    const names = [...new Set(all.map((l) => l.schema_name))];
    const out: StoredSchema[] = [];
    for (const n of names) {
      const s = await this.newestSchema(n, all);
      if (s) out.push(s);
    }
    return out;
  }
}
