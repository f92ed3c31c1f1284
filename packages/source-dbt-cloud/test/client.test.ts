import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, FerryError } from '@ferry/core';
import {
  DbtCloudApiError,
  DbtCloudClient,
  type DbtCloudPageStats,
  type DbtCloudRequestEvent,
} from '@ferry/source-dbt-cloud';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';

describe('DbtCloudClient against the emulator', () => {
  let emu: DbtCloudEmulator;
  beforeAll(async () => {
    emu = await startEmulator({ runs: 430, inFlightRuns: 4, seed: 3 });
  });
  afterAll(() => emu.close());

  const client = (over: Partial<ConstructorParameters<typeof DbtCloudClient>[0]> = {}): DbtCloudClient =>
    new DbtCloudClient({
      baseUrl: emu.url,
      accountId: emu.accountId,
      apiToken: emu.token,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 200,
      rateLimitCooldownMs: 50,
      requestsPerMinute: 0,
      onWait: () => undefined,
      timeoutMs: 3_000,
      ...over,
    });

  it('needs a host or baseUrl: there is no getdbt.com default', () => {
    expect(() => new DbtCloudClient({ accountId: 1, apiToken: 't' })).toThrow(ConfigError);
    expect(() => new DbtCloudClient({ accountId: 1, apiToken: 't' })).toThrow(/deprecated on 2026-11-01/);
    expect(new DbtCloudClient({ host: 'ab123.us1.dbt.com', accountId: 1, apiToken: 't' }).rootUrl).toBe(
      'https://ab123.us1.dbt.com',
    );
    expect(
      new DbtCloudClient({ baseUrl: 'http://127.0.0.1:9/api/v2/', accountId: 1, apiToken: 't' }).url(
        'v3',
        'accounts/',
      ),
    ).toBe('http://127.0.0.1:9/api/v3/accounts/');
    expect(() => new DbtCloudClient({ host: 'x', accountId: 1, apiToken: 't', pageSize: 500 })).toThrow(
      /caps list pages at 100/,
    );
  });

  it('401 names the host and the cell-based access URL; the token is never in the error', async () => {
    const bad = 'dbtu_super_secret_token_value';
    const err = await client({ apiToken: bad })
      .getAccount()
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DbtCloudApiError);
    expect(err).toBeInstanceOf(FerryError);
    const e = err as DbtCloudApiError;
    expect(e.status).toBe(401);
    expect(e.code).toBe('DBT_CLOUD_UNAUTHORIZED');
    expect(e.message).toContain(new URL(emu.url).host);
    expect(e.message).toMatch(/cell-based account needs its own access URL/);
    expect(e.userMessage).toBe('Invalid token.');
    expect(JSON.stringify({ m: e.message, c: e.context, u: e.url })).not.toContain(bad);
    expect(emu.requests.filter('/accounts/', { status: 401 }).length).toBe(1); // no retry on 401
  });

  it('403 says the token is not scoped to the account; 404 says missing or no permission', async () => {
    const forbidden = await client({ accountId: 12345 })
      .getAccount()
      .catch((e: unknown) => e as DbtCloudApiError);
    expect(forbidden.status).toBe(403);
    expect(forbidden.message).toMatch(/not scoped to account 12345/);
    const missing = await client()
      .getRun(1)
      .catch((e: unknown) => e as DbtCloudApiError);
    expect(missing.status).toBe(404);
    expect(missing.message).toMatch(/does not exist, or the token has no permission/);
  });

  it('accepts Bearer as well as Token at the emulator (both auth schemes)', async () => {
    const res = await fetch(`${emu.url}/api/v2/accounts/${emu.accountId}/`, {
      headers: { Authorization: `bearer ${emu.token}` },
    });
    expect(res.status).toBe(200);
    const noAuth = await fetch(`${emu.url}/api/v2/accounts/${emu.accountId}/`);
    expect(noAuth.status).toBe(401);
  });

  it('pages concurrently after the first page, in order, with limit 100 and no duplicates', async () => {
    const stats: DbtCloudPageStats = { pages: 0, rows: 0, duplicates: 0, minConcurrency: 0 };
    emu.requests.reset();
    const ids: number[] = [];
    for await (const page of client().paginate(
      'v2',
      `accounts/${emu.accountId}/runs/`,
      { order_by: 'id' },
      {},
      stats,
    ))
      ids.push(...page.map((r) => Number(r['id'])));
    expect(ids).toEqual(emu.store.runs.map((r) => r.id));
    expect(stats.pages).toBe(5);
    const limits = emu.requests.filter('/runs/').map((r) => r.query.get('limit'));
    expect(new Set(limits)).toEqual(new Set(['100']));
  });

  it('honours Retry-After, treats Retry-After: 0 as no hint, retries 502/503 HTML, resets and HTML 200s', async () => {
    const events: DbtCloudRequestEvent[] = [];
    emu.faults
      .inject({ kind: 'status', status: 429, retryAfter: '0.2' }, { path: /\/jobs\/$/ })
      .inject({ kind: 'status', status: 429, retryAfter: '0' }, { path: /\/jobs\/$/ })
      .inject({ kind: 'status', status: 502 }, { path: /\/jobs\/$/ })
      .inject({ kind: 'status', status: 503 }, { path: /\/jobs\/$/ })
      .inject({ kind: 'reset' }, { path: /\/jobs\/$/ })
      .inject({ kind: 'html200' }, { path: /\/jobs\/$/ });
    const jobs = await client({ onRequest: (e) => events.push(e), maxRetries: 6 }).list(
      'v2',
      `accounts/${emu.accountId}/jobs/`,
    );
    expect(jobs).toHaveLength(emu.store.jobs.length);
    const retries = events.filter((e) => e.retryInMs !== undefined);
    expect(retries.map((e) => e.status)).toEqual([429, 429, 502, 503, undefined, 200]);
    expect(retries[0]!.retryInMs).toBe(200); // the hint
    expect(retries[1]!.retryInMs).toBe(50); // Retry-After: 0 is no hint: a 429 then waits the rate-limit cooldown
    expect(retries[2]!.error).toMatch(/HTML/);
    expect(retries[4]!.error).toMatch(/network error/);
    expect(retries[5]!.error).toMatch(/not JSON/);
  });

  it('gives up after maxRetries with a typed error naming the URL', async () => {
    emu.faults.inject({ kind: 'status', status: 503 }, { times: 3, path: /\/users\/$/ });
    const err = (await client({ maxRetries: 2 })
      .list('v3', `accounts/${emu.accountId}/users/`)
      .catch((e: unknown) => e)) as DbtCloudApiError;
    expect(err).toBeInstanceOf(DbtCloudApiError);
    expect(err.code).toBe('DBT_CLOUD_RETRIES_EXHAUSTED');
    expect(err.status).toBe(503);
    expect(err.attempts).toBe(3);
    expect(err.message).toContain('/users/');
  });

  it('times out a slow response and retries it', async () => {
    emu.faults.inject({ kind: 'delay', ms: 400 }, { path: /\/connections\/$/ });
    const events: DbtCloudRequestEvent[] = [];
    const conns = await client({ timeoutMs: 150, onRequest: (e) => events.push(e) }).list(
      'v3',
      `accounts/${emu.accountId}/connections/`,
    );
    expect(conns).toHaveLength(emu.store.connections.length);
    expect(events[0]!.error).toMatch(/timed out after 150 ms/);
  });

  it('halves page concurrency on 429 and still returns every row once', async () => {
    const stats: DbtCloudPageStats = { pages: 0, rows: 0, duplicates: 0, minConcurrency: 0 };
    const rows: Record<string, unknown>[] = [];
    // Inject after the first page so the 429s land on the concurrent part.
    let first = true;
    for await (const page of client({ pageConcurrency: 4 }).paginate(
      'v2',
      `accounts/${emu.accountId}/runs/`,
      {},
      {},
      stats,
    )) {
      if (first) {
        emu.faults.inject({ kind: 'status', status: 429 }, { times: 2, path: /\/runs\/$/ });
        first = false;
      }
      rows.push(...page);
    }
    expect(rows).toHaveLength(emu.store.runs.length);
    expect(stats.minConcurrency).toBeLessThan(4);
  });

  it('dedupes rows repeated by offset drift (new runs at the head of -finished_at)', async () => {
    emu.faults.insertRunsMidPagination({ afterRequests: 1, count: 30 });
    const ids = await client({ pageConcurrency: 1 }).list('v2', `accounts/${emu.accountId}/runs/`, {
      order_by: '-finished_at',
    });
    expect(new Set(ids.map((r) => r['id'])).size).toBe(ids.length);
    // NULLS FIRST on -finished_at: runs in flight come first.
    expect(ids[0]!['finished_at']).toBeNull();
  });

  it('keeps ids past 2^53 exact as bigint', async () => {
    const big = '{"data":{"id":9007199254740993,"small":70403104191314}}';
    const fake: typeof fetch = async () =>
      new Response(big, { status: 200, headers: { 'content-type': 'application/json' } });
    const data = await new DbtCloudClient({
      baseUrl: 'http://127.0.0.1:1',
      accountId: 1,
      apiToken: 't',
      fetch: fake,
    }).getAccount();
    expect(data['id']).toBe(9007199254740993n);
    expect(data['small']).toBe(70403104191314);
  });

  it('downloads artifacts raw (no envelope), 404 → undefined, and sends Accept */*', async () => {
    const run = emu.store.runs.find((r) => emu.store.hasArtifacts(r))!;
    const c = client();
    const paths = await c.listRunArtifacts(run.id);
    expect(paths).toContain('run_results.json');
    emu.requests.reset();
    const doc = (await c.getRunArtifact(run.id, 'run_results.json')) as Record<string, unknown>;
    expect(Array.isArray(doc['results'])).toBe(true);
    const sql = await c.getRunArtifact(
      run.id,
      paths.find((p) => p.endsWith('.sql'))!,
    );
    expect(sql).toMatch(/^-- compiled/);
    expect(await c.getRunArtifact(run.id, 'sources.json')).toBeUndefined();
    expect(emu.requests.filter('/artifacts/').map((r) => r.accept)).toEqual(['*/*', '*/*', '*/*']);
  });
});
