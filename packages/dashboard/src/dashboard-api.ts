import {
  assertReadOnlySql,
  ConfigError,
  FerryError,
  SYSTEM_COLUMNS,
  type Dataset,
  type Pipeline,
  type StoredSchema,
  type TableSchema,
} from '@ferry/core';
import { redactSecrets } from './dashboard-json.ts';
import { durationsPerJob, runsPerDay, type DurationsPerJob, type RunsPerDay } from './dbt-runs-charts.ts';

/** An API failure with the HTTP status to answer with; the message is shown to the user as is. */
export class DashboardRequestError extends FerryError {
  /** HTTP status. */
  readonly status: number;

  constructor(status: number, message: string, cause?: unknown) {
    super('DASHBOARD_REQUEST', message, { context: { status }, cause });
    this.status = status;
  }
}

/** Most rows a data page returns (the page asks for 50 by default). */
export const MAX_PAGE_ROWS = 500;
/** Most rows the SQL box returns; the answer says when there were more. */
export const MAX_SQL_ROWS = 1000;
/** Default timeout of a dashboard SQL-box query: 30 s. */
export const DEFAULT_DASHBOARD_QUERY_TIMEOUT_MS = 30_000;
/** Loads listed on the overview, newest first. */
const OVERVIEW_LOADS = 20;
/** Columns the dbt Cloud charts need in the `runs` table. */
const RUNS_COLUMNS = ['job_definition_id', 'status', 'created_at', 'started_at', 'finished_at'];

/** `/api/overview`. */
export interface Overview {
  pipeline: { name: string; dataset: string; destinationType: string };
  schemas: { name: string; version: number; versionHash: string; tables: number }[];
  tables: { name: string; parent: string | null; rows: number }[];
  rowCounts: Record<string, number>;
  loads: {
    loadId: string;
    schemaName: string;
    status: number;
    insertedAt: Date;
    schemaVersionHash: string;
    rows: Record<string, number>;
  }[];
  state: {
    version: number;
    lastLoadId: string | null;
    cursors: {
      source: string;
      resource: string;
      cursorPath: string;
      initialValue: unknown;
      lastValue: unknown;
    }[];
    extras: { source: string; resource: string; extras: unknown }[];
  } | null;
  lastRun: {
    loadIds: string[];
    rowCounts: Record<string, number>;
    timings: Record<string, number | undefined>;
    schemaVersion: number;
    empty: boolean;
    schemaChanges: unknown[];
  } | null;
}

/** Default of {@link DashboardApiOptions.maxConcurrent}. */
export const DEFAULT_DASHBOARD_MAX_CONCURRENT = 4;

/** Options of {@link DashboardApi}. */
export interface DashboardApiOptions {
  /** Timeout of one SQL-box query (ms). Default {@link DEFAULT_DASHBOARD_QUERY_TIMEOUT_MS} (30 s). */
  queryTimeoutMs?: number;
  /**
   * Requests that read the destination at the same time; more wait for a free slot. Default 4: a slow
   * query does not stall the other pages, and a burst of requests cannot open a connection (or a DuckDB
   * instance with its own buffer pool) each.
   */
  maxConcurrent?: number;
}

/**
 * What the dashboard reads, one method per API endpoint. Each request opens its own read-only dataset
 * and closes it when it answers: requests run concurrently (up to `maxConcurrent`), a slow SQL-box query
 * holds only its own connection, and the dashboard holds the destination only while a request runs (a
 * pipeline run can write in between; DuckDB allows one writing process or many reading ones, and a
 * writer waits out a reader). A page opened after a run shows the newest committed data.
 */
export class DashboardApi {
  private readonly pipeline: Pipeline;
  private readonly maxConcurrent: number;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private readonly inFlight = new Set<Promise<unknown>>();

  /** Timeout of one SQL-box query (ms). Default 30 s: a page must answer, a long query belongs in `ferry query`. */
  readonly queryTimeoutMs: number;

  constructor(pipeline: Pipeline, options: DashboardApiOptions = {}) {
    this.pipeline = pipeline;
    this.queryTimeoutMs = options.queryTimeoutMs ?? DEFAULT_DASHBOARD_QUERY_TIMEOUT_MS;
    if (!Number.isInteger(this.queryTimeoutMs) || this.queryTimeoutMs < 1)
      throw new ConfigError(
        `dashboard query timeout must be a whole number of ms >= 1, got ${this.queryTimeoutMs}`,
      );
    this.maxConcurrent = options.maxConcurrent ?? DEFAULT_DASHBOARD_MAX_CONCURRENT;
    if (!Number.isInteger(this.maxConcurrent) || this.maxConcurrent < 1)
      throw new ConfigError(`dashboard maxConcurrent must be a whole number >= 1, got ${this.maxConcurrent}`);
  }

