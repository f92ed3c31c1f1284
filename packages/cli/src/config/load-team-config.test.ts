import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTeamConfig, parseTeamConfig } from './load-team-config.ts';
import { TeamConfigError } from './team-config-error.ts';

const TEAM = `pipeline: { name: analytics_dbt, dataset: dbt_cloud_data }
source:
  type: dbt_cloud
  host: ab123.us1.dbt.com
  account_id: 70403104191314
  api_token: \${DBT_CLOUD_API_TOKEN}
  resources: [projects, environments, jobs, runs, run_results]
destination:
  type: postgres
  credentials: \${POSTGRES_URL}
transform:
  dbt_cloud: { job_id: 278164, wait: true, timeout: 30m }
`;
const ENV = {
  DBT_CLOUD_API_TOKEN: 'dbtc_s3cr3t_token',
  POSTGRES_URL: 'postgres://loader:pw-Secret-9@db:5432/warehouse',
};

async function problemsOf(
  text: string,
  env: NodeJS.ProcessEnv = ENV,
  file = 'team.yaml',
): Promise<TeamConfigError> {
  const error = await parseTeamConfig(text, file, { env }).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(TeamConfigError);
  return error as TeamConfigError;
}

describe('loadTeamConfig: a valid team file', () => {
  it('maps snake_case YAML to the engine, source and destination option objects', async () => {
    const cfg = await parseTeamConfig(TEAM, 'team.yaml', { env: ENV });
    expect(cfg.pipeline).toEqual({ name: 'analytics_dbt', dataset: 'dbt_cloud_data', dataDir: './.ferry' });
    expect(cfg.destination).toEqual({ type: 'postgres', credentials: ENV.POSTGRES_URL });
    expect(cfg.source.type).toBe('dbt_cloud');
    expect(cfg.transform.dbtCloud).toEqual({
      connection: { host: 'ab123.us1.dbt.com', accountId: 70403104191314, apiToken: ENV.DBT_CLOUD_API_TOKEN },
      jobId: 278164,
      wait: true,
      timeoutMs: 30 * 60_000,
      cancelOnTimeout: false,
      cause: 'Triggered by ferry pipeline analytics_dbt',
      skipIfEmpty: false,
    });
    expect(cfg.variables).toEqual([
      { path: 'source.api_token', variable: 'DBT_CLOUD_API_TOKEN', from: 'env' },
      { path: 'destination.credentials', variable: 'POSTGRES_URL', from: 'env' },
    ]);
  });

  it('maps every destination type, including nested credential blocks', async () => {
    const cases: [string, unknown][] = [
      ['type: duckdb\n  path: ./team.duckdb', { type: 'duckdb', path: './team.duckdb' }],
      [
        'type: postgres\n  credentials: { host: db, port: "5433", user: u, password: "${PGPASSWORD}", database: w, ssl: true }\n  connect_timeout_ms: 5000',
        {
          type: 'postgres',
          credentials: {
            host: 'db',
            port: 5433,
            user: 'u',
            password: 'pgpass-1234',
            database: 'w',
            ssl: true,
          },
          connectTimeoutMs: 5000,
        },
      ],
      [
        'type: bigquery\n  project_id: p1\n  location: EU\n  credentials: /secrets/sa.json',
        { type: 'bigquery', projectId: 'p1', location: 'EU', credentials: '/secrets/sa.json' },
      ],
      [
        'type: snowflake\n  account: org-acc\n  username: loader\n  password: ${SF_PW}\n  database: RAW\n  warehouse: WH\n  role: LOADER',
        {
          type: 'snowflake',
          account: 'org-acc',
          username: 'loader',
          password: 'sf-pass-999',
          database: 'RAW',
          warehouse: 'WH',
          role: 'LOADER',
        },
      ],
      [
        'type: filesystem\n  bucket_url: s3://bucket/raw\n  format: jsonl\n  s3: { region: eu-west-1, force_path_style: "true", endpoint: http://127.0.0.1:9000 }',
        {
          type: 'filesystem',
          bucketUrl: 's3://bucket/raw',
          format: 'jsonl',
          s3: { region: 'eu-west-1', forcePathStyle: true, endpoint: 'http://127.0.0.1:9000' },
        },
      ],
    ];
    for (const [block, expected] of cases) {
      const text = TEAM.replace('type: postgres\n  credentials: ${POSTGRES_URL}', block);
      const cfg = await parseTeamConfig(text, 'team.yaml', {
        env: { ...ENV, PGPASSWORD: 'pgpass-1234', SF_PW: 'sf-pass-999' },
      });
      expect(cfg.destination).toEqual(expected);
    }
  });

  it('interpolates ${VAR}, ${VAR:-default} and keeps $${ literal', async () => {
    const text = TEAM.replace('dataset: dbt_cloud_data', () => 'dataset: "${TEAM:-core}_$${raw}"').replace(
      'host: ab123.us1.dbt.com',
      'host: ${DBT_HOST}',
    );
    const cfg = await parseTeamConfig(text, 'team.yaml', { env: { ...ENV, DBT_HOST: 'xy9.eu1.dbt.com' } });
    expect(cfg.pipeline.dataset).toBe('core_${raw}');
    expect(cfg.transform.dbtCloud?.connection.host).toBe('xy9.eu1.dbt.com');
    expect(cfg.variables.find((v) => v.variable === 'TEAM')?.from).toBe('default');
  });

  it('reads secrets from a secrets_file (.env or YAML); the environment wins', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-cfg-'));
    await writeFile(
      join(dir, 'team.env'),
      '# team secrets\nDBT_CLOUD_API_TOKEN=from-file-token\nexport POSTGRES_URL="postgres://a:file-pass@h/db"\n',
    );
    await writeFile(
      join(dir, 'secrets.yaml'),
      'DBT_CLOUD_API_TOKEN: yaml-file-token\nPOSTGRES_URL: postgres://b:yaml-pass@h/db\n',
    );
    await writeFile(join(dir, 'a.yaml'), `secrets_file: team.env\n${TEAM}`);
    await writeFile(join(dir, 'b.yaml'), `secrets_file: ./secrets.yaml\n${TEAM}`);
    const a = await loadTeamConfig(join(dir, 'a.yaml'), {
      env: { POSTGRES_URL: 'postgres://env:env-pass@h/db' },
    });
    expect(a.transform.dbtCloud?.connection.apiToken).toBe('from-file-token');
    expect(a.destination).toEqual({ type: 'postgres', credentials: 'postgres://env:env-pass@h/db' });
    expect(a.variables.map((v) => v.from)).toEqual(['secrets_file', 'env']);
    const b = await loadTeamConfig(join(dir, 'b.yaml'), { env: {} });
    expect(b.transform.dbtCloud?.connection.apiToken).toBe('yaml-file-token');
    expect(b.redactor.redact('token yaml-file-token and yaml-pass')).toBe('token *** and ***');
  });
});

