import {
  DestinationError,
  SCHEMA_ENGINE_VERSION,
  shortHash,
  stringifyJson,
  type LoadJobFile,
  type LoadPackagePlan,
  type TableSchema,
} from '@ferry/core';
import type { MergeTable, Statement } from '../sql/sql-compiler.ts';
import { widens } from '../sql/sql-job-client.ts';
import { buildScript, type BigQuerySqlCompiler } from './bigquery-sql.ts';

/** Tables a BigQuery transaction may mutate (https://cloud.google.com/bigquery/docs/transactions#limitations). */
export const MAX_TRANSACTION_TABLES = 100;

/** One load job of a package: a loader file into its per-package staging table. */
export interface BigQueryLoad {
  /** The engine's job file. */
  job: LoadJobFile;
  /** Deterministic BigQuery job id (see {@link loadJobId}). */
  jobId: string;
  /** Staging dataset. */
  dataset: string;
  /** Staging table (`<table>__<load_id>`). */
  table: string;
  /** `configuration.load` of the job (without the destination table, which the client adds). */
  configuration: Record<string, unknown>;
}

/** Everything BigQuery runs for one package, in order. Pure data: golden tests compare it. */
export interface BigQueryPackagePlan {
  /** Non-transactional DDL (datasets, target and staging tables, new columns), run as one script first. */
  ddl: string[];
  /**
   * Empty staging tables again (drop, create): run before a reload, when the commit script found a
   * staging table without the package's rows.
   */
  stagingDdl: string[];
  /** Load jobs into staging tables; idempotent through their job ids. */
  loads: BigQueryLoad[];
  /** The one transaction: targets from staging, state, schema version and the `_ferry_loads` marker. */
  script: { sql: string; params: Record<string, unknown> };
  /** Deterministic id of the script's query job (a re-run waits for it instead of committing twice). */
  scriptJobId: string;
  /** Best-effort cleanup after the commit: drop the package's staging tables. */
  cleanup: string[];
}

/** BigQuery job ids: letters, digits, `_` and `-`, at most 1024 characters. */
export function sanitizeJobId(text: string): string {
  return text.replace(/[^A-Za-z0-9_-]/g, '_').slice(0, 1024);
}

/**
 * `ferry_<dataset>_<load_id>_<job>`: the same file of the same package always gets the same id, so a
 * retried or resumed load finds the existing job (409) instead of loading the file twice.
 */
export function loadJobId(dataset: string, loadId: string, jobId: string): string {
  return sanitizeJobId(`ferry_${dataset}_${loadId}_${jobId}`);
}

/** Per-package staging table of a target table. */
export function stagingTableName(table: string, loadId: string): string {
  return `${table}__${loadId}`;
}

/** `configuration.load` for a loader file: append into an existing staging table, no bad records. */
export function loadJobConfiguration(job: Pick<LoadJobFile, 'format'>): Record<string, unknown> {
  if (job.format === 'csv')
    throw new DestinationError(
      'bigquery loads jsonl or parquet files, not csv; set the file format to jsonl',
    );
  return {
    sourceFormat: job.format === 'parquet' ? 'PARQUET' : 'NEWLINE_DELIMITED_JSON',
    writeDisposition: 'WRITE_APPEND',
    createDisposition: 'CREATE_NEVER',
    ignoreUnknownValues: false,
    maxBadRecords: 0,
  };
}

/** Inputs of {@link planPackage} besides the engine's plan. */
export interface PlanContext {
  /** Compiler with the project and location. */
  compiler: BigQuerySqlCompiler;
  /** Target dataset. */
  dataset: string;
  /** Staging dataset (`<dataset>_staging`). */
  stagingDataset: string;
  /** Tables as they exist now (introspected). */
  existing: Record<string, TableSchema>;
  /** Commit time, ISO (a parameter, so golden tests can fix it). */
  now: string;
}

/**
 * Plan one package the exactly-once way (design notes §2): DDL first (BigQuery DDL is not
 * transactional), load jobs with deterministic ids into per-package staging tables, then a single
 * `BEGIN TRANSACTION … COMMIT TRANSACTION` script that moves staged rows into the targets and writes the
 * state, schema version and `_ferry_loads` marker together.
 */
