/**
 * A local BigQuery REST server for tests: the routes `@google-cloud/bigquery` calls (datasets, tables,
 * multipart load-job uploads, jobs, jobs.query, getQueryResults), on 127.0.0.1, with DuckDB as the SQL
 * engine behind a small translation (bigquery-translate.ts). It answers 409 for a duplicate job id,
 * records every request, and keeps every uploaded file so tests can assert what was staged.
 */
import { randomUUID } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance, DuckDBTypeId, type DuckDBType, type DuckDBValue } from '@duckdb/node-api';
import {
  duckLiteral,
  returnsRows,
  splitStatements,
  translateStatement,
  type ApiParam,
} from './bigquery-translate.ts';

/** One request as the server saw it. */
export interface RecordedRequest {
  /** HTTP method. */
  method: string;
  /** Path without the query string. */
  path: string;
  /** Query string parameters. */
  query: Record<string, string>;
  /** Job id of a job insert, get or getQueryResults. */
  jobId?: string;
  /** `load`, `query` for job inserts and jobs.query. */
  jobType?: 'load' | 'query';
  /** SQL of a query job or jobs.query. */
  sql?: string;
  /** Named/positional parameters of a query. */
  params?: ApiParam[];
  /** Load job destination `dataset.table`. */
  destination?: string;
  /** Bytes of an uploaded file. */
  mediaBytes?: number;
  /** `configuration.labels` of a job insert. */
  labels?: Record<string, string>;
  /** Response status. */
  status: number;
}

/** An uploaded load-job file. */
export interface StagedUpload {
  /** Job id. */
  jobId: string;
  /** `dataset.table`. */
  destination: string;
  /** `NEWLINE_DELIMITED_JSON` or `PARQUET`. */
  sourceFormat: string;
  /** Where the server keeps it. */
  path: string;
  /** The file's bytes. */
  bytes: Buffer;
}

interface StoredJob {
  resource: Record<string, any>;
  fields: Record<string, unknown>[];
  rows: { f: { v: unknown }[] }[];
}

/** An error as BigQuery reports it: an HTTP status (for a refused request) and a reason. */
export interface InjectedError {
  /** HTTP status of a refused request (jobs.insert); ignored for a job that fails. Default 400. */
  status?: number;
  /** BigQuery's reason, e.g. `rateLimitExceeded`, `backendError`, `invalidQuery`. */
  reason: string;
  /** The message. */
  message: string;
}

/**
 * Faults a test can inject, each off by default (README.md lists what each imitates and its source).
 */
export interface ServerFaults {
  /**
   * After handling a request that matches, destroy the socket instead of answering (the work is done
   * but the client never hears it): a lost response.
   */
  dropResponse?: (req: RecordedRequest) => boolean;
  /**
   * Refuse a jobs.insert (load or query) before any job exists: BigQuery's 403 `rateLimitExceeded`
   * ("Exceeded rate limits: too many api requests per user per method"), a 5xx `backendError`. The same
   * job id can be inserted again later.
   */
  rejectInsert?: (req: RecordedRequest) => InjectedError | undefined;
  /**
   * Accept a job but finish it DONE with this error and without running it: a load job that fails, a
   * script aborted by a concurrent transaction (`Transaction is aborted due to concurrent update
   * against table …`). The id stays taken (a second insert gets 409).
   */
  failJob?: (req: RecordedRequest) => InjectedError | undefined;
  /**
   * BigQuery's transaction rules: a transaction mutates at most 100 tables, and DDL on permanent tables
   * inside one is refused. Default off (the server then accepts both).
   */
  transactionRules?: boolean;
  /**
   * Datasets keep their location, and a job that names another location does not find them (BigQuery's
   * 404 `Not found: Dataset p:ds was not found in location EU`). Default off.
   */
  checkLocation?: boolean;
  /**
   * DML concurrency per table: at most 2 mutating statements run and 20 wait; one more fails with
   * `Resources exceeded … too many DML statements outstanding against table`. Default off.
   */
  dmlQueue?: boolean;
}

/**
 * A fault that hits matching requests the first `n` times only (then the request goes through): e.g.
 * `failTimes(6, (r) => r.jobType === 'load', {reason: 'backendError', message: '…'})`.
 */
export function failTimes(
  n: number,
  match: (req: RecordedRequest) => boolean,
  error: InjectedError,
): (req: RecordedRequest) => InjectedError | undefined {
  let left = n;
  return (req) => {
    if (left <= 0 || !match(req)) return undefined;
    left--;
    return error;
  };
}

