import { randomUUID } from 'node:crypto';
import type { BigQuery, Job, JobMetadata, Query, QueryResultsOptions } from '@google-cloud/bigquery';
import {
  ReadOnlySqlError,
  type DatasetReader,
  type LoadJobFile,
  type LoadPackagePlan,
  type TableSchema,
  type UntrustedQueryOptions,
} from '@ferry/core';
import { SqlJobClient, type Row } from '../sql/sql-job-client.ts';
import { planPackage, loadJobConfiguration, sanitizeJobId, type BigQueryLoad } from './bigquery-plan.ts';
import { BigQuerySqlCompiler, STAGING_CHECK, dollarToNamed, usesNamedParams } from './bigquery-sql.ts';

/** How the client reaches BigQuery. */
export interface BigQueryClientOptions {
  /** Target dataset. */
  dataset: string;
  /** Project of datasets and jobs. */
  projectId: string;
  /** Location of datasets and jobs. */
  location: string;
  /** Load jobs that run at once. Default 4 (the destination's `maxParallelLoadJobs`). */
  parallelLoads?: number;
  /** A description without secrets, for error messages. */
  describe: string;
  /** Pipeline that loads, for job labels (admins see whose jobs run). Default: none labelled. */
  pipelineName?: string;
}

/** Schema field of a query result, as the REST API returns it. */
interface ResultField {
  name?: string | null;
  type?: string | null;
  mode?: string | null;
  fields?: ResultField[] | null;
}

/** Error reasons BigQuery documents as not worth retrying: the input itself is refused. */
const TERMINAL_REASONS = new Set(['invalid', 'invalidQuery']);

/** Error reasons BigQuery documents as worth retrying. */
const TRANSIENT_REASONS = new Set([
  'backendError',
  'internalError',
  'rateLimitExceeded',
  'jobBackendError',
  'jobInternalError',
  'quotaExceeded',
  'tableUnavailable',
]);

/**
 * BigQuery client: load jobs into per-package staging tables, then one transaction script per package
 * (design notes §2). DDL runs first as its own script because BigQuery DDL is not transactional.
 */
export class BigQueryClient extends SqlJobClient {
  override readonly compiler: BigQuerySqlCompiler;
  readonly reader: DatasetReader;
  private readonly bq: BigQuery;
  private readonly options: BigQueryClientOptions;

  constructor(bq: BigQuery, options: BigQueryClientOptions) {
    super(options.dataset);
    this.bq = bq;
    this.options = options;
    this.compiler = new BigQuerySqlCompiler({ projectId: options.projectId, location: options.location });
    this.reader = {
      query: (sql, params) => this.select(sql, params),
      stream: (sql, params, batchSize) => this.stream(sql, params, batchSize),
      untrustedQuery: (sql, params, options) => this.untrusted(sql, params, options),
      kyselyDialect: async () =>
        (await import('../kysely/bigquery-dialect.ts')).bigqueryKyselyDialect(
          this.reader,
          options.projectId,
          this.dataset,
        ),
      quoteIdentifier: (name) => this.compiler.quote(name),
      qualifiedTable: (table) => this.compiler.qualified(this.dataset, table),
    };
  }

  protected override describeTarget(): string {
    return `${this.options.describe} dataset '${this.dataset}'`;
  }

  /** Run SQL (one statement or a script) as a query job and wait for it. Positional `$n` or `@pN` parameters. */
  async execute(sql: string, params?: unknown[] | Record<string, unknown>): Promise<void> {
    const job = await this.startQuery(sql, params);
    await this.waitForJob(job);
  }

  async query(sql: string, params?: unknown[]): Promise<Row[]> {
    const rows: Row[] = [];
    for await (const page of this.stream(sql, params, 10_000)) rows.push(...page);
    return rows;
  }