  /** Run `fn` on a read-only dataset of its own, opened for this call and closed after it. */
  private withDataset<T>(fn: (ds: Dataset) => Promise<T>): Promise<T> {
    const run = async (): Promise<T> => {
      await this.acquire();
      const ds = this.pipeline.dataset();
      try {
        await hardenReader(this.pipeline, ds);
        return await fn(ds);
      } finally {
        await ds.close().catch(() => undefined);
        this.releaseSlot();
      }
    };
    const result = run();
    const tracked = result.catch(() => undefined);
    this.inFlight.add(tracked);
    void tracked.then(() => this.inFlight.delete(tracked));
    return result;
  }

  private async acquire(): Promise<void> {
    if (this.running < this.maxConcurrent) {
      this.running++;
      return;
    }
    // The slot passes directly from the call that frees it (running stays the same).
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }

  private releaseSlot(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.running--;
  }

  /** Wait for the calls in flight to finish (used by the server's `close()`); each closes its own dataset. */
  async close(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }

  /** State, cursors, row counts, loads with rows per table, schema versions and the last run's timings. */
  overview(): Promise<Overview> {
    return this.withDataset(async (ds) => {
      const schemas = await ds.schemas();
      const rowCounts = await ds.rowCounts();
      const tables = allTables(schemas).map((t) => ({
        name: t.name,
        parent: t.parent ?? null,
        rows: rowCounts[t.name] ?? 0,
      }));
      const loads = (await ds.loads()).slice(0, OVERVIEW_LOADS);
      const perLoad = await rowsPerLoad(
        ds,
        schemas,
        loads.map((l) => l.loadId),
      );
      const state = await ds.state();
      const lastRun = await this.pipeline.lastRun();
      return {
        // Only the type and the dataset name: a destination's description may carry a host, a user or worse.
        pipeline: {
          name: this.pipeline.name,
          dataset: this.pipeline.destinationDataset,
          destinationType: this.pipeline.destination.type,
        },
        schemas: schemas.map((s) => ({
          name: s.name,
          version: s.version,
          versionHash: s.versionHash,
          tables: Object.keys(s.tables).length,
        })),
        tables,
        rowCounts,
        loads: loads.map((l) => ({ ...l, rows: perLoad.get(l.loadId) ?? {} })),
        state: state
          ? {
              version: state.version,
              lastLoadId: state.lastLoadId ?? null,
              cursors: Object.entries(state.sources).flatMap(([source, s]) =>
                Object.entries(s.resources).flatMap(([resource, r]) =>
                  Object.entries(r.incremental ?? {}).map(([cursorPath, c]) => ({
                    source,
                    resource,
                    cursorPath,
                    initialValue: redactSecrets(c.initialValue ?? null),
                    lastValue: redactSecrets(c.lastValue ?? null),
                  })),
                ),
              ),
              extras: Object.entries(state.sources).flatMap(([source, s]) =>
                Object.entries(s.resources)
                  .filter(([, r]) => r.extras && Object.keys(r.extras).length > 0)
                  .map(([resource, r]) => ({ source, resource, extras: redactSecrets(r.extras) })),
              ),
            }
          : null,
        // A whitelist: LoadInfo.destination and extras are free-form and stay on the server.
        lastRun: lastRun
          ? {
              loadIds: lastRun.loadIds,
              rowCounts: lastRun.rowCounts,
              timings: { ...lastRun.timings },
              schemaVersion: lastRun.schemaVersion,
              empty: lastRun.empty,
              schemaChanges: lastRun.schemaChanges,
            }
          : null,
      };
    });
  }

  /** Every schema with its tables, columns and types; `parent` gives the parent → child tree. */
  schema(): Promise<{
    schemas: { name: string; version: number; versionHash: string; tables: ReturnType<typeof tableInfo>[] }[];
  }> {
    return this.withDataset(async (ds) => ({
      schemas: (await ds.schemas()).map((s) => ({
        name: s.name,
        version: s.version,
        versionHash: s.versionHash,
        tables: Object.values(s.tables).map(tableInfo),
      })),
    }));
  }

