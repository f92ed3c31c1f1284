import {
  DestinationError,
  SCHEMA_ENGINE_VERSION,
  type ColumnSchema,
  type DestinationClient,
  type LoadJobFile,
  type LoadPackagePlan,
  type StoredSchema,
  type StoredStateRecord,
  type TableSchema,
  type PipelineStateDoc,
  type DatasetReader,
  parseJson,
  stringifyJson,
  shortHash,
} from '@ferry/core';
import { PipelineLease, type LeaseInfo, type LeaseStore } from '../lease.ts';
import type { MergeTable, SqlCompiler } from './sql-compiler.ts';

/** Rows as plain objects. */
export type Row = Record<string, unknown>;

/**
 * A destination client for SQL databases with transactional DDL (Postgres, DuckDB): one transaction per
 * package holds the DDL, the data, the merge/replace SQL, the schema version, the state and the
 * `_ferry_loads` marker, so a crash anywhere before COMMIT leaves nothing behind. Subclasses supply the
 * connection and the bulk file load.
 */
export abstract class SqlJobClient implements DestinationClient {
  /** The compiler for this dialect. */
  abstract readonly compiler: SqlCompiler;
  /** Dataset (schema) name. */
  readonly dataset: string;
  /** Staging schema for merge: `<dataset>_staging`. */
  readonly stagingDataset: string;
  /** Read access (dataset API). */
  abstract readonly reader: DatasetReader | undefined;

  /** The pipeline's lease, once taken ({@link leasePipeline}). */
  protected lease: PipelineLease | undefined;

  constructor(dataset: string, stagingSuffix = '_staging') {
    this.dataset = dataset;
    this.stagingDataset = `${dataset}${stagingSuffix}`;
  }

  /**
   * Take the pipeline's lease row in `_ferry_pipeline_lease` (created on first use), for warehouses
   * without session locks: BigQuery and Snowflake expose this as `lockPipeline`. Held, and renewed, until
   * {@link releaseLease} (their `close()`); `PIPELINE_BUSY` names the holder when another run has it.
   */
  protected async leasePipeline(pipelineName: string): Promise<void> {
    if (!this.lease) {
      await this.run(this.compiler.leaseTable(this.dataset));
      this.lease = new PipelineLease(this.leaseStore(), pipelineName, this.describeTarget());
    }
    await this.lease.acquire();
  }

  /** Give the lease back (close). Best effort: an unreachable warehouse lets it expire instead. */
  protected async releaseLease(): Promise<void> {
    await this.lease?.release().catch(() => undefined);
  }

  /** The lease table as a {@link LeaseStore}: a MERGE claims, a DELETE releases. */
  private leaseStore(): LeaseStore {
    return {
      claim: async (pipeline, lease, nowMs) => {
        const params = [pipeline, lease.holder, JSON.stringify(lease.info), lease.expiresMs, nowMs];
        // Two claims at once: the warehouse may refuse one MERGE (concurrent update); it is retried.
        for (let attempt = 0; ; attempt++) {
          try {
            await this.run(this.compiler.claimLease(this.dataset), params);
            break;
          } catch (error) {
            if (attempt >= 3 || !(error instanceof DestinationError) || !error.transient) throw error;
            await new Promise((r) => setTimeout(r, 200 * 2 ** attempt));
          }
        }
        const row = (await this.select(this.compiler.selectLease(this.dataset), [pipeline]))[0];
        if (!row) return undefined;
        return {
          holder: String(row.holder),
          info: JSON.parse(String(row.info)) as LeaseInfo,
          expiresMs: Number(row.expires_ms),
        };
      },
      release: (pipeline, holder) => this.run(this.compiler.releaseLease(this.dataset), [pipeline, holder]),
    };
  }

