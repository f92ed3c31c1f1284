import { afterEach, describe, expect, it } from 'vitest';
import {
  OAuth2ClientCredentials,
  parseRestApiConfig,
  resolveResources,
  Redactor,
  RestApiAuthError,
  RestApiError,
  RestApiPaginationError,
  restApiSource,
  type RestApiConfigInput,
  type RestRequestEvent,
} from '@ferry/source-rest-api';
import { ConfigError, DataError } from '@ferry/core';
import { collect, startServer, type Ctx, type TestServer } from './support/http.ts';

const servers: TestServer[] = [];
async function serve(handler: (ctx: Ctx) => void | Promise<void>): Promise<TestServer> {
  const s = await startServer(handler);
  servers.push(s);
  return s;
}
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const quiet = { log: () => {} };
const noSleep = (record: number[] = []) => ({ ...quiet, sleep: async (ms: number) => void record.push(ms) });

async function rejection(p: Promise<unknown>): Promise<Error> {
  return p.then(
    () => {
      throw new Error('expected a rejection');
    },
    (e: unknown) => e as Error,
  );
}

/**
 * Stripe's list API (docs.stripe.com/api/pagination): `limit` (1–100, default 10), `starting_after` = id
 * of the last object of the previous page, `{object: "list", url, has_more, data}`; API key as Bearer.
 */
function stripe(customers: { id: string; email: string; created: number }[]) {
  return (ctx: Ctx) => {
    if (ctx.headers.authorization !== 'Bearer sk_test_123456')
      return ctx.json(401, { error: { type: 'invalid_request_error', message: 'Invalid API Key provided' } });
    if (ctx.path !== '/v1/customers') return;
    const limit = Math.min(100, Number(ctx.query.get('limit') ?? 10));
    const after = ctx.query.get('starting_after');
    const start = after ? customers.findIndex((c) => c.id === after) + 1 : 0;
    const data = customers.slice(start, start + limit);
    ctx.json(200, { object: 'list', url: '/v1/customers', has_more: start + limit < customers.length, data });
  };
}

describe('Stripe-style cursor (starting_after, has_more)', () => {
  it('pages by the last id until has_more is false', async () => {
    const customers = Array.from({ length: 7 }, (_, i) => ({
      id: `cus_${100 + i}`,
      email: `c${i}@x.test`,
      created: 1700000000 + i,
    }));
    const s = await serve(stripe(customers));
    const rows = await collect(
      restApiSource(
        {
          client: { base_url: `${s.url}/v1/`, auth: { type: 'bearer', token: 'sk_test_123456' } },
          resources: [
            {
              name: 'customers',
              primary_key: 'id',
              endpoint: {
                params: { limit: 3 },
                data_selector: 'data',
                paginator: {
                  type: 'cursor',
                  cursor_path: 'data[-1:].id',
                  cursor_param: 'starting_after',
                  has_more_path: 'has_more',
                },
              },
            },
          ],
        },
        quiet,
      ),
    );
    expect(rows['customers']!.map((c) => c['id'])).toEqual(customers.map((c) => c.id));
    expect(s.requests.map((r) => r.query.get('starting_after'))).toEqual([null, 'cus_102', 'cus_105']);
  });
});

/** An offset API with a total: `GET /items?offset&limit` → `{items, total}`. `total` may be set stale. */
function offsetApi(count: number, reportedTotal = count) {
  const items = Array.from({ length: count }, (_, i) => ({ id: i + 1 }));
  return (ctx: Ctx) => {
    const offset = Number(ctx.query.get('offset'));
    const limit = Number(ctx.query.get('limit'));
    ctx.json(200, { items: items.slice(offset, offset + limit), total: reportedTotal });
  };
}

describe('offset with total', () => {
  const cfg = (url: string): RestApiConfigInput => ({
    client: { base_url: url, paginator: { type: 'offset', limit: 3, total_path: 'total' } },
    resources: ['items'],
  });
  it('stops at the total: 7 items, 3 requests', async () => {
    const s = await serve(offsetApi(7));
    const rows = await collect(restApiSource(cfg(s.url), quiet));
    expect(rows['items']!.map((r) => r['id'])).toEqual([1, 2, 3, 4, 5, 6, 7]);
    expect(s.requests.map((r) => r.query.get('offset'))).toEqual(['0', '3', '6']);
  });
  it('a stale total (says 4, there are 8) does not stop early: full pages continue', async () => {
    const s = await serve(offsetApi(8, 4));
    const rows = await collect(restApiSource(cfg(s.url), quiet));
    expect(rows['items']).toHaveLength(8);
    expect(s.requests.map((r) => r.query.get('offset'))).toEqual(['0', '3', '6']);
  });
});

