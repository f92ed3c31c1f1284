import {
  assertReadOnlySql,
  FerryError,
  SYSTEM_TABLES,
  type Dataset,
  type DatasetReader,
  type TableSchema,
} from '@ferry/core';
import { join } from 'node:path';
import type { TeamConfig } from '../config/load-team-config.ts';
import { teamPipeline } from '../engine/core-module.ts';

/** Open the pipeline's dataset read-only, run `fn`, always close it (DuckDB holds a file lock while open). */
export async function withDataset<T>(cfg: TeamConfig, fn: (ds: Dataset) => Promise<T>): Promise<T> {
  const p = await teamPipeline(cfg);
  const ds = p.dataset();
  try {
    return await fn(ds);
  } finally {
    await ds.close();
  }
}

/** A table in `list_tables`. */
export interface TableEntry {
  /** Table name. */
  name: string;
  /** Parent table, for child tables (unpacked lists). */
  parent?: string;
  /** Resource that produced it. */
  resource?: string;
  /** `append`, `replace` or `merge`. */
  writeDisposition?: string;
  /** Column count. */
  columns: number;
  /** Row count (null when it could not be counted). */
  rows: number | null;
  /** Ferry's own bookkeeping tables (`_ferry_*`). */
  system: boolean;
}

/** Tables of a dataset with parents, row counts and columns; system tables only when asked. */
export async function listTables(ds: Dataset, includeSystem: boolean): Promise<TableEntry[]> {
  const reader = await ds.reader();
  const out: TableEntry[] = [];
  const names = await ds.tables();
  if (includeSystem) {
    for (const t of Object.values(SYSTEM_TABLES)) if (!names.includes(t)) names.push(t);
  }
  for (const name of names) {
    const schema = await ds.tableSchema(name).catch(() => undefined);
    if (schema === undefined) continue;
    const n = await reader
      .query(`SELECT COUNT(*) AS n FROM ${reader.qualifiedTable(name)}`)
      .then((r) => r[0]?.['n'])
      .catch(() => undefined);
    out.push({
      name,
      ...(schema.parent === undefined ? {} : { parent: schema.parent }),
      ...(schema.resource === undefined ? {} : { resource: schema.resource }),
      writeDisposition: schema.writeDisposition,
      columns: Object.keys(schema.columns).length,
      rows: n === undefined || n === null ? null : Number(n),
      system: name.startsWith('_ferry_'),
    });
  }
  return out;
}

/** `table_schema`: columns with types, keys and nullability, the parent and the child tables. */
export async function describeTable(ds: Dataset, table: string): Promise<Record<string, unknown>> {
  const schema: TableSchema = await ds.tableSchema(table);
  const children: string[] = [];
  for (const s of await ds.schemas())
    for (const t of Object.values(s.tables)) if (t.parent === table) children.push(t.name);
  return {
    table: schema.name,
    ...(schema.parent === undefined ? {} : { parent: schema.parent }),
    ...(schema.resource === undefined ? {} : { resource: schema.resource }),
    writeDisposition: schema.writeDisposition,
    ...(schema.mergeStrategy === undefined ? {} : { mergeStrategy: schema.mergeStrategy }),
    columns: Object.values(schema.columns).map((c) => ({
      name: c.name,
      dataType: c.dataType,
      nullable: c.nullable,
      ...(c.primaryKey === true ? { primaryKey: true } : {}),
      ...(c.mergeKey === true ? { mergeKey: true } : {}),
      ...(c.variant === true ? { variant: true } : {}),
      ...(c.precision === undefined ? {} : { precision: c.precision, scale: c.scale }),
      ...(c.sourcePath === undefined ? {} : { sourcePath: c.sourcePath }),
    })),
    children,
  };
}

/** `pipeline_info`: where the data is, tables, the last loads, schema version and state. */
export async function pipelineSummary(cfg: TeamConfig, ds: Dataset): Promise<Record<string, unknown>> {
  const tables = await listTables(ds, false);
  const loads = await ds.loads().catch(() => []);
  const schema = await ds.schema().catch(() => undefined);
  const state = await ds.state().catch(() => undefined);
  return {
    pipeline: cfg.pipeline.name,
    file: cfg.file,
    source: cfg.source.type,
    destination: cfg.destination.type,
    dataset: ds.name,
    localDir: join(cfg.pipeline.dataDir, cfg.pipeline.name),
    ...(cfg.transform.dbtCloud === undefined
      ? {}
      : { transform: { dbtCloudJobId: cfg.transform.dbtCloud.jobId } }),
    tables,
    loads: loads.length,
    lastLoads: loads.slice(0, 5),
    ...(schema === undefined
      ? {}
      : {
          schema: { name: schema.name, version: schema.version, tables: Object.keys(schema.tables).length },
        }),
    state: state ?? null,
  };
}

/** Limits of one `query` call. */
export interface QueryBounds {
  /** Most rows returned; one more is fetched to tell whether there were more. */
  maxRows: number;
  /** Cancel after this long, ms. */
  timeoutMs: number;
}

/**
 * Run one user statement the way `ferry query` does: refused by `assertReadOnlySql` before anything
 * connects, then through the dataset's read-only connection. Where the destination's reader has
 * `untrustedQuery` (the destination itself enforces read-only, the row cap and the timeout), that is used;
 * otherwise the statement is wrapped in `SELECT * FROM (…) LIMIT n+1` and raced against the timeout.
 */
export async function boundedQuery(
  ds: Dataset,
  sql: string,
  params: unknown[],
  bounds: QueryBounds,
): Promise<{ rows: Record<string, unknown>[]; more: boolean }> {
  assertReadOnlySql(sql);
  const reader = (await ds.reader()) as DatasetReader & {
    untrustedQuery?: (
      sql: string,
      params: unknown[] | undefined,
      options: { timeoutMs: number; maxRows?: number },
    ) => Promise<Record<string, unknown>[]>;
  };
  let rows: Record<string, unknown>[];
  if (typeof reader.untrustedQuery === 'function') {
    rows = await reader.untrustedQuery(sql, params, {
      timeoutMs: bounds.timeoutMs,
      maxRows: bounds.maxRows + 1,
    });
  } else {
    const inner = sql.trim().replace(/;\s*$/, '');
    let timer: NodeJS.Timeout | undefined;
    try {
      rows = await Promise.race([
        ds.sql(`SELECT * FROM (${inner}\n) AS ferry_mcp_query LIMIT ${bounds.maxRows + 1}`, params),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new FerryError(
                  'QUERY_TIMEOUT',
                  `the query ran longer than ${bounds.timeoutMs} ms; narrow it or add a LIMIT`,
                ),
              ),
            bounds.timeoutMs,
          );
        }),
      ]);
    } finally {
      clearTimeout(timer);
    }
  }
  const more = rows.length > bounds.maxRows;
  return { rows: more ? rows.slice(0, bounds.maxRows) : rows, more };
}
