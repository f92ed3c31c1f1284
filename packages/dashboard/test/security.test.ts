import { readFile } from 'node:fs/promises';
import { request } from 'node:http';
import { connect } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startDashboard } from '@ferry/dashboard';
import { API_TOKEN, buildDemo, DEST_PASSWORD, XSS_JOB_NAME, type Demo } from './demo.ts';

let demo: Demo;
let port: number;
let rowCounts: Record<string, number>;

beforeAll(async () => {
  demo = await buildDemo();
  port = Number(new URL(demo.url).port);
  const ds = demo.pipeline.dataset();
  try {
    rowCounts = await ds.rowCounts();
  } finally {
    await ds.close();
  }
});

afterAll(async () => {
  await demo?.close();
});

interface RawResponse {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** A raw HTTP request (fetch cannot set Host, Origin or Sec-Fetch-Site freely). */
function raw(
  method: string,
  p: string,
  headers: Record<string, string> = {},
  body?: string,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method,
        path: p,
        // The token by default; a test passes `Authorization: ''` to send none.
        headers: Object.fromEntries(
          Object.entries({
            Host: `127.0.0.1:${port}`,
            Authorization: `Bearer ${demo.token}`,
            ...headers,
          }).filter(([, v]) => v !== ''),
        ),
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body: Buffer.concat(chunks).toString('utf8'),
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

const sql = (text: string, headers: Record<string, string> = {}) =>
  raw('POST', '/api/sql', { 'Content-Type': 'application/json', ...headers }, JSON.stringify({ sql: text }));

describe('binding', () => {
  it('listens on 127.0.0.1 only and refuses any other host option', async () => {
    expect(new URL(demo.url).hostname).toBe('127.0.0.1');
    await expect(startDashboard({ pipeline: demo.pipeline, host: '0.0.0.0' as '127.0.0.1' })).rejects.toThrow(
      /binds 127.0.0.1 only/,
    );
    await expect(
      startDashboard({ pipeline: demo.pipeline, host: 'localhost' as '127.0.0.1' }),
    ).rejects.toThrow(/binds 127.0.0.1 only/);
    await expect(startDashboard({ pipeline: demo.pipeline, port: 70_000 })).rejects.toThrow(/port must be/);
    // The IPv6 loopback is another interface: nothing answers there on this port.
    const v6 = await new Promise<string>((resolve) => {
      const s = connect({ host: '::1', port });
      s.on('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? 'error'));
    });
    expect(v6).not.toBe('connected');
  });

  it('refuses requests whose Host is not 127.0.0.1/localhost (DNS rebinding)', async () => {
    for (const host of [`evil.example:${port}`, `127.0.0.1.nip.io:${port}`, `127.0.0.1:${port + 1}`]) {
      const res = await raw('GET', '/api/overview', { Host: host });
      expect(res.status, host).toBe(421);
      expect(res.body).not.toMatch(/dbt_cloud/);
    }
    expect((await raw('GET', '/api/overview', { Host: `localhost:${port}` })).status).toBe(200);
  });

  it('refuses cross-site API requests and non-JSON posts', async () => {
    expect((await sql('select 1', { Origin: 'http://evil.example' })).status).toBe(403);
    expect((await raw('GET', '/api/overview', { 'Sec-Fetch-Site': 'cross-site' })).status).toBe(403);
    expect(
      (await raw('POST', '/api/sql', { 'Content-Type': 'text/plain' }, JSON.stringify({ sql: 'select 1' })))
        .status,
    ).toBe(415);
    expect(
      (await raw('POST', '/api/sql', { 'Content-Type': 'application/x-www-form-urlencoded' }, 'sql=select+1'))
        .status,
    ).toBe(415);
    expect((await raw('GET', '/api/sql')).status).toBe(405);
    expect(
      (await sql('select 1', { Origin: `http://127.0.0.1:${port}`, 'Sec-Fetch-Site': 'same-origin' })).status,
    ).toBe(200);
    const big = await raw(
      'POST',
      '/api/sql',
      { 'Content-Type': 'application/json' },
      JSON.stringify({ sql: `select '${'x'.repeat(70_000)}'` }),
    );
    expect(big.status).toBe(413);
  });
});

describe('access token', () => {
  const endpoints = ['/api/overview', '/api/schema', '/api/tables/runs', '/api/charts/dbt-runs', '/api/nope'];

  it('is a fresh 256-bit secret per start, carried by the printed URL', async () => {
    const u = new URL(demo.url);
    expect(u.pathname).toBe('/');
    expect(u.searchParams.get('token')).toBe(demo.token);
    expect(demo.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const other = await startDashboard({ pipeline: demo.pipeline });
    try {
      expect(other.token).toMatch(/^[A-Za-z0-9_-]{43}$/);
      expect(other.token).not.toBe(demo.token);
      expect(other.url).toBe(`${other.origin}/?token=${other.token}`);
      // The other start's token does not open this one.
      expect((await raw('GET', '/api/overview', { Authorization: `Bearer ${other.token}` })).status).toBe(
        403,
      );
    } finally {
      await other.close();
    }
  });

  it('every API call without the token gets 401 and no data', async () => {
    for (const p of endpoints) {
      const res = await raw('GET', p, { Authorization: '' });
      expect(res.status, p).toBe(401);
      expect(res.headers['www-authenticate'], p).toBe('Bearer realm="ferry-dashboard"');
      expect(JSON.parse(res.body).error, p).toMatch(/needs its access token: open the URL .*\?token=/);
      expect(res.body, p).not.toMatch(/dbt_cloud|runs__run_steps/);
    }
    const post = await sql('select 1 as x', { Authorization: '' });
    expect(post.status).toBe(401);
    // The token in the API URL's query string is not accepted (URLs end up in logs and history).
    expect((await raw('GET', `/api/overview?token=${demo.token}`, { Authorization: '' })).status).toBe(401);
  });

  it('a wrong token (any length, another scheme, a near miss) gets 403 and is never echoed', async () => {
    const nearMiss = `${demo.token.slice(0, -1)}${demo.token.endsWith('A') ? 'B' : 'A'}`;
    const wrong = [
      `Bearer ${nearMiss}`,
      `Bearer ${demo.token.slice(0, 10)}`, // shorter: a raw timingSafeEqual would throw on unequal lengths
      `Bearer ${demo.token}${demo.token}`,
      `Bearer ${'x'.repeat(8000)}`,
      `Bearer ${demo.token.toLowerCase() === demo.token ? demo.token.toUpperCase() : demo.token.toLowerCase()}`,
      `Basic ${Buffer.from(`user:${demo.token}`).toString('base64')}`,
      `Bearer`,
      `Bearer ${demo.token} extra`,
    ];
    for (const header of wrong) {
      for (const p of endpoints) {
        const res = await raw('GET', p, { Authorization: header });
        expect(res.status, `${header.slice(0, 30)} ${p}`).toBe(403);
        expect(JSON.parse(res.body).error).toMatch(/wrong dashboard token/);
        expect(res.body).not.toContain(header.split(' ')[1]?.slice(0, 10) ?? '@@');
        expect(res.body).not.toContain(demo.token);
      }
      expect((await sql('select 1 as x', { Authorization: header })).status).toBe(403);
    }
    // The right one, in either case of the scheme name.
    expect((await raw('GET', '/api/overview', { Authorization: `bearer ${demo.token}` })).status).toBe(200);
  });

  it('is never written to stdout or stderr, whatever the requests (right, wrong, missing token, errors)', async () => {
    const written: string[] = [];
    const out = process.stdout.write.bind(process.stdout);
    const err = process.stderr.write.bind(process.stderr);
    const capture =
      (orig: typeof out) =>
      (chunk: unknown, ...rest: unknown[]): boolean => {
        written.push(String(chunk));
        return (orig as (c: unknown, ...r: unknown[]) => boolean)(chunk, ...rest);
      };
    process.stdout.write = capture(out) as typeof process.stdout.write;
    process.stderr.write = capture(err) as typeof process.stderr.write;
    try {
      await raw('GET', '/api/overview');
      await raw('GET', '/api/overview', { Authorization: '' });
      await raw('GET', '/api/overview', { Authorization: 'Bearer nope' });
      await sql('select * from dbt_cloud.no_such_table');
      await sql('drop table dbt_cloud.runs');
      await raw('GET', '/api/tables/%E0%A4%A');
    } finally {
      process.stdout.write = out;
      process.stderr.write = err;
    }
    expect(written.join('')).not.toContain(demo.token);
  });

  it('the page and its scripts load without it (they hold no data); the page sends it on every call', async () => {
    for (const p of ['/', '/app.js', '/app.css', '/vendor/chart.umd.js'])
      expect((await raw('GET', p, { Authorization: '' })).status, p).toBe(200);
    const script = await readFile(new URL('../static/app.js', import.meta.url), 'utf8');
    expect(script).toMatch(/Authorization = `Bearer \$\{token\}`/);
    expect(script).toMatch(/sessionStorage/);
    expect(script).toMatch(/history\.replaceState/);
    expect(script).not.toMatch(/document\.cookie/);
  });
});

describe('headers and static files', () => {
  it('sends CSP without inline script, nosniff and no-framing on every response', async () => {
    for (const p of [
      '/',
      '/app.js',
      '/app.css',
      '/vendor/chart.umd.js',
      '/api/overview',
      '/api/schema',
      '/api/tables/runs',
      '/api/charts/dbt-runs',
      '/nope',
      '/api/nope',
    ]) {
      const res = await raw('GET', p);
      const csp = String(res.headers['content-security-policy']);
      expect(csp, p).toMatch(/default-src 'self'/);
      expect(csp, p).toMatch(/script-src 'self'(;|$)/);
      expect(csp, p).not.toMatch(/unsafe-inline|unsafe-eval/);
      expect(res.headers['x-content-type-options'], p).toBe('nosniff');
      expect(res.headers['x-frame-options'], p).toBe('DENY');
    }
    expect((await raw('GET', '/api/overview')).headers['content-type']).toBe(
      'application/json; charset=utf-8',
    );
    expect((await raw('GET', '/vendor/chart.umd.js')).body).toMatch(/Chart\.js v4/);
  });

  it('serves only its own files (no path traversal)', async () => {
    for (const p of [
      '/../package.json',
      '/%2e%2e/package.json',
      '/static/../package.json',
      '/app.js/../../package.json',
      '/..%2fpackage.json',
      '/vendor/../../../package.json',
    ]) {
      const res = await raw('GET', p);
      expect(res.body, p).not.toMatch(/"name":\s*"@ferry/);
    }
  });

  it('the page script never builds markup from strings', async () => {
    const script = await readFile(new URL('../static/app.js', import.meta.url), 'utf8');
    const code = script.replace(/^\s*\/\/.*$/gm, '');
    expect(code).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/);
    const html = await readFile(new URL('../static/index.html', import.meta.url), 'utf8');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/); // no inline script
    expect(html).not.toMatch(/\son[a-z]+=/); // no inline handlers
    expect(html).not.toMatch(/https?:\/\//); // no CDN
  });
});

describe('secrets', () => {
  it('never serves the API token or the destination password, on any page or API answer', async () => {
    // Precondition: the secret is really there to leak (the trace keeps the destination's description).
    const trace = await readFile(path.join(demo.pipeline.workingDir, 'trace.json'), 'utf8');
    expect(trace).toContain(DEST_PASSWORD);
    const bodies: string[] = [];
    for (const p of [
      '/',
      '/app.js',
      '/app.css',
      '/api/overview',
      '/api/schema',
      '/api/charts/dbt-runs',
      '/api/tables/nope',
    ]) {
      const res = await raw('GET', p);
      bodies.push(res.body, JSON.stringify(res.headers));
    }
    for (const table of Object.keys(rowCounts)) {
      for (let offset = 0; offset < rowCounts[table]!; offset += 500)
        bodies.push(
          (await raw('GET', `/api/tables/${encodeURIComponent(table)}?offset=${offset}&limit=500`)).body,
        );
    }
    for (const t of ['_ferry_loads', '_ferry_pipeline_state', '_ferry_version'])
      bodies.push((await sql(`select * from dbt_cloud.${t}`)).body);
    bodies.push((await sql('select * from duckdb_settings()')).body);
    bodies.push((await sql('select * from dbt_cloud.no_such_table')).body);
    const all = bodies.join('\n');
    expect(all.length).toBeGreaterThan(100_000);
    expect(all).not.toContain(API_TOKEN);
    expect(all).not.toContain(DEST_PASSWORD);
    expect(all).not.toContain(demo.token);
  });
});

describe('SQL box', () => {
  const refused = [
    'drop table dbt_cloud.runs',
    'delete from dbt_cloud.runs',
    'insert into dbt_cloud.accounts (id) values (1)',
    "update dbt_cloud.jobs set name = 'x'",
    'create table dbt_cloud.t as select 1',
    'alter table dbt_cloud.runs add column x int',
    "copy dbt_cloud.runs to '/tmp/ferry-dashboard-leak.csv'",
    "attach '/tmp/ferry-dashboard-other.duckdb' as other",
    'select 1; select 2',
    'select 1; drop table dbt_cloud.runs',
    'with x as (select 1) delete from dbt_cloud.runs',
    'SET enable_external_access = true',
  ];

  it.each(refused)('refuses %s', async (text) => {
    const res = await sql(text);
    expect(res.status).toBe(400);
    const body = JSON.parse(res.body) as { error: string };
    expect(body.error).toMatch(/read-only|one statement/);
    expect(res.body).not.toMatch(/\s+at\s+\S+\.ts:\d+/);
  });

  it('cannot read local files through DuckDB, and the data is untouched', async () => {
    const res = await sql("select * from read_text('/etc/hostname')");
    expect(res.status).toBe(400);
    expect(JSON.parse(res.body).error).toMatch(/disabled|Permission/i);
    const ds = demo.pipeline.dataset();
    try {
      expect(await ds.rowCounts()).toEqual(rowCounts);
    } finally {
      await ds.close();
    }
  });
});

describe('escaping', () => {
  it('serves a hostile job name as JSON data, never as markup', async () => {
    const res = await raw('GET', '/api/tables/jobs');
    expect(res.headers['content-type']).toMatch(/^application\/json/);
    const page = JSON.parse(res.body) as { columns: { name: string }[]; rows: unknown[][] };
    const nameIdx = page.columns.findIndex((c) => c.name === 'name');
    expect(page.rows.map((r) => r[nameIdx])).toContain(XSS_JOB_NAME);
    const html = (await raw('GET', '/')).body;
    expect(html).not.toContain('<img');
  });
});