  /**
   * One untrusted statement: a dry run first (BigQuery parses it and names its `statementType`; nothing
   * runs), allowed only when that is `SELECT` (a script of several statements is `SCRIPT`), then the query
   * with `jobTimeoutMs` so the service cancels it past the timeout.
   */
  private async untrusted(
    sql: string,
    params: unknown[] | undefined,
    options: UntrustedQueryOptions,
  ): Promise<Row[]> {
    let statementType: string | undefined;
    try {
      const dry = await this.startQuery(sql, params, undefined, { dryRun: true });
      statementType =
        (dry.metadata as JobMetadata | undefined)?.statistics?.query?.statementType ?? undefined;
    } catch (error) {
      throw this.wrap(error, sql);
    }
    if (statementType !== 'SELECT')
      throw new ReadOnlySqlError(
        `only one SELECT is allowed; BigQuery's dry run reads this as ${statementType ?? 'an unknown statement type'}`,
      );
    const rows: Row[] = [];
    const limit = options.maxRows ?? Number.POSITIVE_INFINITY;
    for await (const page of this.stream(sql, params, 10_000, {
      jobTimeoutMs: Math.max(1, options.timeoutMs),
    })) {
      rows.push(...page.slice(0, limit - rows.length));
      if (rows.length >= limit) break;
    }
    return rows;
  }

  /** Paged results through `getQueryResults` (one page in memory at a time). */
  private async *stream(
    sql: string,
    params: unknown[] | undefined,
    batchSize: number,
    extra?: Partial<Query>,
  ): AsyncIterable<Row[]> {
    let job: Job;
    try {
      job = await this.startQuery(sql, params, undefined, extra);
    } catch (error) {
      throw this.wrap(error, sql);
    }
    let pageToken: string | undefined;
    for (;;) {
      let response: {
        jobComplete?: boolean | null;
        schema?: { fields?: ResultField[] | null } | null;
        pageToken?: string | null;
        rows?: unknown;
      };
      let rows: unknown[];
      try {
        const options = {
          autoPaginate: false,
          skipParsing: true,
          maxResults: batchSize,
          timeoutMs: 10_000,
          'formatOptions.useInt64Timestamp': true,
          ...(pageToken ? { pageToken } : {}),
        };
        const result = (await job.getQueryResults(options as QueryResultsOptions)) as unknown as [
          unknown[],
          unknown,
          typeof response,
        ];
        rows = result[0] ?? [];
        response = result[2] ?? {};
      } catch (error) {
        throw this.wrap(error, sql);
      }
      if (response.jobComplete === false) continue;
      const fields = response.schema?.fields ?? [];
      if (rows.length > 0) yield rows.map((r) => rowFromApi(r as ApiRow, fields));
      pageToken = response.pageToken ?? undefined;
      if (!pageToken) return;
    }
  }

  /** Insert a query job. Arrays bind positionally (`$n` is rewritten to `@pN`), records by name. */
  private async startQuery(
    sql: string,
    params?: unknown[] | Record<string, unknown>,
    jobId?: string,
    extra?: Partial<Query>,
  ): Promise<Job> {
    const query: Query = { query: sql, location: this.options.location, useLegacySql: false, ...extra };
    if (Array.isArray(params)) {
      // `$n` (the DatasetReader convention) and the compiler's `@pN` bind by name; `?` binds by position.
      query.query = dollarToNamed(sql).sql;
      if (usesNamedParams(query.query)) params = Object.fromEntries(params.map((v, i) => [`p${i + 1}`, v]));
    }
    if (params && (Array.isArray(params) ? params.length > 0 : Object.keys(params).length > 0)) {
      query.params = Array.isArray(params)
        ? params.map(paramValue)
        : Object.fromEntries(Object.entries(params).map(([k, v]) => [k, paramValue(v)]));
      query.types = Array.isArray(params)
        ? params.map(paramType)
        : Object.fromEntries(Object.entries(params).map(([k, v]) => [k, paramType(v)]));
    }
    if (jobId) query.jobId = jobId;
    const [job] = await this.bq.createQueryJob(query);
    return job;
  }

  /** Poll a job until DONE; throw its error (as the API reports it) when it failed. */
  private async waitForJob(job: Job): Promise<JobMetadata> {
    let delay = 100;
    for (;;) {
      const [meta] = await job.getMetadata();
      if (meta.status?.state === 'DONE') {
        if (meta.status.errorResult) throw jobError(meta);
        return meta;
      }
      await new Promise((r) => setTimeout(r, delay));
      delay = Math.min(delay * 2, 2000);
    }
  }

