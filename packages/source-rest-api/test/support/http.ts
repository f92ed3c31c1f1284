import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { pipeline, type Pipeline } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';

/** One request a test server saw. */
export interface SeenRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingMessage['headers'];
  body: string;
}

/** What a handler gets: the request and helpers to answer. */
export interface Ctx extends SeenRequest {
  url: URL;
  json(status: number, body: unknown, headers?: Record<string, string>): void;
  res: ServerResponse;
}

/** A test server on 127.0.0.1 with a random port. */
export interface TestServer {
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

/** Start a server that hands every request to `handler` (unhandled → 404 JSON). */
export async function startServer(handler: (ctx: Ctx) => void | Promise<void>): Promise<TestServer> {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      const seen: SeenRequest = {
        method: req.method ?? 'GET',
        path: url.pathname,
        query: url.searchParams,
        headers: req.headers,
        body,
      };
      requests.push(seen);
      const ctx: Ctx = {
        ...seen,
        url,
        res,
        json(status, payload, headers = {}) {
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(payload));
        },
      };
      Promise.resolve(handler(ctx))
        .then(() => {
          if (!res.headersSent) ctx.json(404, { message: 'Not Found' });
        })
        .catch((e: unknown) => {
          if (!res.headersSent) ctx.json(500, { message: String(e) });
        });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise((resolve) => {
        server.close(() => resolve());
        // hung and keep-alive sockets would hold close() open
        server.closeAllConnections();
      }),
  };
}

/** A temp folder removed by `cleanup()`. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `ferry-rest-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A pipeline into a DuckDB file. */
export function duckPipeline(file: string, dataDir: string, dataset = 'rest'): Pipeline {
  return pipeline({
    name: 'rest',
    dataset,
    destination: duckdb({ type: 'duckdb', path: file }),
    dataDir,
    normalizeWorkers: 0,
  });
}

/** Run SQL against a DuckDB file and return row objects. */
export async function query(file: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(file);
  try {
    const conn = await instance.connect();
    try {
      return (await conn.runAndReadAll(sql)).getRowObjects() as Record<string, unknown>[];
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** Collect every record each resource of a source yields, by running its functions directly (no pipeline). */
export { collect } from './collect.ts';
