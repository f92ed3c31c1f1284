/**
 * Issue 15, items 5 and 7, through `main()` in-process: a hostile dbt Cloud API (a server these tests
 * start on 127.0.0.1) and hostile team and secrets files, into a real DuckDB file.
 */
import { createServer, type Server } from 'node:http';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { MAX_PIPELINE_NAME_LENGTH } from '@ferry/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { main } from '../src/cli.ts';

/** Text sink that keeps what was written; `tty` makes it look like a terminal. */
function sink(tty = false): { write: (s: string) => boolean; text: () => string; isTTY?: boolean } {
  let buf = '';
  return {
    write: (s: string) => {
      buf += s;
      return true;
    },
    text: () => buf,
    ...(tty ? { isTTY: true } : {}),
  };
}

async function ferry(
  args: string[],
  env: Record<string, string>,
  cwd: string,
  options: { tty?: boolean } = {},
): Promise<{ code: number; stdout: string; stderr: string; all: string }> {
  const out = sink(options.tty);
  const err = sink(options.tty);
  const code = await main(args, { stdout: out, stderr: err, env, cwd });
  return { code, stdout: out.text(), stderr: err.text(), all: out.text() + err.text() };
}

/** ESC, BEL, CSI (C1) and carriage return: none may reach a terminal from outside. */
// eslint-disable-next-line no-control-regex -- looking for control characters is the point
const CONTROL = /[\u001b\u0007\u009b\r]/;

const TOKEN = 'dbtc_hostile_Token_42';
const ACCOUNT = '70403104191314';
/** A project name that clears the screen, sets the window title and writes over its own line. */
const EVIL_NAME = '\u001b[2J\u001b]0;pwned\u0007red\u001b[31m!\u001b[0m\rX';

/**
 * A dbt Cloud API with one resource: `projects` answers records with `constructor`, `toString` and
 * `hasOwnProperty` keys and an escape-laden name; with `mode` set
 * to `error` it answers 400 with a message holding escape sequences and the caller's own token.
 */
let mode: 'ok' | 'error' = 'ok';
let server: Server;
let baseUrl: string;
let dir: string;

beforeAll(async () => {
  server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname === '/rest/items') {
      // JSON text, so `__proto__` is an own key after JSON.parse (an object literal would set the prototype)
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(
        '[{"id":1,"__proto__":{"polluted":true},"constructor":"c1","toString":"t1"},' +
          '{"id":2,"__proto__":{"polluted":false},"constructor":"c2","toString":"t2"}]',
      );
      return;
    }
    if (!url.pathname.endsWith(`/accounts/${ACCOUNT}/projects/`)) {
      res.writeHead(404, { 'content-type': 'application/json' }).end('{"data":null}');
      return;
    }
    if (mode === 'error') {
      const message = `\u001b[2J\u001b]0;owned\u0007bad request for ${String(req.headers.authorization)}`;
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(
        JSON.stringify({ status: { code: 400, is_success: false, user_message: message }, data: null }),
      );
      return;
    }
    const offset = Number(url.searchParams.get('offset') ?? 0);
    const rows =
      offset > 0
        ? '[]'
        : `[{"id":1,"account_id":${ACCOUNT},"name":${JSON.stringify(EVIL_NAME)},"__proto__":{"polluted":"p1"},"constructor":"c1","toString":"t1","hasOwnProperty":1},` +
          `{"id":2,"account_id":${ACCOUNT},"name":"plain","constructor":"c2","toString":"t2","hasOwnProperty":2}]`;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(
      `{"status":{"code":200,"is_success":true},"data":${rows},"extra":{"pagination":{"count":2,"total_count":2}}}`,
    );
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  baseUrl = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}`;
  dir = await mkdtemp(join(tmpdir(), 'ferry-cli-hostile-'));
  await writeFile(join(dir, 'team.yaml'), team());
});

afterAll(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  await rm(dir, { recursive: true, force: true });
});

/** The team file: the account id and the token come from variables not named like secrets. */
function team(name = 'hostile', extra = ''): string {
  return `pipeline: { name: ${name}, dataset: hostile_data, data_dir: ./.ferry }