/** A running local BigQuery server. */
export interface LocalBigQueryServer {
  /** `http://127.0.0.1:PORT`, for the client's `apiEndpoint`. */
  url: string;
  /** Project the server accepts. */
  projectId: string;
  /** Every request, in arrival order. */
  requests: RecordedRequest[];
  /** Every uploaded load-job file, in arrival order. */
  uploads: StagedUpload[];
  /** Faults to inject (set fields on it). */
  faults: ServerFaults;
  /** Run SQL directly on the backing DuckDB (test assertions; DuckDB syntax). */
  sql(text: string): Promise<Record<string, unknown>[]>;
  /** Stop the server and delete its files. */
  close(): Promise<void>;
}

class ApiFailure extends Error {
  readonly status: number;
  readonly reason: string;
  constructor(status: number, reason: string, message: string) {
    super(message);
    this.status = status;
    this.reason = reason;
  }
}

/** Start a server on 127.0.0.1 (a free port). */
export async function startBigQueryServer(
  options: { projectId?: string; location?: string } = {},
): Promise<LocalBigQueryServer> {
  const projectId = options.projectId ?? 'ferry-local';
  const location = options.location ?? 'US';
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-bq-server-'));
  const instance = await DuckDBInstance.create(':memory:');
  const conn = await instance.connect();
  await conn.run(`ATTACH ':memory:' AS ${JSON.stringify(projectId)}`);
  await conn.run(`USE ${JSON.stringify(projectId)}`);
  await conn.run(`SET TimeZone = 'UTC'`);
  const requests: RecordedRequest[] = [];
  const uploads: StagedUpload[] = [];
  const jobs = new Map<string, StoredJob>();
  const faults: ServerFaults = {};

  // One DuckDB connection: scripts and loads run one at a time, like a single slot.
  let chain: Promise<unknown> = Promise.resolve();
  const exclusive = <T>(fn: () => Promise<T>): Promise<T> => {
    const next = chain.then(fn, fn);
    chain = next.catch(() => undefined);
    return next;
  };

  const qcat = JSON.stringify(projectId);
  const tablePath = (ds: string, t: string) => `${qcat}.${dq(ds)}.${dq(t)}`;

  const datasetExists = async (ds: string) =>
    (
      await conn.runAndReadAll(
        `SELECT 1 FROM information_schema.schemata WHERE catalog_name = ${duckLiteral(projectId)} AND schema_name = ${duckLiteral(ds)}`,
      )
    ).getRows().length > 0;

  const tableColumns = async (ds: string, t: string) =>
    (
      await conn.runAndReadAll(
        `SELECT column_name, data_type, is_nullable FROM information_schema.columns WHERE table_catalog = ${duckLiteral(projectId)} AND table_schema = ${duckLiteral(ds)} AND table_name = ${duckLiteral(t)} ORDER BY ordinal_position`,
      )
    ).getRowObjectsJS() as { column_name: string; data_type: string; is_nullable: string }[];

  const jobResource = (
    jobId: string,
    jobLocation: string,
    configuration: unknown,
    error?: { message: string; reason: string },
    statistics: Record<string, unknown> = {},
  ) => ({
    kind: 'bigquery#job',
    id: `${projectId}:${jobLocation}.${jobId}`,
    selfLink: `/bigquery/v2/projects/${projectId}/jobs/${jobId}?location=${jobLocation}`,
    jobReference: { projectId, jobId, location: jobLocation },
    configuration,
    status: error
      ? { state: 'DONE', errorResult: { ...error, location: '' }, errors: [{ ...error, location: '' }] }
      : { state: 'DONE' },
    statistics: {
      creationTime: String(Date.now()),
      startTime: String(Date.now()),
      endTime: String(Date.now()),
      ...statistics,
    },
  });

  /** Reserve a job id (a second insert of the same id is BigQuery's 409), marked RUNNING until it finishes. */
  const claimJob = (jobId: string, configuration: unknown) => {
    if (jobs.has(jobId))
      throw new ApiFailure(409, 'duplicate', `Already Exists: Job ${projectId}:${location}.${jobId}`);
    jobs.set(jobId, {
      resource: { ...jobResource(jobId, location, configuration), status: { state: 'RUNNING' } },
      fields: [],
      rows: [],
    });
  };

  const injectInsertFaults = (rec: RecordedRequest) => {
    const refused = faults.rejectInsert?.(rec);
    if (refused) throw new ApiFailure(refused.status ?? 400, refused.reason, refused.message);
  };

  const failedJob = (jobId: string, configuration: unknown, error: InjectedError): StoredJob => ({
    resource: jobResource(jobId, location, configuration, { message: error.message, reason: error.reason }),
    fields: [],
    rows: [],
  });

  /** Dataset locations, as created (checked when `faults.checkLocation`). */
  const datasetLocations = new Map<string, string>();
  const checkJobLocation = (jobLocation: string | undefined, datasets: string[]) => {
    if (!faults.checkLocation) return;
    const where = (jobLocation ?? location).toUpperCase();
    for (const ds of datasets) {
      const at = datasetLocations.get(ds);
      if (at && at.toUpperCase() !== where)
        throw new ApiFailure(
          404,
          'notFound',
          `Not found: Dataset ${projectId}:${ds} was not found in location ${where}`,
        );
    }
  };

  /** Mutating statements outstanding per table (running or waiting for the single slot). */
  const outstandingDml = new Map<string, number>();

  /** Run a BigQuery script; the last row-returning statement is the job's result. */
  const runScript = async (
    sql: string,
    params: ApiParam[],
    mode: 'NAMED' | 'POSITIONAL',
    jobLocation?: string,
  ) => {
    const statements = splitStatements(sql);
    const mutated = [...new Set(statements.map(mutatedTable).filter((t): t is string => Boolean(t)))];
    if (faults.dmlQueue) {
      // BigQuery runs 2 mutating DML statements per table at once and queues 20 more
      // (https://cloud.google.com/bigquery/docs/data-manipulation-language#dml-limitations).
      for (const t of mutated)
        if ((outstandingDml.get(t) ?? 0) >= 22)
          throw new ApiFailure(
            400,
            'resourcesExceeded',
            `Resources exceeded during query execution: Too many DML statements outstanding against table ${t}, limit is 20.`,
          );
      for (const t of mutated) outstandingDml.set(t, (outstandingDml.get(t) ?? 0) + 1);
    }
    try {
      checkJobLocation(jobLocation, [...new Set(statements.flatMap(datasetsOf))]);
      return await runScriptNow(statements, params, mode);
    } finally {
      if (faults.dmlQueue) for (const t of mutated) outstandingDml.set(t, outstandingDml.get(t)! - 1);
    }
  };

  const runScriptNow = (statements: string[], params: ApiParam[], mode: 'NAMED' | 'POSITIONAL') =>
    exclusive(async () => {
      let inTransaction = false;
      const touched = new Set<string>();
      let result: { fields: Record<string, unknown>[]; rows: { f: { v: unknown }[] }[] } = {
        fields: [],
        rows: [],
      };
      let affected = 0;
      try {
        for (const statement of statements) {
          const schema =
            /^\s*CREATE\s+SCHEMA\s+(?:IF\s+NOT\s+EXISTS\s+)?`[^`]*`\s*\.\s*`([^`]*)`.*location\s*=\s*'([^']*)'/is.exec(
              statement,
            );
          if (schema && !datasetLocations.has(schema[1]!)) datasetLocations.set(schema[1]!, schema[2]!);
          if (faults.transactionRules && inTransaction) {
            // https://cloud.google.com/bigquery/docs/transactions#limitations
            if (
              /^\s*(CREATE|ALTER|DROP|TRUNCATE)\b/i.test(statement) &&
              !/^\s*CREATE\s+TEMP(ORARY)?\b/i.test(statement)
            )
              throw new Error('DDL statements on permanent tables are not supported inside a transaction');
            const t = mutatedTable(statement);
            if (t) touched.add(t);
            if (touched.size > 100)
              throw new Error(
                `Transaction exceeds the limit of 100 tables that a transaction can modify (${touched.size} tables)`,
              );
          }
          const duck = translateStatement(statement, params, mode);
          if (/^BEGIN\b/i.test(duck)) inTransaction = true;
          const reader = await conn.runAndReadAll(duck);
          if (/^(COMMIT|ROLLBACK)\b/i.test(duck)) inTransaction = false;
          if (returnsRows(duck))
            result = toApiResult(reader.columnNames(), reader.columnTypes(), reader.getRows());
          else if (/^(INSERT|UPDATE|DELETE|MERGE)\b/i.test(duck))
            affected += Number(reader.getRows()[0]?.[0] ?? 0);
        }
      } catch (error) {
        if (inTransaction) await conn.run('ROLLBACK').catch(() => undefined);
        throw new ApiFailure(400, 'invalidQuery', (error as Error).message.split('\n')[0]!);
      }
      return { ...result, affected };
    });

  const runQueryJob = async (
    jobId: string,
    jobLocation: string,
    configuration: Record<string, any>,
  ): Promise<StoredJob> => {
    const q = configuration.query ?? {};
    try {
      const r = await runScript(
        String(q.query ?? ''),
        q.queryParameters ?? [],
        q.parameterMode === 'POSITIONAL' ? 'POSITIONAL' : 'NAMED',
        jobLocation,
      );
      return {
        resource: jobResource(jobId, jobLocation, configuration, undefined, {
          query: { numDmlAffectedRows: String(r.affected), statementType: 'SCRIPT' },
        }),
        fields: r.fields,
        rows: r.rows,
      };
    } catch (error) {
      const e = error as ApiFailure;
      return {
        resource: jobResource(jobId, jobLocation, configuration, {
          message: e.message,
          reason: e.reason ?? 'invalidQuery',
        }),
        fields: [],
        rows: [],
      };
    }
  };

  /** The job resource of a dry run: the statement's type as DuckDB parses the translated text. */
  const dryRunResource = async (jobId: string, configuration: Record<string, any>) => {
    const q = configuration.query ?? {};
    const statements = splitStatements(String(q.query ?? ''));
    let statementType = 'SCRIPT';
    if (statements.length === 1) {
      const duck = translateStatement(
        statements[0]!,
        q.queryParameters ?? [],
        q.parameterMode === 'POSITIONAL' ? 'POSITIONAL' : 'NAMED',
      );
      let type: number;
      try {
        const extracted = await conn.extractStatements(duck);
        if (extracted.count !== 1) type = -1;
        else {
          const prepared = await extracted.prepare(0).catch(() => undefined);
          type = prepared ? prepared.statementType : 1;
          prepared?.destroySync();
        }
      } catch (error) {
        throw new ApiFailure(400, 'invalidQuery', (error as Error).message.split('\n')[0]!);
      }
      const names: Record<number, string> = {
        1: 'SELECT',
        2: 'INSERT',
        3: 'UPDATE',
        5: 'DELETE',
        7: 'CREATE_TABLE',
        9: 'ALTER_TABLE',
        15: 'DROP_TABLE',
        30: 'MERGE',
      };
      statementType = names[type] ?? 'SCRIPT';
    }
    return {
      ...jobResource(jobId, location, { ...configuration, dryRun: true }, undefined, {
        query: { statementType, totalBytesProcessed: '0' },
      }),
    };
  };

  const runLoadJob = async (
    jobId: string,
    jobLocation: string,
    configuration: Record<string, any>,
    media: Buffer,
  ): Promise<StoredJob> => {
    const load = configuration.load ?? {};
    const dest = load.destinationTable ?? {};
    const destination = `${dest.datasetId}.${dest.tableId}`;
    const format = String(load.sourceFormat ?? 'CSV');
    const file = path.join(dir, `${jobId}.${format === 'PARQUET' ? 'parquet' : 'jsonl'}`);
    await writeFile(file, media);
    uploads.push({ jobId, destination, sourceFormat: format, path: file, bytes: media });
    try {
      const rows = await exclusive(async () => {
        const cols = await tableColumns(String(dest.datasetId), String(dest.tableId));
        if (cols.length === 0)
          throw new ApiFailure(404, 'notFound', `Not found: Table ${projectId}:${destination}`);
        if (load.writeDisposition === 'WRITE_TRUNCATE')
          await conn.run(`DELETE FROM ${tablePath(dest.datasetId, dest.tableId)}`);
        if (media.length === 0) return 0;
        const names = cols.map((c) => dq(c.column_name)).join(', ');
        let source: string;
        if (format === 'NEWLINE_DELIMITED_JSON') {
          const types = cols
            .map((c) => `${duckLiteral(c.column_name)}: ${duckLiteral(c.data_type)}`)
            .join(', ');
          source = `read_json(${duckLiteral(file)}, format = 'newline_delimited', columns = {${types}}, maximum_object_size = 134217728)`;
        } else if (format === 'PARQUET') {
          source = `read_parquet(${duckLiteral(file)}, union_by_name = true)`;
        } else {
          throw new ApiFailure(400, 'invalid', `sourceFormat ${format} is not supported by the local server`);
        }
        const reader = await conn.runAndReadAll(
          `INSERT INTO ${tablePath(dest.datasetId, dest.tableId)} (${names}) SELECT ${names} FROM ${source}`,
        );
        return Number(reader.getRows()[0]?.[0] ?? 0);
      });
      return {
        resource: jobResource(jobId, jobLocation, configuration, undefined, {
          load: { outputRows: String(rows), inputFiles: '1', inputFileBytes: String(media.length) },
        }),
        fields: [],
        rows: [],
      };
    } catch (error) {
      const e =
        error instanceof ApiFailure
          ? error
          : new ApiFailure(400, 'invalid', (error as Error).message.split('\n')[0]!);
      return {
        resource: jobResource(jobId, jobLocation, configuration, { message: e.message, reason: e.reason }),
        fields: [],
        rows: [],
      };
    }
  };

  const page = (job: StoredJob, query: Record<string, string>) => {
    const start = Number(query.pageToken ?? query.startIndex ?? 0);
    const max = query.maxResults !== undefined ? Number(query.maxResults) : 100_000;
    const slice = job.rows.slice(start, start + max);
    const next = start + slice.length;
    const micros = query['formatOptions.useInt64Timestamp'] === 'true';
    return {
      kind: 'bigquery#getQueryResultsResponse',
      jobReference: job.resource.jobReference,
      jobComplete: true,
      schema: { fields: job.fields },
      totalRows: String(job.rows.length),
      rows: slice.map((r) => formatRow(r, job.fields, micros)),
      ...(next < job.rows.length ? { pageToken: String(next) } : {}),
      cacheHit: false,
      numDmlAffectedRows: job.resource.statistics?.query?.numDmlAffectedRows,
    };
  };

  const failIfJobFailed = (job: StoredJob) => {
    const err = job.resource.status?.errorResult;
    if (err) throw new ApiFailure(400, err.reason ?? 'invalidQuery', err.message);
  };

  const handle = async (
    req: IncomingMessage,
    body: Buffer,
    rec: RecordedRequest,
  ): Promise<[number, unknown]> => {
    const parts = rec.path.split('/').filter(Boolean).map(decodeURIComponent);
    const isUpload = parts[0] === 'upload';
    const p = isUpload ? parts.slice(1) : parts;
    if (p[0] !== 'bigquery' || p[1] !== 'v2' || p[2] !== 'projects')
      throw new ApiFailure(404, 'notFound', `no route ${rec.method} ${rec.path}`);
    if (p[3] !== projectId) throw new ApiFailure(404, 'notFound', `Not found: Project ${p[3]}`);
    const rest = p.slice(4);
    const method = rec.method;

    if (isUpload && method === 'POST' && rest[0] === 'jobs') {
      const { json, media } = parseMultipart(req.headers['content-type'] ?? '', body);
      const jobId = String(json.jobReference?.jobId ?? randomUUID());
      const dest = json.configuration?.load?.destinationTable ?? {};
      Object.assign(rec, {
        jobId,
        jobType: 'load',
        destination: `${dest.datasetId}.${dest.tableId}`,
        mediaBytes: media.length,
      });
      injectInsertFaults(rec);
      claimJob(jobId, json.configuration);
      const injected = faults.failJob?.(rec);
      if (injected) {
        jobs.set(jobId, failedJob(jobId, json.configuration, injected));
        return [200, jobs.get(jobId)!.resource];
      }
      checkJobLocation(json.jobReference?.location, [String(dest.datasetId)]);
      const job = await runLoadJob(
        jobId,
        json.jobReference?.location ?? location,
        json.configuration ?? {},
        media,
      );
      jobs.set(jobId, job);
      return [200, job.resource];
    }

    if (rest[0] === 'jobs' && method === 'POST' && rest.length === 1) {
      const json = JSON.parse(body.toString('utf8') || '{}');
      const jobId = String(json.jobReference?.jobId ?? randomUUID());
      Object.assign(rec, {
        jobId,
        jobType: 'query',
        sql: json.configuration?.query?.query,
        params: json.configuration?.query?.queryParameters,
        ...(json.configuration?.labels ? { labels: json.configuration.labels } : {}),
      });
      if (json.configuration?.dryRun === true) {
        // A dry run (https://cloud.google.com/bigquery/docs/dry-run-queries): validated, not run, no job
        // stored; `statistics.query.statementType` says what it is (SCRIPT for several statements).
        return [200, await dryRunResource(jobId, json.configuration)];
      }
      injectInsertFaults(rec);
      claimJob(jobId, json.configuration);
      const injected = faults.failJob?.(rec);
      if (injected) {
        jobs.set(jobId, failedJob(jobId, json.configuration, injected));
        return [200, jobs.get(jobId)!.resource];
      }
      const job = await runQueryJob(jobId, json.jobReference?.location ?? location, json.configuration ?? {});
      jobs.set(jobId, job);
      return [200, job.resource];
    }

    if (rest[0] === 'jobs' && method === 'GET' && rest.length === 2) {
      rec.jobId = rest[1]!;
      const job = jobs.get(rest[1]!);
      if (!job) throw new ApiFailure(404, 'notFound', `Not found: Job ${projectId}:${rest[1]}`);
      return [200, job.resource];
    }

    if (rest[0] === 'queries' && method === 'POST' && rest.length === 1) {
      const json = JSON.parse(body.toString('utf8') || '{}');
      const jobId = `job_${randomUUID().replaceAll('-', '')}`;
      Object.assign(rec, { jobId, jobType: 'query', sql: json.query, params: json.queryParameters });
      const configuration = {
        query: {
          query: json.query,
          queryParameters: json.queryParameters,
          parameterMode: json.parameterMode,
          useLegacySql: false,
        },
      };
      const job = await runQueryJob(jobId, json.location ?? location, configuration);
      jobs.set(jobId, job);
      failIfJobFailed(job);
      const micros = json.formatOptions?.useInt64Timestamp === true;
      const first = page(job, {
        maxResults: String(json.maxResults ?? 100_000),
        'formatOptions.useInt64Timestamp': String(micros),
      });
      return [200, { ...first, kind: 'bigquery#queryResponse' }];
    }

    if (rest[0] === 'queries' && method === 'GET' && rest.length === 2) {
      rec.jobId = rest[1]!;
      const job = jobs.get(rest[1]!);
      if (!job) throw new ApiFailure(404, 'notFound', `Not found: Job ${projectId}:${rest[1]}`);
      failIfJobFailed(job);
      return [200, page(job, rec.query)];
    }

    if (rest[0] === 'datasets') {
      const ds = rest[1];
      if (method === 'POST' && !ds) {
        const json = JSON.parse(body.toString('utf8') || '{}');
        const id = String(json.datasetReference?.datasetId ?? '');
        return exclusive(async () => {
          if (await datasetExists(id))
            throw new ApiFailure(409, 'duplicate', `Already Exists: Dataset ${projectId}:${id}`);
          await conn.run(`CREATE SCHEMA ${qcat}.${dq(id)}`);
          datasetLocations.set(id, String(json.location ?? location));
          return [200, datasetResource(projectId, id, json.location ?? location)];
        });
      }
      if (method === 'GET' && !ds) {
        const rows = (
          await conn.runAndReadAll(
            `SELECT schema_name FROM information_schema.schemata WHERE catalog_name = ${duckLiteral(projectId)}`,
          )
        ).getRowObjectsJS();
        return [
          200,
          {
            kind: 'bigquery#datasetList',
            datasets: rows.map((r) => ({
              datasetReference: { projectId, datasetId: r.schema_name },
              location,
            })),
          },
        ];
      }
      if (ds && rest.length === 2) {
        if (method === 'GET') {
          if (!(await datasetExists(ds)))
            throw new ApiFailure(404, 'notFound', `Not found: Dataset ${projectId}:${ds}`);
          return [200, datasetResource(projectId, ds, location)];
        }
        if (method === 'DELETE') {
          return exclusive(async () => {
            if (!(await datasetExists(ds)))
              throw new ApiFailure(404, 'notFound', `Not found: Dataset ${projectId}:${ds}`);
            await conn.run(
              `DROP SCHEMA ${qcat}.${dq(ds)} ${rec.query.deleteContents === 'true' ? 'CASCADE' : 'RESTRICT'}`,
            );
            return [204, undefined];
          });
        }
      }
      if (ds && rest[2] === 'tables') {
        const t = rest[3];
        if (method === 'GET' && !t) {
          const rows = (
            await conn.runAndReadAll(
              `SELECT table_name FROM information_schema.tables WHERE table_catalog = ${duckLiteral(projectId)} AND table_schema = ${duckLiteral(ds)}`,
            )
          ).getRowObjectsJS();
          return [
            200,
            {
              kind: 'bigquery#tableList',
              tables: rows.map((r) => ({
                tableReference: { projectId, datasetId: ds, tableId: r.table_name },
                type: 'TABLE',
              })),
            },
          ];
        }
        if (t && method === 'GET') {
          const cols = await tableColumns(ds, t);
          if (cols.length === 0)
            throw new ApiFailure(404, 'notFound', `Not found: Table ${projectId}:${ds}.${t}`);
          return [
            200,
            {
              kind: 'bigquery#table',
              tableReference: { projectId, datasetId: ds, tableId: t },
              type: 'TABLE',
              location,
              schema: {
                fields: cols.map((c) => ({
                  name: c.column_name,
                  type: bqType(c.data_type),
                  mode: c.is_nullable === 'YES' ? 'NULLABLE' : 'REQUIRED',
                })),
              },
            },
          ];
        }
        if (t && method === 'DELETE') {
          return exclusive(async () => {
            if ((await tableColumns(ds, t)).length === 0)
              throw new ApiFailure(404, 'notFound', `Not found: Table ${projectId}:${ds}.${t}`);
            await conn.run(`DROP TABLE ${tablePath(ds, t)}`);
            return [204, undefined];
          });
        }
      }
    }
    throw new ApiFailure(404, 'notFound', `no route ${method} ${rec.path}`);
  };

  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', 'http://127.0.0.1');
      const rec: RecordedRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: Object.fromEntries(url.searchParams),
        status: 0,
      };
      requests.push(rec);
      handle(req, Buffer.concat(chunks), rec)
        .then(([status, payload]) => reply(res, rec, status, payload, faults))
        .catch((error: unknown) => {
          const e =
            error instanceof ApiFailure
              ? error
              : new ApiFailure(500, 'internalError', (error as Error).message);
          reply(
            res,
            rec,
            e.status,
            {
              error: {
                code: e.status,
                message: e.message,
                errors: [{ message: e.message, domain: 'global', reason: e.reason }],
                status: e.reason,
              },
            },
            faults,
          );
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as AddressInfo).port;

  return {
    url: `http://127.0.0.1:${port}`,
    projectId,
    requests,
    uploads,
    faults,
    sql: (text) =>
      exclusive(async () => (await conn.runAndReadAll(text)).getRowObjectsJS() as Record<string, unknown>[]),
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await chain;
      conn.closeSync();
      instance.closeSync();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

function reply(
  res: ServerResponse,
  rec: RecordedRequest,
  status: number,
  payload: unknown,
  faults: ServerFaults,
): void {
  rec.status = status;
  if (faults.dropResponse?.(rec)) {
    res.socket?.destroy();
    return;
  }
  if (payload === undefined) {
    res.writeHead(status).end();
    return;
  }
  const text = JSON.stringify(payload);
  res
    .writeHead(status, {
      'content-type': 'application/json; charset=UTF-8',
      'content-length': Buffer.byteLength(text),
    })
    .end(text);
}

const PATH = /`((?:[^`\\]|\\.)*)`\s*\.\s*`((?:[^`\\]|\\.)*)`(?:\s*\.\s*`((?:[^`\\]|\\.)*)`)?/;

/** `dataset.table` a DML statement mutates (INSERT, DELETE, UPDATE, MERGE), or undefined. */
function mutatedTable(statement: string): string | undefined {
  const m =
    /^\s*(?:INSERT\s+(?:INTO\s+)?|DELETE\s+(?:FROM\s+)?|UPDATE\s+|MERGE\s+(?:INTO\s+)?)(`[^;]*)/i.exec(
      statement,
    );
  if (!m) return undefined;
  const path = PATH.exec(m[1]!);
  if (!path) return undefined;
  return path[3] !== undefined ? `${path[2]}.${path[3]}` : `${path[1]}.${path[2]}`;
}