/** Page numbers from 1 with `total_pages` (a common Rails/Laravel-style envelope). */
function pagedApi(count: number, perPage: number, ignorePage = false) {
  const rows = Array.from({ length: count }, (_, i) => ({ id: i + 1, name: `row ${i + 1}` }));
  return (ctx: Ctx) => {
    const page = ignorePage ? 1 : Number(ctx.query.get('page') ?? 1);
    ctx.json(200, {
      results: rows.slice((page - 1) * perPage, page * perPage),
      page,
      total_pages: Math.ceil(count / perPage),
    });
  };
}

describe('page numbers with total_pages', () => {
  it('configured: pages 1..total_pages', async () => {
    const s = await serve(pagedApi(5, 2));
    const rows = await collect(
      restApiSource(
        {
          client: {
            base_url: s.url,
            paginator: { type: 'page_number', base_page: 1, total_path: 'total_pages' },
          },
          resources: [{ name: 'things', endpoint: { data_selector: 'results' } }],
        },
        quiet,
      ),
    );
    expect(rows['things']).toHaveLength(5);
    expect(s.requests.map((r) => r.query.get('page'))).toEqual(['1', '2', '3']);
  });
  it('auto: detects page_number from the first response, logs its choice, and finds the records', async () => {
    const s = await serve(pagedApi(5, 2));
    const logs: string[] = [];
    const rows = await collect(
      restApiSource({ client: { base_url: s.url }, resources: ['things'] }, { log: (m) => logs.push(m) }),
    );
    expect(rows['things']!.map((r) => r['id'])).toEqual([1, 2, 3, 4, 5]);
    expect(s.requests.map((r) => r.query.get('page'))).toEqual([null, '2', '3']);
    expect(logs).toEqual([
      "resource 'things': data_selector not set; using 'results' (detected from the first response)",
      "resource 'things': paginator not set; using page_number (base_page=1, total_path=total_pages) because the body has a page count at 'total_pages' and says it is page 1",
    ]);
  });
  it('an API that ignores the page parameter stops with an error naming the URL, not a loop', async () => {
    const s = await serve(pagedApi(6, 2, true));
    const err = await rejection(
      collect(
        restApiSource(
          {
            client: { base_url: s.url, paginator: { type: 'page_number', base_page: 1, total_path: null } },
            resources: ['things'],
          },
          quiet,
        ),
      ),
    );
    expect(err).toBeInstanceOf(RestApiPaginationError);
    expect(err.message).toContain(
      `${s.url}/things?page=2 returned only records already read on earlier pages (2 of 2, matched by 'id' or the whole record; previous page ${s.url}/things?page=1)`,
    );
    expect(s.requests).toHaveLength(2);
  });
  it('a next link pointing at the same page stops with an error; max_pages bounds a never-ending API', async () => {
    const s = await serve((ctx) => {
      if (ctx.path === '/same')
        return ctx.json(200, {
          data: [{ id: Number(ctx.query.get('n') ?? 0) }],
          next: `${ctx.url.origin}/same?n=1`,
        });
      if (ctx.path === '/endless') {
        const n = Number(ctx.query.get('n') ?? 0);
        return ctx.json(200, { data: [{ id: n }], next: `/endless?n=${n + 1}` });
      }
    });
    const same = await rejection(
      collect(
        restApiSource({ client: { base_url: s.url, paginator: 'json_link' }, resources: ['same'] }, quiet),
      ),
    );
    expect(same).toBeInstanceOf(RestApiPaginationError);
    expect(same.message).toContain(`asked for ${s.url}/same?n=1 a second time`);
    const endless = await rejection(
      collect(
        restApiSource(
          { client: { base_url: s.url, paginator: 'json_link', max_pages: 5 }, resources: ['endless'] },
          quiet,
        ),
      ),
    );
    expect(endless.message).toContain(`reached client.max_pages (5) at ${s.url}/endless?n=5`);
    expect(s.requests.filter((r) => r.path === '/endless')).toHaveLength(5);
  });
});

