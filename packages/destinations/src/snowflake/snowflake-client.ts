import path from 'node:path';
import type { Bind, Column, Connection, RowStatement, SnowflakeError } from 'snowflake-sdk';
import {
  DestinationError,
  type ColumnSchema,
  type DatasetReader,
  type LoadJobFile,
  type LoadPackagePlan,
  type StoredSchema,
  type TableSchema,
  type UntrustedQueryOptions,
} from '@ferry/core';
import { SqlJobClient, type Row } from '../sql/sql-job-client.ts';
import { SnowflakeSqlCompiler } from './snowflake-sql.ts';

/** Where a Snowflake client points, for messages (never a secret). */
export interface SnowflakeTarget {
  /** Account identifier. */
  account: string;
  /** Database holding the dataset schema. */
  database: string;
  /** Login name. */
  username: string;
}

/**
 * Error codes after which a new connection can succeed: the SDK's network and response failures (4010xx,
 * 4020xx, 4070xx) and Snowflake's expired session or token (390112, 390114). The package is retried.
 */
const TRANSIENT_CODES = new Set([401001, 401002, 401003, 402001, 402002, 407001, 407002, 390112, 390114]);

/** Whether a result column name came from Snowflake's upper-case folding (so Ferry's lower-case name is meant). */
function foldedName(name: string): string {
  return name === name.toUpperCase() ? name.toLowerCase() : name;
}

/** Plain JS value of a Snowflake cell: integers exact (bigint past 2^53), SfDate as Date. */
function toJs(value: unknown, column: Column | undefined): unknown {
  if (value === null || value === undefined) return null;
  if (column?.isNumber() && typeof value === 'string') {
    // fetchAsString renders SQL NULL as the text 'NULL'; a NUMBER column holds no other text.
    if (value === 'NULL') return null;
    if (column.getType() === 'fixed' && column.getScale() === 0) {
      const n = Number(value);
      return Number.isSafeInteger(n) ? n : BigInt(value);
    }
    return Number(value);
  }
  if (value instanceof Date) return new Date(value.getTime());
  return value;
}

/**
 * Snowflake client over `snowflake-sdk` (design notes §2). DDL auto-commits in Snowflake, so a package
 * runs its DDL first; then one transaction holds every `COPY INTO` (from files `PUT` to table stages
 * under the load id), the replace and merge SQL, the schema version, the state and the `_ferry_loads` row.
 */
export class SnowflakeClient extends SqlJobClient {
  override readonly compiler = new SnowflakeSqlCompiler();
  readonly reader: DatasetReader;
  private readonly connection: Connection;
  private readonly target: SnowflakeTarget;
  private closed = false;

  constructor(connection: Connection, dataset: string, target: SnowflakeTarget) {
    super(dataset);
    this.connection = connection;
    this.target = target;
    this.reader = {
      query: (sql, params) => this.select(this.compiler.rewriteParams(sql), params),
      stream: (sql, params, batchSize) => this.stream(this.compiler.rewriteParams(sql), params, batchSize),
      untrustedQuery: (sql, params, options) =>
        this.untrusted(this.compiler.rewriteParams(sql), params, options),
      quoteIdentifier: (name) => this.compiler.quote(name),
      qualifiedTable: (table) => this.compiler.qualified(this.dataset, table),
    };
  }

  protected override describeTarget(): string {
    return `snowflake account '${this.target.account}' database '${this.target.database}' dataset '${this.dataset}'`;
  }

  /** Run one statement; resolves with the finished statement and its rows (when not streamed). */
  private run1(
    sql: string,
    params: unknown[] | undefined,
    stream = false,
    parameters?: Record<string, number | string>,
  ): Promise<{ statement: RowStatement; rows: Record<string, unknown>[] | undefined }> {
    return new Promise((resolve, reject) => {
      this.connection.execute({
        sqlText: sql,
        ...(parameters ? { parameters } : {}),
        ...(params && params.length > 0 ? { binds: params.map(toBind) } : {}),
        fetchAsString: ['Number'],
        ...(stream ? { streamResult: true } : {}),
        complete: (err: SnowflakeError | undefined, statement: RowStatement, rows?: unknown[]) => {
          if (err) reject(err);
          else resolve({ statement, rows: rows as Record<string, unknown>[] | undefined });
        },
      });
    });
  }