/** Datasets a statement names through `project`.`dataset`[.`table`] paths. */
function datasetsOf(statement: string): string[] {
  return [...statement.matchAll(new RegExp(PATH.source, 'g'))].map((m) => m[2]!);
}

function dq(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function datasetResource(projectId: string, datasetId: string, location: string) {
  return {
    kind: 'bigquery#dataset',
    id: `${projectId}:${datasetId}`,
    datasetReference: { projectId, datasetId },
    location,
  };
}

/** `multipart/related`: the JSON job part, then the media part. */
function parseMultipart(contentType: string, body: Buffer): { json: Record<string, any>; media: Buffer } {
  const boundary = /boundary="?([^";]+)"?/i.exec(contentType)?.[1];
  if (!boundary)
    throw new ApiFailure(400, 'invalid', `upload without a multipart boundary (content-type ${contentType})`);
  const delimiter = Buffer.from(`--${boundary}`);
  const parts: Buffer[] = [];
  let at = body.indexOf(delimiter);
  while (at >= 0) {
    const next = body.indexOf(delimiter, at + delimiter.length);
    if (next < 0) break;
    parts.push(body.subarray(at + delimiter.length, next));
    at = next;
  }
  const bodyOf = (part: Buffer) => {
    const headerEnd = part.indexOf('\r\n\r\n');
    let content = part.subarray(headerEnd + 4);
    if (content.subarray(-2).toString() === '\r\n') content = content.subarray(0, -2);
    return content;
  };
  if (parts.length < 2)
    throw new ApiFailure(
      400,
      'invalid',
      `multipart upload with ${parts.length} parts; expected metadata and media`,
    );
  return { json: JSON.parse(bodyOf(parts[0]!).toString('utf8')), media: bodyOf(parts[1]!) };
}

