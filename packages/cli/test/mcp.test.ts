/**
 * `ferry mcp` as a process (the source entry, `node --conditions=@ferry/source src/bin.ts mcp`), driven over
 * stdio by the MCP SDK's own `Client`: the bundled dbt Cloud emulator as the source, a DuckDB file and the
 * local Postgres as destinations. Every response (and the server's stderr) is searched for the secrets.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const PKG = join(import.meta.dirname, '..');
const SOURCE_BIN = join(PKG, 'src', 'bin.ts');
const PG_BASE = process.env['FERRY_TEST_POSTGRES_URL'] ?? 'postgres://postgres@127.0.0.1:5432/postgres';

// Secrets: the emulator token, a Postgres password (trust auth ignores it, but it is in the URL the
// server holds), a value only in a secrets file, and an unrelated token in the server's environment.
const TOKEN = 'dbtc_mcp_SECRET_token_7f3a9c';
const PG_PASSWORD = 'pgPW_mcp_SECRET_5e1d';
const FILE_SECRET = 'filesecret_mcp_SECRET_2b8e';
const LOOSE_TOKEN = 'loose_mcp_SECRET_token_91c4';
const SECRETS = [TOKEN, PG_PASSWORD, FILE_SECRET, LOOSE_TOKEN];

let emulator: DbtCloudEmulator;
let root: string;
let env: Record<string, string>;
let pgDataset: string;
let okJob: number;
const transcripts: string[] = [];
const stderrs: string[] = [];

function pgUrl(): string {
  const u = new URL(PG_BASE);
  u.password = PG_PASSWORD;
  return u.toString();
}

interface Session {
  client: Client;
  /** Call a tool; the whole response is kept for the secret search. */
  call(name: string, args?: Record<string, unknown>): Promise<CallResult>;
  close(): Promise<void>;
}

interface CallResult {
  isError?: boolean;
  structuredContent?: Record<string, any>;
  content: { type: string; text: string }[];
}

async function session(flags: string[] = [], extraEnv: Record<string, string> = {}): Promise<Session> {
  const transport = new StdioClientTransport({
    command: process.execPath,
    args: ['--conditions=@ferry/source', SOURCE_BIN, 'mcp', '--dir', root, ...flags],
    env: { PATH: process.env['PATH'] ?? '', HOME: process.env['HOME'] ?? '', ...env, ...extraEnv },
    cwd: root,
    stderr: 'pipe',
  });
  let stderr = '';
  transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  const client = new Client({ name: 'ferry-mcp-test', version: '1.0.0' });
  await client.connect(transport);
  return {
    client,
    async call(name, args = {}) {
      const r = (await client.callTool({ name, arguments: args })) as CallResult;
      transcripts.push(JSON.stringify(r));
      return r;
    },
    async close() {
      await client.close();
      stderrs.push(stderr);
    },
  };
}

function team(name: string, dataset: string, destination: string, extra = ''): string {
  return `pipeline: { name: ${name}, dataset: ${dataset} }
source:
  type: dbt_cloud
  base_url: \${EMU_URL}
  account_id: \${EMU_ACCOUNT}
  api_token: \${EMU_TOKEN}
  resources: [projects, environments, jobs, runs]
destination:
${destination}
${extra}`;
}