/**
 * An OAuth2 authorization server for the client-credentials grant (RFC 6749 §4.4): form POST with
 * grant_type, client_id, client_secret → `{access_token, token_type, expires_in}`; a wrong secret is
 * 401 `{"error": "invalid_client"}`. The API answers 401 `{"error": "invalid_token"}` once a token is
 * past its life, which the server counts in requests (`usesPerToken`) so the test needs no clock.
 */
function oauthApi(usesPerToken: number) {
  let issued = 0;
  const uses = new Map<string, number>();
  const tokenRequests: URLSearchParams[] = [];
  const handler = (ctx: Ctx) => {
    if (ctx.path === '/oauth/token' && ctx.method === 'POST') {
      const form = new URLSearchParams(ctx.body);
      tokenRequests.push(form);
      if (
        form.get('grant_type') !== 'client_credentials' ||
        form.get('client_secret') !== 'shh-client-secret'
      )
        return ctx.json(401, { error: 'invalid_client' });
      const token = `tok_${++issued}_abcdef`;
      uses.set(token, 0);
      return ctx.json(200, { access_token: token, token_type: 'Bearer', expires_in: 3600 });
    }
    const token = /^Bearer (.+)$/.exec(ctx.headers.authorization ?? '')?.[1];
    const used = token === undefined ? undefined : uses.get(token);
    if (used === undefined || used >= usesPerToken) return ctx.json(401, { error: 'invalid_token' });
    uses.set(token!, used + 1);
    const page = Number(ctx.query.get('page') ?? 1);
    ctx.json(200, {
      data: page > 5 ? [] : [{ id: page, token_no: Number(token!.split('_')[1]) }],
      total_pages: 5,
    });
  };
  return { handler, tokenRequests, issued: () => issued };
}

describe('OAuth2 client credentials', () => {
  const cfg = (url: string, secret = 'shh-client-secret'): RestApiConfigInput => ({
    client: {
      base_url: url,
      auth: {
        type: 'oauth2_client_credentials',
        access_token_url: `${url}/oauth/token`,
        client_id: 'ferry',
        client_secret: secret,
        access_token_request_data: { scope: 'read' },
      },
      paginator: { type: 'page_number', base_page: 1, total_path: 'total_pages' },
    },
    resources: ['reports'],
  });
  it('gets a token, and a new one each time the API says the token expired', async () => {
    const api = oauthApi(2);
    const s = await serve(api.handler);
    const rows = await collect(restApiSource(cfg(s.url), quiet));
    expect(rows['reports']!.map((r) => [r['id'], r['token_no']])).toEqual([
      [1, 1],
      [2, 1],
      [3, 2],
      [4, 2],
      [5, 3],
    ]);
    expect(api.issued()).toBe(3);
    expect(api.tokenRequests[0]!.get('scope')).toBe('read');
    expect(api.tokenRequests[0]!.get('client_id')).toBe('ferry');
  });
  it('refreshes before expires_in runs out (clock injected)', async () => {
    let now = 1_000_000;
    let n = 0;
    const auth = new OAuth2ClientCredentials(
      {
        type: 'oauth2_client_credentials',
        access_token_url: 'http://auth.test/token',
        client_id: 'a',
        client_secret: 'bbbb',
      },
      new Redactor(),
      () => now,
    );
    const fetchToken = async () => ({ status: 200, body: { access_token: `t${++n}xxxx`, expires_in: 100 } });
    const h = new Headers();
    await auth.apply(h, {}, fetchToken);
    expect(h.get('authorization')).toBe('Bearer t1xxxx');
    now += 89_000; // 10% (10 s) early refresh margin not reached
    await auth.apply(h, {}, fetchToken);
    expect(h.get('authorization')).toBe('Bearer t1xxxx');
    now += 2_000;
    await auth.apply(h, {}, fetchToken);
    expect(h.get('authorization')).toBe('Bearer t2xxxx');
  });
  it('a refused client secret is a RestApiAuthError without the secret', async () => {
    const api = oauthApi(2);
    const s = await serve(api.handler);
    const err = await rejection(collect(restApiSource(cfg(s.url, 'wrong-secret-value'), quiet)));
    expect(err).toBeInstanceOf(RestApiAuthError);
    expect(err.message).toContain(
      `OAuth2 token request to ${s.url}/oauth/token failed with HTTP 401 (invalid_client)`,
    );
    expect(err.message).not.toContain('wrong-secret-value');
  });
});

