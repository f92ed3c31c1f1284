/**
 * `source: type: rest_api` through the CLI (issue 19): the example team file validates and runs against
 * a local GitHub stand-in, `ferry validate` reports placeholder problems with their line, `ferry schema`
 * describes the source, a lying API ends in a non-zero exit naming the endpoint (issue 15, item 4), and
 * `ferry mcp` lists the REST resources with their paginators and probes the credentials.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { InMemoryTransport } from '@modelcontextprotocol/sdk/inMemory.js';
import { DuckDBInstance } from '@duckdb/node-api';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createFerryMcpServer, main, MCP_DEFAULTS } from '../src/index.ts';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const EXAMPLE = join(ROOT, 'examples', 'teams', 'rest-api-github.yaml');
const TOKEN = 'ghp_cli_test_token_5678';

function sink(): { write: (s: string) => boolean; text: () => string } {
  let buf = '';
  return {
    write: (s: string) => {
      buf += s;
      return true;
    },
    text: () => buf,
  };
}

async function ferry(args: string[], env: Record<string, string>, cwd: string) {
  const out = sink();
  const err = sink();
  const code = await main([...args, '--log-format', 'json'], { stdout: out, stderr: err, env, cwd });
  return { code, stdout: out.text(), stderr: err.text() };
}

/**
 * GitHub's conventions (docs.github.com/rest): `per_page`/`page`, `Link: <…>; rel="next"`, Bearer
 * token, 401 `Bad credentials`. Two repos in org `dlt-hub`, three issues, comments on one.
 */
function github(): (url: URL, auth: string | undefined) => { status: number; body: unknown; link?: string } {
  const repos = [
    { id: 1, name: 'ferry' },
    { id: 2, name: 'docs' },
  ];
  const issues: Record<string, { id: number; number: number; title: string; updated_at: string }[]> = {
    ferry: [
      { id: 11, number: 1, title: 'first', updated_at: '2026-01-02T00:00:00Z' },
      { id: 12, number: 2, title: 'second', updated_at: '2026-01-03T00:00:00Z' },
    ],
    docs: [{ id: 21, number: 1, title: 'docs', updated_at: '2026-01-04T00:00:00Z' }],
  };
  const page = <T>(url: URL, list: T[]) => {
    const per = Number(url.searchParams.get('per_page') ?? 30);
    const n = Number(url.searchParams.get('page') ?? 1);
    const next = new URL(url);
    next.searchParams.set('page', String(n + 1));
    return {
      status: 200,
      body: list.slice((n - 1) * per, n * per),
      ...(n * per < list.length ? { link: `<${next.toString()}>; rel="next"` } : {}),
    };
  };
  return (url, auth) => {
    if (auth !== `Bearer ${TOKEN}`) return { status: 401, body: { message: 'Bad credentials' } };
    if (url.pathname === '/orgs/dlt-hub/repos') return page(url, repos);
    const m = /^\/repos\/dlt-hub\/([^/]+)\/issues(?:\/(\d+)\/comments)?$/.exec(url.pathname);
    if (m && m[2] === undefined) return page(url, issues[m[1]!] ?? []);
    if (m) return page(url, m[1] === 'ferry' && m[2] === '1' ? [{ id: 101, body: 'looks good' }] : []);
    return { status: 404, body: { message: 'Not Found' } };
  };
}

let server: Server;
let base: string;
let dir: string;
let hostile: 'object' | 'repeat' = 'object';
const seen: string[] = [];