beforeAll(async () => {
  emulator = await startEmulator({
    token: TOKEN,
    runs: 30,
    inFlightRuns: 0,
    lifecycleMs: { queued: 10, starting: 10, running: 30 },
  });
  okJob = emulator.store.jobs[0]!.id;
  root = await mkdtemp(join(tmpdir(), 'ferry-mcp-'));
  pgDataset = `mcp_${Math.random().toString(36).slice(2, 8)}`;
  env = {
    EMU_URL: emulator.url,
    EMU_ACCOUNT: String(emulator.accountId),
    EMU_TOKEN: TOKEN,
    PG_URL: pgUrl(),
    DUCK_DB: join(root, 'demo.duckdb'),
    MY_SERVICE_TOKEN: LOOSE_TOKEN,
    FERRY_DATA_DIR: join(root, '.ferry'),
  };
  await writeFile(
    join(root, 'demo.yaml'),
    team(
      'ferry_demo',
      'dbt_cloud_data',
      '  type: duckdb\n  path: ${DUCK_DB}',
      `transform:\n  dbt_cloud: { job_id: ${okJob}, wait: true, timeout: 1m, poll_interval: 50ms }\n`,
    ),
  );
  await writeFile(
    join(root, 'pg.yaml'),
    team('pg_team', pgDataset, '  type: postgres\n  credentials: ${PG_URL}'),
  );
  // a team that takes its token from a secrets file, and one that does not validate
  await writeFile(join(root, 'team.secrets.env'), `EMU_TOKEN_FROM_FILE=${FILE_SECRET}\n`);
  await writeFile(
    join(root, 'filed.yaml'),
    `pipeline: { name: filed }\nsecrets_file: team.secrets.env\nsource:\n  type: dbt_cloud\n  base_url: \${EMU_URL}\n  account_id: \${EMU_ACCOUNT}\n  api_token: \${EMU_TOKEN_FROM_FILE}\ndestination:\n  type: duckdb\n  path: ./filed.duckdb\n`,
  );
  await writeFile(
    join(root, 'broken.yaml'),
    'pipeline: { name: broken }\nsource:\n  type: dbt_cloud\n  base_url: ${EMU_URL}\n  account_id: 1\n  api_token: ${NOT_SET_ANYWHERE}\ndestination:\n  type: duckdb\n  pth: x.duckdb\n',
  );
  await mkdir(join(root, 'sub'));
}, 120_000);

afterAll(async () => {
  await emulator?.close();
  const client = new pg.Client({ connectionString: PG_BASE });
  await client.connect();
  await client.query(`DROP SCHEMA IF EXISTS "${pgDataset}" CASCADE`).catch(() => undefined);
  await client.end();
  if (root) await rm(root, { recursive: true, force: true });
});

const READ_TOOLS = [
  'list_pipelines',
  'validate_team_file',
  'team_file_schema',
  'list_source_resources',
  'check_credentials',
  'pipeline_info',
  'list_tables',
  'table_schema',
  'sample_rows',
  'query',
];

