import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { parseTeamConfig, teamJsonSchemaText, validateFiles } from '@ferry/cli';

const ROOT = join(import.meta.dirname, '..', '..', '..');
const TEAMS = join(ROOT, 'examples', 'teams');
// dummy values for every variable the examples reference
const ENV = {
  DBT_CLOUD_API_TOKEN: 'dummy-token-1234',
  POSTGRES_URL: 'postgres://loader:dummy-pass@127.0.0.1:5432/test',
  GOOGLE_APPLICATION_CREDENTIALS: '/secrets/sa.json',
  SNOWFLAKE_PASSWORD: 'dummy-pass',
  FERRY_SECRETS_FILE: '/dev/null',
  AWS_ACCESS_KEY_ID: 'AKIDUMMY',
  AWS_SECRET_ACCESS_KEY: 'dummy-secret',
  DBT_CLOUD_BASE_URL: 'http://emulator:8080',
  DBT_CLOUD_ACCOUNT_ID: '70403104191314',
  GITHUB_TOKEN: 'dummy-github-token',
};

describe('examples/teams', () => {
  it('every team file is valid, one per destination type', async () => {
    const results = await validateFiles([TEAMS], { env: ENV, cwd: ROOT });
    for (const r of results) expect(r.problems, r.file).toEqual([]);
    const types = new Set(results.map((r) => r.config?.destination.type));
    expect([...types].sort()).toEqual(['bigquery', 'duckdb', 'filesystem', 'postgres', 'snowflake']);
    expect(results.map((r) => r.file.split('/').pop()).sort()).toEqual([
      'bigquery.yaml',
      'duckdb.yaml',
      'filesystem-s3.yaml',
      'postgres.yaml',
      'rest-api-github.yaml',
      'snowflake.yaml',
      'team.yaml',
    ]);
  });

  it('without the variables, each file names the missing secret with its line', async () => {
    const results = await validateFiles([join(TEAMS, 'postgres.yaml')], { env: {}, cwd: ROOT });
    expect(results[0]?.problems.map((p) => `${p.line}:${p.path}`)).toEqual([
      '10:source.api_token',
      '14:destination.credentials',
    ]);
  });

  it('ferry.schema.json is the generated JSON Schema (regenerate: pnpm ferry schema --out examples/teams/ferry.schema.json)', async () => {
    expect(await readFile(join(TEAMS, 'ferry.schema.json'), 'utf8')).toBe(teamJsonSchemaText());
  });
});

describe('examples/k8s/cronjob.yaml', () => {
  it('has a ConfigMap with a valid team, a Secret with the token, and a Forbid CronJob with resources', async () => {
    const docs = parseAllDocuments(await readFile(join(ROOT, 'examples', 'k8s', 'cronjob.yaml'), 'utf8')).map(
      (d) => d.toJS() as Record<string, any>,
    );
    const byKind = Object.fromEntries(docs.map((d) => [d['kind'], d]));
    const team = byKind['ConfigMap']?.data?.['team.yaml'] as string;
    const secret = byKind['Secret']?.stringData as Record<string, string>;
    expect(Object.keys(secret)).toContain('DBT_CLOUD_API_TOKEN');
    const cfg = await parseTeamConfig(team, 'configmap:team.yaml', { env: secret });
    expect(cfg.destination.type).toBe('postgres');
    const cron = byKind['CronJob'];
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    const pod = cron.spec.jobTemplate.spec.template.spec;
    const container = pod.containers[0];
    expect(container.args).toEqual(['run', '/config/team.yaml']);
    expect(container.resources.requests).toBeDefined();
    expect(container.resources.limits).toBeDefined();
    expect(container.envFrom[0].secretRef.name).toBe(byKind['Secret'].metadata.name);
    expect(pod.volumes.find((v: any) => v.name === 'config').configMap.name).toBe(
      byKind['ConfigMap'].metadata.name,
    );
    expect(pod.securityContext.runAsNonRoot).toBe(true);
  });
});
