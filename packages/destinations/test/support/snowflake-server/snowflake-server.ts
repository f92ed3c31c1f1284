/**
 * A local stand-in for Snowflake's REST endpoints, enough for the real `snowflake-sdk` (3.x) to log in,
 * run statements with binds, PUT files and read results, with DuckDB as the SQL engine. It binds
 * 127.0.0.1 on a free port and records every request so tests can assert what the client did.
 *
 * Protocol (what the SDK sends; shared/reference/local-servers.md):
 * - `POST /session/v1/login-request` → token; later calls send `Authorization: Snowflake Token="…"`.
 * - `POST /queries/v1/query-request` `{sqlText, bindings}` → `{rowtype, rowset (strings), total, returned,
 *   chunks}`; results past `inlineRows` are served as chunks from `GET /chunks/<queryId>/<n>`.
 * - `PUT` is answered with an UPLOAD command whose `stageInfo.locationType` is `LOCAL_FS`: the SDK itself
 *   gzips the file and copies it into the stage folder under this server's directory.
 * - `POST /telemetry/send`, `POST /session?delete=true`, `POST /session/heartbeat`, `POST /session/token-request`.
 * Request bodies may be gzipped. Transactions follow Snowflake: DDL commits an open transaction first.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { gunzipSync } from 'node:zlib';
import { createPublicKey, createVerify, randomUUID } from 'node:crypto';
import { mkdtemp, readdir, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import {
  DuckDBInstance,
  DuckDBTypeId,
  StatementType,
  type DuckDBConnection,
  type DuckDBDecimalType,
  type DuckDBType,
  type DuckDBValue,
} from '@duckdb/node-api';
import {
  EMULATION_DDL,
  parseCopy,
  parsePut,
  readStageRef,
  statementKind,
  tokenize,
  translateSql,
  type StageRef,
} from './snowflake-translate.ts';

// Tests load snowflake-sdk through the destination; set this here too so nothing probes cloud metadata.
process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';

/** One statement as the server received and ran it. */
export interface RecordedStatement {
  /** Session that sent it. */
  session: string;
  /** Query id the server gave it. */
  queryId: string;
  /** SQL text as sent. */
  sql: string;
  /** Bind values as sent (strings, per the protocol). */
  binds: unknown[];
  /** What the server did: begin, commit, rollback, put, copy, remove, ddl, dml/query, noop, describe. */
  kind: string;
  /** The session's QUERY_TAG when the statement ran (ALTER SESSION SET QUERY_TAG). */
  queryTag?: string;
  /** Statement parameters sent with the request (e.g. MULTI_STATEMENT_COUNT). */
  parameters?: Record<string, unknown>;
  /** DuckDB SQL actually run (generic statements), for debugging. */
  translated?: string;
  /** Error message when it failed. */
  error?: string;
}

/** A PUT the server answered. */
export interface RecordedPut {
  session: string;
  /** Local file named in the PUT. */
  localPath: string;
  /** Stage parts, e.g. `['DS', '%RUNS']`. */
  stage: string[];
  /** Folder in the stage (the load id for Ferry). */
  folder: string;
  /** OVERWRITE = TRUE given. */
  overwrite: boolean;
}

/** A COPY INTO the server ran. */
export interface RecordedCopy {
  session: string;
  schema: string;
  table: string;
  stage: string[];
  folder: string;
  files: string[];
  /** Rows inserted per file. */
  rows: number[];
  matchByColumnName: string;
}

/** A login, without secrets. */
export interface RecordedLogin {
  session: string;
  user: string;
  account: string;
  authenticator: string;
  database: string | undefined;
  warehouse: string | undefined;
  role: string | undefined;
}

/** Options of {@link startSnowflakeServer}. */
export interface SnowflakeServerOptions {
  /** Accepted users: password, or a PEM public key for key-pair (JWT) login. Default: anyone. */
  users?: Record<string, { password?: string; publicKey?: string }>;
  /** Rows sent inline in a query response; the rest go in chunks. Default 1000. */
  inlineRows?: number;
  /** Rows per chunk. Default 1000. */
  chunkRows?: number;
  /**
   * Called before each statement runs. Return `'abort-session'` to make the server end that session (its
   * open transaction is rolled back and the statement fails, as when Snowflake aborts a session), or
   * `'detach-session'` for a client that vanished: the statement fails with 390111 and the session's open
   * transaction stays open, holding its locks, until aborted (Snowflake's detached transaction).
   */
  beforeStatement?: (statement: RecordedStatement) => void | 'abort-session' | 'detach-session';
  /** Behaviour of the service that is off by default (issue 22); tests switch each on as needed. */
  faults?: SnowflakeFaults;
}

/**
 * Faults and rules of the real service, each off by default (README.md names the documentation of each).
 */
export interface SnowflakeFaults {
  /**
   * Table locks as Snowflake documents them: UPDATE, DELETE and MERGE lock their target table until the
   * transaction ends (autocommit: until the statement ends); another session's UPDATE/DELETE/MERGE on it
   * waits, up to its `LOCK_TIMEOUT` (`ALTER SESSION SET LOCK_TIMEOUT = n`, default 43200 s), then fails with
   * 000625; more than 20 waiters on one lock fail at once with 000625. INSERT and COPY take no lock.
   */
  tableLocks?: boolean;
  /**
   * A detached transaction (its session vanished, {@link SnowflakeLocalServer.detachSession}) that blocks
   * another lock request is aborted once idle this long. Snowflake: 5 minutes. Default 300000.
   */
  detachedAbortMs?: number;
  /**
   * `PUT` commits an open transaction first, as DDL does. Snowflake does not document PUT's effect on a
   * transaction; this is the worst case a client must survive.
   */
  putCommitsTransaction?: boolean;
}

