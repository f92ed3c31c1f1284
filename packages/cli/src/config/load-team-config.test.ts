import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadTeamConfig, MAX_REPORTED_PROBLEMS, parseTeamConfig } from './load-team-config.ts';
import { MAX_PIPELINE_NAME_LENGTH, pipeline, type Destination } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { Redactor } from './redactor.ts';
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

const ENV_NO_PG = { DBT_CLOUD_API_TOKEN: ENV.DBT_CLOUD_API_TOKEN };

/** A destination for constructing pipelines (never connected in these tests). */
const duckdbStub: Destination = duckdb({ path: ':memory:' });

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
    expect(error.problems[1]?.message).toBe("Invalid input: expected boolean, received string (got 'soon')");
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

describe('loadTeamConfig: secrets by provenance, not by name', () => {
  const PG = TEAM.replace(
    '  credentials: ${POSTGRES_URL}',
    '  credentials: { host: db, user: "${DB_USER}", password: "${DB_PWD}", database: w }\n  connect_timeout_ms: "${PG_TIMEOUT}"',
  );
  const env = { ...ENV, DB_USER: 'loader-user', DB_PWD: 'Pa55/word@x', PG_TIMEOUT: '5000' };

  it('registers every value from the environment, whatever the variable is called', async () => {
    const cfg = await parseTeamConfig(PG, 'team.yaml', { env });
    expect(cfg.redactor.redact('user loader-user pw Pa55/word@x url https://x/?p=Pa55%2Fword%40x')).toBe(
      'user *** pw *** url https://x/?p=***',
    );
    // JSON-escaped spellings too
    const quoted = await parseTeamConfig(PG, 'team.yaml', { env: { ...env, DB_PWD: 'a"b\\c-pass' } });
    expect(quoted.redactor.redact(JSON.stringify({ pw: 'a"b\\c-pass' }))).toBe('{"pw":"***"}');
    expect(cfg.masked.map((m) => [m.path.join('.'), m.text])).toEqual([
      ['source.api_token', '***'],
      ['destination.credentials.user', '***'],
      ['destination.credentials.password', '***'],
      ['destination.connect_timeout_ms', '***'],
    ]);
  });

  it('masks only the interpolated part of a value, and leaves names and defaults alone', async () => {
    const text = TEAM.replace('name: analytics_dbt', 'name: "${TEAM_NAME}"')
      .replace(
        '  credentials: ${POSTGRES_URL}',
        '  credentials: "postgres://u:${PGPASS}@db:${PGPORT:-5432}/w"',
      )
      .replace('job_id: 278164', 'job_id: "${JOB:-278164}"');
    const cfg = await parseTeamConfig(text, 'team.yaml', {
      env: { ...ENV, TEAM_NAME: 'analytics', PGPASS: 'xy1' },
    });
    expect(cfg.pipeline.name).toBe('analytics');
    expect(cfg.redactor.redact('pipeline analytics')).toBe('pipeline analytics');
    expect(cfg.masked.find((m) => m.path.join('.') === 'destination.credentials')?.text).toBe(
      'postgres://u:***@db:5432/w',
    );
    expect(cfg.masked.some((m) => m.path.join('.').includes('job_id'))).toBe(false);
  });

  it('registers every value of the secrets file, used or not, and the parent redactor learns them', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-cfg-'));
    await writeFile(join(dir, 's.env'), 'DBT_CLOUD_API_TOKEN=tok-from-file\nUNUSED_THING=unused-value-1\n');
    await writeFile(join(dir, 'team.yaml'), `secrets_file: s.env\n${TEAM}`);
    const parent = new Redactor();
    await loadTeamConfig(join(dir, 'team.yaml'), {
      env: { POSTGRES_URL: ENV.POSTGRES_URL },
      redactor: parent,
    });
    expect(parent.redact('tok-from-file unused-value-1 pw-Secret-9')).toBe('*** *** ***');
  });

  it('a secrets file with a YAML syntax error is reported by line and column, never its text', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ferry-cfg-'));
    await writeFile(
      join(dir, 'secrets.yaml'),
      'DBT_CLOUD_API_TOKEN: dbtc_leaky_value\nPOSTGRES_URL: "postgres://u:leaky-pass@h/db\n  broken: [\n',
    );
    await writeFile(join(dir, 'team.yaml'), `secrets_file: secrets.yaml\n${TEAM}`);
    const error = await loadTeamConfig(join(dir, 'team.yaml'), { env: {} }).then(
      () => undefined,
      (e: unknown) => e as TeamConfigError,
    );
    expect(error).toBeInstanceOf(TeamConfigError);
    const text = `${error?.message} ${JSON.stringify(error?.problems)} ${JSON.stringify(error?.context)}`;
    expect(text).toMatch(/cannot read secrets file secrets\.yaml: YAML syntax error at line \d+, column \d+/);
    expect(text).not.toContain('leaky');
    expect(text).not.toContain('dbtc_');
  });

  it('a value from the environment in an invalid field is shown masked in the message', async () => {
    const text = TEAM.replace('wait: true', 'wait: "${WAIT_FLAG}"');
    const error = await problemsOf(text, { ...ENV, WAIT_FLAG: 'maybe-secret-ish' });
    expect(error.problems[0]?.message).toBe("Invalid input: expected boolean, received string (got '***')");
    expect(error.message).not.toContain('maybe-secret-ish');
  });
});

