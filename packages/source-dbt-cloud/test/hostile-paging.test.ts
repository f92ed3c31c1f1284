import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DbtCloudClient, dbtCloudSource } from '@ferry/source-dbt-cloud';
import { count, duckPipeline, tempDir } from './helpers.ts';

/**
 * A hostile stand-in for dbt Cloud on 127.0.0.1 (issue 15, item 4): each account id is one bad behaviour
 * of the users list. Every case must end in all rows loaded or an error naming the endpoint.
 */
type Behaviour = (offset: number, limit: number) => { data: unknown; total?: number };
const ROWS = (from: number, n: number): Record<string, unknown>[] =>
  Array.from({ length: n }, (_, i) => ({ id: from + i, first_name: `u${from + i}` }));
const BEHAVIOURS: Record<string, Behaviour> = {
  // 250 rows on pages of 100, but total_count says 5.
  '1': (o, l) => ({ data: ROWS(o, Math.max(0, Math.min(l, 250 - o))), total: 5 }),
  // data is an object instead of a list.
  '2': () => ({ data: { id: 1, first_name: 'x' }, total: 1 }),
  // Full pages repeating the same 100 ids, no total_count.
  '3': () => ({ data: ROWS(0, 100) }),
  // Pages that never end: new ids forever.
  '4': (o, l) => ({ data: ROWS(o, l) }),
  // Exactly 300 rows with a right total; past the end the server clamps and repeats the last page.
  '5': (o, l) => ({ data: ROWS(Math.min(o, 200), l), total: 300 }),
};

let server: Server;
let base: string;
const hits = new Map<string, number>();

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/api\/v3\/accounts\/(\d+)\/users\/$/.exec(url.pathname);
    const b = m ? BEHAVIOURS[m[1]!] : undefined;
    if (!b) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"data":null}');
      return;
    }
    hits.set(m![1]!, (hits.get(m![1]!) ?? 0) + 1);
    const { data, total } = b(
      Number(url.searchParams.get('offset') ?? 0),
      Number(url.searchParams.get('limit') ?? 100),
    );
    const extra = {
      pagination: {
        count: Array.isArray(data) ? data.length : 1,
        ...(total === undefined ? {} : { total_count: total }),
      },
    };
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ status: { code: 200 }, data, extra }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

const client = (account: string, maxPages?: number): DbtCloudClient =>
  new DbtCloudClient({
    baseUrl: base,
    accountId: account,
    apiToken: 'hostile-token-1234',
    requestsPerMinute: 0,
    ...(maxPages === undefined ? {} : { maxPages }),
  });

describe('paging that cannot lie you into loss (hostile server on 127.0.0.1)', () => {
  it('total_count: 5 on full pages: every row is read anyway', async () => {
    const rows = await client('1').list('v3', 'accounts/1/users/');
    expect(rows.map((r) => r['id'])).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });

  it('data an object instead of a list: an error naming the endpoint, not 0 rows', async () => {
    await expect(client('2').list('v3', 'accounts/2/users/')).rejects.toThrow(
      /GET http:\/\/127\.0\.0\.1:\d+\/api\/v3\/accounts\/2\/users\/: the response's data at offset 0 is object, not a list/,
    );
  });

  it('full pages repeating the same ids: stops with an error naming the endpoint after 2 requests', async () => {
    hits.delete('3');
    await expect(client('3').list('v3', 'accounts/3/users/')).rejects.toThrow(
      /accounts\/3\/users\/: the page at offset 100 holds only ids already read/,
    );
    expect(hits.get('3')).toBe(2);
  });

  it('pages that never end: maxPages ends it with an error naming the endpoint', async () => {
    hits.delete('4');
    await expect(client('4', 50).list('v3', 'accounts/4/users/')).rejects.toThrow(
      /accounts\/4\/users\/: paging did not end after 50 pages \(5000 rows\).*raise maxPages/,
    );
    expect(hits.get('4')).toBe(50);
  });

  it('a right total with a clamped offset past the end: the probe ends quietly, rows exact', async () => {
    const rows = await client('5').list('v3', 'accounts/5/users/');
    expect(rows).toHaveLength(300);
  });

  it('through a pipeline: a lying total loads every row (exit 0), a non-list fails the run naming the endpoint', async () => {
    const tmp = await tempDir('hostile');
    try {
      const file = path.join(tmp.dir, 'h.duckdb');
      const opts = {
        baseUrl: base,
        apiToken: 'hostile-token-1234',
        resources: ['users'] as const,
        requestsPerMinute: 0,
      };
      const p = duckPipeline(file, path.join(tmp.dir, 'data'));
      await p.run(dbtCloudSource({ ...opts, accountId: '1' }));
      await p.close();
      expect(await count(file, 'users')).toBe(250);
      const p2 = duckPipeline(path.join(tmp.dir, 'h2.duckdb'), path.join(tmp.dir, 'data2'));
      await expect(p2.run(dbtCloudSource({ ...opts, accountId: '2' }))).rejects.toThrow(
        /accounts\/2\/users\//,
      );
      await p2.close();
    } finally {
      await tmp.cleanup();
    }
  });
});
