import path from 'node:path';
import type { Bind, Column, Connection, RowStatement, SnowflakeError } from 'snowflake-sdk';
import {
  DestinationError,
  ReadOnlySqlError,
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
  /** Pipeline that loads, for the `QUERY_TAG` of its statements. Default: none named. */
  pipelineName?: string;
  /**
   * Opens another session like the loading one. The pipeline lease runs on a session of its own (autocommit),
   * so its renewals are never part of a load transaction. Default: none (then `lockPipeline` refuses).
   */
  openSession?: () => Promise<Connection>;
}

/**
 * `LOCK_TIMEOUT` of the loading session, seconds. Snowflake's default is 12 hours; a detached transaction of
 * a crashed run that blocks a lock is aborted after 5 idle minutes, so 10 minutes outwaits it and a lock held
 * longer fails the package (000625, retried) rather than hanging the run.
 */
export const LOCK_TIMEOUT_SECONDS = 600;

/** Snowflake error code of a statement aborted waiting for a table lock (timeout or too many waiters). */
const LOCK_ABORTED = 625;

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
  /** The lease's own client and session ({@link lockPipeline}). */
  private leaseClient: SnowflakeClient | undefined;

  constructor(connection: Connection, dataset: string, target: SnowflakeTarget) {
    super(dataset);
    this.connection = connection;
    this.target = target;
    this.reader = {
      query: (sql, params) => this.select(this.compiler.rewriteParams(sql), params),
      stream: (sql, params, batchSize) => this.stream(this.compiler.rewriteParams(sql), params, batchSize),
      untrustedQuery: (sql, params, options) =>
        this.untrusted(this.compiler.rewriteParams(sql), params, options),
      kyselyDialect: async () =>
        (await import('../kysely/snowflake-dialect.ts')).snowflakeKyselyDialect(this.reader, this.dataset),
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
    describeOnly = false,
  ): Promise<{ statement: RowStatement; rows: Record<string, unknown>[] | undefined }> {
    return new Promise((resolve, reject) => {
      this.connection.execute({
        sqlText: sql,
        ...(parameters ? { parameters } : {}),
        ...(describeOnly ? { describeOnly: true } : {}),
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
   * One untrusted statement, its type checked by Snowflake's compiler before it runs: a describe-only
   * request (compiled, not executed) of `SELECT * FROM (<text>) LIMIT 0` succeeds only when the text is one
   * query expression (a DDL, DML, `CALL`, `SHOW` or a second statement is a compile error there), with
   * `MULTI_STATEMENT_COUNT = 1`. The SDK does not expose the `statementTypeId` of a describe, so the check
   * is the compiler's, not ours. Then the text itself runs with `MULTI_STATEMENT_COUNT = 1` and
   * `STATEMENT_TIMEOUT_IN_SECONDS`. A read-only role is what stops a side-effect function inside a SELECT
   * (docs/read-only-roles.md).
   */
  private async untrusted(
    sql: string,
    params: unknown[] | undefined,
    options: UntrustedQueryOptions,
  ): Promise<Row[]> {
    const text = sql.replace(/;\s*$/, '');
    try {
      // New lines keep a trailing `--` comment of the text from swallowing the closing parenthesis.
      await this.run1(
        `SELECT * FROM (\n${text}\n) LIMIT 0`,
        params,
        false,
        { MULTI_STATEMENT_COUNT: 1 },
        true,
      );
    } catch (error) {
      throw new ReadOnlySqlError(
        `only one SELECT (a query expression) is allowed; Snowflake does not compile this as one: ${(error as Error).message ?? String(error)}`,
      );
    }
    const { statement, rows } = await this.run1(text, params, false, {
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
      `SELECT table_name, column_name, data_type, is_nullable, numeric_precision, numeric_scale FROM information_schema.columns WHERE table_schema = :1 ORDER BY table_name, ordinal_position`,
      [this.compiler.fold(this.dataset)],
    );
    const tables: Record<string, TableSchema> = {};
    for (const r of rows) {
      const name = foldedName(String(r.table_name));
      const t = (tables[name] ??= { name, writeDisposition: 'append', columns: {} });
      const col = foldedName(String(r.column_name));
      const native = String(r.data_type);
      const isNumber = native.toUpperCase() === 'NUMBER';
      const precision = r.numeric_precision === null ? undefined : Number(r.numeric_precision);
      const scale = r.numeric_scale === null ? undefined : Number(r.numeric_scale);
      const dataType = isNumber
        ? this.compiler.fromNumber(scale, precision)
        : this.compiler.fromNativeType(native);
      t.columns[col] = {
        name: col,
        dataType,
        nullable: r.is_nullable === 'YES',
        ...(dataType === 'decimal' && precision !== undefined ? { precision, scale: scale ?? 0 } : {}),
      };
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
    const folder = loadId ?? 'adhoc';
    const stageRef = stage ?? target;
    const staged = await this.putFile(job, stageRef, folder);
    await this.copyFile(job, target, stageRef, folder, staged);
  }

  /** PUT one loader file (OVERWRITE) into a stage folder; returns its staged name (`<file>.gz`). */
  private async putFile(job: LoadJobFile, stage: string, folder: string): Promise<string> {
    if (job.format !== 'jsonl')
      throw new DestinationError(`snowflake loads jsonl files only; job ${job.jobId} is ${job.format}`);
    await this.run(this.compiler.put(path.resolve(job.path), stage, folder));
    return `${path.basename(job.path)}.gz`;
  }

  /**
   * COPY one staged file and check COPY's result rows: the file `LOADED` with as many rows as the job
   * holds. A file COPY skipped or loaded partly fails the package instead of committing rows missing.
   */
  private async copyFile(
    job: LoadJobFile,
    target: string,
    stage: string,
    folder: string,
    staged: string,
  ): Promise<void> {
    const sql = this.compiler.copyInto(target, stage, folder, [staged]);
    const result = await this.select(sql);
    const loaded = result.reduce((n, r) => n + Number(r.rows_loaded ?? 0), 0);
    const statuses = result.map((r) => String(r.status ?? ''));
    if (result.length !== 1 || statuses[0] !== 'LOADED' || loaded !== job.rows)
      throw new DestinationError(
        `snowflake COPY of job ${job.jobId} (${staged}) into ${target} loaded ${loaded} of ${job.rows} rows (status ${statuses.join(', ') || 'none'}); nothing of the package is committed`,
        { transient: false, context: { jobId: job.jobId, loaded, expected: job.rows } },
      );
  }

  /**
   * One package: DDL (auto-commits), then every file PUT to its stage folder under the load id — before
   * `BEGIN`, so whether a PUT commits an open transaction (undocumented) cannot matter — then one
   * transaction with the COPYs, replace/merge SQL, schema version, state and marker. The session carries
   * a `QUERY_TAG` naming Ferry, the pipeline and the load id (admins see loads in QUERY_HISTORY) and a
   * {@link LOCK_TIMEOUT_SECONDS} lock wait. After `COMMIT` the package's stage folders are removed (best
   * effort: a leftover only costs storage, and a rerun overwrites it).
   */
  override async loadPackage(plan: LoadPackagePlan): Promise<void> {
    this.compiler.checkFoldedNames(plan.schema);
    const tag = JSON.stringify({
      app: 'ferry',
      ...((this.target.pipelineName ?? plan.state?.pipelineName)
        ? { pipeline: this.target.pipelineName ?? plan.state?.pipelineName }
        : {}),
      load_id: plan.loadId,
    });
    await this.run(
      `ALTER SESSION SET QUERY_TAG = ${this.compiler.literal(tag)} LOCK_TIMEOUT = ${LOCK_TIMEOUT_SECONDS}`,
    );
    try {
      await this.loadInSession(plan);
    } finally {
      await this.execute('ALTER SESSION UNSET QUERY_TAG').catch(() => undefined);
    }
  }

  private async loadInSession(plan: LoadPackagePlan): Promise<void> {
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
    // 2. Every PUT before BEGIN (idempotent: OVERWRITE into the load id's folder).
    const staged = new Map<LoadJobFile, string>();
    for (const t of plan.tables) {
      const { stage } = targets.get(t.table)!;
      for (const job of t.jobs) {
        await plan.events.jobStarted(job);
        try {
          staged.set(job, await this.putFile(job, stage, plan.loadId));
        } catch (error) {
          throw this.wrap(error, `PUT ${job.jobId} to @${stage}/${plan.loadId}/`);
        }
      }
    }
    // 3. One transaction: data, replace/merge, schema version, state, marker.
    await this.run('BEGIN');
    try {
      for (const chain of plan.replaceChains) {
        for (const t of chain.tables)
          if (existing[t] || plan.schema.tables[t])
            await this.run(this.compiler.deleteAll(this.compiler.qualified(this.dataset, t)));
      }
      for (const t of plan.tables) {
        const { target, stage } = targets.get(t.table)!;
        for (const job of t.jobs) {
          try {
            await this.copyFile(job, target, stage, plan.loadId, staged.get(job)!);
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
    // 4. Purge the package's staged files (committed rows no longer need them).
    for (const stage of new Set([...targets.values()].map((t) => t.stage)))
      await this.execute(this.compiler.removeStaged(stage, plan.loadId)).catch(() => undefined);
  }

  /** Transient: network, expired session (see TRANSIENT_CODES), and a statement aborted waiting for a lock. */
  protected isTransient(error: unknown): boolean {
    const code = Number((error as { code?: unknown } | undefined)?.code);
    return TRANSIENT_CODES.has(code) || code === LOCK_ABORTED;
  }

  /**
   * The pipeline's lease row (a Snowflake session holds no advisory locks; see `SqlJobClient.leasePipeline`),
   * on a session of its own in autocommit mode: statements of one session share its transaction, so
   * renewals on the loading session would be invisible to other runs until COMMIT, undone by a ROLLBACK,
   * and would hold the lease table's lock for the whole load.
   */
  async lockPipeline(pipelineName: string): Promise<void> {
    if (!this.leaseClient) {
      if (!this.target.openSession)
        throw new DestinationError('snowflake: this client cannot open a session for the pipeline lease');
      this.leaseClient = new SnowflakeClient(await this.target.openSession(), this.dataset, {
        ...this.target,
        openSession: undefined,
      });
    }
    await this.leaseClient.leasePipeline(pipelineName);
    this.lease = this.leaseClient.lease;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await this.leaseClient?.close();
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