source:
  type: dbt_cloud
  base_url: ${baseUrl}
  account_id: \${DBT_ACCT}
  api_token: \${DBT_PAT}
  resources: [projects]
destination:
  type: duckdb
  path: ${join(dir, 'w.duckdb')}
${extra}`;
}

const ENV = { DBT_ACCT: ACCOUNT, DBT_PAT: TOKEN };

let firstRun: ReturnType<typeof ferry> | undefined;
/** `ferry run team.yaml` against the hostile API, once (the query tests read what it loaded). */
function loaded(): ReturnType<typeof ferry> {
  mode = 'ok';
  firstRun ??= ferry(['run', 'team.yaml', '--log-format', 'json'], ENV, dir);
  return firstRun;
}

async function duckRows(path: string, sql: string): Promise<Record<string, unknown>[]> {
  const db = await DuckDBInstance.create(path, { access_mode: 'READ_ONLY' });
  const conn = await db.connect();
  try {
    return (await conn.runAndReadAll(sql)).getRowObjectsJson() as Record<string, unknown>[];
  } finally {
    conn.closeSync();
    db.closeSync();
  }
}

describe('hostile records and hostile API messages', () => {
  it('`__proto__`, `constructor`, `toString` and `hasOwnProperty` keys load as ordinary columns; the run succeeds', async () => {
    const r = await loaded();
    expect(r.stdout.split('\n').filter((l) => l.includes('"error"'))).toEqual([]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const rows = await duckRows(join(dir, 'w.duckdb'), 'SELECT * FROM hostile_data.projects ORDER BY id');
    expect(rows).toHaveLength(2);
    expect(
      rows.map((row) => [row['constructor'], row['to_string'], Number(row['has_own_property'])]),
    ).toEqual([
      ['c1', 't1', 1],
      ['c2', 't2', 2],
    ]);
    const proto = Object.keys(rows[0] ?? {}).filter((k) => k.includes('proto'));
    expect(proto).toHaveLength(1);
    expect(rows.map((row) => row[proto[0] ?? ''] ?? null)).toEqual(['p1', null]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('`__proto__` keys from a REST API load as an ordinary column; nothing is polluted', async () => {
    await writeFile(
      join(dir, 'rest.yaml'),
      `pipeline: { name: rest_proto, dataset: rest_data, data_dir: ./.ferry }
source:
  type: rest_api
  name: hostile
  client: { base_url: '${baseUrl}/rest/', paginator: single_page }
  resources: [{ name: items, endpoint: { path: items } }]
destination:
  type: duckdb
  path: ${join(dir, 'rest.duckdb')}
