import { createReadStream } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import {
  DestinationError,
  FerryError,
  parseJson,
  type DataType,
  type DatasetReader,
  type LoadJobFile,
  type TableSchema,
} from '@ferry/core';
import { SqlJobClient, type Row } from '../sql/sql-job-client.ts';
import { PostgresSqlCompiler } from './postgres-sql.ts';
import { postgresUntrustedQuery } from './postgres-untrusted.ts';
import { redact, type PostgresSettings } from './postgres-credentials.ts';

/** Postgres' identifier limit; longer names are silently truncated by the server, so Ferry never sends one. */
const MAX_IDENTIFIER = 63;

/** Type OIDs whose default parsing loses information. */
const OID = { int8: 20, numeric: 1700, json: 114, jsonb: 3802, date: 1082 } as const;

/**
 * Server types (`pg_type.typname`) that accept each Ferry type's binary COPY encoding as it is. A column
 * created outside Ferry with another type (integer, real, json, an enum, a domain…) would refuse it
 * ("incorrect binary data format"), so such files go through a scratch table and a cast.
 * `timestamp` (without time zone) takes the UTC microseconds as they are, as it takes CSV's UTC text.
 */
const BINARY_COMPATIBLE: Record<DataType, readonly string[]> = {
  text: ['text', 'varchar'],
  bigint: ['int8'],
  double: ['float8'],
  bool: ['bool'],
  timestamp: ['timestamptz', 'timestamp'],
  date: ['date'],
  decimal: ['numeric'],
  json: ['jsonb'],
};

/** int8 → number when safe, else an exact JS bigint (COUNT(*) stays a plain number). */
function parseInt8(text: string): number | bigint {
  const n = Number(text);
  return Number.isSafeInteger(n) ? n : BigInt(text);
}

/**
 * Result parsing for every Ferry connection: int8 exact (number or bigint), numeric as its exact text,
 * json/jsonb with integers past 2^53 kept as bigint, date as `YYYY-MM-DD` text (pg's default turns it
 * into a Date at local midnight, which shifts the day in zones west of UTC). timestamptz stays a Date.
 */
const TYPES = {
  getTypeParser(oid: number, format?: string): unknown {
    if (format !== 'binary') {
      if (oid === OID.int8) return parseInt8;
      if (oid === OID.numeric || oid === OID.date) return (text: string) => text;
      if (oid === OID.json || oid === OID.jsonb) return parseJson;
    }
    return (pg.types.getTypeParser as (oid: number, format?: string) => unknown)(oid, format);
  },
} as pg.CustomTypesConfig;

/** Node and pg error texts of a connection that went away. */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'EPIPE',
  'ETIMEDOUT',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
]);
const NETWORK_MESSAGE =
  /Connection terminated|connection error|not queryable|timeout expired|socket hang up/i;
/**
 * SQLSTATEs worth a retry of the whole package: admin shutdown (pg_terminate_backend), crash shutdown,
 * cannot connect now (server starting), too many connections, serialization failure, deadlock.
 */
const TRANSIENT_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300', '40001', '40P01']);

/** Whether a pg/Node error means "try again": a lost connection or one of {@link TRANSIENT_SQLSTATES}. */
export function isTransientPostgresError(error: unknown): boolean {
  for (let e = error, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string') {
      // Class 08: connection exception.
      if (/^08[0-9A-Z]{3}$/.test(code) || TRANSIENT_SQLSTATES.has(code) || NETWORK_CODES.has(code))
        return true;
    }
    const message = (e as { message?: unknown }).message;
    if (typeof message === 'string' && NETWORK_MESSAGE.test(message)) return true;
  }
  return false;
}

/**
 * Postgres client: one `pg.Client` holds the package's transaction (DDL, `COPY … FROM STDIN` of each CSV
 * file, merge SQL, schema/state rows and the `_ferry_loads` marker, then COMMIT). Reads go through a
 * small separate pool, in READ ONLY transactions, so they never join or block a load.
 */
export class PostgresClient extends SqlJobClient {
  override readonly compiler = new PostgresSqlCompiler();
  readonly reader: DatasetReader;
  private readonly settings: PostgresSettings;
  private readonly client: pg.Client;
  private pool: pg.Pool | undefined;
  private closed = false;
  /** Set when the connection failed while idle (pg emits 'error'; unhandled, it would crash the process). */
  private connectionError: Error | undefined;