describe('loadTeamConfig: messages name the offending value', () => {
  it('an unknown resource is named, with the valid ones', async () => {
    const error = await problemsOf(TEAM.replace('jobs, runs', 'jobs, no_such_resource'));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ line: 7, path: 'source.resources[3]' });
    expect(error.problems[0]?.message).toMatch(
      /^unknown value 'no_such_resource' in resources; use one of accounts, account, projects, environments, jobs,/,
    );
  });

  it('a bad duration names the value', async () => {
    const error = await problemsOf(TEAM.replace('timeout: 30m', 'timeout: soon'));
    expect(error.problems[0]?.message).toContain("'soon'");
  });
});

describe('loadTeamConfig: pipeline names follow the engine rule', () => {
  it('a 300-character name fails validation naming the limit, as pipeline() does', async () => {
    const long = 'a'.repeat(300);
    const error = await problemsOf(TEAM.replace('name: analytics_dbt', `name: ${long}`));
    expect(error.problems).toHaveLength(1);
    expect(error.problems[0]).toMatchObject({ line: 1, path: 'pipeline.name' });
    expect(error.problems[0]?.message).toBe(
      `pipeline name '${'a'.repeat(40)}…' is 300 characters long; at most ${MAX_PIPELINE_NAME_LENGTH} are allowed`,
    );
    expect(() => pipeline({ name: long, destination: duckdbStub })).toThrow(error.problems[0]?.message);
  });

  it('validate and the engine accept and refuse the same names', async () => {
    const names = [
      'ok',
      'a.b-c_d',
      '9lives',
      '_x',
      'x'.repeat(64),
      'x'.repeat(65),
      '.hidden',
      'a/b',
      'a b',
      '',
    ];
    for (const name of names) {
      const yamlOk = await parseTeamConfig(TEAM.replace('name: analytics_dbt', `name: "${name}"`), 't.yaml', {
        env: ENV,
      }).then(
        () => true,
        () => false,
      );
      let engineOk = true;
      try {
        pipeline({ name, destination: duckdbStub });
      } catch {
        engineOk = false;
      }
      expect([name, yamlOk]).toEqual([name, engineOk]);
    }
  });
});