`,
    );
    const r = await ferry(['run', 'rest.yaml', '--log-format', 'json'], {}, dir);
    expect(r.stdout.split('\n').filter((l) => l.includes('"error"'))).toEqual([]);
    expect(r.code).toBe(0);
    const rows = await duckRows(join(dir, 'rest.duckdb'), 'SELECT * FROM rest_data.items ORDER BY id');
    expect(rows.map((row) => [row['constructor'], row['to_string']])).toEqual([
      ['c1', 't1'],
      ['c2', 't2'],
    ]);
    const proto = Object.keys(rows[0] ?? {}).filter((k) => k.includes('proto'));
    expect(proto).toHaveLength(1);
    expect(rows.map((row) => row[proto[0] ?? ''])).toEqual([true, false]);
    expect(({} as Record<string, unknown>)['polluted']).toBeUndefined();
  });

  it('query --format table shows the loaded escape sequences as nothing, and needs no source secrets', async () => {
    expect((await loaded()).code).toBe(0);
    // no DBT_PAT and no DBT_ACCT: query reads only the destination
    const q = await ferry(
      ['query', 'team.yaml', 'SELECT id, name FROM hostile_data.projects ORDER BY id', '--format', 'table'],
      {},
      dir,
    );
    expect(q.stderr).toBe('');
    expect(q.code).toBe(0);
    // the carriage return is shown as `\r`, not obeyed
    expect(q.stdout).toContain('red!\\rX');
    expect(q.stdout).not.toMatch(CONTROL);
    // the data itself is untouched: JSON output keeps every character, escaped
    const json = await ferry(
      ['query', 'team.yaml', 'SELECT name FROM hostile_data.projects WHERE id = 1', '--format', 'json'],
      {},
      dir,
    );
    expect(json.code).toBe(0);
    expect((JSON.parse(json.stdout) as [{ name: string }])[0].name).toBe(EVIL_NAME);
    // a terminal gets no escape from CSV either
    const csv = await ferry(
      ['query', 'team.yaml', 'SELECT name FROM hostile_data.projects', '--format', 'csv'],
      {},
      dir,
      { tty: true },
    );
    expect(csv.code).toBe(0);
    expect(csv.stdout).toContain('red!X');
    expect(csv.stdout).not.toMatch(CONTROL);
  });

  it('pipeline info needs no source secrets either', async () => {
    expect((await loaded()).code).toBe(0);
    const info = await ferry(['pipeline', 'info', 'team.yaml', '--log-format', 'pretty'], {}, dir);
    expect(info.stderr).toBe('');
    expect(info.code).toBe(0);
    expect(info.stdout).toContain('projects');
  });

  it('an API error message reaches pretty logs without escapes, and with the token and the account redacted', async () => {
    mode = 'error';
    try {
      const r = await ferry(['run', 'team.yaml', '--log-format', 'pretty'], ENV, dir, { tty: true });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain('bad request for');
      expect(r.all).not.toMatch(CONTROL);
      expect(r.all).not.toContain(TOKEN);
      // the account id came from ${DBT_ACCT}: redacted by provenance wherever it shows (the URL too)
      expect(r.all).not.toContain(ACCOUNT);
      const json = await ferry(['run', 'team.yaml', '--log-format', 'json'], ENV, dir);
      expect(json.code).not.toBe(0);
      expect(json.all).not.toContain(TOKEN);
      expect(json.all).not.toContain(ACCOUNT);
      // JSON lines carry the text escaped, never a raw control character
      expect(json.all).not.toMatch(CONTROL);
    } finally {
      mode = 'ok';
    }
  });
});

describe('secrets by provenance in validate', () => {
  it('validate --print masks every value from the environment, whatever the variable is called', async () => {
    await writeFile(
      join(dir, 'pg.yaml'),
      team('pg_team').replace(
        `  type: duckdb\n  path: ${join(dir, 'w.duckdb')}`,
        '  type: postgres\n  credentials: "postgres://loader:${PGPASS}@127.0.0.1:5432/w"',
      ),
    );
    await writeFile(
      join(dir, 'pg2.yaml'),
      team('pg_team2').replace(
        `  type: duckdb\n  path: ${join(dir, 'w.duckdb')}`,
        '  type: postgres\n  credentials: { host: 127.0.0.1, user: "${DB_USER}", password: "${DB_PWD}", database: w }',
      ),
    );
    const env = { ...ENV, PGPASS: 'pg-pass-0001', DB_PWD: 'Pwd-0002', DB_USER: 'loader-0003' };
    for (const format of ['pretty', 'json']) {
      const r = await ferry(['validate', 'pg.yaml', 'pg2.yaml', '--print', '--log-format', format], env, dir);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      for (const secret of [...Object.values(env)]) expect(r.all).not.toContain(secret);
      if (format === 'pretty') {
        expect(r.stdout).toMatch(/destination:\n\s+type: postgres\n\s+credentials: "\*\*\*"/);
        expect(r.stdout).toMatch(/user: "\*\*\*"\n\s+password: "\*\*\*"\n\s+database: w/);
      }
    }
  });

  it('a secrets file with a YAML syntax error is reported by line, never with its text', async () => {
    await writeFile(
      join(dir, 'broken-secrets.yaml'),
      `DBT_PAT: ${TOKEN}\nDBT_ACCT: "${ACCOUNT}\n  other: [\n`,
    );
    await writeFile(join(dir, 'with-secrets.yaml'), `secrets_file: broken-secrets.yaml\n${team('sec')}`);
    for (const args of [
      ['validate', 'with-secrets.yaml', '--log-format', 'pretty'],
      ['validate', 'with-secrets.yaml', '--log-format', 'json'],
      ['run', 'with-secrets.yaml', '--log-format', 'json'],
    ]) {
      const r = await ferry(args, {}, dir);
      expect(r.code).toBe(2);
      expect(r.all).toMatch(/cannot read secrets file broken-secrets\.yaml: YAML syntax error at line \d+/);
      expect(r.all).not.toContain(TOKEN);
      expect(r.all).not.toContain(ACCOUNT);
    }
  });

  it('an error escaping a command is redacted where main prints it', async () => {
    // the DuckDB path comes from ${WHERE}: the file cannot be created, and the message quotes the path
    await writeFile(
      join(dir, 'bad-path.yaml'),
      team('bad_path').replace(`path: ${join(dir, 'w.duckdb')}`, 'path: "${WHERE}"'),
    );
    const where = join(dir, 'no-such-folder-7f3a', 'x.duckdb');
    const r = await ferry(
      ['query', 'bad-path.yaml', 'SELECT 1', '--log-format', 'pretty'],
      { WHERE: where },
      dir,
    );
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/^error: /);
    expect(r.all).not.toContain('no-such-folder-7f3a');
  });
});

