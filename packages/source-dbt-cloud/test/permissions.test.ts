import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  DbtCloudClient,
  dbtCloudSource,
  forbiddenOutcome,
  probeDbtCloudAccess,
  type DbtCloudForbiddenResource,
  type DbtCloudSourceOptions,
} from '@ferry/source-dbt-cloud';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';
import { count, duckPipeline, FAST, tempDir } from './helpers.ts';

describe('least-privilege tokens: a 403 on one resource skips it with a warning, the rest loads', () => {
  let emu: DbtCloudEmulator;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  beforeAll(async () => {
    emu = await startEmulator({
      runs: 30,
      inFlightRuns: 0,
      seed: 4,
      scopedTokens: { viewer_tok: 'job_viewer', runner_tok: 'job_runner', admin_tok: 'job_admin' },
    });
    tmp = await tempDir('perm');
  });
  afterAll(async () => {
    await emu.close();
    await tmp.cleanup();
  });

  const load = async (
    token: string,
    file: string,
    extra: Partial<DbtCloudSourceOptions> = {},
  ): Promise<{ warnings: DbtCloudForbiddenResource[]; forbidden: readonly DbtCloudForbiddenResource[] }> => {
    const warnings: DbtCloudForbiddenResource[] = [];
    const src = dbtCloudSource({
      baseUrl: emu.url,
      accountId: emu.accountId,
      apiToken: token,
      onWarning: (w) => warnings.push(w),
      ...FAST,
      ...extra,
    });
    const p = duckPipeline(path.join(tmp.dir, file), path.join(tmp.dir, `data-${file}`));
    await p.run(src);
    await p.close();
    return { warnings, forbidden: src.forbidden };
  };

  it('Job Viewer with the default resources: every readable resource loads, users/repositories/connections are named; outcome ok', async () => {
    const { warnings, forbidden } = await load('viewer_tok', 'viewer.duckdb');
    const file = path.join(tmp.dir, 'viewer.duckdb');
    const s = emu.store;
    expect(await count(file, 'accounts')).toBe(1);
    expect(await count(file, 'projects')).toBe(s.projects.length);
    expect(await count(file, 'environments')).toBe(s.environments.length);
    expect(await count(file, 'jobs')).toBe(s.jobs.length);
    expect(await count(file, 'runs')).toBe(s.runs.length);
    expect(warnings.map((w) => w.resource).sort()).toEqual(['connections', 'repositories', 'users']);
    expect(forbidden).toEqual(warnings);
    const users = warnings.find((w) => w.resource === 'users')!;
    expect(users.status).toBe(403);
    expect(users.explicit).toBe(false);
    expect(users.message).toContain("'users'");
    expect(users.message).toContain('403');
    expect(users.message).toContain('Account Admin');
    expect(users.message).toMatch(/\/api\/v3\/accounts\/\d+\/users\//);
    // Repositories are read per project; the 403 is reported once and not asked again for each project.
    expect(emu.requests.count(/\/repositories\/$/, { status: 403 })).toBe(1);
    expect(forbiddenOutcome(forbidden)).toBe('ok');
  });

  it('Job Runner, resources named explicitly: projects (and the environments read through it) are named; outcome partial', async () => {
    const { warnings } = await load('runner_tok', 'runner.duckdb', {
      resources: ['projects', 'environments', 'jobs', 'runs'],
    });
    const file = path.join(tmp.dir, 'runner.duckdb');
    expect(await count(file, 'jobs')).toBe(emu.store.jobs.length);
    expect(await count(file, 'runs')).toBe(emu.store.runs.length);
    expect(warnings.map((w) => w.resource)).toEqual(['projects']);
    expect(warnings[0]!.dependents).toEqual(['environments']);
    expect(warnings[0]!.explicit).toBe(true);
    expect(warnings[0]!.message).toContain('environments');
    expect(forbiddenOutcome(warnings)).toBe('partial');
  });

  it('a token that may read nothing here fails the load instead of loading nothing', async () => {
    await expect(
      load('runner_tok', 'nothing.duckdb', { resources: ['users', 'connections'] }),
    ).rejects.toThrow(/403 for every resource of this load \(.*users.*\)/);
  });

  it('probeDbtCloudAccess says what each token can read, one request per resource', async () => {
    const client = new DbtCloudClient({ baseUrl: emu.url, accountId: emu.accountId, apiToken: 'admin_tok' });
    emu.requests.reset();
    const probes = await probeDbtCloudAccess(client);
    expect(Object.fromEntries(probes.map((p) => [p.resource, p.access]))).toEqual({
      accounts: 'read',
      projects: 'read',
      environments: 'read',
      repositories: 'forbidden',
      jobs: 'read',
      runs: 'read',
      users: 'forbidden',
      connections: 'read',
    });
    expect(emu.requests.all.length).toBe(8);
    expect(probes.find((p) => p.resource === 'users')!.permissionSets).toContain('Account Viewer');
  });
});