describe('ferry mcp over stdio, driven by the SDK client', () => {
  it('--allow-writes: lists the write tools; run_pipeline loads the demo (DuckDB, with the dbt Cloud job) and the Postgres team; dbt_cloud_trigger_job runs a job', async () => {
    const s = await session(['--allow-writes']);
    try {
      const names = (await s.client.listTools()).tools.map((t) => t.name).sort();
      expect(names).toEqual([...READ_TOOLS, 'run_pipeline', 'dbt_cloud_trigger_job'].sort());
      const demo = await s.call('run_pipeline', { pipeline: 'ferry_demo' });
      expect(demo.isError).toBeFalsy();
      expect(demo.structuredContent).toMatchObject({ status: 'ok', exitCode: 0, pipeline: 'ferry_demo' });
      expect(demo.structuredContent?.['rows']).toBeGreaterThan(0);
      expect(demo.structuredContent?.['loadInfo']?.extras?.dbtCloud).toMatchObject({ outcome: 'success' });
      const pgRun = await s.call('run_pipeline', { pipeline: 'pg.yaml' });
      expect(pgRun.structuredContent).toMatchObject({ status: 'ok', exitCode: 0, pipeline: 'pg_team' });
      const job = await s.call('dbt_cloud_trigger_job', {
        pipeline: 'ferry_demo',
        wait: true,
        timeout: '1m',
      });
      expect(job.isError).toBeFalsy();
      expect(job.structuredContent).toMatchObject({ jobId: String(okJob), outcome: 'success', status: 10 });
      const noJob = await s.call('dbt_cloud_trigger_job', { pipeline: 'pg_team' });
      expect(noJob.isError).toBe(true);
      expect(noJob.content[0]?.text).toMatch(/give job_id/);
    } finally {
      await s.close();
    }
  });

  it('read-only: exactly the read tools, each with a JSON Schema input and output; every tool answers against DuckDB and Postgres', async () => {
    const s = await session();
    try {
      const { tools } = await s.client.listTools();
      expect(tools.map((t) => t.name).sort()).toEqual([...READ_TOOLS].sort());
      for (const t of tools) {
        expect(t.inputSchema.type).toBe('object');
        expect(t.outputSchema?.type).toBe('object');
        expect(t.annotations?.readOnlyHint).toBe(true);
      }

      const list = await s.call('list_pipelines');
      const pipelines = list.structuredContent?.['pipelines'] as Record<string, unknown>[];
      expect(pipelines.map((p) => p['file'])).toEqual(['broken.yaml', 'demo.yaml', 'filed.yaml', 'pg.yaml']);
      expect(pipelines.find((p) => p['file'] === 'pg.yaml')).toMatchObject({
        ok: true,
        pipeline: 'pg_team',
        source: 'dbt_cloud',
        destination: 'postgres',
      });
      expect(pipelines.find((p) => p['file'] === 'broken.yaml')).toMatchObject({ ok: false });

      const schema = await s.call('team_file_schema');
      expect(schema.structuredContent?.['schema']?.['properties']).toHaveProperty('destination');

      const res = await s.call('list_source_resources', { source_type: 'dbt_cloud' });
      const runs = (res.structuredContent?.['resources'] as Record<string, unknown>[]).find(
        (r) => r['name'] === 'runs',
      );
      expect(runs).toMatchObject({
        endpoint: 'accounts/{account_id}/runs/',
        apiVersion: 'v2',
        default: true,
      });
      const mine = await s.call('list_source_resources', { pipeline: 'pg_team' });
      const selected = (mine.structuredContent?.['resources'] as Record<string, unknown>[])
        .filter((r) => r['selected'] === true)
        .map((r) => r['name']);
      expect(selected).toEqual(expect.arrayContaining(['projects', 'environments', 'jobs', 'runs']));

      for (const pipeline of ['ferry_demo', 'pg_team']) {
        const info = await s.call('pipeline_info', { pipeline });
        expect(info.isError).toBeFalsy();
        expect(info.structuredContent).toMatchObject({ pipeline, source: 'dbt_cloud' });
        expect(info.structuredContent?.['loads']).toBeGreaterThan(0);

        const tables = await s.call('list_tables', { pipeline });
        const byName = Object.fromEntries(
          (tables.structuredContent?.['tables'] as Record<string, any>[]).map((t) => [t['name'], t]),
        );
        expect(byName['runs']?.rows).toBeGreaterThan(0);
        expect(byName['runs']?.writeDisposition).toBe('merge');
        const child = Object.values(byName as Record<string, Record<string, any>>).find(
          (t) => t['parent'] !== undefined,
        ) as Record<string, any>;
        expect(child, 'a child table with its parent').toBeDefined();

        const ts = await s.call('table_schema', { pipeline, table: 'runs' });
        const cols = ts.structuredContent?.['columns'] as Record<string, unknown>[];
        expect(cols.find((c) => c['name'] === 'id')).toMatchObject({ dataType: 'bigint', primaryKey: true });
        expect(ts.structuredContent?.['children']).toEqual(expect.any(Array));
        const parent = await s.call('table_schema', { pipeline, table: String(child.parent) });
        expect(parent.structuredContent?.['children']).toContain(child.name);

        const sample = await s.call('sample_rows', {
          pipeline,
          table: 'runs',
          limit: 3,
          columns: ['id', 'status'],
        });
        const rows = sample.structuredContent?.['rows'] as Record<string, unknown>[];
        expect(rows).toHaveLength(3);
        expect(Object.keys(rows[0] ?? {}).sort()).toEqual(['id', 'status']);
        expect(sample.structuredContent?.['more']).toBe(true);

        const q = await s.call('query', {
          pipeline,
          sql: `SELECT COUNT(*) AS n FROM ${String(info.structuredContent?.['dataset'])}.runs WHERE status = $1`,
          params: [10],
        });
        expect(q.isError).toBeFalsy();
        expect(Number(q.structuredContent?.['rows']?.[0]?.n)).toBeGreaterThan(0);
        const capped = await s.call('query', {
          pipeline,
          sql: `SELECT id FROM ${String(info.structuredContent?.['dataset'])}.runs`,
          max_rows: 2,
        });
        expect(capped.structuredContent).toMatchObject({ rowCount: 2, more: true });

        for (const bad of ['DELETE FROM runs', 'SELECT 1; DROP TABLE runs', 'CREATE TABLE x (a int)']) {
          const r = await s.call('query', { pipeline, sql: bad });
          expect(r.isError, bad).toBe(true);
          expect(r.content[0]?.text).toMatch(/read-only|one statement|SELECT|refus/i);
        }
      }
      const rowsAfter = await s.call('query', {
        pipeline: 'pg_team',
        sql: `SELECT COUNT(*) AS n FROM ${pgDataset}.runs`,
      });
      expect(Number(rowsAfter.structuredContent?.['rows']?.[0]?.n)).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });

  it('validate_team_file and check_credentials: problems with file, line and path; variables by name, set or missing; authenticated probes', async () => {
    const s = await session();
    try {
      const v = await s.call('validate_team_file', { file: 'broken.yaml' });
      expect(v.structuredContent?.['ok']).toBe(false);
      const problems = v.structuredContent?.['results']?.[0]?.problems as Record<string, unknown>[];
      expect(problems).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ file: 'broken.yaml', line: 6, path: 'source.api_token' }),
          expect.objectContaining({ file: 'broken.yaml', line: 9, path: 'destination.pth' }),
        ]),
      );
      const all = await s.call('validate_team_file');
      expect((all.structuredContent?.['results'] as unknown[]).length).toBe(4);

      const ok = await s.call('check_credentials', { pipeline: 'pg_team' });
      expect(ok.structuredContent?.['missing']).toEqual([]);
      expect(ok.structuredContent?.['variables']).toEqual(
        expect.arrayContaining([
          { variable: 'EMU_TOKEN', paths: ['source.api_token'], status: 'set', from: 'env' },
          { variable: 'PG_URL', paths: ['destination.credentials'], status: 'set', from: 'env' },
        ]),
      );
      expect(ok.structuredContent?.['checks']).toEqual([
        expect.objectContaining({ target: 'source', status: 'ok' }),
        expect.objectContaining({ target: 'destination', status: 'ok' }),
      ]);

      const filed = await s.call('check_credentials', { pipeline: 'filed.yaml' });
      expect(filed.structuredContent?.['variables']).toContainEqual({
        variable: 'EMU_TOKEN_FROM_FILE',
        paths: ['source.api_token'],
        status: 'set',
        from: 'secrets_file',
      });
      // the emulator refuses the file's token: the probe says so without showing it
      expect(filed.structuredContent?.['checks']?.[0]).toMatchObject({ target: 'source', status: 'failed' });
      expect(filed.structuredContent?.['checks']?.[0]?.message).toMatch(/401|token/i);

      const broken = await s.call('check_credentials', { pipeline: 'broken.yaml' });
      expect(broken.structuredContent?.['missing']).toEqual(['NOT_SET_ANYWHERE']);
      expect(broken.structuredContent?.['checks']).toEqual([
        expect.objectContaining({ target: 'source', status: 'skipped' }),
        expect.objectContaining({ target: 'destination', status: 'skipped' }),
      ]);
    } finally {
      await s.close();
    }
  });

  it('errors: unknown pipeline and table, paths outside the folder, bad arguments — each a tool error that says what to do', async () => {
    const s = await session();
    try {
      const unknown = await s.call('pipeline_info', { pipeline: 'nope' });
      expect(unknown.isError).toBe(true);
      expect(unknown.content[0]?.text).toMatch(/no pipeline 'nope'.*ferry_demo.*broken\.yaml/);
      const table = await s.call('table_schema', { pipeline: 'ferry_demo', table: 'no_such_table' });
      expect(table.isError).toBe(true);
      expect(table.content[0]?.text).toMatch(/no table 'no_such_table'/);
      for (const file of ['../outside.yaml', '/etc/passwd.yaml']) {
        const r = await s.call('validate_team_file', { file });
        expect(r.isError, file).toBe(true);
        expect(r.content[0]?.text).toMatch(/outside the team-file folder/);
      }
      const bad = await s.call('sample_rows', { pipeline: 'ferry_demo', table: 'runs', limit: 100_000 });
      expect(bad.isError).toBe(true);
      // a secret that reaches a result through the data is masked, whatever tool returns it
      const echo = await s.call('query', {
        pipeline: 'ferry_demo',
        sql: 'SELECT $1 AS a, $2 AS b',
        params: [LOOSE_TOKEN, TOKEN],
      });
      expect(echo.structuredContent?.['rows']).toEqual([{ a: '***', b: '***' }]);
      const neither = await s.call('list_source_resources', {});
      expect(neither.isError).toBe(true);
      expect(neither.content[0]?.text).toMatch(/give pipeline or source_type/);
    } finally {
      await s.close();
    }
  });

  it('every result is bounded: a small --max-result-bytes truncates rows and says so', async () => {
    const s = await session(['--max-result-bytes', '3000', '--max-rows', '50']);
    try {
      const r = await s.call('sample_rows', { pipeline: 'ferry_demo', table: 'runs', limit: 100 });
      expect(r.isError).toBeFalsy();
      expect(Buffer.byteLength(r.content[0]?.text ?? '')).toBeLessThanOrEqual(3000);
      expect(r.structuredContent).toMatchObject({ truncated: true, omittedFrom: 'rows' });
      expect((r.structuredContent?.['rows'] as unknown[]).length).toBeGreaterThan(0);
      const q = await s.call('query', { pipeline: 'ferry_demo', sql: 'SELECT 1 AS a', max_rows: 51 });
      expect(q.isError).toBe(true);
      const schema = await s.call('team_file_schema');
      expect(Buffer.byteLength(schema.content[0]?.text ?? '')).toBeLessThanOrEqual(3000);
    } finally {
      await s.close();
    }
  });

  it('resources: the team-file JSON Schema and the README sections on team files and sources', async () => {
    const s = await session();
    try {
      const { resources } = await s.client.listResources();
      expect(resources.map((r) => r.uri).sort()).toEqual([
        'ferry://docs/sources',
        'ferry://docs/team-files',
        'ferry://schema/team-file.json',
      ]);
      const text = (r: { contents: Record<string, unknown>[] }): string => String(r.contents[0]?.['text']);
      const schema = await s.client.readResource({ uri: 'ferry://schema/team-file.json' });
      expect(JSON.parse(text(schema))).toHaveProperty('properties.source');
      const team = await s.client.readResource({ uri: 'ferry://docs/team-files' });
      expect(text(team)).toMatch(/^## Team file/);
      const sources = await s.client.readResource({ uri: 'ferry://docs/sources' });
      expect(text(sources)).toMatch(/dbt_cloud/);
      transcripts.push(JSON.stringify([schema, team, sources]));
    } finally {
      await s.close();
    }
  });

  it('no secret from the environment or a secrets file appears in any response or on stderr', () => {
    expect(transcripts.length).toBeGreaterThan(40);
    const everything = [...transcripts, ...stderrs].join('\n');
    for (const secret of SECRETS) expect(everything.includes(secret), secret).toBe(false);
    expect(everything).toContain('***');
  });
});