  private constructor(client: pg.Client, settings: PostgresSettings, dataset: string) {
    super(dataset);
    if (this.stagingDataset.length > MAX_IDENTIFIER) {
      // `<dataset>_staging` past 63 characters would be truncated by the server, possibly onto another
      // dataset's staging schema; shorten it deterministically instead. (Assigned once, before any use.)
      (this as { stagingDataset: string }).stagingDataset =
        `${dataset.slice(0, MAX_IDENTIFIER - 17)}_${fnv8(dataset)}_staging`;
    }
    this.client = client;
    this.settings = settings;
    client.on('error', (error) => {
      this.connectionError = error;
    });
    this.reader = {
      query: (sql, params) => this.readQuery(sql, params),
      stream: (sql, params, batchSize) => this.readStream(sql, params, batchSize),
      untrustedQuery: async (sql, params, options) => {
        try {
          return await postgresUntrustedQuery(
            { ...this.settings.clientConfig, types: TYPES },
            sql,
            params,
            options,
          );
        } catch (error) {
          throw error instanceof FerryError ? error : this.wrap(error, sql);
        }
      },
      writeAccess: () => this.writeAccess(),
      kyselyDialect: async () =>
        (await import('../kysely/postgres-dialect.ts')).postgresKyselyDialect(this.readers()),
      quoteIdentifier: (name) => this.compiler.quote(name),
      qualifiedTable: (table) => this.compiler.qualified(this.dataset, table),
    };
  }

  /** Connect one client for a dataset. Connection errors name the server (never the password). */
  static async open(settings: PostgresSettings, dataset: string): Promise<PostgresClient> {
    const client = new pg.Client({ ...settings.clientConfig, types: TYPES });
    client.on('error', () => undefined); // replaced by the instance's handler once connected
    try {
      await client.connect();
    } catch (error) {
      await client.end().catch(() => undefined);
      const message = redact((error as Error)?.message ?? String(error), settings.secrets);
      scrub(error, settings.secrets);
      throw new DestinationError(
        `could not connect to ${settings.display}: ${message}. Check the host, port, database and credentials (the destination's credentials, DATABASE_URL or the PG* variables).`,
        { transient: isTransientPostgresError(error), cause: error },
      );
    }
    client.removeAllListeners('error');
    return new PostgresClient(client, settings, dataset);
  }

  protected override describeTarget(): string {
    return `${this.settings.display} dataset '${this.dataset}'`;
  }

  // Scrub secrets and add pg's position info (`COPY runs, line 3, column id`), but not the offending value.
  protected override wrap(error: unknown, sql?: string): DestinationError {
    if (error instanceof DestinationError) return error;
    scrub(error, this.settings.secrets);
    const where = (error as { where?: unknown })?.where;
    if (typeof where === 'string' && error instanceof Error && !error.message.includes(' at COPY ')) {
      const position = where.split(': ')[0];
      if (position?.startsWith('COPY ')) error.message = `${error.message} at ${position}`;
    }
    return super.wrap(error, sql);
  }

  /**
   * A session advisory lock on `ferry:<dataset>:<pipeline>` (held until this connection closes; the server
   * drops it when the process dies). When another session holds it, names that backend.
   */
  async lockPipeline(pipelineName: string): Promise<void> {
    this.ensureOpen();
    const key = `ferry:${this.dataset}:${pipelineName}`;
    const { rows } = await this.client.query<{ ok: boolean }>(
      'SELECT pg_try_advisory_lock(hashtextextended($1, 0)) AS ok',
      [key],
    );
    if (rows[0]?.ok) return;
    const holders = await this.client.query<{ pid: number; addr: string | null; since: Date }>(
      `SELECT a.pid, host(a.client_addr) AS addr, a.backend_start AS since
         FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid
        WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
          AND ((l.classid::bigint << 32) | l.objid::bigint) = hashtextextended($1, 0)`,
      [key],
    );
    const h = holders.rows[0];
    throw new FerryError(
      'PIPELINE_BUSY',
      `pipeline '${pipelineName}' is already loading into ${this.describeTarget()}` +
        (h
          ? ` (backend pid ${h.pid}${h.addr ? ` from ${h.addr}` : ''}, connected since ${new Date(h.since).toISOString()})`
          : '') +
        ': wait for it to finish; the lock goes with that connection.',
      { context: { pipeline: pipelineName, dataset: this.dataset, ...(h ? { backendPid: h.pid } : {}) } },
    );
  }