  async execute(sql: string, params?: unknown[]): Promise<void> {
    await this.run1(sql, params);
  }

  /**
   * One untrusted statement: `MULTI_STATEMENT_COUNT = 1` makes the service refuse a second statement,
   * `STATEMENT_TIMEOUT_IN_SECONDS` bounds it, and only a query's text reaches it (the caller's guard);
   * a read-only role is what stops the rest (docs/read-only-roles.md).
   */
  private async untrusted(
    sql: string,
    params: unknown[] | undefined,
    options: UntrustedQueryOptions,
  ): Promise<Row[]> {
    const { statement, rows } = await this.run1(sql, params, false, {
      MULTI_STATEMENT_COUNT: 1,
      STATEMENT_TIMEOUT_IN_SECONDS: Math.max(1, Math.ceil(options.timeoutMs / 1000)),
    });
    const columns = statement.getColumns() ?? [];
    return (rows ?? [])
      .slice(0, options.maxRows ?? Number.POSITIVE_INFINITY)
      .map((r) => convertRow(r, columns));
  }

  async query(sql: string, params?: unknown[]): Promise<Row[]> {
    const { statement, rows } = await this.run1(sql, params);
    const columns = statement.getColumns() ?? [];
    return (rows ?? []).map((r) => convertRow(r, columns));
  }