describe('the same pipeline-name rule in validate and run', () => {
  it('a 300-character name fails validate and run alike, naming the limit (not ENAMETOOLONG)', async () => {
    const long = 'p'.repeat(300);
    await writeFile(join(dir, 'long.yaml'), team(long));
    const rule = `is 300 characters long; at most ${MAX_PIPELINE_NAME_LENGTH} are allowed`;
    const v = await ferry(['validate', 'long.yaml', '--log-format', 'pretty'], ENV, dir);
    expect(v.code).toBe(2);
    expect(v.stderr).toContain(rule);
    const r = await ferry(['run', 'long.yaml', '--log-format', 'json'], ENV, dir);
    expect(r.code).toBe(2);
    expect(r.all).toContain(rule);
    expect(r.all).not.toContain('ENAMETOOLONG');
  });

  it('an unknown resource is named in the message', async () => {
    await writeFile(join(dir, 'res.yaml'), team().replace('[projects]', '[projects, no_such_resource]'));
    const v = await ferry(['validate', 'res.yaml', '--log-format', 'pretty'], ENV, dir);
    expect(v.code).toBe(2);
    expect(v.stderr).toMatch(
      /source\.resources\[1\]: unknown value 'no_such_resource' in resources; use one of /,
    );
  });
});

describe('Ferry deletes only what it owns (issue 15, What broke 2)', () => {
  it('pipeline sync, drop and run refuse a working folder Ferry did not create, naming it; its files stay', async () => {
    await writeFile(join(dir, 'theirs.yaml'), team('theirs'));
    const folder = join(dir, '.ferry', 'theirs');
    await mkdir(folder, { recursive: true });
    await writeFile(join(folder, 'q3.xlsx'), 'precious');
    for (const args of [
      ['pipeline', 'sync', 'theirs.yaml'],
      ['pipeline', 'drop', 'theirs.yaml', '--yes'],
      ['run', 'theirs.yaml'],
    ]) {
      const r = await ferry(args, ENV, dir);
      expect(r.code, args.join(' ')).not.toBe(0);
      expect(r.all, args.join(' ')).toContain(folder);
      expect(r.all, args.join(' ')).toMatch(/Ferry did not create this folder/);
      expect(await readdir(folder)).toEqual(['q3.xlsx']);
    }
  });
});