describe('loadTeamConfig: scope', () => {
  it('destination scope needs no source or transform secrets and skips their validation', async () => {
    const env = { POSTGRES_URL: ENV.POSTGRES_URL };
    await expect(parseTeamConfig(TEAM, 'team.yaml', { env })).rejects.toThrow(/DBT_CLOUD_API_TOKEN/);
    const cfg = await parseTeamConfig(
      TEAM.replace('account_id: 70403104191314', 'account_id: "${ACCT}"'),
      'team.yaml',
      {
        env,
        scope: 'destination',
      },
    );
    expect(cfg.scope).toBe('destination');
    expect(cfg.destination).toEqual({ type: 'postgres', credentials: ENV.POSTGRES_URL });
    expect(cfg.transform).toEqual({});
    expect(cfg.redactor.redact(ENV.POSTGRES_URL)).toBe('***');
  });

  it('destination scope still requires the destination to resolve and validate', async () => {
    await expect(
      parseTeamConfig(TEAM, 'team.yaml', { env: ENV_NO_PG, scope: 'destination' }),
    ).rejects.toThrow(/destination\.credentials: variable \$\{POSTGRES_URL\} is not set/);
    await expect(
      parseTeamConfig(TEAM.replace('type: postgres', 'type: mysql'), 'team.yaml', {
        env: ENV,
        scope: 'destination',
      }),
    ).rejects.toThrow(/unknown destination type 'mysql'/);
  });
});

describe('loadTeamConfig: linear in the number of keys', () => {
  // Before (yaml's uniqueKeys compares every pair of keys, each unknown field was located by a scan and
  // the redactor scanned each message once per secret): 20,000 keys took 17 s, 40,000 took 152 s on the
  // shared test machine. The tests compare 2,500 with 20,000 keys in the same process rather than
  // against a clock, so a busy machine slows both sides. 8x the keys: linear is 8x at most (fixed costs
  // make it less; 4x-8x measured in vitest), quadratic 64x; the old code measured 13x and 19x even with
  // its small case still warming up.
  const credentialsOf = (n: number): string =>
    TEAM.replace(
      'type: postgres\n  credentials: ${POSTGRES_URL}',
      `type: bigquery\n  project_id: p1\n  credentials:\n${Array.from({ length: n }, (_, i) => `    k${i}: v${i}`).join('\n')}`,
    );
  const unknownFieldsOf = (n: number): string =>
    TEAM.replace('transform:', `${Array.from({ length: n }, (_, i) => `x${i}: 1`).join('\n')}\ntransform:`);
  /** Fastest of `runs` timings (pauses of a loaded machine only ever add time). */
  async function bestMs(runs: number, fn: () => Promise<unknown>): Promise<number> {
    let best = Infinity;
    for (let i = 0; i < runs; i++) {
      const started = performance.now();
      await fn();
      best = Math.min(best, performance.now() - started);
    }
    return best;
  }

  it('20,000 keys in a free-form mapping cost about 8x what 2,500 do, not 64x', async () => {
    const large = credentialsOf(20_000);
    const small = credentialsOf(2_500);
    const cfg = await parseTeamConfig(large, 'team.yaml', { env: ENV });
    expect(Object.keys((cfg.destination as { credentials: object }).credentials)).toHaveLength(20_000);
    const tSmall = await bestMs(3, () => parseTeamConfig(small, 'team.yaml', { env: ENV }));
    const tLarge = await bestMs(2, () => parseTeamConfig(large, 'team.yaml', { env: ENV }));
    expect(tLarge / tSmall).toBeLessThan(12);
  });

  it('20,000 unknown fields: the first 100 are reported and located, the rest counted, in linear time', async () => {
    const large = unknownFieldsOf(20_000);
    const error = await problemsOf(large);
    expect(error.problems).toHaveLength(MAX_REPORTED_PROBLEMS + 1);
    expect(error.problems[99]).toMatchObject({ line: 110, col: 1, path: 'x99' });
    expect(error.problems[100]?.message).toBe(
      `19900 more problem(s) not listed; fix the ${MAX_REPORTED_PROBLEMS} above first`,
    );
    const small = unknownFieldsOf(2_500);
    const tSmall = await bestMs(3, () => problemsOf(small));
    const tLarge = await bestMs(2, () => problemsOf(large));
    expect(tLarge / tSmall).toBeLessThan(12);
  });

  it('a repeated key is still an error, naming the key and both lines', async () => {
    const error = await problemsOf(`${TEAM}pipeline: { name: again }\n`);
    expect(error.problems[0]).toMatchObject({ line: 13, col: 1, path: '(yaml)' });
    expect(error.problems[0]?.message).toBe(
      "Map keys must be unique; 'pipeline' is repeated (first at line 1)",
    );
  });
});
