import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import {
  RestApiPaginationError,
  RestApiResponseError,
  restApiSource,
  type RestApiConfigInput,
} from '@ferry/source-rest-api';
import { duckPipeline, query, startServer, tempDir, type Ctx, type TestServer } from './support/http.ts';

/**
 * Issue 15, "What broke" 4: an API that lies about its paging. Each case ends either with every row
 * loaded or with a rejected run whose message names the resource and the URL, never a silent partial
 * load and never an endless loop. A real pipeline into DuckDB, against a server on 127.0.0.1.
 */

const servers: TestServer[] = [];
async function serve(handler: (ctx: Ctx) => void | Promise<void>): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((x) => x.close()));
});

let tmp: { dir: string; cleanup: () => Promise<void> };
let n = 0;
beforeAll(async () => {
  tmp = await tempDir('hostile');
});
afterAll(async () => {
  await tmp.cleanup();
});

/** Run the config into a fresh DuckDB file; returns the file, the log lines and the error (if any). */
async function load(config: RestApiConfigInput) {
  const file = path.join(tmp.dir, `h${++n}.duckdb`);
  const logs: string[] = [];
  const p = duckPipeline(file, path.join(tmp.dir, `data${n}`), 'hostile');
  const error = await p.run(restApiSource(config, { log: (m) => logs.push(m) })).then(
    () => undefined,
    (e: unknown) => e as Error,
  );
  return { file, logs, error };
}

/** The first error in a cause chain of the given class. */
function find<T>(e: unknown, cls: abstract new (...a: never[]) => T): T | undefined {
  for (let c = e; c; c = (c as { cause?: unknown }).cause) if (c instanceof cls) return c as T;
  return undefined;
}

async function count(file: string, table = 'items'): Promise<number> {
  return Number((await query(file, `select count(*) n from hostile.${table}`))[0]!['n']);
}

const rows = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => ({ id: from + i, name: `row ${from + i}` }));