  /**
   * Run a job exactly once per id: insert it, or on 409 (the id exists: an earlier attempt of this
   * package made it) wait for that job instead. An earlier job that finished and failed loaded (or
   * committed) nothing, so the next suffixed id (`_r2`, `_r3`, …) runs it again; there is no cap, since
   * a failure of a job this call inserted itself ends the call. `fresh` starts past the ids in use (a
   * reload after the commit found staging incomplete, {@link loadPackage}).
   */
  private async runOnce(
    baseId: string,
    insert: (id: string) => Promise<Job>,
    fresh = false,
  ): Promise<{ meta: JobMetadata; id: string; reused: boolean }> {
    for (let attempt = 1; ; attempt++) {
      const id = attempt === 1 ? baseId : `${baseId}_r${attempt}`;
      let job: Job;
      let reused = false;
      try {
        job = await insert(id);
      } catch (error) {
        if (apiCode(error) !== 409) throw error;
        job = this.bq.job(id, { location: this.options.location });
        reused = true;
      }
      let meta: JobMetadata;
      try {
        meta = await this.waitForJob(job);
      } catch (error) {
        if (!reused) throw error;
        continue;
      }
      // A reload needs a job of its own: an earlier successful one loaded into a staging table since lost.
      if (fresh && reused) continue;
      return { meta, id, reused };
    }
  }

  /** Load one file with a load job (deterministic id) into a table of a dataset. */
  private async runLoad(load: BigQueryLoad, fresh = false): Promise<void> {
    const table = this.bq.dataset(load.dataset, { location: this.options.location }).table(load.table);
    await this.runOnce(
      load.jobId,
      async (id) => {
        const [job] = await table.createLoadJob(load.job.path, {
          ...load.configuration,
          jobId: id,
        });
        return job;
      },
      fresh,
    );
  }