export function planPackage(plan: LoadPackagePlan, ctx: PlanContext): BigQueryPackagePlan {
  const { compiler: c, dataset, stagingDataset, existing, now } = ctx;
  const target = (t: string) => c.qualified(dataset, t);
  const staging = (t: string) => c.qualified(stagingDataset, stagingTableName(t, plan.loadId));

  const ddl: string[] = [c.createSchema(stagingDataset)];
  const needed = new Set([
    ...plan.tables.map((t) => t.table),
    ...plan.replaceChains.flatMap((ch) => ch.tables),
  ]);
  // The engine refuses such a package first (maxTablesPerTransaction); this guards direct callers.
  if (needed.size + 3 > MAX_TRANSACTION_TABLES)
    throw new DestinationError(
      `package ${plan.loadId} changes ${needed.size} tables plus Ferry's 3 system tables; a BigQuery transaction mutates at most ${MAX_TRANSACTION_TABLES} tables (maxTablesPerTransaction). Nothing was loaded.`,
      { transient: false, context: { loadId: plan.loadId, tables: needed.size } },
    );
  for (const name of needed) {
    const table = plan.schema.tables[name];
    if (!table) continue;
    const columns = Object.values(table.columns);
    const have = existing[name];
    if (!have) {
      ddl.push(c.createTable(target(name), columns));
      continue;
    }
    ddl.push(
      ...c.addColumns(
        target(name),
        columns.filter((col) => !have.columns[col.name]),
      ),
    );
    for (const col of columns) {
      const current = have.columns[col.name];
      if (!current || current.dataType === col.dataType || !widens(current.dataType, col.dataType)) continue;
      if (current.dataType !== 'bigint') {
        throw new DestinationError(
          `bigquery cannot change column '${name}.${col.name}' from ${current.dataType} to ${col.dataType} in place (only INT64 widens); ` +
            `add a column hint that keeps the ${current.dataType} type, or replace the table`,
          { context: { table: name, column: col.name } },
        );
      }
      ddl.push(c.alterColumnType(target(name), col));
    }
  }
  const stagingDdl: string[] = [];
  for (const t of plan.tables) {
    const table = plan.schema.tables[t.table]!;
    const columns = Object.values(table.columns).map((col) => ({ ...col, nullable: true }));
    ddl.push(c.createTable(staging(t.table), columns));
    stagingDdl.push(c.dropTable(staging(t.table)), c.createTable(staging(t.table), columns));
  }

  const loads: BigQueryLoad[] = plan.tables.flatMap((t) =>
    t.jobs.map((job) => ({
      job,
      jobId: loadJobId(dataset, plan.loadId, job.jobId),
      dataset: stagingDataset,
      table: stagingTableName(t.table, plan.loadId),
      configuration: loadJobConfiguration(job),
    })),
  );

  const statements: (Statement | string)[] = ['BEGIN TRANSACTION'];
  // Verify what is committed: every staging table holds exactly the package's rows (a reused load job
  // may have loaded into a staging table that was dropped or expired since).
  for (const t of plan.tables)
    statements.push(
      c.assertStagingRows(
        staging(t.table),
        t.table,
        t.jobs.reduce((n, j) => n + j.rows, 0),
      ),
    );
  for (const chain of plan.replaceChains) {
    for (const t of chain.tables)
      if (existing[t] || plan.schema.tables[t]) statements.push(c.deleteAll(target(t)));
  }
  for (const t of plan.tables) {
    if (t.writeDisposition === 'merge') continue;
    statements.push(
      c.insertFromStaging(
        target(t.table),
        staging(t.table),
        Object.keys(plan.schema.tables[t.table]!.columns),
      ),
    );
  }
  for (const t of plan.tables) {
    if (t.writeDisposition !== 'merge' || t.root !== t.table) continue;
    const toMerge = (name: string): MergeTable => ({
      table: plan.schema.tables[name]!,
      target: target(name),
      staging: staging(name),
    });
    const root = toMerge(t.table);
    const children = plan.tables
      .filter((ch) => ch.root === t.table && ch.table !== t.table)
      .map((ch) => toMerge(ch.table));
    const pk = Object.values(root.table.columns)
      .filter((col) => col.primaryKey)
      .map((col) => col.name);
    const mk = Object.values(root.table.columns)
      .filter((col) => col.mergeKey)
      .map((col) => col.name);
    statements.push(
      ...(t.mergeStrategy === 'upsert' && pk.length > 0
        ? c.mergeUpsert(root, children, pk)
        : c.mergeDeleteInsert(root, children, pk, mk)),
    );
  }
  const { schema } = plan;
  statements.push(
    c.insertVersionIfNew(dataset, {
      version: schema.version,
      engineVersion: SCHEMA_ENGINE_VERSION,
      insertedAt: now,
      schemaName: schema.name,
      versionHash: schema.versionHash,
      schema: JSON.stringify(schema),
    }),
  );
  if (plan.state) {
    const text = stringifyJson(plan.state);
    statements.push(
      c.insertState(dataset, {
        version: plan.state.version,
        engineVersion: SCHEMA_ENGINE_VERSION,
        pipelineName: plan.state.pipelineName,
        state: text,
        createdAt: now,
        versionHash: shortHash(text),
        loadId: plan.loadId,
      }),
    );
  }
  statements.push(c.insertLoad(dataset, plan.loadId, schema.name, schema.versionHash, now));
  statements.push('COMMIT TRANSACTION');

  return {
    ddl,
    stagingDdl,
    loads,
    script: buildScript(statements),
    scriptJobId: sanitizeJobId(`ferry_${dataset}_${plan.loadId}_commit`),
    cleanup: plan.tables.map((t) => c.dropTable(staging(t.table))),
  };
}