  /** Run a statement without results. */
  abstract execute(sql: string, params?: unknown[]): Promise<void>;
  /** Run a query; rows as objects. */
  abstract query(sql: string, params?: unknown[]): Promise<Row[]>;
  /** Bulk-load one loader file into a table (qualified, quoted) whose columns are given. */
  protected abstract loadFile(job: LoadJobFile, target: string, table: TableSchema): Promise<void>;
  /** Classify an error as transient (retry the package) or not. */
  protected abstract isTransient(error: unknown): boolean;
  /**
   * Classify an error as terminal: the package can never load as it is. Default: the SQL standard's
   * SQLSTATE classes 22 (data exception), 23 (integrity constraint) and 54 (program limit exceeded, e.g.
   * Postgres' 1,600 columns) anywhere in the cause chain. Override for a destination without SQLSTATEs.
   */
  protected isTerminal(error: unknown): boolean {
    for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
      const code = (e as { code?: unknown; sqlState?: unknown }).sqlState ?? (e as { code?: unknown }).code;
      if (typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code)) return true;
    }
    return false;
  }
  /** Close. */
  abstract close(): Promise<void>;

  /** BEGIN. */
  protected begin(): Promise<void> {
    return this.execute('BEGIN');
  }
  /** COMMIT. */
  protected commit(): Promise<void> {
    return this.execute('COMMIT');
  }
  /** ROLLBACK. */
  protected rollback(): Promise<void> {
    return this.execute('ROLLBACK');
  }

  /** Wrap an error as a DestinationError with the statement (never the parameters). */
  protected wrap(error: unknown, sql?: string): DestinationError {
    if (error instanceof DestinationError) return error;
    const message = (error as Error)?.message ?? String(error);
    return new DestinationError(
      `${this.describeTarget()}: ${message}${sql ? ` (in: ${sql.slice(0, 300)})` : ''}`,
      {
        ...(sql === undefined ? {} : { sql }),
        transient: this.isTransient(error),
        terminal: this.isTerminal(error),
        cause: error,
      },
    );
  }

  /** Where data goes, for error messages (no secrets). */
  protected describeTarget(): string {
    return `dataset '${this.dataset}'`;
  }

  /** Execute, wrapping errors with the statement. */
  protected async run(sql: string, params?: unknown[]): Promise<void> {
    try {
      await this.execute(sql, params);
    } catch (error) {
      throw this.wrap(error, sql);
    }
  }

  /** Query, wrapping errors with the statement. */
  protected async select(sql: string, params?: unknown[]): Promise<Row[]> {
    try {
      return await this.query(sql, params);
    } catch (error) {
      throw this.wrap(error, sql);
    }
  }

  async initialize(): Promise<void> {
    await this.run(this.compiler.createSchema(this.dataset));
    for (const ddl of this.compiler.systemTables(this.dataset)) await this.run(ddl);
  }

  async isLoadCommitted(loadId: string): Promise<boolean> {
    return (await this.select(this.compiler.selectLoad(this.dataset), [loadId])).length > 0;
  }

  async getStoredState(pipelineName: string): Promise<StoredStateRecord | undefined> {
    const rows = await this.select(this.compiler.selectState(this.dataset).sql, [pipelineName]);
    const row = rows[0];
    if (!row) return undefined;
    return {
      pipelineName,
      loadId: String(row.load_id),
      version: Number(row.version),
      state: parseJson(String(row.state)) as PipelineStateDoc,
    };
  }

  async getStoredSchema(schemaName: string): Promise<StoredSchema | undefined> {
    const rows = await this.select(this.compiler.selectSchema(this.dataset), [schemaName]);
    return rows[0] ? (JSON.parse(String(rows[0].schema)) as StoredSchema) : undefined;
  }

  async introspect(): Promise<Record<string, TableSchema>> {
    const columns = this.compiler.selectColumns(this.dataset);
    const rows = await this.select(columns.sql, columns.params);
    const tables: Record<string, TableSchema> = {};
    for (const r of rows) {
      const name = String(r.table_name);
      const t = (tables[name] ??= { name, writeDisposition: 'append', columns: {} });
      const col = String(r.column_name);
      t.columns[col] = {
        name: col,
        dataType: this.compiler.fromNativeType(String(r.data_type)),
        nullable: r.is_nullable === 'YES',
      };
    }
    return tables;
  }

  async dropDataset(): Promise<void> {
    await this.run(`DROP SCHEMA IF EXISTS ${this.compiler.quote(this.stagingDataset)} CASCADE`);
    await this.run(`DROP SCHEMA IF EXISTS ${this.compiler.quote(this.dataset)} CASCADE`);
  }

  /** Bring the target tables of a package up to its schema: create tables, add columns, widen types. */
  protected async migrate(plan: LoadPackagePlan, existing: Record<string, TableSchema>): Promise<void> {
    const needed = new Set([
      ...plan.tables.map((t) => t.table),
      ...plan.replaceChains.flatMap((c) => c.tables),
    ]);
    for (const name of needed) {
      const table = plan.schema.tables[name];
      if (!table) continue;
      const target = this.compiler.qualified(this.dataset, name);
      const have = existing[name];
      const columns = Object.values(table.columns);
      if (!have) {
        await this.run(this.compiler.createTable(target, columns));
        continue;
      }
      await this.alterTable(target, columns, have);
    }
  }

  /** Bring an existing table up to `columns`: add the missing ones, widen the widened ones. */
  protected async alterTable(target: string, columns: ColumnSchema[], have: TableSchema): Promise<void> {
    const missing = columns.filter((c) => !have.columns[c.name]);
    for (const sql of this.compiler.addColumns(target, missing)) await this.run(sql);
    for (const c of columns) {
      const current = have.columns[c.name];
      if (current && current.dataType !== c.dataType && widens(current.dataType, c.dataType)) {
        for (const sql of this.compiler.widenColumn(target, c)) await this.run(sql);
      }
    }
  }

  /** Create a fresh staging table for a merge table (dropped first: its columns follow the schema). */
  protected async prepareStaging(table: TableSchema): Promise<string> {
    const staging = this.compiler.qualified(this.stagingDataset, table.name);
    await this.run(this.compiler.dropTable(staging));
    await this.run(
      this.compiler.createTable(
        staging,
        Object.values(table.columns).map((c) => ({ ...c, nullable: true })),
        false,
      ),
    );
    return staging;
  }

  /**
   * Load one table's files into `target` (inside the package transaction). Default: one
   * {@link loadFile} per job, in order, each between its job events. A destination that reads several
   * files in one statement (DuckDB) overrides this.
   */
  protected async loadTable(
    jobs: readonly LoadJobFile[],
    target: string,
    table: TableSchema,
    events: LoadPackagePlan['events'],
  ): Promise<void> {
    for (const job of jobs) {
      await events.jobStarted(job);
      try {
        await this.loadFile(job, target, table);
      } catch (error) {
        throw this.wrap(error, `load ${job.jobId} into ${target}`);
      }
      await events.jobCompleted(job);
    }
  }

  async loadPackage(plan: LoadPackagePlan): Promise<void> {
    const existing = await this.introspect();
    const hasMerge = plan.tables.some((t) => t.writeDisposition === 'merge');
    try {
      await this.begin();
    } catch (error) {
      throw this.wrap(error, 'BEGIN');
    }
    try {
      if (hasMerge) await this.run(this.compiler.createSchema(this.stagingDataset));
      await this.migrate(plan, existing);
      for (const chain of plan.replaceChains) {
        for (const t of chain.tables)
          if (existing[t] || plan.schema.tables[t])
            await this.run(this.compiler.deleteAll(this.compiler.qualified(this.dataset, t)));
      }
      const staging = new Map<string, string>();
      for (const t of plan.tables) {
        const table = plan.schema.tables[t.table]!;
        let target = this.compiler.qualified(this.dataset, t.table);
        if (t.writeDisposition === 'merge') {
          target = await this.prepareStaging(table);
          staging.set(t.table, target);
        }
        await this.loadTable(t.jobs, target, table, plan.events);
      }
      for (const sql of this.mergeStatements(plan, (name) => staging.get(name)!)) await this.run(sql);
      await this.writeSystemRows(plan);
      this.lease?.assertHeld();
      try {
        await this.commit();
      } catch (error) {
        throw this.wrap(error, 'COMMIT');
      }
    } catch (error) {
      await this.rollback().catch(() => undefined);
      throw this.wrap(error);
    }
  }

  /**
   * The merge SQL of a package: for every merge root, delete-insert (or upsert) over its table chain,
   * reading the staged rows from `stagingOf(table)`.
   */
  protected mergeStatements(plan: LoadPackagePlan, stagingOf: (table: string) => string): string[] {
    const out: string[] = [];
    for (const t of plan.tables) {
      if (t.writeDisposition !== 'merge' || t.root !== t.table) continue;
      const toMerge = (name: string): MergeTable => ({
        table: plan.schema.tables[name]!,
        target: this.compiler.qualified(this.dataset, name),
        staging: stagingOf(name),
      });
      const root = toMerge(t.table);
      const children = plan.tables
        .filter((c) => c.root === t.table && c.table !== t.table)
        .map((c) => toMerge(c.table));
      const columns = Object.values(root.table.columns);
      const pk = columns.filter((c) => c.primaryKey).map((c) => c.name);
      const mk = columns.filter((c) => c.mergeKey).map((c) => c.name);
      out.push(
        ...(t.mergeStrategy === 'upsert' && pk.length > 0
          ? this.compiler.mergeUpsert(root, children, pk)
          : this.compiler.mergeDeleteInsert(root, children, pk, mk)),
      );
    }
    return out;
  }

  /** Schema version (when new), state (when changed) and the `_ferry_loads` marker, in the load's transaction. */
  protected async writeSystemRows(plan: LoadPackagePlan): Promise<void> {
    const now = new Date().toISOString();
    const { schema } = plan;
    const known = await this.select(this.compiler.selectVersionHash(this.dataset), [schema.versionHash]);
    if (known.length === 0) {
      const st = this.compiler.insertVersion(this.dataset, {
        version: schema.version,
        engineVersion: SCHEMA_ENGINE_VERSION,
        insertedAt: now,
        schemaName: schema.name,
        versionHash: schema.versionHash,
        schema: JSON.stringify(schema),
      });
      await this.run(st.sql, st.params);
    }
    if (plan.state) {
      const text = stringifyJson(plan.state);
      const st = this.compiler.insertState(this.dataset, {
        version: plan.state.version,
        engineVersion: SCHEMA_ENGINE_VERSION,
        pipelineName: plan.state.pipelineName,
        state: text,
        createdAt: now,
        versionHash: shortHash(text),
        loadId: plan.loadId,
      });
      await this.run(st.sql, st.params);
    }
    const st = this.compiler.insertLoad(this.dataset, plan.loadId, schema.name, schema.versionHash, now);
    await this.run(st.sql, st.params);
  }
}

/** Whether a type change is a safe in-place widening. */
export function widens(from: ColumnSchema['dataType'], to: ColumnSchema['dataType']): boolean {
  return (
    (from === 'bigint' && to === 'double') ||
    (from === 'date' && to === 'timestamp') ||
    (from === 'bigint' && to === 'decimal')
  );
}