beforeAll(async () => {
  const gh = github();
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
    seen.push(`${url.pathname}${url.search}`);
    if (url.pathname === '/hostile/items') {
      res.writeHead(200, { 'content-type': 'application/json' });
      const body =
        hostile === 'object'
          ? { data: { id: 1 }, total_count: 1 }
          : { data: Array.from({ length: 10 }, (_, i) => ({ id: i })), total_count: 1000 };
      return res.end(JSON.stringify(body));
    }
    const r = gh(url, req.headers.authorization);
    res.writeHead(r.status, { 'content-type': 'application/json', ...(r.link ? { link: r.link } : {}) });
    res.end(JSON.stringify(r.body));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  dir = await mkdtemp(join(tmpdir(), 'ferry-cli-rest-'));
  // main()'s cwd does not reach relative destination paths yet: make them absolute
  const example = await readFile(EXAMPLE, 'utf8');
  await writeFile(
    join(dir, 'github.yaml'),
    example.replace('path: ./github.duckdb', `path: ${join(dir, 'github.duckdb')}`),
  );
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

const env = () => ({ GITHUB_TOKEN: TOKEN, GITHUB_API_URL: base, FERRY_DATA_DIR: join(dir, '.ferry') });

describe('source type rest_api in a team file', () => {
  it('the example validates, and without GITHUB_TOKEN names the variable with its line', async () => {
    const ok = await ferry(['validate', 'github.yaml'], env(), dir);
    expect(ok.code, ok.stdout + ok.stderr).toBe(0);
    const missing = await ferry(['validate', 'github.yaml'], { GITHUB_API_URL: base }, dir);
    expect(missing.code).not.toBe(0);
    expect(missing.stdout).toContain(
      '"file":"github.yaml","line":16,"col":34,"path":"source.client.auth.token","message":"variable ${GITHUB_TOKEN} is not set',
    );
  });

  it('runs the example against the GitHub stand-in: repos feed issues feed comments, into DuckDB', async () => {
    const r = await ferry(['run', 'github.yaml'], env(), dir);
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const instance = await DuckDBInstance.create(join(dir, 'github.duckdb'));
    const conn = await instance.connect();
    const rows = async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjects();
    try {
      expect(
        await rows('select _repos_name as repo, number, title from github_data.issues order by id'),
      ).toEqual([
        { repo: 'ferry', number: 1n, title: 'first' },
        { repo: 'ferry', number: 2n, title: 'second' },
        { repo: 'docs', number: 1n, title: 'docs' },
      ]);
      expect(await rows('select body, _issues_id from github_data.issue_comments')).toEqual([
        { body: 'looks good', _issues_id: 11n },
      ]);
      // repos is selected: false: it feeds the issues but has no table
      expect(
        await rows("select table_name from information_schema.tables where table_name = 'repos'"),
      ).toEqual([]);
    } finally {
      conn.closeSync();
      instance.closeSync();
    }
    expect(seen).toContain(
      '/repos/dlt-hub/ferry/issues?per_page=100&state=all&sort=updated&direction=desc&since=2025-01-01T00%3A00%3A00Z',
    );
    expect(r.stdout + r.stderr).not.toContain(TOKEN);
  });

  it('validate reports a placeholder naming a resource that does not exist, with file, line and path', async () => {
    const text = (await readFile(join(dir, 'github.yaml'), 'utf8')).replace(
      '{resources.issues.number}',
      '{resources.tickets.number}',
    );
    await writeFile(join(dir, 'bad.yaml'), text);
    const r = await ferry(['validate', 'bad.yaml'], env(), dir);
    expect(r.code).not.toBe(0);
    const out = r.stdout + r.stderr;
    expect(out).toContain('"file":"bad.yaml","line":45,"col":15,"path":"source.resources[2].endpoint.path"');
    expect(out).toContain(
      "placeholder {resources.tickets.number} names resource 'tickets', which is not declared",
    );
  });

  it('ferry schema describes source type rest_api (dlt keys: client, resource_defaults, resources)', async () => {
    const r = await ferry(['schema'], {}, dir);
    const schema = JSON.parse(r.stdout) as Record<string, any>;
    const text = JSON.stringify(schema);
    expect(text).toContain('"const":"rest_api"');
    for (const key of [
      'resource_defaults',
      'data_selector',
      'include_from_parent',
      'oauth2_client_credentials',
    ])
      expect(text).toContain(key);
  });

  it('a lying API exits non-zero with a message naming the resource and the URL (issue 15, item 4)', async () => {
    const team = (paginator: string) =>
      `pipeline: { name: hostile }\nsource:\n  type: rest_api\n  client: { base_url: "${base}/hostile", paginator: ${paginator} }\n  resources: [{ name: items, endpoint: { data_selector: data } }]\ndestination: { type: duckdb, path: ${join(dir, 'hostile.duckdb')} }\n`;
    await writeFile(join(dir, 'hostile.yaml'), team('{ type: offset, limit: 10, total_path: total_count }'));
    hostile = 'object';
    const obj = await ferry(['run', 'hostile.yaml'], { FERRY_DATA_DIR: join(dir, '.ferry') }, dir);
    expect(obj.code).not.toBe(0);
    expect(obj.stdout + obj.stderr).toContain(
      `resource 'items': ${base}/hostile/items?offset=0&limit=10: the data at 'data' is an object, not a list of records`,
    );
    hostile = 'repeat';
    const rep = await ferry(['run', 'hostile.yaml'], { FERRY_DATA_DIR: join(dir, '.ferry') }, dir);
    expect(rep.code).not.toBe(0);
    expect(rep.stdout + rep.stderr).toContain(
      `resource 'items': ${base}/hostile/items?offset=10&limit=10 returned only records already read on earlier pages`,
    );
  });
});

describe('ferry mcp with a rest_api team file', () => {
  it('list_source_resources gives endpoints, paginators and parents; check_credentials probes the API', async () => {
    const server = createFerryMcpServer({ ...MCP_DEFAULTS, root: dir, env: env(), log: () => {} });
    const [a, b] = InMemoryTransport.createLinkedPair();
    const client = new Client({ name: 'rest-test', version: '1.0.0' });
    await Promise.all([server.connect(a), client.connect(b)]);
    try {
      const res = (
        await client.callTool({ name: 'list_source_resources', arguments: { pipeline: 'github.yaml' } })
      ).structuredContent as { resources: Record<string, unknown>[] };
      expect(
        res.resources.map((r) => [
          r['name'],
          r['endpoint'],
          r['paginator'],
          r['parent'] ?? null,
          r['selected'],
        ]),
      ).toEqual([
        ['repos', 'GET orgs/dlt-hub/repos', 'header_link', null, false],
        ['issues', 'GET repos/dlt-hub/{resources.repos.name}/issues', 'header_link', 'repos', true],
        [
          'issue_comments',
          'GET repos/dlt-hub/{resources.issues._repos_name}/issues/{resources.issues.number}/comments',
          'header_link',
          'issues',
          true,
        ],
      ]);
      const creds = (
        await client.callTool({ name: 'check_credentials', arguments: { pipeline: 'github.yaml' } })
      ).structuredContent as { checks: Record<string, unknown>[] };
      expect(creds.checks[0]).toMatchObject({
        target: 'source',
        status: 'ok',
        check: "GET orgs/dlt-hub/repos (first page of 'repos')",
      });
      const wrong = createFerryMcpServer({
        ...MCP_DEFAULTS,
        root: dir,
        env: { ...env(), GITHUB_TOKEN: 'ghp_wrong_0000' },
        log: () => {},
      });
      const [c, d] = InMemoryTransport.createLinkedPair();
      const client2 = new Client({ name: 'rest-test-2', version: '1.0.0' });
      await Promise.all([wrong.connect(c), client2.connect(d)]);
      const bad = await client2.callTool({
        name: 'check_credentials',
        arguments: { pipeline: 'github.yaml' },
      });
      const check = (bad.structuredContent as { checks: Record<string, unknown>[] }).checks[0]!;
      expect(check['status']).toBe('failed');
      expect(String(check['message'])).toContain('HTTP 401');
      expect(JSON.stringify(bad)).not.toContain('ghp_wrong_0000');
      await client2.close();
    } finally {
      await client.close();
    }
  });
});

/** The ```yaml dlt-example=<name> blocks of docs/rest-api-source.md, by name. */
async function docExamples(): Promise<Record<string, string>> {
  const md = await readFile(join(ROOT, 'docs', 'rest-api-source.md'), 'utf8');
  const out: Record<string, string> = {};
  for (const m of md.matchAll(/```yaml dlt-example=([\w-]+)\n([\s\S]*?)```/g)) out[m[1]!] = m[2]!;
  return out;
}

/** PokéAPI's list envelope (pokeapi.co/docs/v2#resource-listsection): `{count, next, previous, results}`, offset/limit. */
function pokeapi(url: URL): { status: number; body: unknown } {
  const lists: Record<string, number> = { pokemon: 45, berry: 3, location: 2 };
  const m = /^\/pokeapi\/api\/v2\/(\w+)\/?(?:([\w-]+)\/?)?$/.exec(url.pathname);
  if (!m || lists[m[1]!] === undefined) return { status: 404, body: 'Not Found' };
  const kind = m[1]!;
  const name = (i: number) => `${kind}-${i + 1}`;
  if (m[2] !== undefined) {
    const i = Number(m[2].split('-').pop()) - 1;
    return {
      status: 200,
      body: {
        id: i + 1,
        name: m[2],
        height: 3 + i,
        types: [{ slot: 1, type: { name: i % 2 ? 'fire' : 'grass' } }],
      },
    };
  }
  const count = lists[kind]!;
  // the real API serves any limit; the stand-in caps it at 20 so that paging happens
  const limit = Math.min(20, Number(url.searchParams.get('limit') ?? 20));
  const offset = Number(url.searchParams.get('offset') ?? 0);
  const next = new URL(url);
  next.searchParams.set('offset', String(offset + limit));
  next.searchParams.set('limit', String(limit));
  return {
    status: 200,
    body: {
      count,
      next: offset + limit < count ? next.toString() : null,
      previous: null,
      results: Array.from({ length: Math.max(0, Math.min(limit, count - offset)) }, (_, j) => ({
        name: name(offset + j),
        url: `${url.origin}/pokeapi/api/v2/${kind}/${name(offset + j)}/`,
      })),
    },
  };
}

describe("three configs from dlt's rest_api documentation, ported to Ferry YAML (docs/rest-api-source.md)", () => {
  let poke: Server;
  let pokeBase: string;
  beforeAll(async () => {
    poke = createServer((req, res) => {
      const url = new URL(req.url ?? '/', `http://${req.headers.host}`);
      if (url.pathname.startsWith('/repos/dlt-hub/dlt/')) {
        // GitHub, for the issues example: the dlt repo's issues and comments
        const r = github()(
          new URL(url.toString().replace('/repos/dlt-hub/dlt/', '/repos/dlt-hub/ferry/')),
          req.headers.authorization,
        );
        res.writeHead(r.status, { 'content-type': 'application/json', ...(r.link ? { link: r.link } : {}) });
        return res.end(JSON.stringify(r.body));
      }
      const r = pokeapi(url);
      res.writeHead(r.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r.body));
    });
    await new Promise<void>((resolve) => poke.listen(0, '127.0.0.1', resolve));
    pokeBase = `http://127.0.0.1:${(poke.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    poke.closeAllConnections();
    await new Promise((resolve) => poke.close(resolve));
  });

  async function runExample(name: string, baseUrl: string) {
    const block = (await docExamples())[name];
    expect(block, `docs block ${name}`).toBeDefined();
    const source = block!
      .replace(/base_url: \S+/, `base_url: ${baseUrl}`)
      .trimEnd()
      .replace(/^/gm, '  ');
    const db = join(dir, `dlt-${name}.duckdb`);
    await writeFile(
      join(dir, `dlt-${name}.yaml`),
      `pipeline: { name: ${name}, dataset: ${name.replace('-', '_')}_data }\nsource:\n${source}\ndestination: { type: duckdb, path: ${db} }\n`,
    );
    // the source logs its guesses to the process's stderr (SourceType.create gets no logger yet)
    const logged: string[] = [];
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => {
      logged.push(String(chunk));
      return true;
    });
    const r = await ferry(
      ['run', `dlt-${name}.yaml`],
      { GITHUB_TOKEN: TOKEN, FERRY_DATA_DIR: join(dir, '.ferry') },
      dir,
    );
    spy.mockRestore();
    expect(r.code, r.stdout + r.stderr).toBe(0);
    const instance = await DuckDBInstance.create(db);
    const conn = await instance.connect();
    return {
      stderr: logged.join(''),
      rows: async (sql: string) => (await conn.runAndReadAll(sql)).getRowObjects(),
      close: () => {
        conn.closeSync();
        instance.closeSync();
      },
    };
  }

  it('pokemon quick start: auto paging follows next, auto data selection picks results', async () => {
    const x = await runExample('pokemon', `${pokeBase}/pokeapi/api/v2/`);
    try {
      const counts = await x.rows(
        'select (select count(*) from pokemon_data.pokemon) p, (select count(*) from pokemon_data.berry) b, (select count(*) from pokemon_data.location) l',
      );
      expect(counts).toEqual([{ p: 45n, b: 3n, l: 2n }]);
      expect(x.stderr).toContain(
        "resource 'pokemon': paginator not set; using json_link (next_url_path=next)",
      );
      expect(x.stderr).toContain("resource 'pokemon': data_selector not set; using 'results'");
    } finally {
      x.close();
    }
  });

  it('github issues with the legacy incremental param, and comments per issue', async () => {
    const x = await runExample('github', `${pokeBase}/repos/dlt-hub/dlt/`);
    try {
      expect(await x.rows('select number, title from github_data.issues order by id')).toEqual([
        { number: 1n, title: 'first' },
        { number: 2n, title: 'second' },
      ]);
      expect(await x.rows('select body, _issues_id from github_data.issue_comments')).toEqual([
        { body: 'looks good', _issues_id: 11n },
      ]);
    } finally {
      x.close();
    }
  });

  it('pokemon details: one object per list row, nested types in a child table as dlt does', async () => {
    const x = await runExample('pokemon-details', `${pokeBase}/pokeapi/api/v2/`);
    try {
      expect(await x.rows('select count(*) n, max(height) h from pokemon_details_data.pokemon')).toEqual([
        { n: 45n, h: 47n },
      ]);
      expect(
        await x.rows("select count(*) n from pokemon_details_data.pokemon__types where type__name = 'fire'"),
      ).toEqual([{ n: 22n }]);
      expect(
        await x.rows("select _pokemon_list_url u from pokemon_details_data.pokemon where name = 'pokemon-1'"),
      ).toEqual([{ u: `${pokeBase}/pokeapi/api/v2/pokemon/pokemon-1/` }]);
    } finally {
      x.close();
    }
  });
});