  private async *stream(sql: string, params: unknown[] | undefined, batchSize: number): AsyncIterable<Row[]> {
    const { statement } = await this.run1(sql, params, true);
    const columns = statement.getColumns() ?? [];
    let batch: Row[] = [];
    for await (const r of statement.streamRows()) {
      batch.push(convertRow(r as Record<string, unknown>, columns));
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
    if (batch.length > 0) yield batch;
  }

  override async getStoredSchema(schemaName: string): Promise<StoredSchema | undefined> {
    const rows = await this.select(this.compiler.selectSchema(this.dataset), [schemaName]);
    return rows[0] ? (JSON.parse(String(rows[0].schema_json)) as StoredSchema) : undefined;
  }

  // INFORMATION_SCHEMA reports upper-case names and NUMBER with a scale; map both back to Ferry's schema.
  override async introspect(): Promise<Record<string, TableSchema>> {
    const rows = await this.select(
      `SELECT table_name, column_name, data_type, is_nullable, numeric_scale FROM information_schema.columns WHERE table_schema = :1 ORDER BY table_name, ordinal_position`,
      [this.compiler.fold(this.dataset)],
    );
    const tables: Record<string, TableSchema> = {};
    for (const r of rows) {
      const name = foldedName(String(r.table_name));
      const t = (tables[name] ??= { name, writeDisposition: 'append', columns: {} });
      const col = foldedName(String(r.column_name));
      const native = String(r.data_type);
      const dataType =
        native.toUpperCase() === 'NUMBER'
          ? this.compiler.fromNumber(r.numeric_scale as number | null)
          : this.compiler.fromNativeType(native);
      t.columns[col] = { name: col, dataType, nullable: r.is_nullable === 'YES' };
    }
    return tables;
  }

  /** Repair a widening a crash interrupted (its temporary column is there), then add and widen as usual. */
  protected override async alterTable(
    target: string,
    columns: ColumnSchema[],
    have: TableSchema,
  ): Promise<void> {
    const haveUpper = new Set(Object.keys(have.columns).map((c) => this.compiler.fold(c)));
    for (const c of columns) {
      if (!have.columns[c.name] && haveUpper.has(this.compiler.widenTempColumn(c.name))) {
        await this.run(this.compiler.widenRepair(target, c.name));
        have.columns[c.name] = { ...c };
      }
    }
    await super.alterTable(target, columns, have);
  }

  /** PUT the file into the target's table stage under the load id, then COPY it by column name. */
  protected async loadFile(
    job: LoadJobFile,
    target: string,
    _table: TableSchema,
    loadId?: string,
    stage?: string,
  ): Promise<void> {
    if (job.format !== 'jsonl')
      throw new DestinationError(`snowflake loads jsonl files only; job ${job.jobId} is ${job.format}`);
    const folder = loadId ?? 'adhoc';
    const stageRef = stage ?? target;
    await this.run(this.compiler.put(path.resolve(job.path), stageRef, folder));
    await this.run(this.compiler.copyInto(target, stageRef, folder, [`${path.basename(job.path)}.gz`]));
  }

  override async loadPackage(plan: LoadPackagePlan): Promise<void> {
    this.compiler.checkFoldedNames(plan.schema);
    const existing = await this.introspect();
    const hasMerge = plan.tables.some((t) => t.writeDisposition === 'merge');
    // 1. DDL: Snowflake commits each statement by itself, so none of it may run inside the load transaction.
    if (hasMerge) await this.run(this.compiler.createSchema(this.stagingDataset));
    await this.migrate(plan, existing);
    const targets = new Map<string, { target: string; stage: string }>();
    for (const t of plan.tables) {
      const table = plan.schema.tables[t.table]!;
      if (t.writeDisposition === 'merge') {
        const staging = this.compiler.qualified(this.stagingDataset, t.table);
        await this.run(
          this.compiler.createTable(
            staging,
            Object.values(table.columns).map((c) => ({ ...c, nullable: true })),
            false,
          ),
        );
        targets.set(t.table, {
          target: staging,
          stage: this.compiler.tableStage(this.stagingDataset, t.table),
        });
      } else {
        targets.set(t.table, {
          target: this.compiler.qualified(this.dataset, t.table),
          stage: this.compiler.tableStage(this.dataset, t.table),
        });
      }
    }
    // 2. One transaction: data, replace/merge, schema version, state, marker.
    await this.run('BEGIN');
    try {
      for (const chain of plan.replaceChains) {
        for (const t of chain.tables)
          if (existing[t] || plan.schema.tables[t])
            await this.run(this.compiler.deleteAll(this.compiler.qualified(this.dataset, t)));
      }
      for (const t of plan.tables) {
        const table = plan.schema.tables[t.table]!;
        const { target, stage } = targets.get(t.table)!;
        for (const job of t.jobs) {
          await plan.events.jobStarted(job);
          try {
            await this.loadFile(job, target, table, plan.loadId, stage);
          } catch (error) {
            throw this.wrap(error, `load ${job.jobId} into ${target}`);
          }
          await plan.events.jobCompleted(job);
        }
      }
      for (const sql of this.mergeStatements(plan, (name) => targets.get(name)!.target)) await this.run(sql);
      await this.writeSystemRows(plan);
      this.lease?.assertHeld();
      await this.run('COMMIT');
    } catch (error) {
      await this.execute('ROLLBACK').catch(() => undefined);
      throw this.wrap(error);
    }
  }

  protected isTransient(error: unknown): boolean {
    const code = Number((error as { code?: unknown } | undefined)?.code);
    return TRANSIENT_CODES.has(code);
  }

  /** The pipeline's lease row (a Snowflake session holds no advisory locks): see `SqlJobClient.leasePipeline`. */
  lockPipeline(pipelineName: string): Promise<void> {
    return this.leasePipeline(pipelineName);
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.releaseLease();
    this.closed = true;
    if (!this.connection.isUp()) return;
    await new Promise<void>((resolve) => this.connection.destroy(() => resolve()));
  }
}

/** A row object with Ferry's names (upper-case folds back) and plain JS values. */
function convertRow(r: Record<string, unknown>, columns: Column[]): Row {
  const out: Row = {};
  const byName = new Map(columns.map((c) => [c.getName(), c]));
  for (const [k, v] of Object.entries(r)) out[foldedName(k)] = toJs(v, byName.get(k));
  return out;
}

/** Snowflake binds are strings, numbers, booleans or null: bigints travel as exact text, objects as JSON. */
function toBind(value: unknown): Bind {
  if (value === null || value === undefined) return null;
  if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') return value;
  if (typeof value === 'bigint') return value.toString();
  if (value instanceof Date) return value.toISOString();
  return JSON.stringify(value);
}