function bqType(duck: string): string {
  const t = duck.toUpperCase();
  if (t === 'BIGINT' || t === 'INTEGER' || t === 'HUGEINT' || t === 'SMALLINT') return 'INTEGER';
  if (t === 'DOUBLE' || t === 'FLOAT') return 'FLOAT';
  if (t === 'BOOLEAN') return 'BOOLEAN';
  if (t.startsWith('TIMESTAMP')) return 'TIMESTAMP';
  if (t === 'DATE') return 'DATE';
  if (t.startsWith('DECIMAL')) return 'NUMERIC';
  if (t === 'JSON') return 'JSON';
  return 'STRING';
}

/** A result set in the REST shape: raw cells, timestamps kept as µs until a page is formatted. */
function toApiResult(names: string[], types: DuckDBType[], rows: DuckDBValue[][]) {
  const fields = names.map((name, i) => apiField(name, types[i]!));
  return { fields, rows: rows.map((r) => ({ f: r.map((v, i) => ({ v: apiValue(v, types[i]!) })) })) };
}

function apiField(name: string, type: DuckDBType): Record<string, unknown> {
  if (type.typeId === DuckDBTypeId.LIST || type.typeId === DuckDBTypeId.ARRAY) {
    const child = (type as unknown as { valueType: DuckDBType }).valueType;
    return { ...apiField(name, child), mode: 'REPEATED' };
  }
  const map: Partial<Record<DuckDBTypeId, string>> = {
    [DuckDBTypeId.BOOLEAN]: 'BOOLEAN',
    [DuckDBTypeId.TINYINT]: 'INTEGER',
    [DuckDBTypeId.SMALLINT]: 'INTEGER',
    [DuckDBTypeId.INTEGER]: 'INTEGER',
    [DuckDBTypeId.BIGINT]: 'INTEGER',
    [DuckDBTypeId.HUGEINT]: 'INTEGER',
    [DuckDBTypeId.UTINYINT]: 'INTEGER',
    [DuckDBTypeId.USMALLINT]: 'INTEGER',
    [DuckDBTypeId.UINTEGER]: 'INTEGER',
    [DuckDBTypeId.UBIGINT]: 'INTEGER',
    [DuckDBTypeId.FLOAT]: 'FLOAT',
    [DuckDBTypeId.DOUBLE]: 'FLOAT',
    [DuckDBTypeId.DECIMAL]: 'NUMERIC',
    [DuckDBTypeId.DATE]: 'DATE',
    [DuckDBTypeId.TIMESTAMP]: 'TIMESTAMP',
    [DuckDBTypeId.TIMESTAMP_TZ]: 'TIMESTAMP',
  };
  return { name, type: map[type.typeId] ?? 'STRING', mode: 'NULLABLE' };
}