interface Session {
  id: string;
  token: string;
  masterToken: string;
  connection: DuckDBConnection;
  inTxn: boolean;
  chunks: Map<string, string[]>;
  /** Transaction id while one is open (SHOW LOCKS / SYSTEM$ABORT_TRANSACTION). */
  txnId?: string;
  /** Tables this session's open transaction locks (upper-case `SCHEMA.TABLE`). */
  locks: Set<string>;
  /** When the session last finished a statement (detached transactions are aborted when idle). */
  lastActive: number;
  /** The client vanished: tokens invalid, the open transaction kept (with its locks) until aborted. */
  detached: boolean;
  /** The session token expired: the SDK must renew it with the master token. */
  tokenExpired: boolean;
  /** Session parameters set by ALTER SESSION SET (upper-case names). */
  parameters: Map<string, string>;
}

/** The running server: its URL, what it recorded, and direct SQL on its DuckDB file for assertions. */
export interface SnowflakeLocalServer {
  /** `http://127.0.0.1:PORT` (the SDK's `accessUrl`). */
  readonly url: string;
  /** Folder holding the DuckDB file and the stages. */
  readonly dir: string;
  /** Every statement, in order. */
  readonly statements: RecordedStatement[];
  /** Every PUT. */
  readonly puts: RecordedPut[];
  /** Every COPY INTO. */
  readonly copies: RecordedCopy[];
  /** Every login. */
  readonly logins: RecordedLogin[];
  /** Every HTTP request (method and path without the query string). */
  readonly requests: { method: string; path: string }[];
  /** Options that tests may change between runs (e.g. `beforeStatement`). */
  readonly options: SnowflakeServerOptions;
  /** Files in the stages, relative to the stage root (`DS/%RUNS/<load_id>/runs.0.0.jsonl.gz`). */
  stagedFiles(): Promise<string[]>;
  /** Run SQL on the server's DuckDB (a fresh connection, outside any session). */
  sql(query: string): Promise<Record<string, unknown>[]>;
  /** Forget recorded requests (between phases of a test). */
  clearRecords(): void;
  /** Faults switched on (see {@link SnowflakeFaults}); tests set and clear them. */
  readonly faults: SnowflakeFaults;
  /**
   * The client of a session vanishes (a killed process, a lost network): its tokens stop working (390111),
   * and its open transaction stays open, holding its locks, until aborted (Snowflake's detached transaction).
   */
  detachSession(sessionId: string): void;
  /** The session token expires (390112): the SDK renews it with the master token and goes on in the same session. */
  expireToken(sessionId: string): void;
  /** Open transactions (SHOW TRANSACTIONS): id, session, locked tables, detached. */
  transactions(): { id: string; session: string; locks: string[]; detached: boolean }[];
  /** Stop: close sessions, the server and DuckDB, remove the folder. */
  close(): Promise<void>;
}

const SQL_ERROR = '002003';