describe('429, retries, timeouts', () => {
  function flaky(failures: { status: number; headers?: Record<string, string> }[]) {
    let calls = 0;
    return (ctx: Ctx) => {
      const f = failures[calls++];
      if (f) return ctx.json(f.status, { message: 'slow down' }, f.headers ?? {});
      ctx.json(200, [{ id: 1 }]);
    };
  }
  it('429 with Retry-After waits what the server says (seconds and HTTP date)', async () => {
    const date = new Date(Date.now() + 3_000).toUTCString();
    const s = await serve(
      flaky([
        { status: 429, headers: { 'retry-after': '2' } },
        { status: 429, headers: { 'retry-after': date } },
      ]),
    );
    const waits: number[] = [];
    const events: RestRequestEvent[] = [];
    const rows = await collect(
      restApiSource(
        { client: { base_url: s.url, paginator: 'single_page' }, resources: ['x'] },
        { ...noSleep(waits), onRequest: (e) => events.push(e) },
      ),
    );
    expect(rows['x']).toEqual([{ id: 1 }]);
    expect(waits[0]).toBe(2000);
    expect(waits[1]).toBeGreaterThan(1000); // an HTTP date a few seconds ahead (second precision)
    expect(waits[1]).toBeLessThanOrEqual(3000);
    expect(events.map((e) => e.status)).toEqual([429, 429, 200]);
  });
  it('429 without Retry-After backs off exponentially from retry_backoff, capped by retry_max_delay', async () => {
    const s = await serve(flaky([{ status: 429 }, { status: 503 }, { status: 429 }]));
    const waits: number[] = [];
    await collect(
      restApiSource(
        {
          client: { base_url: s.url, paginator: 'single_page', retry_backoff: 0.1, retry_max_delay: 0.25 },
          resources: ['x'],
        },
        noSleep(waits),
      ),
    );
    expect(waits).toHaveLength(3);
    expect(waits[0]).toBeGreaterThanOrEqual(50);
    expect(waits[0]).toBeLessThanOrEqual(150);
    expect(waits[1]).toBeGreaterThanOrEqual(100);
    expect(waits[1]).toBeLessThanOrEqual(250);
    expect(waits[2]).toBeLessThanOrEqual(250);
  });
  it('gives up after max_retries with the status and attempts; a 400 is not retried', async () => {
    const s = await serve((ctx) =>
      ctx.path === '/bad'
        ? ctx.json(400, { message: 'bad filter' })
        : ctx.json(429, { message: 'rate limited' }),
    );
    const waits: number[] = [];
    const err = await rejection(
      collect(
        restApiSource({ client: { base_url: s.url, max_retries: 2 }, resources: ['x'] }, noSleep(waits)),
      ),
    );
    expect(err).toBeInstanceOf(RestApiError);
    expect((err as RestApiError).status).toBe(429);
    expect(err.message).toContain(`resource 'x': GET ${s.url}/x answered HTTP 429 after 3 attempts`);
    expect(waits).toHaveLength(2);
    const bad = await rejection(
      collect(restApiSource({ client: { base_url: s.url, max_retries: 2 }, resources: ['bad'] }, noSleep())),
    );
    expect(bad.message).toContain('answered HTTP 400: {"message":"bad filter"}');
    expect(s.requests.filter((r) => r.path === '/bad')).toHaveLength(1);
  });
  it('a hung request times out per attempt and is retried', async () => {
    const s = await serve(() => new Promise<void>(() => {})); // never answers
    const err = await rejection(
      collect(
        restApiSource(
          { client: { base_url: s.url, timeout: 0.2, max_retries: 1 }, resources: ['slow'] },
          noSleep(),
        ),
      ),
    );
    expect(err.message).toContain(
      `resource 'slow': GET ${s.url}/slow timed out after 200 ms (after 2 attempts)`,
    );
    expect(s.requests).toHaveLength(2);
  });
  it('request_budget is shared by all concurrent requests of the source', async () => {
    const s = await serve((ctx) => {
      if (ctx.path === '/parents')
        return ctx.json(
          200,
          Array.from({ length: 6 }, (_, i) => ({ id: i })),
        );
      ctx.json(200, [{ n: 1 }]);
    });
    const t0 = Date.now();
    await collect(
      restApiSource(
        {
          client: {
            base_url: s.url,
            paginator: 'single_page',
            request_budget: { requests: 4, per: 'second' },
          },
          resources: ['parents', { name: 'kids', endpoint: 'parents/{resources.parents.id}/kids' }],
        },
        quiet,
      ),
    );
    // 7 requests at 4 per second: the last three wait for the second window
    expect(Date.now() - t0).toBeGreaterThanOrEqual(950);
    expect(s.requests).toHaveLength(7);
  });
});

