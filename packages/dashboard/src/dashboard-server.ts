import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, FerryError, ReadOnlySqlError, type Pipeline } from '@ferry/core';
import { DashboardApi, DashboardRequestError, type DashboardApiOptions } from './dashboard-api.ts';
import { toJson } from './dashboard-json.ts';

/** Options of {@link startDashboard}. */
export interface DashboardOptions {
  /** The pipeline whose dataset, state and last run the dashboard shows (read-only). */
  pipeline: Pipeline;
  /**
   * Interface to bind. Only `127.0.0.1` is accepted (the default): the token keeps out other local users,
   * not other machines (plain HTTP, no TLS).
   */
  host?: '127.0.0.1';
  /** TCP port. Default 0: a free port, chosen by the OS (read it from the returned `url`). */
  port?: number;
  /** Timeout of one SQL-box query (ms). Default 30 s (`DEFAULT_DASHBOARD_QUERY_TIMEOUT_MS`). */
  queryTimeoutMs?: DashboardApiOptions['queryTimeoutMs'];
  /** Requests that read the destination at the same time. Default 4 (`DEFAULT_DASHBOARD_MAX_CONCURRENT`). */
  maxConcurrent?: DashboardApiOptions['maxConcurrent'];
}

/** A running dashboard. */
export interface DashboardHandle {
  /**
   * `http://127.0.0.1:<port>/?token=<token>`, to print or open in a browser (as Jupyter does). It carries
   * the token: show it to the user who started the dashboard, keep it out of shared logs.
   */
  url: string;
  /** `http://127.0.0.1:<port>`, without the token (for messages that may be shared). */
  origin: string;
  /**
   * This start's secret: 32 random bytes, base64url. Every `/api/` request must send it as
   * `Authorization: Bearer <token>` (the page does); without it 401, with another 403.
   */
  token: string;
  /** Stop accepting requests, finish those in flight and release the port. */
  close(): Promise<void>;
}

/** Error codes of a SQL-box failure that is not the query's fault (answered by {@link sendError}). */
const NOT_THE_QUERY = new Set(['QUERY_TIMEOUT', 'DESTINATION_BUSY', 'NOT_FOUND']);

/** Most bytes a `POST /api/sql` body may have. */
const MAX_BODY_BYTES = 64 * 1024;

/** Every response: no inline script or style, no framing, no sniffing, no referrer, nothing cached. */
const SECURITY_HEADERS: Record<string, string> = {
  'Content-Security-Policy':
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'X-Content-Type-Options': 'nosniff',
  'X-Frame-Options': 'DENY',
  'Referrer-Policy': 'no-referrer',
  'Cross-Origin-Opener-Policy': 'same-origin',
  'Cross-Origin-Resource-Policy': 'same-origin',
  'Cache-Control': 'no-store',
};

interface StaticFile {
  type: string;
  body: Buffer;
}

/** The page, its script and style, and Chart.js's UMD build from node_modules (no CDN). */
async function loadStaticFiles(): Promise<Map<string, StaticFile>> {
  const dir = fileURLToPath(new URL('../static/', import.meta.url));
  const chartDir = path.dirname(createRequire(import.meta.url).resolve('chart.js'));
  const files = new Map<string, StaticFile>();
  const add = async (route: string, file: string, type: string) =>
    files.set(route, { type, body: await readFile(file) });
  await add('/', path.join(dir, 'index.html'), 'text/html; charset=utf-8');
  await add('/app.js', path.join(dir, 'app.js'), 'text/javascript; charset=utf-8');
  await add('/app.css', path.join(dir, 'app.css'), 'text/css; charset=utf-8');
  await add('/vendor/chart.umd.js', path.join(chartDir, 'chart.umd.js'), 'text/javascript; charset=utf-8');
  return files;
}

/**
 * Start the local dashboard for a pipeline: overview, schema, data pages, a read-only SQL box and
 * dbt Cloud charts, served on 127.0.0.1 only. Resolves once the port is bound. Every API call needs this
 * start's secret token (the returned `url` carries it; the page sends it on each request), requests are
 * served concurrently, and an SQL-box query stops after `queryTimeoutMs`.
 *
 * ```ts
 * const { url, close } = await startDashboard({ pipeline: p, port: 0 });
 * console.log(`open ${url}`); // http://127.0.0.1:<port>/?token=…
 * ```
 */