/** Start the server on 127.0.0.1 with a fresh temp folder. */
export async function startSnowflakeServer(
  options: SnowflakeServerOptions = {},
): Promise<SnowflakeLocalServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-snowflake-local-'));
  const stageRoot = path.join(dir, 'stages');
  const instance = await DuckDBInstance.create(path.join(dir, 'snowflake.duckdb'));
  const admin = await instance.connect();
  await admin.run(`SET TimeZone = 'UTC'`);
  for (const ddl of EMULATION_DDL) await admin.run(ddl);

  const sessions = new Map<string, Session>();
  /** Every live session by id, also detached ones (whose tokens are gone). */
  const byId = new Map<string, Session>();
  const faults: SnowflakeFaults = (options.faults ??= {});
  /** Table locks: table → holding session. */
  const locks = new Map<string, Session>();
  /** Waiters per table (Snowflake refuses the 21st). */
  const waiters = new Map<string, number>();
  let txnCounter = 1700000000000;
  let sessionCounter = 0;
  const statements: RecordedStatement[] = [];
  const puts: RecordedPut[] = [];
  const copies: RecordedCopy[] = [];
  const logins: RecordedLogin[] = [];
  const requests: { method: string; path: string }[] = [];
  let queryCounter = 0;
  let url = '';

  const stageDir = (ref: StageRef) =>
    path.join(
      stageRoot,
      ...ref.parts.map((p) => encodeURIComponent(p)),
      ...ref.path.split('/').filter(Boolean),
    );

  /** End the open transaction of a session (COMMIT or ROLLBACK) and release its locks. */
  const endTxn = async (session: Session, how: 'COMMIT' | 'ROLLBACK') => {
    if (session.inTxn) {
      session.inTxn = false;
      await session.connection.run(how).catch((e: unknown) => {
        if (how === 'COMMIT') throw e;
      });
    }
    session.txnId = undefined;
    for (const t of session.locks) if (locks.get(t) === session) locks.delete(t);
    session.locks.clear();
  };

  const endSession = async (session: Session) => {
    sessions.delete(session.token);
    byId.delete(session.id);
    await endTxn(session, 'ROLLBACK');
    session.connection.closeSync();
  };

  /**
   * Take the lock of `table` for `session` (tableLocks): wait while another session holds it, abort a
   * detached holder idle past detachedAbortMs, fail with 000625 past LOCK_TIMEOUT or beyond 20 waiters.
   */
  const lockTable = async (session: Session, table: string, record: RecordedStatement) => {
    const timeoutMs = Number(session.parameters.get('LOCK_TIMEOUT') ?? 43200) * 1000;
    const started = Date.now();
    let waiting = false;
    try {
      for (;;) {
        const holder = locks.get(table);
        if (!holder || holder === session) break;
        if (holder.detached && Date.now() - holder.lastActive >= (faults.detachedAbortMs ?? 300_000)) {
          await endTxn(holder, 'ROLLBACK');
          await endSession(holder);
          continue;
        }
        const held = `Statement '${record.queryId}' has locked table '${table}' in transaction ${holder.txnId ?? '?'} and this lock has not yet been released.`;
        if (!waiting) {
          if ((waiters.get(table) ?? 0) >= 20)
            throw sqlError(
              '000625',
              '57014',
              `${held} Your statement '${record.queryId}' was aborted because the number of waiters for this lock exceeds the 20 statements limit.`,
            );
          waiters.set(table, (waiters.get(table) ?? 0) + 1);
          waiting = true;
        }
        if (Date.now() - started >= timeoutMs)
          throw sqlError(
            '000625',
            '57014',
            `${held} Your statement '${record.queryId}' was aborted because it waited longer than LOCK_TIMEOUT (${timeoutMs / 1000} s) for this lock.`,
          );
        await new Promise((r) => setTimeout(r, 10));
      }
    } finally {
      if (waiting) waiters.set(table, waiters.get(table)! - 1);
    }
    locks.set(table, session);
    session.locks.add(table);
  };

  const readBody = async (req: IncomingMessage): Promise<unknown> => {
    const parts: Buffer[] = [];
    for await (const chunk of req) parts.push(chunk as Buffer);
    let buf = Buffer.concat(parts);
    if (req.headers['content-encoding'] === 'gzip' || (buf[0] === 0x1f && buf[1] === 0x8b))
      buf = gunzipSync(buf);
    const text = buf.toString('utf8');
    return text ? JSON.parse(text) : {};
  };

  const send = (res: ServerResponse, status: number, body: unknown) => {
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  };

  const sessionOf = (req: IncomingMessage): Session | undefined => {
    const m = /Snowflake Token="([^"]+)"/.exec(req.headers.authorization ?? '');
    return m ? sessions.get(m[1]!) : undefined;
  };

  const login = async (req: IncomingMessage, query: URLSearchParams, res: ServerResponse) => {
    const body = (await readBody(req)) as { data?: Record<string, unknown> };
    const data = body.data ?? {};
    const user = String(data.LOGIN_NAME ?? '');
    const account = String(data.ACCOUNT_NAME ?? '');
    const authenticator = String(data.AUTHENTICATOR ?? 'SNOWFLAKE');
    const known = options.users?.[user];
    let ok = options.users === undefined;
    if (known?.password !== undefined && typeof data.PASSWORD === 'string')
      ok = data.PASSWORD === known.password;
    if (known?.publicKey !== undefined && typeof data.TOKEN === 'string')
      ok = verifyJwt(String(data.TOKEN), known.publicKey, account, user);
    if (!ok) {
      send(res, 200, {
        success: false,
        code: '390100',
        message: 'Incorrect username or password was specified.',
        data: null,
      });
      return;
    }
    const token = randomUUID();
    const id = String(100000 + ++sessionCounter);
    const connection = await instance.connect();
    await connection.run(`SET TimeZone = 'UTC'`);
    const session: Session = {
      id,
      token,
      masterToken: `master-${token}`,
      connection,
      inTxn: false,
      chunks: new Map(),
      locks: new Set(),
      lastActive: Date.now(),
      detached: false,
      tokenExpired: false,
      parameters: new Map(),
    };
    sessions.set(token, session);
    byId.set(id, session);
    logins.push({
      session: id,
      user,
      account,
      authenticator,
      database: query.get('databaseName') ?? undefined,
      warehouse: query.get('warehouse') ?? undefined,
      role: query.get('roleName') ?? undefined,
    });
    send(res, 200, {
      success: true,
      code: null,
      message: null,
      data: {
        token,
        masterToken: session.masterToken,
        validityInSeconds: 3600,
        masterValidityInSeconds: 14400,
        sessionId: Number(id),
        parameters: [{ name: 'TIMEZONE', value: 'UTC' }],
        sessionInfo: {
          databaseName: query.get('databaseName'),
          schemaName: query.get('schemaName'),
          warehouseName: query.get('warehouse'),
          roleName: query.get('roleName'),
        },
      },
    });
  };

  /** Run one statement in a session; returns the response `data` or throws with a message. */
  const runStatement = async (
    session: Session,
    record: RecordedStatement,
    binds: DuckDBValue[],
  ): Promise<Record<string, unknown>> => {
    const conn = session.connection;
    const kind = statementKind(record.sql);
    const first = kind.split(' ')[0]!;
    if (first === 'BEGIN' || kind === 'START TRANSACTION') {
      record.kind = 'begin';
      if (!session.inTxn) {
        await conn.run('BEGIN TRANSACTION');
        session.txnId = String(++txnCounter);
      }
      session.inTxn = true;
      return statusResult('Statement executed successfully.');
    }
    if (first === 'COMMIT' || first === 'ROLLBACK') {
      record.kind = first.toLowerCase();
      await endTxn(session, first as 'COMMIT' | 'ROLLBACK');
      return statusResult('Statement executed successfully.');
    }
    if (kind === 'ALTER SESSION') {
      record.kind = 'noop';
      alterSession(session, record.sql);
      return statusResult('Statement executed successfully.');
    }
    if (first === 'USE') {
      record.kind = 'noop';
      return statusResult('Statement executed successfully.');
    }
    const abort = /^\s*SELECT\s+SYSTEM\$ABORT_TRANSACTION\s*\(\s*(\d+)\s*\)\s*;?\s*$/i.exec(record.sql);
    if (abort) {
      // https://docs.snowflake.com/en/sql-reference/functions/system_abort_transaction
      record.kind = 'dml';
      const holder = [...byId.values()].find((x) => x.txnId === abort[1]);
      if (holder) {
        await endTxn(holder, 'ROLLBACK');
        if (holder.detached) await endSession(holder);
      }
      return statusResult(
        holder ? `Aborted transaction id: ${abort[1]}` : `Transaction ${abort[1]} is not running`,
      );
    }
    if (first === 'REMOVE' || first === 'RM') {
      // REMOVE @stage/path/: delete the staged files under the path (https://docs.snowflake.com/en/sql-reference/sql/remove).
      record.kind = 'remove';
      const at = record.sql.indexOf('@');
      const { ref } = readStageRef(record.sql, at);
      const folder = stageDir(ref);
      const removed = existsSync(folder) ? await listFiles(folder) : [];
      await rm(folder, { recursive: true, force: true });
      return {
        rowtype: [textColumn('name'), textColumn('result')],
        rowset: removed.map((f) => [`${ref.path}/${f}`.replace(/^\//, ''), 'removed']),
        total: removed.length,
        returned: removed.length,
        version: 1,
        queryResultFormat: 'json',
      };
    }
    if (first === 'PUT') {
      record.kind = 'put';
      if (faults.putCommitsTransaction && session.inTxn) await endTxn(session, 'COMMIT');
      const put = parsePut(record.sql);
      const location = stageDir(put.stage);
      puts.push({
        session: session.id,
        localPath: put.localPath,
        stage: put.stage.parts,
        folder: put.stage.path,
        overwrite: put.overwrite,
      });
      return {
        command: 'UPLOAD',
        src_locations: [put.localPath],
        parallel: 4,
        autoCompress: true,
        overwrite: put.overwrite,
        sourceCompression: 'auto_detect',
        clientShowEncryptionParameter: false,
        encryptionMaterial: null,
        stageInfo: {
          locationType: 'LOCAL_FS',
          location,
          path: '',
          region: null,
          storageAccount: null,
          isClientSideEncrypted: false,
          creds: {},
        },
        rowtype: [],
        rowset: [],
        total: 0,
        returned: 0,
      };
    }
    if (first === 'COPY') {
      record.kind = 'copy';
      return copyInto(session, record.sql);
    }
    const ddl = first === 'CREATE' || first === 'ALTER' || first === 'DROP' || first === 'TRUNCATE';
    if (ddl && session.inTxn) {
      // Snowflake: a DDL statement commits the open transaction before it runs.
      await endTxn(session, 'COMMIT');
    }
    record.kind = ddl ? 'ddl' : 'dml';
    const duck = translateSql(record.sql);
    record.translated = duck;
    const locked = faults.tableLocks ? lockedTable(record.sql) : undefined;
    if (locked) await lockTable(session, locked, record);
    try {
      const reader = await conn.runAndReadAll(duck, binds.length > 0 ? binds : undefined);
      return resultData(
        session,
        reader.columnNames(),
        reader.columnTypes(),
        reader.getRows(),
        record.queryId,
      );
    } finally {
      // Autocommit: the statement's own transaction ends with it, and so does its lock.
      if (locked && !session.inTxn && locks.get(locked) === session) {
        locks.delete(locked);
        session.locks.delete(locked);
      }
    }
  };

  /** `ALTER SESSION SET A = 1, B = 'x'` / `ALTER SESSION UNSET A, B`: kept per session. */
  const alterSession = (session: Session, sql: string) => {
    const set = /^\s*ALTER\s+SESSION\s+SET\s+([\s\S]*?);?\s*$/i.exec(sql);
    if (set) {
      for (const m of set[1]!.matchAll(/([A-Za-z_]+)\s*=\s*('(?:[^'\\]|''|\\.)*'|[^\s,]+)/g))
        session.parameters.set(
          m[1]!.toUpperCase(),
          m[2]!.startsWith("'") ? m[2]!.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, '$1') : m[2]!,
        );
      return;
    }
    const unset = /^\s*ALTER\s+SESSION\s+UNSET\s+([\s\S]*?);?\s*$/i.exec(sql);
    if (unset) for (const n of unset[1]!.split(',')) session.parameters.delete(n.trim().toUpperCase());
  };

  /**
   * `describeOnly`: compile without running (DuckDB prepares the translated statement) and answer with the
   * result columns and Snowflake's `statementTypeId`.
   */
  const describe = async (session: Session, record: RecordedStatement): Promise<Record<string, unknown>> => {
    record.kind = 'describe';
    const duck = translateSql(record.sql);
    record.translated = duck;
    const prepared = await session.connection.prepare(duck);
    try {
      const names = Array.from({ length: prepared.columnCount }, (_, i) => prepared.columnName(i));
      const types = Array.from({ length: prepared.columnCount }, (_, i) => prepared.columnType(i));
      return {
        ...resultData(session, names, types, [], record.queryId),
        statementTypeId: statementTypeId(prepared.statementType),
      };
    } finally {
      prepared.destroySync();
    }
  };

  /** COPY INTO from staged gzipped NDJSON: keys matched to columns case-insensitively (MATCH_BY_COLUMN_NAME). */
  const copyInto = async (session: Session, sql: string): Promise<Record<string, unknown>> => {
    const cmd = parseCopy(sql);
    if (cmd.fileType !== 'JSON')
      throw new Error(`local server: COPY supports FILE_FORMAT = (TYPE = 'JSON') only, got ${cmd.fileType}`);
    if (cmd.matchByColumnName !== 'CASE_INSENSITIVE' && cmd.matchByColumnName !== 'CASE_SENSITIVE') {
      throw new Error(
        'JSON file format can produce one and only one column of type variant, object, or array. Use CSV file format if you want to load more than one column.',
      );
    }
    const folder = stageDir(cmd.stage);
    const files = cmd.files ?? (existsSync(folder) ? (await readdir(folder)).sort() : []);
    const conn = session.connection;
    const colsReader = await conn.runAndReadAll(
      `SELECT column_name, data_type FROM information_schema.columns WHERE table_schema = $1 AND table_name = $2 ORDER BY ordinal_position`,
      [cmd.schema, cmd.table],
    );
    const columns = colsReader.getRows().map((r) => ({ name: String(r[0]), type: String(r[1]) }));
    if (columns.length === 0)
      throw new Error(`Table '${cmd.schema}.${cmd.table}' does not exist or not authorized.`);
    const rows: number[] = [];
    const rowset: (string | null)[][] = [];
    for (const file of files) {
      const full = path.join(folder, file);
      if (!existsSync(full))
        throw new Error(`Remote file '${file}' was not found. There are several potential causes.`);
      const src = `read_json_objects(${lit(full)}, format = 'newline_delimited')`;
      const keys = (await conn.runAndReadAll(`SELECT DISTINCT unnest(json_keys(json)) FROM ${src}`))
        .getRows()
        .map((r) => String(r[0]));
      const match = (col: string) =>
        cmd.matchByColumnName === 'CASE_SENSITIVE'
          ? keys.find((k) => k === col)
          : keys.find((k) => k.toUpperCase() === col.toUpperCase());
      const used = columns.map((c) => ({ ...c, key: match(c.name) })).filter((c) => c.key !== undefined);
      let n = 0;
      if (used.length > 0) {
        const exprs = used.map((c) => {
          const p = lit(`$."${c.key!.replaceAll('"', '\\"')}"`);
          return c.type === 'JSON'
            ? `json_extract(json, ${p})`
            : `CAST(json_extract_string(json, ${p}) AS ${c.type})`;
        });
        const insert = `INSERT INTO ${qi(cmd.schema)}.${qi(cmd.table)} (${used.map((c) => qi(c.name)).join(', ')}) SELECT ${exprs.join(', ')} FROM ${src}`;
        n = (await conn.runAndReadAll(insert)).rowsChanged;
      }
      rows.push(n);
      rowset.push([
        `${cmd.stage.path}/${file}`.replace(/^\//, ''),
        'LOADED',
        String(n),
        String(n),
        '1',
        '0',
        null,
        null,
        null,
        null,
      ]);
    }
    copies.push({
      session: session.id,
      schema: cmd.schema,
      table: cmd.table,
      stage: cmd.stage.parts,
      folder: cmd.stage.path,
      files,
      rows,
      matchByColumnName: cmd.matchByColumnName,
    });
    const fixed = (name: string) => ({
      name,
      type: 'fixed',
      nullable: true,
      scale: 0,
      precision: 19,
      length: null,
      byteLength: null,
    });
    return {
      rowtype: [
        textColumn('file'),
        textColumn('status'),
        fixed('rows_parsed'),
        fixed('rows_loaded'),
        fixed('error_limit'),
        fixed('errors_seen'),
        textColumn('first_error'),
        fixed('first_error_line'),
        fixed('first_error_character'),
        textColumn('first_error_column_name'),
      ],
      rowset,
      total: rowset.length,
      returned: rowset.length,
      version: 1,
      queryResultFormat: 'json',
      statementTypeId: 0x3000 + 0x100,
    };
  };

  /** A Snowflake result from DuckDB rows: values as strings, large results split into chunks. */
  const resultData = (
    session: Session,
    names: string[],
    types: DuckDBType[],
    values: DuckDBValue[][],
    queryId: string,
  ): Record<string, unknown> => {
    const rowtype = names.map((name, i) => rowType(name, types[i]!));
    const rowset = values.map((row) => row.map((v, i) => rawValue(v, types[i]!)));
    const inline = options.inlineRows ?? 1000;
    const per = options.chunkRows ?? 1000;
    const chunks: { url: string; rowCount: number; uncompressedSize: number }[] = [];
    for (let start = inline, n = 0; start < rowset.length; start += per, n++) {
      const slice = rowset.slice(start, start + per);
      const body = JSON.stringify(slice).slice(1, -1);
      const key = `${queryId}/${n}`;
      session.chunks.set(key, [body]);
      chunks.push({
        url: `${url}/chunks/${key}`,
        rowCount: slice.length,
        uncompressedSize: Buffer.byteLength(body),
      });
    }
    return {
      rowtype,
      rowset: rowset.slice(0, inline),
      total: rowset.length,
      returned: rowset.length,
      ...(chunks.length > 0 ? { chunks, chunkHeaders: {} } : {}),
      version: 1,
      queryResultFormat: 'json',
    };
  };

  const query = async (req: IncomingMessage, res: ServerResponse) => {
    const session = sessionOf(req);
    const body = (await readBody(req)) as {
      sqlText?: string;
      bindings?: Record<string, { type: string; value: unknown }>;
      describeOnly?: boolean;
      parameters?: Record<string, unknown>;
    };
    if (session?.tokenExpired) {
      send(res, 200, {
        success: false,
        code: '390112',
        message: 'Your session has expired. Please login again.',
        data: null,
      });
      return;
    }
    if (!session) {
      send(res, 200, {
        success: false,
        code: '390112',
        message: 'Your session has expired. Please login again.',
        data: null,
      });
      return;
    }
    const sql = body.sqlText ?? '';
    const bindEntries = Object.entries(body.bindings ?? {}).sort((a, b) => Number(a[0]) - Number(b[0]));
    const record: RecordedStatement = {
      session: session.id,
      queryId: `01b-local-${++queryCounter}`,
      sql,
      binds: bindEntries.map(([, b]) => b.value),
      kind: 'pending',
      ...(session.parameters.has('QUERY_TAG') ? { queryTag: session.parameters.get('QUERY_TAG') } : {}),
      ...(body.parameters ? { parameters: body.parameters } : {}),
    };
    statements.push(record);
    const hook = options.beforeStatement?.(record);
    if (hook === 'detach-session') {
      // The client vanished before this statement: its transaction stays open (and locked), detached.
      record.kind = 'detached';
      sessions.delete(session.token);
      session.detached = true;
      session.lastActive = Date.now();
      send(res, 200, {
        success: false,
        code: '390111',
        message: 'Session no longer exists.  New login required to access the service.',
        data: null,
      });
      return;
    }
    if (hook === 'abort-session') {
      record.kind = 'aborted';
      record.error = 'session aborted by the test';
      await endSession(session);
      send(res, 200, {
        success: false,
        code: '000604',
        message: 'SQL execution canceled',
        data: { queryId: record.queryId, sqlState: '57014' },
      });
      return;
    }
    try {
      // MULTI_STATEMENT_COUNT (default 1): a text with another number of statements is refused, unrun.
      const wanted = Number(
        body.parameters?.MULTI_STATEMENT_COUNT ?? session.parameters.get('MULTI_STATEMENT_COUNT') ?? 1,
      );
      const count = statementCount(sql);
      if (count > 1 && wanted !== 0 && wanted !== count)
        throw sqlError(
          '000008',
          '0A000',
          `Actual statement count ${count} did not match the desired statement count ${wanted}.`,
        );
      if (count > 1)
        throw sqlError('000008', '0A000', 'local server: multi-statement requests are not imitated');
      const data = body.describeOnly
        ? await describe(session, record)
        : await runStatement(
            session,
            record,
            bindEntries.map(([, b]) => toDuck(b)),
          );
      session.lastActive = Date.now();
      send(res, 200, {
        success: true,
        code: null,
        message: null,
        data: {
          parameters: [],
          queryId: record.queryId,
          finalDatabaseName: null,
          finalSchemaName: null,
          ...data,
        },
      });
    } catch (error) {
      session.lastActive = Date.now();
      record.error = (error as Error).message;
      const coded = error as { snowflakeCode?: string; sqlState?: string };
      send(res, 200, {
        success: false,
        code: coded.snowflakeCode ?? SQL_ERROR,
        message: coded.snowflakeCode
          ? (error as Error).message
          : `SQL compilation error:\n${(error as Error).message}`,
        data: {
          queryId: record.queryId,
          sqlState: coded.sqlState ?? '42000',
          errorCode: coded.snowflakeCode ?? SQL_ERROR,
          internalError: false,
          age: 0,
        },
      });
    }
  };

  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const u = new URL(req.url ?? '/', 'http://127.0.0.1');
    requests.push({ method: req.method ?? 'GET', path: u.pathname });
    if (req.method === 'POST' && u.pathname === '/session/v1/login-request')
      return login(req, u.searchParams, res);
    if (req.method === 'POST' && u.pathname === '/queries/v1/query-request') return query(req, res);
    if (req.method === 'POST' && u.pathname === '/telemetry/send') {
      await readBody(req).catch(() => undefined);
      return send(res, 200, { success: true, code: null, message: null, data: 'Log Received' });
    }
    if (req.method === 'POST' && u.pathname === '/session' && u.searchParams.get('delete') === 'true') {
      const session = sessionOf(req);
      if (session) await endSession(session);
      return send(res, 200, { success: true, code: null, message: null, data: null });
    }
    if (req.method === 'POST' && u.pathname === '/session/token-request') {
      // Renewal of an expired session token with the master token (the SDK does it by itself on 390112).
      await readBody(req).catch(() => undefined);
      const m = /Snowflake Token="([^"]+)"/.exec(req.headers.authorization ?? '');
      const session = [...byId.values()].find((x) => !x.detached && x.masterToken === m?.[1]);
      if (!session)
        return send(res, 200, {
          success: false,
          code: '390114',
          message: 'Authentication token has expired.  The user must authenticate again.',
          data: null,
        });
      sessions.delete(session.token);
      session.token = randomUUID();
      session.tokenExpired = false;
      sessions.set(session.token, session);
      return send(res, 200, {
        success: true,
        code: null,
        message: null,
        data: {
          sessionToken: session.token,
          validityInSecondsST: 3600,
          masterToken: session.masterToken,
          validityInSecondsMT: 14400,
        },
      });
    }
    if (req.method === 'POST' && u.pathname === '/session/heartbeat') {
      const session = sessionOf(req);
      return send(res, 200, {
        success: Boolean(session),
        code: null,
        message: null,
        data: session ? { sessionToken: session.token, validityInSecondsST: 3600 } : null,
      });
    }
    const chunk = /^\/chunks\/(.+)$/.exec(u.pathname);
    if (req.method === 'GET' && chunk) {
      const body = [...sessions.values()].map((s) => s.chunks.get(chunk[1]!)).find(Boolean);
      if (!body) return send(res, 404, { message: 'no such chunk' });
      res.writeHead(200, { 'content-type': 'application/octet-stream' });
      return res.end(body[0]);
    }
    send(res, 404, {
      success: false,
      code: '404',
      message: `local snowflake server: no route for ${req.method} ${u.pathname}`,
      data: null,
    });
  };

  const server: Server = createServer((req, res) => {
    handle(req, res).catch((error: unknown) => {
      if (!res.headersSent)
        send(res, 500, {
          success: false,
          code: '500',
          message: String((error as Error).message),
          data: null,
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    url,
    dir,
    statements,
    puts,
    copies,
    logins,
    requests,
    options,
    async stagedFiles() {
      const out: string[] = [];
      const walk = async (d: string, rel: string) => {
        if (!existsSync(d)) return;
        for (const name of await readdir(d)) {
          const full = path.join(d, name);
          const r = rel ? `${rel}/${decodeURIComponent(name)}` : decodeURIComponent(name);
          if ((await stat(full)).isDirectory()) await walk(full, r);
          else out.push(r);
        }
      };
      await walk(stageRoot, '');
      return out.sort();
    },
    async sql(q) {
      const conn = await instance.connect();
      try {
        return (await conn.runAndReadAll(q)).getRowObjectsJS() as Record<string, unknown>[];
      } finally {
        conn.closeSync();
      }
    },
    faults,
    detachSession(sessionId) {
      const session = byId.get(sessionId);
      if (!session) throw new Error(`local server: no session ${sessionId}`);
      sessions.delete(session.token);
      session.detached = true;
      session.lastActive = Date.now();
    },
    expireToken(sessionId) {
      const session = byId.get(sessionId);
      if (!session) throw new Error(`local server: no session ${sessionId}`);
      session.tokenExpired = true;
    },
    transactions() {
      return [...byId.values()]
        .filter((x) => x.txnId !== undefined)
        .map((x) => ({ id: x.txnId!, session: x.id, locks: [...x.locks], detached: x.detached }));
    },
    clearRecords() {
      statements.length = 0;
      puts.length = 0;
      copies.length = 0;
      logins.length = 0;
      requests.length = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of [...byId.values()]) await endSession(s).catch(() => undefined);
      admin.closeSync();
      instance.closeSync();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** A result with one `status` column (what Snowflake returns for BEGIN, COMMIT, DDL). */
/** A VARCHAR column of a result's rowtype, as Snowflake describes one. */
function textColumn(name: string) {
  return {
    name,
    type: 'text',
    nullable: true,
    scale: null,
    precision: null,
    length: 16777216,
    byteLength: 16777216,
  };
}

function statusResult(message: string): Record<string, unknown> {
  return {
    rowtype: [textColumn('status')],
    rowset: [[message]],
    total: 1,
    returned: 1,
    version: 1,
    queryResultFormat: 'json',
  };
}

/** DuckDB string literal. */
function lit(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** DuckDB quoted identifier. */
function qi(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/** A bind as sent by the SDK (`{type, value}`, values as text) → a DuckDB value. */
function toDuck(bind: { type: string; value: unknown }): DuckDBValue {
  const v = bind.value;
  if (v === null || v === undefined) return null;
  switch (bind.type) {
    case 'FIXED':
      return /^-?\d+$/.test(String(v)) ? BigInt(String(v)) : Number(v);
    case 'REAL':
      return Number(v);
    case 'BOOLEAN':
      return v === true || String(v).toLowerCase() === 'true' || v === '1';
    default:
      return String(v);
  }
}

/** Snowflake rowtype entry for a DuckDB column type. */
function rowType(name: string, type: DuckDBType): Record<string, unknown> {
  const base = { name, nullable: true, collation: null, database: '', schema: '', table: '' };
  const id = type.typeId;
  if (type.alias === 'JSON')
    return { ...base, type: 'variant', scale: null, precision: null, length: 16777216, byteLength: 16777216 };
  switch (id) {
    case DuckDBTypeId.BOOLEAN:
      return { ...base, type: 'boolean', scale: null, precision: null, length: null, byteLength: null };
    case DuckDBTypeId.TINYINT:
    case DuckDBTypeId.SMALLINT:
    case DuckDBTypeId.INTEGER:
    case DuckDBTypeId.BIGINT:
    case DuckDBTypeId.HUGEINT:
    case DuckDBTypeId.UTINYINT:
    case DuckDBTypeId.USMALLINT:
    case DuckDBTypeId.UINTEGER:
    case DuckDBTypeId.UBIGINT:
      return { ...base, type: 'fixed', scale: 0, precision: 38, length: null, byteLength: null };
    case DuckDBTypeId.DECIMAL: {
      const d = type as DuckDBDecimalType;
      return { ...base, type: 'fixed', scale: d.scale, precision: d.width, length: null, byteLength: null };
    }
    case DuckDBTypeId.FLOAT:
    case DuckDBTypeId.DOUBLE:
      return { ...base, type: 'real', scale: null, precision: null, length: null, byteLength: null };
    case DuckDBTypeId.DATE:
      return { ...base, type: 'date', scale: null, precision: null, length: null, byteLength: null };
    case DuckDBTypeId.TIMESTAMP_TZ:
      return { ...base, type: 'timestamp_tz', scale: 9, precision: 0, length: null, byteLength: null };
    case DuckDBTypeId.TIMESTAMP:
      return { ...base, type: 'timestamp_ntz', scale: 9, precision: 0, length: null, byteLength: null };
    case DuckDBTypeId.VARCHAR:
      return { ...base, type: 'text', scale: null, precision: null, length: 16777216, byteLength: 16777216 };
    default:
      return {
        ...base,
        type: 'variant',
        scale: null,
        precision: null,
        length: 16777216,
        byteLength: 16777216,
      };
  }
}

/** Epoch seconds with 9 fractional digits from microseconds. */
function epochText(micros: bigint): string {
  let secs = micros / 1_000_000n;
  let frac = micros % 1_000_000n;
  if (frac < 0n) {
    frac += 1_000_000n;
    secs -= 1n;
  }
  return `${secs}.${frac.toString().padStart(6, '0')}000`;
}

/** A DuckDB value as Snowflake's JSON result text. */
function rawValue(v: DuckDBValue, type: DuckDBType): string | null {
  if (v === null || v === undefined) return null;
  switch (type.typeId) {
    case DuckDBTypeId.BOOLEAN:
      return v ? '1' : '0';
    case DuckDBTypeId.DATE:
      return String((v as { days: number }).days);
    case DuckDBTypeId.TIMESTAMP_TZ:
      // resultVersion 1: "<epoch seconds>.<9 digits> <offset minutes + 1440>"; stored as UTC.
      return `${epochText((v as { micros: bigint }).micros)} 1440`;
    case DuckDBTypeId.TIMESTAMP:
      return epochText((v as { micros: bigint }).micros);
    default:
      return typeof v === 'object' ? String(v) : String(v);
  }
}

/** Verify an RS256 JWT from key-pair login against a PEM public key (issuer/subject name the user). */
function verifyJwt(token: string, publicKeyPem: string, account: string, user: string): boolean {
  const [header, payload, signature] = token.split('.');
  if (!header || !payload || !signature) return false;
  const verifier = createVerify('RSA-SHA256');
  verifier.update(`${header}.${payload}`);
  if (!verifier.verify(createPublicKey(publicKeyPem), Buffer.from(signature, 'base64url'))) return false;
  const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { sub?: string };
  return claims.sub === `${account.toUpperCase()}.${user.toUpperCase()}`;
}

/** An error with Snowflake's code and SQLSTATE (sent as the response's `code` and `data.sqlState`). */
function sqlError(code: string, sqlState: string, message: string): Error {
  return Object.assign(new Error(message), { snowflakeCode: code, sqlState });
}

/** Files under a folder, relative to it, sorted. */
async function listFiles(dir: string, rel = ''): Promise<string[]> {
  const out: string[] = [];
  for (const name of await readdir(dir)) {
    const full = path.join(dir, name);
    const r = rel ? `${rel}/${name}` : name;
    if ((await stat(full)).isDirectory()) out.push(...(await listFiles(full, r)));
    else out.push(r);
  }
  return out.sort();
}

/** Statements in a text: `;` outside literals, identifiers and comments separates them (empty ones do not count). */
function statementCount(sql: string): number {
  let count = 0;
  let current = '';
  for (const piece of tokenize(sql)) {
    if (piece.kind === 'comment') continue;
    if (piece.kind !== 'code') {
      current += piece.text;
      continue;
    }
    const parts = piece.text.split(';');
    for (let i = 0; i < parts.length; i++) {
      if (i > 0) {
        if (current.trim()) count++;
        current = '';
      }
      current += parts[i];
    }
  }
  if (current.trim()) count++;
  return count;
}

/**
 * The table an UPDATE, DELETE or MERGE locks (`SCHEMA.TABLE`, unquoted names folded to upper case);
 * undefined for other statements (INSERT and COPY add partitions and take no lock).
 */
function lockedTable(sql: string): string | undefined {
  const code = tokenize(sql)
    .filter((p) => p.kind !== 'comment')
    .map((p) => p.text)
    .join('');
  const name = String.raw`(?:"(?:[^"]|"")*"|[A-Za-z_][A-Za-z0-9_$]*)`;
  const m = new RegExp(
    String.raw`^\s*(?:DELETE\s+FROM|UPDATE|MERGE\s+INTO)\s+(${name}(?:\s*\.\s*${name})*)`,
    'i',
  ).exec(code);
  if (!m) return undefined;
  return [...m[1]!.matchAll(new RegExp(name, 'g'))]
    .map((n) => (n[0].startsWith('"') ? n[0].slice(1, -1).replaceAll('""', '"') : n[0].toUpperCase()))
    .join('.');
}

/** Snowflake's statementTypeId (the JDBC driver's SFStatementType) of a DuckDB statement type. */
function statementTypeId(type: StatementType): number {
  switch (type) {
    case StatementType.SELECT:
      return 0x1000;
    case StatementType.EXPLAIN:
      return 0x2000;
    case StatementType.INSERT:
      return 0x3100;
    case StatementType.UPDATE:
      return 0x3200;
    case StatementType.DELETE:
      return 0x3300;
    case StatementType.COPY:
      return 0x3600;
    case StatementType.TRANSACTION:
      return 0x5000;
    case StatementType.SET:
    case StatementType.VARIABLE_SET:
      return 0x4000;
    default:
      return 0x6000;
  }
}