  async execute(sql: string, params?: unknown[]): Promise<void> {
    this.ensureOpen();
    await this.client.query(sql, params);
  }

  async query(sql: string, params?: unknown[]): Promise<Row[]> {
    this.ensureOpen();
    return (await this.client.query(sql, params)).rows as Row[];
  }

  protected async loadFile(job: LoadJobFile, target: string, table: TableSchema): Promise<void> {
    this.ensureOpen();
    if (job.format === 'pgcopy') {
      await this.copyBinary(job, target, table);
      return;
    }
    if (job.format === 'csv') {
      await this.copyIn(this.compiler.copyCsv(target, job.columns), job.path);
      return;
    }
    if (job.format === 'jsonl') {
      // COPY the lines into a scratch jsonb table, then let Postgres type each field by the target's row type.
      const docs = this.compiler.quote('_ferry_jsonl_docs');
      await this.execute(`CREATE TEMP TABLE IF NOT EXISTS ${docs} (doc jsonb NOT NULL) ON COMMIT DROP`);
      await this.execute(`TRUNCATE ${docs}`);
      await this.copyIn(this.compiler.copyJsonLines(docs, 'doc'), job.path);
      await this.execute(this.compiler.insertFromJsonDocs(target, job.columns, docs, 'doc'));
      return;
    }
    throw new DestinationError(
      `postgres cannot load ${job.format} files (job ${job.jobId}); it loads pgcopy, csv and jsonl`,
      { transient: false },
    );
  }

  /**
   * COPY a binary loader file into `target`. When a column of the target has a server type that the
   * binary value does not fit (the table was made outside Ferry), the file is copied into a scratch table
   * of Ferry's types first and inserted with a cast to each such column's own type, so the team's types
   * stay and a value that does not fit (an int past int4, say) fails with the server's own message.
   */
  private async copyBinary(job: LoadJobFile, target: string, table: TableSchema): Promise<void> {
    const { rows } = await this.client.query<{ name: string; typname: string; native: string }>(
      `SELECT a.attname AS name, t.typname, format_type(a.atttypid, a.atttypmod) AS native
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped`,
      [target],
    );
    const natives = new Map(rows.map((r) => [r.name, r]));
    const casts = new Map<string, string>();
    for (const name of job.columns) {
      const column = table.columns[name];
      const native = natives.get(name);
      if (column && native && !BINARY_COMPATIBLE[column.dataType].includes(native.typname))
        casts.set(name, native.native);
    }
    if (casts.size === 0) {
      await this.copyIn(this.compiler.copyBinary(target, job.columns), job.path);
      return;
    }
    const q = (name: string) => this.compiler.quote(name);
    const scratch = q('_ferry_binary_rows');
    const defs = job.columns.map(
      (c) => `${q(c)} ${this.compiler.columnType(table.columns[c] ?? { dataType: 'text' })}`,
    );
    await this.execute(`CREATE TEMP TABLE ${scratch} (${defs.join(', ')}) ON COMMIT DROP`);
    await this.copyIn(this.compiler.copyBinary(scratch, job.columns), job.path);
    const picked = job.columns.map((c) => (casts.has(c) ? `${q(c)}::${casts.get(c)}` : q(c)));
    await this.execute(
      `INSERT INTO ${target} (${job.columns.map(q).join(', ')}) SELECT ${picked.join(', ')} FROM ${scratch}`,
    );
    await this.execute(`DROP TABLE ${scratch}`);
  }

  private async copyIn(sql: string, file: string): Promise<void> {
    await pipeline(createReadStream(file, { highWaterMark: 1 << 20 }), this.client.query(copyFrom(sql)));
  }

  protected isTransient(error: unknown): boolean {
    return isTransientPostgresError(error);
  }

