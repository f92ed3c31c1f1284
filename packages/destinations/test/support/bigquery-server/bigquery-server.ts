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

/** Faults a test can inject. */
export interface ServerFaults {
  /**
   * After handling a request that matches, destroy the socket instead of answering (the work is done
   * but the client never hears it): a lost response.
   */
  dropResponse?: (req: RecordedRequest) => boolean;
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

  /** Run a BigQuery script; the last row-returning statement is the job's result. */
  const runScript = (sql: string, params: ApiParam[], mode: 'NAMED' | 'POSITIONAL') =>
    exclusive(async () => {
      let inTransaction = false;
      let result: { fields: Record<string, unknown>[]; rows: { f: { v: unknown }[] }[] } = {
        fields: [],
        rows: [],
      };
      let affected = 0;
      try {
        for (const statement of splitStatements(sql)) {
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
      claimJob(jobId, json.configuration);
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
      });
      claimJob(jobId, json.configuration);
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