  /** One page of a table's rows (columns in schema order, rows as arrays), ordered by `_ferry_id` when present. */
  table(
    name: string,
    offset: number,
    limit: number,
  ): Promise<{
    table: string;
    columns: { name: string; dataType: string }[];
    rows: unknown[][];
    offset: number;
    limit: number;
    total: number;
  }> {
    return this.withDataset(async (ds) => {
      const tables = await ds.tables();
      if (!tables.includes(name))
        throw new DashboardRequestError(
          404,
          `table '${name}' is not in dataset '${ds.name}' (open the schema page for the table list)`,
        );
      const schema = await ds.tableSchema(name);
      const columns = Object.values(schema.columns).map((c) => ({ name: c.name, dataType: c.dataType }));
      const safeOffset = clampInt(offset, 0, Number.MAX_SAFE_INTEGER, 0);
      const safeLimit = clampInt(limit, 1, MAX_PAGE_ROWS, 50);
      let relation = ds.table(name).offset(safeOffset).limit(safeLimit);
      if (schema.columns[SYSTEM_COLUMNS.id]) relation = relation.orderBy(SYSTEM_COLUMNS.id);
      const rows = await relation.toArray();
      const total = (await ds.rowCounts())[name] ?? 0;
      return {
        table: name,
        columns,
        rows: rows.map((r) => columns.map((c) => r[c.name] ?? null)),
        offset: safeOffset,
        limit: safeLimit,
        total,
      };
    });
  }

  /**
   * One read-only query (refused before it is sent when it is not one: DDL, DML, session changes, more
   * than one statement). Reads at most {@link MAX_SQL_ROWS} rows and says when there were more.
   */
  sql(text: string): Promise<{ columns: string[]; rows: unknown[][]; truncated: boolean; ms: number }> {
    assertReadOnlySql(text);
    return this.withDataset(async (ds) => {
      const started = performance.now();
      // The destination's own read-only path (one statement as its parser counts them, SELECT only, a
      // read-only transaction or connection), bounded in rows and time.
      const out = await ds.sql(text, [], { timeoutMs: this.queryTimeoutMs, maxRows: MAX_SQL_ROWS + 1 });
      const truncated = out.length > MAX_SQL_ROWS;
      if (truncated) out.length = MAX_SQL_ROWS;
      const columns = out.length > 0 ? Object.keys(out[0]!) : [];
      return {
        columns,
        rows: out.map((r) => columns.map((c) => r[c] ?? null)),
        truncated,
        ms: Math.round(performance.now() - started),
      };
    });
  }

  /**
   * dbt Cloud charts: runs per day by status and p50/p95 run duration per job per day. `available` is
   * false (with the reason) when the dataset has no dbt Cloud `runs` table.
   */
  dbtRuns(): Promise<
    | { available: false; reason: string }
    | { available: true; runsPerDay: RunsPerDay; durations: DurationsPerJob }
  > {
    return this.withDataset(async (ds) => {
      const tables = await ds.tables();
      if (!tables.includes('runs'))
        return {
          available: false as const,
          reason: "no 'runs' table: load the dbt Cloud source's runs resource to see these charts",
        };
      const runs = await ds.tableSchema('runs');
      const missing = RUNS_COLUMNS.filter((c) => !runs.columns[c]);
      if (missing.length > 0)
        return {
          available: false as const,
          reason: `table 'runs' has no column ${missing.join(', ')}: it does not look like dbt Cloud runs`,
        };
      const reader = await ds.reader();
      const q = (c: string) => reader.quoteIdentifier(c);
      const runsTable = reader.qualifiedTable('runs');
      const perDay = await ds.sql(
        `SELECT CAST(${q('created_at')} AS DATE) AS day, ${q('status')} AS status, COUNT(*) AS n FROM ${runsTable} WHERE ${q('created_at')} IS NOT NULL GROUP BY CAST(${q('created_at')} AS DATE), ${q('status')} ORDER BY day`,
      );
      const finished = await ds.sql(
        `SELECT ${q('job_definition_id')} AS job_id, ${q('created_at')} AS created_at, ${q('started_at')} AS started_at, ${q('finished_at')} AS finished_at FROM ${runsTable} WHERE ${q('finished_at')} IS NOT NULL AND ${q('status')} >= 10`,
      );
      const names = new Map<string, string>();
      if (tables.includes('jobs')) {
        const jobs = await ds.tableSchema('jobs');
        if (jobs.columns.id && jobs.columns.name) {
          for (const r of await ds.sql(
            `SELECT ${q('id')} AS id, ${q('name')} AS name FROM ${reader.qualifiedTable('jobs')}`,
          ))
            names.set(String(r.id), String(r.name));
        }
      }
      return {
        available: true as const,
        runsPerDay: runsPerDay(perDay as { day: unknown; status: unknown; n: unknown }[]),
        durations: durationsPerJob(
          finished as { job_id: unknown; created_at: unknown; started_at: unknown; finished_at: unknown }[],
          names,
        ),
      };
    });
  }
}

