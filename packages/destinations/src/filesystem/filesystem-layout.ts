import { ConfigError } from '@ferry/core';

/** dlt's default layout: one folder per table, files named by load and file id. */
export const DEFAULT_LAYOUT = '{table_name}/{load_id}.{file_id}.{ext}';

/**
 * Placeholders a layout may use. Dates and `{timestamp}` come from the load's creation time (its load id
 * holds the microseconds since the epoch), not the upload time, so a retried upload lands on the same key.
 */
export const LAYOUT_PLACEHOLDERS = [
  'table_name',
  'load_id',
  'file_id',
  'ext',
  'schema_name',
  'curr_date',
  'YYYY',
  'MM',
  'DD',
  'timestamp',
] as const;

/** One of {@link LAYOUT_PLACEHOLDERS}. */
export type LayoutPlaceholder = (typeof LAYOUT_PLACEHOLDERS)[number];

/** Placeholders every layout needs: without them two files (or two loads) would share a key. */
const REQUIRED: LayoutPlaceholder[] = ['table_name', 'load_id', 'file_id'];

/** Folders of Ferry's own files, which a layout may not write into. */
export const SYSTEM_FOLDERS = ['_ferry_loads', '_ferry_pipeline_state', '_ferry_version'];

/** Values to fill a layout with. */
export interface LayoutValues {
  /** Table name (normalized). */
  tableName: string;
  /** Load id (digits). */
  loadId: string;
  /** File id within the table's files of the load. */
  fileId: string;
  /** Extension without the dot (`parquet`, `jsonl`, `jsonl.gz`). */
  ext: string;
  /** Schema (source) name. */
  schemaName: string;
}

/** A validated layout that renders keys. */
export class FilesystemLayout {
  /** The layout text. */
  readonly pattern: string;
  private readonly parts: (string | { name: LayoutPlaceholder })[] = [];

  constructor(pattern: string = DEFAULT_LAYOUT) {
    this.pattern = pattern;
    const found = new Set<string>();
    const re = /\{([^{}]*)\}/g;
    let last = 0;
    for (let m = re.exec(pattern); m; m = re.exec(pattern)) {
      if (m.index > last) this.parts.push(pattern.slice(last, m.index));
      const name = m[1]!;
      if (!(LAYOUT_PLACEHOLDERS as readonly string[]).includes(name)) {
        throw new ConfigError(
          `filesystem layout '${pattern}' uses unknown placeholder {${name}}; use one of ${LAYOUT_PLACEHOLDERS.map((p) => `{${p}}`).join(' ')}`,
          { path: 'layout' },
        );
      }
      found.add(name);
      this.parts.push({ name: name as LayoutPlaceholder });
      last = re.lastIndex;
    }
    if (last < pattern.length) this.parts.push(pattern.slice(last));
    const rest = this.parts.filter((p): p is string => typeof p === 'string').join('');
    if (/[{}]/.test(rest))
      throw new ConfigError(
        `filesystem layout '${pattern}' has an unbalanced brace; placeholders look like {table_name}`,
        { path: 'layout' },
      );
    const missing = REQUIRED.filter((r) => !found.has(r));
    if (missing.length > 0) {
      throw new ConfigError(
        `filesystem layout '${pattern}' lacks ${missing.map((m) => `{${m}}`).join(', ')}; every file key needs {table_name}, {load_id} and {file_id} to be unique (default ${DEFAULT_LAYOUT})`,
        { path: 'layout' },
      );
    }
    if (pattern.startsWith('/') || pattern.split('/').some((s) => s === '..' || s === '.')) {
      throw new ConfigError(
        `filesystem layout '${pattern}' must be a relative path without '.' or '..' segments`,
        { path: 'layout' },
      );
    }
  }

  /** The fixed folder every file of a table lives under, when the layout starts with `{table_name}/`. */
  tableFolder(tableName: string): string | undefined {
    const [first, second] = this.parts;
    return typeof first === 'object' &&
      first.name === 'table_name' &&
      typeof second === 'string' &&
      second.startsWith('/')
      ? `${tableName}/`
      : undefined;
  }

  /** Render the key of one file. */
  render(values: LayoutValues): string {
    const micros = /^\d{13,}$/.test(values.loadId) ? BigInt(values.loadId) : 0n;
    const date = new Date(Number(micros / 1000n));
    const yyyy = String(date.getUTCFullYear()).padStart(4, '0');
    const mm = String(date.getUTCMonth() + 1).padStart(2, '0');
    const dd = String(date.getUTCDate()).padStart(2, '0');
    const fill: Record<LayoutPlaceholder, string> = {
      table_name: values.tableName,
      load_id: values.loadId,
      file_id: values.fileId,
      ext: values.ext,
      schema_name: values.schemaName,
      curr_date: `${yyyy}-${mm}-${dd}`,
      YYYY: yyyy,
      MM: mm,
      DD: dd,
      timestamp: String(micros / 1_000_000n),
    };
    const key = this.parts.map((p) => (typeof p === 'string' ? p : fill[p.name])).join('');
    const top = key.split('/')[0]!;
    if (SYSTEM_FOLDERS.includes(top))
      throw new ConfigError(
        `filesystem layout '${this.pattern}' puts table '${values.tableName}' into Ferry's system folder ${top}/; change the layout`,
        { path: 'layout' },
      );
    return key;
  }
}