export async function startDashboard(options: DashboardOptions): Promise<DashboardHandle> {
  const host: string = options.host ?? '127.0.0.1';
  if (host !== '127.0.0.1') {
    throw new ConfigError(
      `the dashboard binds 127.0.0.1 only (got host '${host}'): it speaks plain HTTP with its token in the URL, so it must not be reachable from other machines. Use an SSH tunnel to view it remotely.`,
    );
  }
  const port = options.port ?? 0;
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`dashboard port must be an integer 0-65535 (0 = a free port), got ${String(port)}`);
  const files = await loadStaticFiles();
  const api = new DashboardApi(options.pipeline, {
    ...(options.queryTimeoutMs !== undefined ? { queryTimeoutMs: options.queryTimeoutMs } : {}),
    ...(options.maxConcurrent !== undefined ? { maxConcurrent: options.maxConcurrent } : {}),
  });
  // Per start, like Jupyter's: any local OS user can reach 127.0.0.1, only the one who started it has this.
  const token = randomBytes(32).toString('base64url');
  const tokenDigest = digest(token);
  let boundPort = 0;
  const server: Server = createServer((req, res) => {
    handle(req, res, api, files, boundPort, tokenDigest).catch((error: unknown) => sendError(res, error));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  boundPort = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const origin = `http://127.0.0.1:${boundPort}`;
  return {
    url: `${origin}/?token=${token}`,
    origin,
    token,
    close() {
      closing ??= (async () => {
        await new Promise<void>((resolve) => {
          server.close(() => resolve());
          server.closeIdleConnections();
        });
        await api.close();
      })();
      return closing;
    },
  };
}

/** DNS-rebinding guard: a page on another name that resolves to 127.0.0.1 sends its own Host. */
function hostAllowed(req: IncomingMessage, port: number): boolean {
  const h = req.headers.host;
  return h === `127.0.0.1:${port}` || h === `localhost:${port}`;
}

/** Cross-site requests (another tab's page posting to us) are refused; the browser says where they came from. */
function originAllowed(req: IncomingMessage, port: number): boolean {
  const origin = req.headers.origin;
  if (origin !== undefined && origin !== `http://127.0.0.1:${port}` && origin !== `http://localhost:${port}`)
    return false;
  const site = req.headers['sec-fetch-site'];
  return site === undefined || site === 'same-origin' || site === 'none';
}

function digest(text: string): Buffer {
  return createHash('sha256').update(text, 'utf8').digest();
}

/**
 * The request's `Authorization: Bearer <token>` against this start's token: `missing`, `wrong` or `ok`.
 * Compared as SHA-256 digests with `timingSafeEqual`: equal lengths, and no early exit that would time
 * out how many leading characters matched.
 */
function checkToken(req: IncomingMessage, expected: Buffer): 'missing' | 'wrong' | 'ok' {
  const header = req.headers.authorization;
  if (header === undefined || header === '') return 'missing';
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  if (!m) return 'wrong';
  return timingSafeEqual(digest(m[1]!), expected) ? 'ok' : 'wrong';
}

async function handle(
  req: IncomingMessage,
  res: ServerResponse,
  api: DashboardApi,
  files: Map<string, StaticFile>,
  port: number,
  tokenDigest: Buffer,
): Promise<void> {
  if (!hostAllowed(req, port)) {
    send(
      res,
      421,
      'text/plain; charset=utf-8',
      'unexpected Host header: open the dashboard at http://127.0.0.1:<port>/',
    );
    return;
  }
  const url = new URL(req.url ?? '/', `http://127.0.0.1:${port}`);
  const route = url.pathname;
  if (route === '/favicon.ico') return send(res, 204, 'image/x-icon', '');
  if (!route.startsWith('/api/')) {
    const file = files.get(route === '/index.html' ? '/' : route);
    if (!file) return send(res, 404, 'text/plain; charset=utf-8', 'not found');
    if (req.method !== 'GET' && req.method !== 'HEAD')
      return send(res, 405, 'text/plain; charset=utf-8', 'method not allowed', { Allow: 'GET, HEAD' });
    return send(res, 200, file.type, req.method === 'HEAD' ? '' : file.body);
  }
  // The page and its scripts hold no data and are served to anyone; every API answer needs the token.
  const auth = checkToken(req, tokenDigest);
  if (auth === 'missing')
    return sendJson(
      res,
      401,
      {
        error:
          'this dashboard needs its access token: open the URL that `ferry pipeline show` printed (it ends in ?token=…)',
      },
      { 'WWW-Authenticate': 'Bearer realm="ferry-dashboard"' },
    );
  // Never echoes what was sent: a wrong token may be a real one from another start.
  if (auth === 'wrong')
    return sendJson(res, 403, {
      error: 'wrong dashboard token: it changes at every start; open the URL printed by the newest start',
    });
  if (!originAllowed(req, port)) return sendJson(res, 403, { error: 'cross-site requests are refused' });
  if (route === '/api/sql') {
    if (req.method !== 'POST')
      return sendJson(res, 405, { error: 'use POST with a JSON body {"sql": "..."}' }, { Allow: 'POST' });
    const type = req.headers['content-type'] ?? '';
    if (!/^application\/json\s*(;|$)/i.test(type))
      return sendJson(res, 415, { error: 'send Content-Type: application/json' });
    const body = await readBody(req);
    let sql: unknown;
    try {
      sql = (JSON.parse(body) as { sql?: unknown }).sql;
    } catch {
      return sendJson(res, 400, { error: 'the body is not JSON: send {"sql": "select ..."}' });
    }
    if (typeof sql !== 'string') return sendJson(res, 400, { error: 'the body needs a string field "sql"' });
    try {
      return sendJson(res, 200, await api.sql(sql));
    } catch (error) {
      // The query itself failed (unknown table, syntax, refused): the user's mistake, said as it is. A
      // timeout (504) or a busy destination (503) is not.
      if (error instanceof DashboardRequestError) throw error;
      if (error instanceof FerryError && NOT_THE_QUERY.has(error.code)) throw error;
      return sendJson(res, 400, { error: error instanceof Error ? error.message : String(error) });
    }
  }
  if (req.method !== 'GET') return sendJson(res, 405, { error: 'method not allowed' }, { Allow: 'GET' });
  if (route === '/api/overview') return sendJson(res, 200, await api.overview());
  if (route === '/api/schema') return sendJson(res, 200, await api.schema());
  if (route === '/api/charts/dbt-runs') return sendJson(res, 200, await api.dbtRuns());
  if (route.startsWith('/api/tables/')) {
    let name: string;
    try {
      name = decodeURIComponent(route.slice('/api/tables/'.length));
    } catch {
      return sendJson(res, 400, { error: 'the table name in the URL is not valid percent-encoding' });
    }
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const limit = Number(url.searchParams.get('limit') ?? 50);
    return sendJson(res, 200, await api.table(name, offset, limit));
  }
  return sendJson(res, 404, { error: `no API endpoint ${route}` });
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      // Keep reading (and dropping) so the answer can still be sent on this connection.
      if (size <= MAX_BODY_BYTES) chunks.push(c);
    });
    req.on('end', () => {
      if (size > MAX_BODY_BYTES)
        reject(new DashboardRequestError(413, `the query is larger than ${MAX_BODY_BYTES / 1024} KiB`));
      else resolve(Buffer.concat(chunks).toString('utf8'));
    });
    req.on('error', reject);
  });
}

function send(
  res: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  extra: Record<string, string> = {},
): void {
  if (res.headersSent) return void res.end();
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, ...extra });
  res.end(body);
}

function sendJson(
  res: ServerResponse,
  status: number,
  payload: unknown,
  extra: Record<string, string> = {},
): void {
  send(res, status, 'application/json; charset=utf-8', toJson(payload), extra);
}

/** Errors become `{error: message}`: no stack traces, no causes (they may carry SQL or paths). */
function sendError(res: ServerResponse, error: unknown): void {
  let status = 500;
  if (error instanceof DashboardRequestError) status = error.status;
  else if (error instanceof ReadOnlySqlError) status = 400;
  else if (error instanceof FerryError && error.code === 'QUERY_INVALID') status = 400;
  else if (error instanceof FerryError && error.code === 'NOT_FOUND') status = 503;
  else if (error instanceof FerryError && error.code === 'DESTINATION_BUSY') status = 503;
  else if (error instanceof FerryError && error.code === 'QUERY_TIMEOUT') status = 504;
  const message = error instanceof Error ? error.message : String(error);
  sendJson(res, status, { error: message });
}