function tableInfo(t: TableSchema) {
  return {
    name: t.name,
    parent: t.parent ?? null,
    resource: t.resource ?? null,
    writeDisposition: t.writeDisposition,
    mergeStrategy: t.mergeStrategy ?? null,
    columns: Object.values(t.columns).map((c) => ({
      name: c.name,
      dataType: c.dataType,
      nullable: c.nullable,
      primaryKey: c.primaryKey ?? false,
      mergeKey: c.mergeKey ?? false,
      variant: c.variant ?? false,
    })),
  };
}

function allTables(schemas: StoredSchema[]): TableSchema[] {
  const seen = new Map<string, TableSchema>();
  for (const s of schemas)
    for (const t of Object.values(s.tables)) if (!seen.has(t.name)) seen.set(t.name, t);
  return [...seen.values()];
}

function clampInt(value: number, min: number, max: number, fallback: number): number {
  if (!Number.isFinite(value)) return fallback;
  return Math.min(max, Math.max(min, Math.floor(value)));
}

/**
 * Rows per table per load, as the data stands now: root rows counted by `_ferry_load_id`; child rows
 * attributed to their root row's load through the `_ferry_parent_id` → `_ferry_id` chain. With merge,
 * rows a later load replaced no longer count for the earlier load.
 */
async function rowsPerLoad(
  ds: Dataset,
  schemas: StoredSchema[],
  loadIds: string[],
): Promise<Map<string, Record<string, number>>> {
  const out = new Map<string, Record<string, number>>();
  if (loadIds.length === 0) return out;
  const reader = await ds.reader();
  const q = (c: string) => reader.quoteIdentifier(c);
  const byName = new Map(allTables(schemas).map((t) => [t.name, t] as const));
  for (const t of byName.values()) {
    const chain: TableSchema[] = [t];
    for (
      let p = t.parent ? byName.get(t.parent) : undefined;
      p;
      p = p.parent ? byName.get(p.parent) : undefined
    )
      chain.push(p);
    const root = chain[chain.length - 1]!;
    if (!root.columns[SYSTEM_COLUMNS.loadId]) continue;
    let from = `${reader.qualifiedTable(chain[0]!.name)} t0`;
    for (let i = 1; i < chain.length; i++) {
      from += ` JOIN ${reader.qualifiedTable(chain[i]!.name)} t${i} ON t${i - 1}.${q(SYSTEM_COLUMNS.parentId)} = t${i}.${q(SYSTEM_COLUMNS.id)}`;
    }
    const loadCol = `t${chain.length - 1}.${q(SYSTEM_COLUMNS.loadId)}`;
    const rows = await ds.sql(`SELECT ${loadCol} AS load_id, COUNT(*) AS n FROM ${from} GROUP BY ${loadCol}`);
    for (const r of rows) {
      const id = String(r.load_id);
      if (!loadIds.includes(id)) continue;
      const rec = out.get(id) ?? {};
      rec[t.name] = Number(r.n);
      out.set(id, rec);
    }
  }
  return out;
}

/**
 * DuckDB can read any file the process can (`read_text('/home/…')`, `read_csv`, `ATTACH`); a query box
 * on a web page must not. Turn external access off for this read-only session (it cannot be turned
 * back on by a later statement; the SQL guard refuses SET anyway).
 */
async function hardenReader(pipeline: Pipeline, ds: Dataset): Promise<void> {
  if (pipeline.destination.type !== 'duckdb') return;
  try {
    await (await ds.reader()).query('SET enable_external_access = false');
  } catch (error) {
    throw new DashboardRequestError(503, `cannot open the dataset: ${(error as Error).message}`, error);
  }
}