  /** A connection that died while idle fails the next statement at once, as a transient error. */
  private ensureOpen(): void {
    if (this.closed) throw new DestinationError(`${this.describeTarget()}: the client is closed`);
    if (this.connectionError) throw this.wrap(this.connectionError);
  }

  private readers(): pg.Pool {
    if (!this.pool) {
      const pool = new pg.Pool({
        ...this.settings.clientConfig,
        types: TYPES,
        max: 4,
        idleTimeoutMillis: 10_000,
      });
      pool.on('error', () => undefined); // an idle pooled client lost; the pool replaces it
      this.pool = pool;
    }
    return this.pool;
  }

  /** Why the reading role could write: a superuser, or one that may create in or write to the dataset. */
  private async writeAccess(): Promise<string | undefined> {
    const conn = await this.readers().connect();
    try {
      const { rows } = await conn.query<{
        role: string;
        superuser: boolean;
        create: boolean;
        write: boolean;
      }>(
        `SELECT current_user AS role,
                (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,
                coalesce(has_schema_privilege(current_user, n.oid, 'CREATE'), false) AS create,
                coalesce((SELECT bool_or(has_table_privilege(c.oid, 'INSERT,UPDATE,DELETE,TRUNCATE'))
                            FROM pg_class c WHERE c.relnamespace = n.oid AND c.relkind = 'r'), false) AS write
           FROM (SELECT oid FROM pg_namespace WHERE nspname = $1 UNION ALL SELECT NULL LIMIT 1) n`,
        [this.dataset],
      );
      const r = rows[0];
      if (!r) return undefined;
      if (r.superuser) return `role ${r.role} is a superuser`;
      if (r.write) return `role ${r.role} may write to tables of schema ${this.dataset}`;
      if (r.create) return `role ${r.role} may create objects in schema ${this.dataset}`;
      return undefined;
    } finally {
      conn.release();
    }
  }

  private async readQuery(sql: string, params?: unknown[]): Promise<Row[]> {
    const conn = await this.readers().connect();
    try {
      await conn.query('BEGIN READ ONLY');
      const result = await conn.query(sql, params);
      await conn.query('COMMIT');
      return result.rows as Row[];
    } catch (error) {
      await conn.query('ROLLBACK').catch(() => undefined);
      throw this.wrap(error, sql);
    } finally {
      conn.release();
    }
  }

  /** Stream through a server-side cursor: one batch in memory at a time, whatever the result size. */
  private async *readStream(
    sql: string,
    params: unknown[] | undefined,
    batchSize: number,
  ): AsyncIterable<Row[]> {
    const conn = await this.readers().connect();
    let ok = false;
    try {
      await conn.query('BEGIN READ ONLY');
      await conn.query(`DECLARE ferry_stream NO SCROLL CURSOR FOR ${sql}`, params);
      const size = Math.max(1, Math.floor(batchSize) || 1);
      const fetch = `FETCH FORWARD ${size} FROM ferry_stream`;
      while (true) {
        const { rows } = await conn.query(fetch);
        if (rows.length > 0) yield rows as Row[];
        if (rows.length < size) break;
      }
      ok = true;
    } catch (error) {
      throw this.wrap(error, sql);
    } finally {
      // Also reached when the consumer stops early: closing the transaction drops the cursor.
      await conn.query(ok ? 'COMMIT' : 'ROLLBACK').catch(() => undefined);
      conn.release();
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const pool = this.pool;
    this.pool = undefined;
    // end() can wait forever on a socket the server already dropped; do not let close() hang on it.
    await Promise.all([
      withTimeout(this.client.end(), 2000),
      pool ? withTimeout(pool.end(), 2000) : undefined,
    ]).catch(() => undefined);
  }
}

/** Remove secrets from an error's message and stack, in place (it travels on as `cause`). */
function scrub(error: unknown, secrets: readonly string[]): void {
  if (!(error instanceof Error)) return;
  error.message = redact(error.message, secrets);
  if (error.stack) error.stack = redact(error.stack, secrets);
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([promise, new Promise((resolve) => (timer = setTimeout(resolve, ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

/** 8 hex digits of FNV-1a: a short, stable suffix for shortened names. */
function fnv8(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193) >>> 0;
  }
  return h.toString(16).padStart(8, '0');
}
