import { startServer, type Ctx, type TestServer } from './http.ts';

/**
 * A stand-in for GitHub's REST API (docs.github.com/en/rest), imitating what the REST source relies on:
 * - `Authorization: Bearer <token>`, else 401 `{"message": "Bad credentials"}`;
 * - page-number paging with `per_page` (default 30, max 100) and `page`, announced in an RFC 8288
 *   `Link` header with `rel="next"`, `rel="last"` (and `prev`, `first` past page 1), absolute URLs;
 * - `GET /orgs/{org}/repos`, `GET /repos/{owner}/{repo}/issues` (`state`, `since` = updated at or after,
 *   `sort=updated`, `direction`), `GET /repos/{owner}/{repo}/issues/{number}/comments`;
 * - 404 `{"message": "Not Found", "documentation_url": …}` for an unknown repo or issue.
 * Not imitated: rate-limit headers, ETags, pull requests mixed into issues.
 */
export interface GitHubIssue {
  id: number;
  number: number;
  title: string;
  state: 'open' | 'closed';
  updated_at: string;
  user: { login: string; id: number };
  labels: { id: number; name: string }[];
  comments: number;
}

export interface GitHubStore {
  repos: { id: number; name: string; full_name: string; private: boolean; missing?: boolean }[];
  issues: Map<string, GitHubIssue[]>;
  comments: Map<string, { id: number; body: string; user: { login: string } }[]>;
}

export function makeGitHubStore(): GitHubStore {
  const repos = ['ferry', 'docs', 'infra', 'ghost'].map((name, i) => ({
    id: 1000 + i,
    name,
    full_name: `acme/${name}`,
    private: i === 2,
    ...(name === 'ghost' ? { missing: true } : {}),
  }));
  const issues = new Map<string, GitHubIssue[]>();
  const comments = new Map<string, { id: number; body: string; user: { login: string } }[]>();
  let id = 5000;
  let cid = 9000;
  for (const [r, n] of [
    ['ferry', 5],
    ['docs', 3],
    ['infra', 0],
  ] as const) {
    const list: GitHubIssue[] = [];
    for (let k = 1; k <= n; k++) {
      const c = (k * 2) % 3; // 2, 1, 0, 2, 1 comments
      list.push({
        id: id++,
        number: k,
        title: `${r} issue ${k}`,
        state: k % 2 ? 'open' : 'closed',
        updated_at: `2026-01-0${k}T10:00:00Z`,
        user: { login: `dev${k}`, id: 70 + k },
        labels:
          k === 1
            ? [
                { id: 1, name: 'bug' },
                { id: 2, name: 'p1' },
              ]
            : [],
        comments: c,
      });
      comments.set(
        `${r}#${k}`,
        Array.from({ length: c }, (_, j) => ({
          id: cid++,
          body: `comment ${j + 1} on ${r}#${k}`,
          user: { login: 'bot' },
        })),
      );
    }
    issues.set(r, list);
  }
  return { repos, issues, comments };
}

function page<T>(ctx: Ctx, base: string, items: T[]): void {
  const perPage = Math.min(100, Number(ctx.query.get('per_page') ?? 30));
  const pageNo = Math.max(1, Number(ctx.query.get('page') ?? 1));
  const last = Math.max(1, Math.ceil(items.length / perPage));
  const link = (p: number) => {
    const u = new URL(ctx.url.pathname, base);
    for (const [k, v] of ctx.query) u.searchParams.set(k, v);
    u.searchParams.set('page', String(p));
    return `<${u.toString()}>`;
  };
  const links: string[] = [];
  if (pageNo > 1) links.push(`${link(pageNo - 1)}; rel="prev"`, `${link(1)}; rel="first"`);
  if (pageNo < last) links.push(`${link(pageNo + 1)}; rel="next"`, `${link(last)}; rel="last"`);
  ctx.json(
    200,
    items.slice((pageNo - 1) * perPage, pageNo * perPage),
    links.length ? { link: links.join(', ') } : {},
  );
}

export async function startGitHub(store: GitHubStore, token: string): Promise<TestServer> {
  const server: TestServer = await startServer((ctx) => {
    if (ctx.headers.authorization !== `Bearer ${token}`) return ctx.json(401, { message: 'Bad credentials' });
    const notFound = () =>
      ctx.json(404, {
        message: 'Not Found',
        documentation_url: 'https://docs.github.com/rest',
        status: '404',
      });
    let m = /^\/orgs\/acme\/repos$/.exec(ctx.path);
    if (m)
      return page(
        ctx,
        server.url,
        store.repos.map(({ missing: _m, ...r }) => r),
      );
    m = /^\/repos\/acme\/([^/]+)\/issues$/.exec(ctx.path);
    if (m) {
      const list = store.issues.get(decodeURIComponent(m[1]!));
      if (!list) return notFound();
      const state = ctx.query.get('state') ?? 'open';
      const since = ctx.query.get('since');
      let out = list.filter((i) => state === 'all' || i.state === state);
      if (since) out = out.filter((i) => i.updated_at >= since);
      if (ctx.query.get('sort') === 'updated')
        out = [...out].sort(
          (a, b) =>
            (ctx.query.get('direction') === 'asc' ? 1 : -1) * a.updated_at.localeCompare(b.updated_at),
        );
      return page(ctx, server.url, out);
    }
    m = /^\/repos\/acme\/([^/]+)\/issues\/(\d+)\/comments$/.exec(ctx.path);
    if (m) {
      const list = store.comments.get(`${decodeURIComponent(m[1]!)}#${m[2]}`);
      return list ? page(ctx, server.url, list) : notFound();
    }
    return notFound();
  });
  return server;
}