  /**
   * A one-off load into any table (the base class's hook; `loadPackage` does not use it). Outside a
   * package there is no load id to derive a stable job id from, so the id is random.
   */
  protected async loadFile(job: LoadJobFile, target: string, _table: TableSchema): Promise<void> {
    // `target` is `project`.`dataset`.`table`; a load job needs the parts.
    const parts = [...target.matchAll(/`((?:[^`\\]|\\.)*)`/g)].map((m) => m[1]!.replace(/\\(.)/g, '$1'));
    await this.runLoad({
      job,
      jobId: sanitizeJobId(`ferry_direct_${randomUUID()}`),
      dataset: parts[1]!,
      table: parts[2]!,
      configuration: loadJobConfiguration(job),
    });
  }

  // BigQuery DDL is not transactional and each statement is a job: the dataset and system tables in one script.
  override async initialize(): Promise<void> {
    await this.run(
      [this.compiler.createSchema(this.dataset), ...this.compiler.systemTables(this.dataset)]
        .map((s) => `${s};`)
        .join('\n'),
    );
  }

  // DROP SCHEMA … CASCADE for the dataset and its staging dataset, in one script.
  override async dropDataset(): Promise<void> {
    await this.run(
      `${this.compiler.dropSchema(this.stagingDataset)};\n${this.compiler.dropSchema(this.dataset)};`,
    );
  }

  /**
   * Load a package exactly once: DDL script, load jobs (409 = already loaded, wait for it) into staging,
   * then the transaction script under a deterministic job id, then drop the staging tables.
   */
  override async loadPackage(plan: LoadPackagePlan): Promise<void> {
    const existing = await this.introspect();
    const bqPlan = planPackage(plan, {
      compiler: this.compiler,
      dataset: this.dataset,
      stagingDataset: this.stagingDataset,
      existing,
      now: new Date().toISOString(),
    });
    const ddl = bqPlan.ddl.map((s) => `${s};`).join('\n');
    await this.run(ddl);

    await this.runLoads(plan, bqPlan.loads, false);

    this.lease?.assertHeld();
    try {
      await this.runOnce(bqPlan.scriptJobId, (id) =>
        this.startQuery(bqPlan.script.sql, bqPlan.script.params, id, this.labelled(plan)),
      );
    } catch (error) {
      if (!String((error as Error)?.message).includes(STAGING_CHECK))
        throw this.wrap(error, bqPlan.script.sql);
      // A staging table lacks rows that reused (409) load jobs had loaded: it was dropped or expired
      // between an earlier attempt and this one. Empty the staging tables, load every file again under
      // new job ids, and commit with a new script job (the failed one committed nothing).
      await this.run(bqPlan.stagingDdl.map((s) => `${s};`).join('\n'));
      await this.runLoads(plan, bqPlan.loads, true);
      this.lease?.assertHeld();
      try {
        await this.runOnce(bqPlan.scriptJobId, (id) =>
          this.startQuery(bqPlan.script.sql, bqPlan.script.params, id, this.labelled(plan)),
        );
      } catch (again) {
        throw this.wrap(again, bqPlan.script.sql);
      }
    }
    // Best effort: a leftover staging table holds only rows already committed under another name.
    if (bqPlan.cleanup.length > 0)
      await this.execute(bqPlan.cleanup.map((s) => `${s};`).join('\n')).catch(() => undefined);
  }

  /**
   * Run a package's load jobs, `parallelLoads` at a time. After a failure no new job starts (jobs in
   * flight finish; their ids make a re-run skip them). `fresh`: new job ids (a reload).
   */
  private async runLoads(plan: LoadPackagePlan, loads: BigQueryLoad[], fresh: boolean): Promise<void> {
    const queue = [...loads];
    let failed = false;
    const worker = async () => {
      for (let load = queue.shift(); load && !failed; load = queue.shift()) {
        try {
          await plan.events.jobStarted(load.job);
          try {
            await this.runLoad(load, fresh);
          } catch (error) {
            throw this.wrap(
              error,
              `load job ${load.jobId} (${load.job.path}) into ${load.dataset}.${load.table}`,
            );
          }
          await plan.events.jobCompleted(load.job);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    const workers = Array.from(
      { length: Math.min(this.options.parallelLoads ?? 4, Math.max(1, queue.length)) },
      worker,
    );
    const results = await Promise.allSettled(workers);
    const rejected = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (rejected) throw rejected.reason;
  }

  /**
   * Labels of the commit script's job that let a warehouse admin find Ferry's loads (BigQuery's
   * counterpart of a query tag): `ferry`, the pipeline and the load id. Label values allow lower-case letters, digits, `_` and `-`
   * (at most 63 characters).
   */
  private labelled(plan: LoadPackagePlan | undefined): Partial<Query> {
    return { labels: jobLabels(this.options.pipelineName ?? plan?.state?.pipelineName, plan?.loadId) };
  }

  protected isTransient(error: unknown): boolean {
    const code = apiCode(error);
    if (code === 429 || (typeof code === 'number' && code >= 500)) return true;
    const reasons = apiReasons(error);
    if (reasons.some((r) => TRANSIENT_REASONS.has(r))) return true;
    const message = (error as Error)?.message ?? '';
    if (/concurrent update|could not serialize|Transaction is aborted/i.test(message)) return true;
    const net = (error as NodeJS.ErrnoException)?.code;
    return (
      typeof net === 'string' &&
      ['ECONNRESET', 'ECONNREFUSED', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'ENOTFOUND'].includes(net)
    );
  }

  /**
   * Terminal: a job or request refused as `invalid` (bad data: a value the column cannot hold, a row
   * past a limit) or `invalidQuery`, with no retryable reason beside it. BigQuery's error table calls
   * both non-retryable; the package is then moved aside instead of loading first on every later run.
   */
  protected override isTerminal(error: unknown): boolean {
    const reasons = apiReasons(error);
    return (
      reasons.some((r) => TERMINAL_REASONS.has(r)) &&
      !reasons.some((r) => TRANSIENT_REASONS.has(r)) &&
      !this.isTransient(error)
    );
  }

  /** The pipeline's lease row (BigQuery has no session locks): see `SqlJobClient.leasePipeline`. */
  lockPipeline(pipelineName: string): Promise<void> {
    return this.leasePipeline(pipelineName);
  }

  async close(): Promise<void> {
    // The REST client holds no connection state worth closing (HTTP keep-alive sockets time out).
    await this.releaseLease();
  }
}

/** A row as the REST API returns it. */
interface ApiRow {
  f?: { v: unknown }[];
}

/** Convert one REST row (`{f: [{v}]}`) with its schema to a plain object. */
function rowFromApi(row: ApiRow, fields: ResultField[]): Row {
  const out: Row = {};
  const cells = row.f ?? [];
  fields.forEach((field, i) => {
    out[field.name ?? `f${i}`] = valueFromApi(field, cells[i]?.v ?? null);
  });
  return out;
}

/**
 * INT64 stays exact (a number when safe, else a bigint); NUMERIC stays a decimal string; TIMESTAMP
 * (int64 microseconds) becomes an ISO string with microseconds, which a JS Date would cut to ms.
 */
function valueFromApi(field: ResultField, value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (field.mode === 'REPEATED' && Array.isArray(value))
    return value.map((c: { v: unknown }) => valueFromApi({ ...field, mode: 'NULLABLE' }, c.v));
  const text = String(value);
  switch (field.type) {
    case 'INTEGER':
    case 'INT64': {
      const n = BigInt(text);
      return n <= BigInt(Number.MAX_SAFE_INTEGER) && n >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(n) : n;
    }
    case 'FLOAT':
    case 'FLOAT64':
      return Number(text);
    case 'BOOLEAN':
    case 'BOOL':
      return text.toLowerCase() === 'true';
    case 'TIMESTAMP':
      return microsToIso(text);
    case 'RECORD':
    case 'STRUCT':
      return rowFromApi(value as ApiRow, field.fields ?? []);
    default:
      return text;
  }
}

/** `1711374420129690` (µs, or `1711374420.12969` s) → `2024-03-25T13:47:00.129690Z`. */
export function microsToIso(value: string): string {
  const micros =
    value.includes('.') || value.includes('E') ? BigInt(Math.round(Number(value) * 1e6)) : BigInt(value);
  let seconds = micros / 1_000_000n;
  let frac = micros % 1_000_000n;
  if (frac < 0n) {
    frac += 1_000_000n;
    seconds -= 1n;
  }
  const base = new Date(Number(seconds) * 1000).toISOString().slice(0, 19);
  return `${base}.${frac.toString().padStart(6, '0')}Z`;
}

/** Parameter value the client accepts (bigints as decimal text). */
function paramValue(value: unknown): unknown {
  if (typeof value === 'bigint') return value.toString();
  if (value === undefined) return null;
  return value;
}

/** Explicit parameter types, so null and bigint parameters work. */
function paramType(value: unknown): string {
  if (typeof value === 'bigint') return 'INT64';
  if (typeof value === 'number') return Number.isInteger(value) ? 'INT64' : 'FLOAT64';
  if (typeof value === 'boolean') return 'BOOL';
  if (value instanceof Date) return 'TIMESTAMP';
  return 'STRING';
}

/** BigQuery job labels: lower-case letters, digits, `_` and `-`, at most 63 characters per value. */
export function jobLabels(pipeline: string | undefined, loadId: string | undefined): Record<string, string> {
  const value = (text: string) =>
    text
      .toLowerCase()
      .replace(/[^a-z0-9_-]/g, '_')
      .slice(0, 63);
  return {
    ferry: 'load',
    ...(pipeline ? { ferry_pipeline: value(pipeline) } : {}),
    ...(loadId ? { ferry_load_id: value(loadId) } : {}),
  };
}

/** HTTP status of an API error, if any. */
function apiCode(error: unknown): number | undefined {
  const code = (error as { code?: unknown })?.code;
  return typeof code === 'number' ? code : undefined;
}

/** `reason` fields of an API error. */
function apiReasons(error: unknown): string[] {
  const errors = (error as { errors?: { reason?: string }[] })?.errors ?? [];
  return errors.map((e) => e.reason ?? '').filter(Boolean);
}

/** An Error for a job that finished with `errorResult`; keeps the reasons for transient classification. */
function jobError(meta: JobMetadata): Error {
  const result = meta.status?.errorResult;
  const details = (meta.status?.errors ?? []).map((e) => e.message).filter((m) => m && m !== result?.message);
  const error = new Error(
    `job ${meta.jobReference?.jobId ?? '?'} failed: ${result?.message ?? 'unknown error'}${details.length > 0 ? ` (${details.slice(0, 3).join('; ')})` : ''}`,
  );
  Object.assign(error, { errors: [result, ...(meta.status?.errors ?? [])].filter(Boolean) });
  return error;
}