describe('loadTeamConfig: errors name file, line and field', () => {
  it('a missing secret', async () => {
    const error = await problemsOf(TEAM, { POSTGRES_URL: ENV.POSTGRES_URL }, 'teams/analytics.yaml');
    expect(error.problems).toEqual([
      {
        file: 'teams/analytics.yaml',
        line: 6,
        col: 14,
        path: 'source.api_token',
        message: 'variable ${DBT_CLOUD_API_TOKEN} is not set; export it or add it to a secrets_file',
      },
    ]);
    expect(error.message).toBe(
      'teams/analytics.yaml:6:14: source.api_token: variable ${DBT_CLOUD_API_TOKEN} is not set; export it or add it to a secrets_file',
    );
    expect(error.code).toBe('CONFIG_INVALID');
    expect(error.context).toMatchObject({ file: 'teams/analytics.yaml', line: 6, path: 'source.api_token' });
    expect(error.message).not.toContain('pw-Secret-9');
  });

  it('a missing secrets_file', async () => {
    const error = await problemsOf(`secrets_file: /nonexistent/ferry.env\n${TEAM}`);
    expect(error.problems[0]).toMatchObject({
      line: 1,
      path: 'secrets_file',
      message: 'secrets file /nonexistent/ferry.env not found',
    });
  });

  it('a wrong type', async () => {
    const error = await problemsOf(
      TEAM.replace('account_id: 70403104191314', 'account_id: [1, 2]').replace('wait: true', 'wait: "soon"'),
    );
    expect(error.problems.map((p) => [p.line, p.path])).toEqual([
      [5, 'source.account_id'],
      [12, 'transform.dbt_cloud.wait'],
    ]);
    expect(error.problems[1]?.message).toBe('Invalid input: expected boolean, received string');
    expect(error.message).toMatch(/^team\.yaml: 2 problems\n {2}team\.yaml:5:15: source\.account_id: /);
  });

  it('an unknown destination type', async () => {
    const error = await problemsOf(TEAM.replace('type: postgres', 'type: mysql'));
    expect(error.problems).toEqual([
      {
        file: 'team.yaml',
        line: 9,
        col: 9,
        path: 'destination.type',
        message:
          "unknown destination type 'mysql'; use one of duckdb, postgres, bigquery, snowflake, filesystem",
      },
    ]);
  });

  it('an unknown field, with a did-you-mean', async () => {
    const error = await problemsOf(
      TEAM.replace('  credentials: ${POSTGRES_URL}', '  credentials: ${POSTGRES_URL}\n  credential: x'),
    );
    expect(error.problems).toEqual([
      {
        file: 'team.yaml',
        line: 11,
        col: 3,
        path: 'destination.credential',
        message: "unknown field 'credential'; did you mean 'credentials'?",
      },
    ]);
  });

  it('a missing required section points at the document', async () => {
    const error = await problemsOf(TEAM.split('destination:')[0] ?? '');
    expect(error.problems).toEqual([
      {
        file: 'team.yaml',
        line: 1,
        col: 1,
        path: 'destination',
        message: 'required field is missing (expected object)',
      },
    ]);
  });

  it('a value of the wrong enum and a bad duration', async () => {
    const error = await problemsOf(
      TEAM.replace('jobs, runs', 'jobz, runs').replace('timeout: 30m', 'timeout: soon'),
    );
    expect(error.problems.map((p) => `${p.line}:${p.path}`)).toEqual([
      '7:source.resources[2]',
      '12:transform.dbt_cloud.timeout',
    ]);
  });

  it('an unquoted ${VAR} inside a flow mapping gets a hint', async () => {
    const error = await problemsOf(TEAM.replace('timeout: 30m }', 'timeout: ${TIMEOUT} }'));
    expect(error.problems.length).toBeLessThanOrEqual(3);
    expect(error.problems[0]).toMatchObject({ line: 12, path: '(yaml)' });
    expect(error.problems[0]?.message).toContain('quote references: "${VAR}"');
  });

  it('YAML syntax errors', async () => {
    const error = await problemsOf(`${TEAM}\nsource: again\n`);
    expect(error.problems[0]).toMatchObject({ line: 14, path: '(yaml)' });
    expect(error.problems[0]?.message).toMatch(/unique/i);
  });

  it('never prints a secret, even one written inline or echoed by a validator', async () => {
    const text = TEAM.replace('api_token: ${DBT_CLOUD_API_TOKEN}', 'api_token: inline-secret-token').replace(
      'host: ab123.us1.dbt.com',
      'host: ${POSTGRES_URL}',
    );
    const error = await problemsOf(text);
    expect(error.problems[0]?.path).toBe('source.host');
    expect(JSON.stringify(error.problems)).not.toContain('pw-Secret-9');
    expect(JSON.stringify(error.context)).not.toContain('pw-Secret-9');
    expect(JSON.stringify(error.context)).not.toContain('inline-secret-token');
  });

  it('a missing file', async () => {
    await expect(loadTeamConfig('/nonexistent/team.yaml')).rejects.toThrow(
      '/nonexistent/team.yaml: (file): file not found; check the path',
    );
  });
});
