import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createDestination } from '@ferry/destinations';
import { loadDbtCloud } from '../engine/dbt-cloud-module.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { formatRows } from '../output/table-text.ts';
import { describeError, type CommandContext } from './context.ts';
import { runTeamFile } from './run.ts';

/** The demo team file: the bundled emulator into a local DuckDB file. */
export const DEMO_YAML = `# The team file \`ferry demo\` runs (the emulator's address and token come from the environment).
pipeline: { name: ferry_demo, dataset: dbt_cloud_data }
source:
  type: dbt_cloud
  base_url: \${FERRY_DEMO_BASE_URL}
  account_id: \${FERRY_DEMO_ACCOUNT_ID}
  api_token: \${FERRY_DEMO_API_TOKEN}
  resources: [projects, environments, jobs, runs, run_results]
destination:
  type: duckdb
  path: \${FERRY_DEMO_DB}
`;

/**
 * `ferry demo`: start the bundled dbt Cloud emulator on a free loopback port, run the demo team into
 * `./ferry-demo.duckdb`, print the load info and a sample query. No credentials, no network.
 */
export async function demoCommand(
  options: { db?: string; printYaml?: boolean },
  ctx: CommandContext,
): Promise<ExitCode> {
  if (options.printYaml === true) {
    ctx.stdout.write(DEMO_YAML);
    return EXIT.ok;
  }
  const db = resolve(ctx.cwd, options.db ?? 'ferry-demo.duckdb');
  const mod = await loadDbtCloud();
  const emulator = await mod.startEmulator({ port: 0, host: '127.0.0.1' });
  const dir = await mkdtemp(join(tmpdir(), 'ferry-demo-'));
  try {
    const file = join(dir, 'demo.yaml');
    await writeFile(file, DEMO_YAML);
    if (ctx.format === 'pretty')
      ctx.stdout.write(`ferry demo: dbt Cloud emulator at ${emulator.url}, loading into ${db}\n`);
    const env = {
      ...ctx.env,
      FERRY_DEMO_BASE_URL: emulator.url,
      FERRY_DEMO_ACCOUNT_ID: String(emulator.accountId),
      FERRY_DEMO_API_TOKEN: emulator.token,
      FERRY_DEMO_DB: db,
      FERRY_DATA_DIR: ctx.env['FERRY_DATA_DIR'] ?? join(ctx.cwd, '.ferry'),
    };
    const result = await runTeamFile(file, { ...ctx, env });
    if (result.exitCode !== EXIT.ok) return result.exitCode;
    const { sql, rows } = await sampleQuery(db, 'dbt_cloud_data');
    if (ctx.format === 'json') {
      ctx.stdout.write(
        `${JSON.stringify({ ts: new Date().toISOString(), level: 'info', event: 'sample_query', sql, rows })}\n`,
      );
    } else {
      ctx.stdout.write(
        `\nSample query:\n  ${sql}\n\n${formatRows(rows)}\n\nThe data is in ${db} (dataset dbt_cloud_data); the team file this demo ran is \`ferry demo --print-yaml\`.\n`,
      );
    }
    return EXIT.ok;
  } catch (error) {
    ctx.stderr.write(`error: ${describeError(error)}\n`);
    return EXIT.runFailed;
  } finally {
    await emulator.close().catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  }
}

/** Query the demo dataset: runs by status when there is a runs table, else a few rows of any table. */
export async function sampleQuery(
  db: string,
  dataset: string,
): Promise<{ sql: string; rows: Record<string, unknown>[] }> {
  const destination = await createDestination({ type: 'duckdb', path: db });
  const client = await destination.connect({ dataset, pipelineName: 'ferry_demo' });
  try {
    const reader = client.reader;
    if (reader === undefined) return { sql: '(no reader)', rows: [] };
    const tables = await client.introspect();
    const runs = tables['runs'];
    let sql: string;
    if (runs !== undefined && 'status_humanized' in runs.columns) {
      const q = (n: string): string => reader.quoteIdentifier(n);
      sql = `SELECT ${q('status_humanized')} AS status, COUNT(*) AS runs FROM ${reader.qualifiedTable('runs')} GROUP BY 1 ORDER BY 2 DESC`;
    } else {
      const first = Object.keys(tables)
        .filter((t) => !t.startsWith('_ferry_'))
        .sort()[0];
      if (first === undefined) return { sql: '(no tables)', rows: [] };
      sql = `SELECT * FROM ${reader.qualifiedTable(first)} LIMIT 5`;
    }
    return { sql, rows: await reader.query(sql) };
  } finally {
    await client.close();
  }
}