describe('parent-child, response actions, processing steps', () => {
  it('children of a page run concurrently, at most parent_concurrency at once', async () => {
    let inFlight = 0;
    let peak = 0;
    const s = await serve(async (ctx) => {
      if (ctx.path === '/users')
        return ctx.json(
          200,
          Array.from({ length: 8 }, (_, i) => ({ id: i, login: `u${i}` })),
        );
      inFlight++;
      peak = Math.max(peak, inFlight);
      await new Promise((r) => setTimeout(r, 30));
      inFlight--;
      ctx.json(200, [{ repo: `${ctx.path}` }]);
    });
    const src = restApiSource(
      {
        client: { base_url: s.url, paginator: 'single_page' },
        parent_concurrency: 3,
        resources: [
          'users',
          { name: 'repos', endpoint: 'users/{resources.users.login}/repos', include_from_parent: ['id'] },
        ],
      },
      quiet,
    );
    // the engine's extractor runs transformers with the declared concurrency
    const kid = src.resources.find((r) => r.name === 'repos')!;
    expect(kid.transform!.concurrency).toBe(3);
    const rows = await collectConcurrent(src, 3);
    expect(rows).toHaveLength(8);
    expect(rows.map((r) => r['_users_id']).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    expect(peak).toBe(3);
  });
  it('response_actions ignore a 404 child; a missing parent field is a DataError naming it', async () => {
    const s = await serve((ctx) => {
      if (ctx.path === '/orders') return ctx.json(200, { data: [{ id: 1 }, { id: 2 }, { id: 3 }] });
      if (ctx.path === '/orders/2/items') return ctx.json(404, { error: 'order archived' });
      const m = /^\/orders\/(\d+)\/items$/.exec(ctx.path);
      if (m) return ctx.json(200, { data: [{ sku: `sku-${m[1]}` }] });
    });
    const base = (extra: object = {}): RestApiConfigInput => ({
      client: { base_url: s.url, paginator: 'single_page' },
      resources: [
        'orders',
        {
          name: 'items',
          endpoint: {
            path: 'orders/{resources.orders.id}/items',
            response_actions: [{ status_code: 404, action: 'ignore' }],
            ...extra,
          },
        },
      ],
    });
    const rows = await collect(restApiSource(base(), quiet));
    expect(rows['items']!.map((r) => r['sku'])).toEqual(['sku-1', 'sku-3']);
    const bad = restApiSource(
      {
        client: { base_url: s.url, paginator: 'single_page' },
        resources: ['orders', { name: 'items', endpoint: 'orders/{resources.orders.order_id}/items' }],
      },
      quiet,
    );
    const err = await rejection(collect(bad));
    expect(err).toBeInstanceOf(DataError);
    expect(err.message).toContain("resource 'items': its parent 'orders' row has no 'order_id'");
  });
  it('filter and map steps (JSONata) shape records; a parent filter also drops its children', async () => {
    const s = await serve((ctx) => {
      if (ctx.path === '/issues')
        return ctx.json(200, [
          { number: 1, state: 'open', title: 'a', labels: ['bug'] },
          { number: 2, state: 'closed', title: 'bb', labels: [] },
          { number: 3, state: 'open', title: 'ccc', labels: ['bug', 'ui'] },
        ]);
      return ctx.json(200, [{ body: ctx.path }]);
    });
    const rows = await collect(
      restApiSource(
        {
          client: { base_url: s.url, paginator: 'single_page' },
          resources: [
            {
              name: 'issues',
              processing_steps: [
                { filter: 'state = "open"' },
                { map: '$merge([$, {"title_len": $length(title), "is_bug": "bug" in labels}])' },
              ],
            },
            { name: 'comments', endpoint: 'issues/{resources.issues.number}/comments' },
          ],
        },
        quiet,
      ),
    );
    expect(rows['issues']!.map((r) => [r['number'], r['title_len'], r['is_bug']])).toEqual([
      [1, 1, true],
      [3, 3, true],
    ]);
    expect(rows['comments']!.map((r) => r['body'])).toEqual(['/issues/1/comments', '/issues/3/comments']);
  });
  it('expressions are data, not code: JavaScript is not reachable and a syntax error names the step', async () => {
    const s = await serve((ctx) => ctx.json(200, [{ id: 1 }]));
    const run = async (filter: string) =>
      collect(
        restApiSource(
          {
            client: { base_url: s.url, paginator: 'single_page' },
            resources: [{ name: 'x', processing_steps: [{ filter }] }],
          },
          quiet,
        ),
      );
    // there is no `process`, no constructor chain: the predicate is simply not true
    expect((await run('$exists(process.env) or $exists(constructor)'))['x']).toBeUndefined();
    const err = await rejection(run('id = = 1'));
    expect(err).toBeInstanceOf(ConfigError);
    expect(err.message).toContain(
      "resources.x.processing_steps[0].filter: 'id = = 1' is not a valid JSONata expression",
    );
  });
});

describe('config checks and redaction', () => {
  it('names the bad key: unknown keys, missing parents, placeholders without incremental', () => {
    expect(() =>
      restApiSource({ client: { base_url: 'http://a.test', bogus: 1 } as never, resources: ['x'] }),
    ).toThrow(/rest_api\.client: Unrecognized key: "bogus"/);
    expect(() =>
      restApiSource({
        client: { base_url: 'http://a.test' },
        resources: [{ name: 'c', endpoint: 'p/{resources.nope.id}' }],
      }),
    ).toThrow(
      "resources.c.endpoint.path: placeholder {resources.nope.id} names resource 'nope', which is not declared; resources: c",
    );
    expect(() =>
      restApiSource({
        client: { base_url: 'http://a.test' },
        resources: [{ name: 'c', endpoint: { path: 'p', params: { since: '{incremental.start_value}' } } }],
      }),
    ).toThrow(/params.since: \{incremental.start_value\} needs endpoint.incremental/);
    expect(() =>
      restApiSource({
        client: { base_url: 'http://a.test' },
        resources: [{ name: 'c', endpoint: 'p/{id}' }],
      }),
    ).toThrow(/unknown placeholder \{id\}/);
    expect(() =>
      restApiSource({
        client: { base_url: 'http://a.test' },
        resources: [{ name: 'c', write_disposition: 'merge' }],
      }),
    ).toThrow(/merge needs primary_key/);
  });
  it('resource_defaults params merge with the resource params key by key (a param named type too); paginator and auth replace', () => {
    const [r] = resolveResources(
      parseRestApiConfig({
        client: { base_url: 'http://api.test' },
        resource_defaults: {
          endpoint: {
            params: { per_page: 100, state: 'all' },
            paginator: { type: 'page_number', base_page: 1 },
          },
        },
        resources: [
          {
            name: 'repos',
            endpoint: { params: { type: 'public', state: 'open' }, paginator: 'header_link' },
          },
        ],
      }),
    );
    expect(r!.endpoint.params).toEqual({ per_page: 100, state: 'open', type: 'public' });
    expect(r!.endpoint.paginator).toBe('header_link');
  });
  it('an api_key in the query never appears in an error', async () => {
    const s = await serve((ctx) =>
      ctx.json(403, { message: `key ${ctx.query.get('api_key')} is not allowed` }),
    );
    const err = await rejection(
      collect(
        restApiSource(
          {
            client: {
              base_url: s.url,
              auth: { type: 'api_key', name: 'api_key', api_key: 'k-secret-777', location: 'query' },
            },
            resources: ['x'],
          },
          quiet,
        ),
      ),
    );
    expect(err.message).toContain(`${s.url}/x?api_key=***`);
    expect(err.message).toContain('key *** is not allowed');
    expect(JSON.stringify((err as RestApiError).context)).not.toContain('k-secret-777');
    expect(s.requests[0]!.query.get('api_key')).toBe('k-secret-777');
  });
});

/** Like `collect`, but children of one page run `limit` at a time, as the engine's extractor runs them. */
async function collectConcurrent(src: ReturnType<typeof restApiSource>, limit: number) {
  const parent = src.resources.find((r) => !r.transform)!;
  const kid = src.resources.find((r) => r.transform)!;
  const ctx = { incremental: undefined, state: {}, signal: new AbortController().signal };
  const out: Record<string, unknown>[] = [];
  for await (const page of parent.fn!(ctx) as AsyncIterable<Record<string, unknown>[]>) {
    let next = 0;
    const lane = async () => {
      while (next < page.length)
        for await (const b of kid.transform!.fn(page[next++]!, ctx) as AsyncIterable<
          Record<string, unknown>[]
        >)
          out.push(...b);
    };
    await Promise.all(Array.from({ length: limit }, lane));
  }
  return out;
}