describe('hostile REST API (issue 15, item 4)', () => {
  it('total_count 5 on full pages of 250: every one of the 1000 rows is loaded', async () => {
    const s = await serve((ctx) => {
      const offset = Number(ctx.query.get('offset') ?? 0);
      ctx.json(200, { data: rows(offset, Math.min(offset + 250, 1000)), total_count: 5 });
    });
    const r = await load({
      client: {
        base_url: s.url,
        paginator: { type: 'offset', limit: 250, total_path: 'total_count' },
      },
      resources: [{ name: 'items', endpoint: { data_selector: 'data' }, primary_key: 'id' }],
    });
    expect(r.error).toBeUndefined();
    expect(await count(r.file)).toBe(1000);
    // four full pages past the "total", then the empty fifth page ends it
    expect(s.requests.map((q) => q.query.get('offset'))).toEqual(['0', '250', '500', '750', '1000']);
  });

  it('total_pages 1 on full pages of a page_number API: learned page size keeps reading', async () => {
    const s = await serve((ctx) => {
      const page = Number(ctx.query.get('page') ?? 1);
      ctx.json(200, { items: rows((page - 1) * 50, Math.min(page * 50, 180)), total_pages: 2 });
    });
    const r = await load({
      client: {
        base_url: s.url,
        paginator: { type: 'page_number', base_page: 1, total_path: 'total_pages' },
      },
      resources: [{ name: 'items', endpoint: { data_selector: 'items' } }],
    });
    expect(r.error).toBeUndefined();
    expect(await count(r.file)).toBe(180);
    expect(s.requests.map((q) => q.query.get('page'))).toEqual(['1', '2', '3', '4']);
  });

  it('a probe past the total that the API clamps to its last page, or refuses with 404, ends quietly with every row', async () => {
    const clamp = await serve((ctx) => {
      const page = Math.min(2, Number(ctx.query.get('page') ?? 1));
      ctx.json(200, { items: rows((page - 1) * 50, page * 50), total_pages: 2 });
    });
    const a = await load({
      client: {
        base_url: clamp.url,
        paginator: { type: 'page_number', base_page: 1, total_path: 'total_pages' },
      },
      resources: [{ name: 'items', endpoint: { data_selector: 'items' } }],
    });
    expect(a.error).toBeUndefined();
    expect(await count(a.file)).toBe(100);
    expect(clamp.requests.map((q) => q.query.get('page'))).toEqual(['1', '2', '3']);
    expect(a.logs).toEqual([
      `resource 'items': ${clamp.url}/items?page=3 (past the total, asked because the last page was full) holds only records already read; taking the total as the end`,
    ]);

    const refuse = await serve((ctx) => {
      const offset = Number(ctx.query.get('offset') ?? 0);
      if (offset >= 100) return ctx.json(404, { error: 'offset out of range' });
      ctx.json(200, { data: rows(offset, offset + 50), total: 100 });
    });
    const b = await load({
      client: { base_url: refuse.url, paginator: { type: 'offset', limit: 50 } },
      resources: [{ name: 'items', endpoint: { data_selector: 'data' } }],
    });
    expect(b.error).toBeUndefined();
    expect(await count(b.file)).toBe(100);
    expect(b.logs[0]).toContain(`${refuse.url}/items?offset=100&limit=50 (past the total`);
    expect(b.logs[0]).toContain('answered HTTP 404; taking the total as the end');
  });

  it('a 404 where the total said more pages is still an error (only a probe may end that way)', async () => {
    const s = await serve((ctx) => {
      const offset = Number(ctx.query.get('offset') ?? 0);
      if (offset >= 50) return ctx.json(404, { error: 'gone' });
      ctx.json(200, { data: rows(offset, offset + 50), total: 200 });
    });
    const r = await load({
      client: { base_url: s.url, paginator: { type: 'offset', limit: 50 }, max_retries: 0 },
      resources: [{ name: 'items', endpoint: { data_selector: 'data' } }],
    });
    expect(r.error?.message).toContain(
      `resource 'items': GET ${s.url}/items?offset=50&limit=50 answered HTTP 404`,
    );
  });

  it("'data' an object instead of a list: an error naming the resource and the URL, not 0 rows", async () => {
    const s = await serve((ctx) => {
      if (ctx.path === '/items') return ctx.json(200, { data: { id: 1, name: 'one' }, total_count: 1 });
      if (ctx.path === '/missing') return ctx.json(200, { result: [{ id: 1 }] });
      if (ctx.path === '/scalar') return ctx.json(200, { data: 'no rows today' });
    });
    const obj = await load({
      client: { base_url: s.url, paginator: { type: 'offset', limit: 10, total_path: 'total_count' } },
      resources: [{ name: 'items', endpoint: { data_selector: 'data' } }],
    });
    const e = find(obj.error, RestApiResponseError);
    expect(e?.resource).toBe('items');
    expect(e?.message).toBe(
      `resource 'items': ${s.url}/items?offset=0&limit=10: the data at 'data' is an object, not a list of records; set endpoint.data_selector to the list of records, or paginator: single_page if the endpoint returns one object`,
    );
    const missing = await load({
      client: { base_url: s.url, paginator: 'json_link' },
      resources: [{ name: 'missing', endpoint: { data_selector: 'data' } }],
    });
    expect(find(missing.error, RestApiResponseError)?.message).toBe(
      `resource 'missing': ${s.url}/missing: data_selector 'data' matches nothing in the response (keys: result); set endpoint.data_selector to the list of records, or paginator: single_page if the endpoint returns one object`,
    );
    const scalar = await load({
      client: { base_url: s.url, paginator: 'single_page' },
      resources: [{ name: 'scalar', endpoint: { data_selector: 'data' } }],
    });
    expect(find(scalar.error, RestApiResponseError)?.message).toContain(
      `resource 'scalar': ${s.url}/scalar: the data at 'data' is string "no rows today", not a list of records`,
    );
    // the same object from an endpoint declared as one entity is one row, as in dlt
    const single = await load({
      client: { base_url: s.url, paginator: 'single_page' },
      resources: [{ name: 'items', endpoint: { data_selector: 'data' } }],
    });
    expect(single.error).toBeUndefined();
    expect(await count(single.file)).toBe(1);
  });

  it('full pages repeating the same 100 ids, no total: stops at the second page with an error', async () => {
    const s = await serve((ctx) => ctx.json(200, rows(0, 100)));
    const r = await load({
      client: { base_url: s.url, paginator: { type: 'offset', limit: 100, total_path: null } },
      resources: [{ name: 'items', primary_key: 'id' }],
    });
    const e = find(r.error, RestApiPaginationError);
    expect(e?.message).toBe(
      `resource 'items': ${s.url}/items?offset=100&limit=100 returned only records already read on earlier pages (100 of 100, matched by primary_key id; previous page ${s.url}/items?offset=0&limit=100); the API ignores the offset paginator's parameter or loops, so paging stopped. Check the paginator settings (param names, base_page).`,
    );
    expect(s.requests).toHaveLength(2);
  });

  it('a cursor that cycles between two pages (A, B, A): stops at the third page, not only on an exact repeat', async () => {
    const s = await serve((ctx) => {
      const c = ctx.query.get('cursor');
      const b = c === 'b';
      // the cursor sent back goes a → b → c, but page c serves page a's rows again
      ctx.json(200, { items: b ? rows(10, 20) : rows(0, 10), next_cursor: c === null ? 'b' : b ? 'c' : 'd' });
    });
    const r = await load({
      client: { base_url: s.url, paginator: { type: 'cursor', cursor_path: 'next_cursor' } },
      resources: [{ name: 'items', endpoint: { data_selector: 'items' } }],
    });
    const e = find(r.error, RestApiPaginationError);
    expect(e?.url).toBe(`${s.url}/items?cursor=c`);
    expect(e?.message).toContain("matched by 'id' or the whole record");
    expect(s.requests).toHaveLength(3);
  });

  it('pages that never end: client.max_pages ends it with an error naming the endpoint', async () => {
    const s = await serve((ctx) => {
      const page = Number(ctx.query.get('page') ?? 0);
      ctx.json(200, { data: rows(page * 25, page * 25 + 25), total: 1e9 });
    });
    const r = await load({
      client: { base_url: s.url, paginator: { type: 'page_number', total_path: 'total' }, max_pages: 30 },
      resources: [{ name: 'items', endpoint: { data_selector: 'data' } }],
    });
    const e = find(r.error, RestApiPaginationError);
    expect(e?.resource).toBe('items');
    expect(e?.message).toBe(
      `resource 'items': reached client.max_pages (30) at ${s.url}/items?page=30 without the last page; raise client.max_pages if the endpoint really has more pages`,
    );
    expect(s.requests).toHaveLength(30);
    // nothing of the unfinished call was committed
    await expect(count(r.file)).rejects.toThrow();
  });
});