/** Cell value as BigQuery sends it: text, except timestamps (µs as bigint until formatted) and lists. */
function apiValue(value: DuckDBValue, type: DuckDBType): unknown {
  if (value === null) return null;
  if (type.typeId === DuckDBTypeId.LIST || type.typeId === DuckDBTypeId.ARRAY) {
    const child = (type as unknown as { valueType: DuckDBType }).valueType;
    return (value as unknown as { items: DuckDBValue[] }).items.map((v) => ({ v: apiValue(v, child) }));
  }
  if (type.typeId === DuckDBTypeId.TIMESTAMP || type.typeId === DuckDBTypeId.TIMESTAMP_TZ)
    return (value as unknown as { micros: bigint }).micros;
  if (typeof value === 'number')
    return Number.isFinite(value)
      ? String(value)
      : Number.isNaN(value)
        ? 'NaN'
        : value > 0
          ? 'Infinity'
          : '-Infinity';
  return String(value);
}

/** Format timestamps per `formatOptions.useInt64Timestamp` (µs text) or the legacy float seconds. */
function formatRow(
  row: { f: { v: unknown }[] },
  fields: Record<string, unknown>[],
  micros: boolean,
): { f: { v: unknown }[] } {
  return {
    f: row.f.map((cell, i) => {
      const field = fields[i]!;
      if (field.type !== 'TIMESTAMP' || cell.v === null) return cell;
      const fmt = (v: unknown) => (micros ? String(v) : (Number(v) / 1e6).toString());
      return {
        v: Array.isArray(cell.v)
          ? cell.v.map((c: { v: unknown }) => ({ v: c.v === null ? null : fmt(c.v) }))
          : fmt(cell.v),
      };
    }),
  };
}
