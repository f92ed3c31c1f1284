import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { restApiSource, RestApiError, type RestApiConfigInput } from '@ferry/source-rest-api';
import { makeGitHubStore, startGitHub, type GitHubStore } from './support/github-server.ts';
import { duckPipeline, query, tempDir, type TestServer } from './support/http.ts';

const TOKEN = 'ghp_test_token_0123456789';

function config(url: string, token = TOKEN): RestApiConfigInput {
  return {
    name: 'github',
    client: { base_url: url, auth: { type: 'bearer', token }, paginator: 'header_link', max_retries: 0 },
    resource_defaults: {
      primary_key: 'id',
      write_disposition: 'merge',
      endpoint: { params: { per_page: 2 } },
    },
    resources: [
      { name: 'repos', endpoint: { path: 'orgs/acme/repos' } },
      {
        name: 'issues',
        endpoint: {
          path: 'repos/acme/{resources.repos.name}/issues',
          params: { state: 'all', sort: 'updated', direction: 'desc', since: '{incremental.start_value}' },
          incremental: { cursor_path: 'updated_at', initial_value: '2026-01-01T00:00:00Z' },
          // the org lists a repo whose issues are gone: skip it instead of failing the load
          response_actions: [{ status_code: 404, action: 'ignore' }],
        },
        include_from_parent: ['name'],
      },
      {
        name: 'issue_comments',
        endpoint: {
          path: 'repos/acme/{resources.issues._repos_name}/issues/{resources.issues.number}/comments',
        },
        include_from_parent: ['id'],
      },
    ],
  };
}

let store: GitHubStore;
let gh: TestServer;
let tmp: { dir: string; cleanup: () => Promise<void> };

beforeAll(async () => {
  store = makeGitHubStore();
  gh = await startGitHub(store, TOKEN);
  tmp = await tempDir('github');
});
afterAll(async () => {
  await gh.close();
  await tmp.cleanup();
});

describe('GitHub: repos → issues → comments through Link headers', () => {
  it('loads the chain into DuckDB, follows every rel="next", and the second run sends since = the last updated_at', async () => {
    const file = path.join(tmp.dir, 'gh.duckdb');
    const logs: string[] = [];
    const p = duckPipeline(file, path.join(tmp.dir, 'data'), 'github');
    await p.run(restApiSource(config(gh.url), { log: (m) => logs.push(m) }));

    expect(Number((await query(file, 'select count(*) n from github.repos'))[0]!['n'])).toBe(4);
    const issues = await query(
      file,
      'select _repos_name, number, title from github.issues order by _repos_name, number',
    );
    expect(issues.map((r) => `${r['_repos_name']}#${r['number']}`)).toEqual([
      'docs#1',
      'docs#2',
      'docs#3',
      'ferry#1',
      'ferry#2',
      'ferry#3',
      'ferry#4',
      'ferry#5',
    ]);
    // nested list → child table, as dlt does
    expect(
      (await query(file, 'select name from github.issues__labels order by name')).map((r) => r['name']),
    ).toEqual(['bug', 'bug', 'p1', 'p1']);
    const comments = await query(
      file,
      'select c.body, c._issues_id, i.number from github.issue_comments c join github.issues i on i.id = c._issues_id order by c.id',
    );
    const expected = [...store.comments.entries()].flatMap(([, list]) => list.map((c) => c.body));
    expect(comments.map((c) => c['body'])).toEqual(expected);
    expect(comments.length).toBe(9);

    // every request authenticated; every first page asked per_page=2; the Link header was followed to the end
    expect(gh.requests.every((r) => r.headers.authorization === `Bearer ${TOKEN}`)).toBe(true);
    const repoPages = gh.requests
      .filter((r) => r.path === '/orgs/acme/repos')
      .map((r) => r.query.get('page'));
    expect(repoPages).toEqual([null, '2']);
    const ferryIssuePages = gh.requests
      .filter((r) => r.path === '/repos/acme/ferry/issues')
      .map((r) => [r.query.get('page'), r.query.get('per_page')]);
    expect(ferryIssuePages).toEqual([
      [null, '2'],
      ['2', '2'],
      ['3', '2'],
    ]);
    expect(gh.requests.filter((r) => r.path === '/repos/acme/ghost/issues')).toHaveLength(1); // 404, ignored
    expect(gh.requests.find((r) => r.path === '/repos/acme/ferry/issues')!.query.get('since')).toBe(
      '2026-01-01T00:00:00Z',
    );
    expect(logs).toEqual([]); // the paginator is set and every response is a top-level list: nothing guessed
  });

  it('second run: since is the highest updated_at loaded; a changed issue merges on id', async () => {
    const file = path.join(tmp.dir, 'gh.duckdb');
    store.issues.get('docs')![1]!.title = 'docs issue 2 (edited)';
    store.issues.get('docs')![1]!.updated_at = '2026-01-09T10:00:00Z';
    gh.requests.length = 0;
    const p = duckPipeline(file, path.join(tmp.dir, 'data'), 'github');
    await p.run(restApiSource(config(gh.url), { log: () => {} }));
    const sinces = new Set(
      gh.requests.filter((r) => r.path.endsWith('/issues')).map((r) => r.query.get('since')),
    );
    expect([...sinces]).toEqual(['2026-01-05T10:00:00Z']);
    const rows = await query(
      file,
      "select title from github.issues where _repos_name = 'docs' and number = 2",
    );
    expect(rows).toEqual([{ title: 'docs issue 2 (edited)' }]);
    expect(Number((await query(file, 'select count(*) n from github.issues'))[0]!['n'])).toBe(8);
  });

  it('a wrong token fails with a RestApiError naming the resource, the URL and the status, without the token', async () => {
    const p = duckPipeline(path.join(tmp.dir, 'bad.duckdb'), path.join(tmp.dir, 'data-bad'), 'github');
    const err = await p
      .run(restApiSource(config(gh.url, 'ghp_wrong_secret_value'), { log: () => {} }))
      .catch((e: unknown) => e);
    let cause: unknown = err;
    while (cause && !(cause instanceof RestApiError)) cause = (cause as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(RestApiError);
    const e = cause as RestApiError;
    expect(e.resource).toBe('repos');
    expect(e.status).toBe(401);
    expect(e.message).toContain(`${gh.url}/orgs/acme/repos?per_page=2`);
    expect(e.message).toContain('Bad credentials');
    expect(JSON.stringify({ m: (err as Error).message, c: e.context })).not.toContain(
      'ghp_wrong_secret_value',
    );
  });
});
