import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse, parseAllDocuments } from 'yaml';

const ROOT = join(import.meta.dirname, '..', '..', '..');

/** Dockerfile instructions: continuation lines joined, comments dropped, `[stage, INSTRUCTION, args]`. */
function dockerfile(text: string): { stage: number; op: string; args: string }[] {
  const out: { stage: number; op: string; args: string }[] = [];
  let stage = -1;
  let pending = '';
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (pending === '' && (line === '' || line.startsWith('#'))) continue;
    if (line.startsWith('#')) continue;
    pending += (pending === '' ? '' : ' ') + line.replace(/\\$/, '').trim();
    if (line.endsWith('\\')) continue;
    const [op = '', ...rest] = pending.split(/\s+/);
    if (op.toUpperCase() === 'FROM') stage++;
    out.push({ stage, op: op.toUpperCase(), args: rest.join(' ') });
    pending = '';
  }
  return out;
}

describe('Dockerfile', () => {
  const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
  const ins = dockerfile(text);
  const froms = ins.filter((i) => i.op === 'FROM');
  const last = froms.length - 1;
  const final = ins.filter((i) => i.stage === last);

  it('is multi-stage on Node 22 bookworm slim', () => {
    expect(froms.length).toBeGreaterThanOrEqual(2);
    expect(froms[0]?.args).toMatch(/^node:22-bookworm-slim AS build$/i);
    expect(froms[last]?.args).toBe('node:22-bookworm-slim');
  });

  it('installs pnpm 10 from the NPM_REGISTRY build arg, with the frozen lockfile, and deploys the CLI for production', () => {
    const build = ins.filter((i) => i.stage === 0);
    expect(build.some((i) => i.op === 'ARG' && /^NPM_REGISTRY\b/.test(i.args))).toBe(true);
    expect(build.some((i) => i.op === 'ARG' && /^NPM_CA\b/.test(i.args))).toBe(true);
    // the build arguments stay in the build stage: the runtime image has no ARG and no registry settings
    expect(final.some((i) => i.op === 'ARG' || /NPM_REGISTRY|NPM_CA|registry/i.test(i.args))).toBe(false);
    const runs = build
      .filter((i) => i.op === 'RUN')
      .map((i) => i.args)
      .join('\n');
    expect(runs).toMatch(/npm install -g (--\S+ )*pnpm@10/);
    expect(runs).toMatch(/\$NPM_REGISTRY/);
    expect(runs).toMatch(/pnpm install --frozen-lockfile/);
    expect(runs).toMatch(/pnpm --filter @ferry\/cli deploy --prod .*\/app/);
    // the workspace packages' compiled dist/ is what lands in /app (Node 22 runs JavaScript, no TS stripping)
    expect(runs).toMatch(/test -f \/app\/node_modules\/@ferry\/core\/dist\/index\.js/);
    // no registry address is written into the repository
    expect(text).not.toMatch(/registry\.(npmjs|yarnpkg)|https?:\/\/[^\s"']*registry/i);
  });

  it('copies only paths that exist', () => {
    for (const copy of ins.filter((i) => i.op === 'COPY' && !i.args.startsWith('--from'))) {
      const parts = copy.args.split(/\s+/).filter((p) => !p.startsWith('--'));
      for (const src of parts.slice(0, -1)) expect(existsSync(join(ROOT, src)), src).toBe(true);
    }
  });

  it('runs as a non-root user with the ferry entrypoint and no HEALTHCHECK', () => {
    const user = final.filter((i) => i.op === 'USER').pop();
    expect(user).toBeDefined();
    expect(user?.args).not.toMatch(/^(root|0)(:|$)/);
    const entry = final.filter((i) => i.op === 'ENTRYPOINT').pop();
    expect(JSON.parse(entry?.args ?? 'null')).toEqual(['ferry']);
    expect(
      final.some((i) => i.op === 'RUN' && /ln -s \/app\/dist\/bin\.js \/usr\/local\/bin\/ferry/.test(i.args)),
    ).toBe(true);
    expect(ins.some((i) => i.op === 'HEALTHCHECK')).toBe(false);
  });

  it('.dockerignore keeps node_modules, dist, git and local state out of the context', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim());
    for (const entry of ['.git', '**/node_modules', '**/dist', '**/.ferry', '**/*.duckdb'])
      expect(ignore).toContain(entry);
  });
});

describe('docker-compose.yml', () => {
  const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8')) as {
    version: string;
    services: Record<string, any>;
  };
  const { postgres, emulator, pipeline } = compose.services;

  it('uses a version both docker-compose 1.29 and Compose v2 accept', () => {
    expect(compose.version).toBe('3.8');
  });

  it('has Postgres 15 with a healthcheck, published on loopback only', () => {
    expect(postgres.image).toBe('postgres:15');
    expect(postgres.healthcheck.test.join(' ')).toMatch(/pg_isready/);
    for (const service of Object.values(compose.services)) {
      for (const port of (service.ports ?? []) as string[]) expect(port).toMatch(/^127\.0\.0\.1:/);
    }
  });

  it('runs the emulator and the team pipeline from the Ferry image', () => {
    for (const s of [emulator, pipeline]) {
      expect(s.image).toBe('ferry:local');
      expect(s.build.context).toBe('.');
      expect(Object.keys(s.build.args)).toEqual(['NPM_REGISTRY', 'NPM_CA']);
      for (const value of Object.values(s.build.args) as string[])
        expect(value).toMatch(/^\$\{NPM_[A-Z]+:-\}$/);
    }
    expect(emulator.command.slice(0, 2)).toEqual(['dbt-cloud', 'emulator']);
    expect(emulator.command).toEqual(expect.arrayContaining(['--host', '0.0.0.0', '--port', '8080']));
    expect(pipeline.command).toEqual(['run', '/config/team.yaml']);
    expect(pipeline.volumes).toContain('./examples/teams:/config:ro');
    expect(existsSync(join(ROOT, 'examples', 'teams', 'team.yaml'))).toBe(true);
    expect(pipeline.depends_on).toEqual({
      postgres: { condition: 'service_healthy' },
      emulator: { condition: 'service_healthy' },
    });
    expect(pipeline.environment.DBT_CLOUD_BASE_URL).toBe('http://emulator:8080');
    expect(pipeline.environment.POSTGRES_URL).toMatch(/@postgres:5432\//);
  });

  it('passes `config` of the installed Compose (docker-compose 1.29 or docker compose v2)', () => {
    const v1 = spawnSync('docker-compose', ['version'], { stdio: 'ignore' }).status === 0;
    const v2 = !v1 && spawnSync('docker', ['compose', 'version'], { stdio: 'ignore' }).status === 0;
    if (!v1 && !v2) {
      // a developer machine without Compose: the structural checks above still ran; CI must have it
      expect(process.env['CI'], 'Compose is required under CI=true').not.toBe('true');
      return;
    }
    const [cmd, args] = v1
      ? ['docker-compose', ['-f', 'docker-compose.yml', 'config', '-q']]
      : ['docker', ['compose', '-f', 'docker-compose.yml', 'config', '-q']];
    execFileSync(cmd, args as string[], { cwd: ROOT, stdio: 'pipe' });
  });
});

describe('scripts/ci-containers.sh', () => {
  const path = join(ROOT, 'scripts', 'ci-containers.sh');
  const text = readFileSync(path, 'utf8');

  it('is strict, executable, and syntactically valid bash', () => {
    expect(text.startsWith('#!/usr/bin/env bash\n')).toBe(true);
    expect(text).toMatch(/^set -euo pipefail$/m);
    expect(statSync(path).mode & 0o111).not.toBe(0);
    expect(spawnSync('bash', ['-n', path]).status).toBe(0);
  });

  it('removes what it creates, also on failure, under per-run names', () => {
    expect(text).toMatch(/^trap cleanup EXIT$/m);
    expect(text).toMatch(/id="ferry-ci-\$\$"/);
    expect(text).toMatch(/docker rm -f -v/);
    expect(text).toMatch(/docker network rm/);
    expect(text).toMatch(/down -v --remove-orphans/);
  });

  it('builds with the host registry as a build argument and runs the team file, twice, then compose', () => {
    expect(text).toMatch(/npm config get registry/);
    expect(text).toMatch(/--build-arg NPM_REGISTRY=/);
    expect(text).toMatch(/-v "\$root\/examples\/teams:\/config:ro"/);
    expect(text).toMatch(/ferry_in run1 run \/config\/team\.yaml/);
    expect(text).toMatch(/ferry_in run2 run \/config\/team\.yaml/);
    expect(text).toMatch(/up --no-build --abort-on-container-exit --exit-code-from pipeline/);
    // nothing is published on the host but loopback (`-p "$compose_project"` is Compose's project name)
    expect(text).not.toMatch(/\s(-P|--publish-all)\s/);
    for (const m of text.matchAll(/\s(?:-p|--publish)[ =](\S+)/g)) {
      if (m[1] !== '"$compose_project"') expect(m[1]).toMatch(/^"?127\.0\.0\.1:/);
    }
  });
});

describe('examples/k8s/cronjob.yaml', () => {
  const text = readFileSync(join(ROOT, 'examples', 'k8s', 'cronjob.yaml'), 'utf8');
  const docs = parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>);
  const byKind = Object.fromEntries(docs.map((d) => [d['kind'], d]));
  const cron = byKind['CronJob'];
  const job = cron?.spec.jobTemplate.spec;
  const pod = job?.template.spec;
  const container = pod?.containers[0];
  /** Kubernetes memory quantity to MiB. */
  const mib = (q: string): number => {
    const m = /^(\d+(?:\.\d+)?)(Mi|Gi|M|G)$/.exec(q);
    if (!m) throw new Error(`unexpected memory quantity ${q}`);
    const n = Number(m[1]);
    return m[2] === 'Gi'
      ? n * 1024
      : m[2] === 'G'
        ? (n * 1e9) / 2 ** 20
        : m[2] === 'M'
          ? (n * 1e6) / 2 ** 20
          : n;
  };

  it('is a ConfigMap, a Secret and a CronJob in one namespace', () => {
    expect(docs.map((d) => d['kind'])).toEqual(['ConfigMap', 'Secret', 'CronJob']);
    expect(new Set(docs.map((d) => d['metadata'].namespace)).size).toBe(1);
    expect(cron.apiVersion).toBe('batch/v1');
  });

  it('never overlaps two runs, does not restart in place, and bounds retries', () => {
    expect(cron.spec.concurrencyPolicy).toBe('Forbid');
    expect(pod.restartPolicy).toBe('Never');
    expect(Number.isInteger(job.backoffLimit) && job.backoffLimit >= 0 && job.backoffLimit <= 5).toBe(true);
    expect(job.activeDeadlineSeconds).toBeGreaterThan(30 * 60);
  });

  it('runs the image as its non-root user with the YAML from the ConfigMap and the token from the Secret', () => {
    expect(container.args).toEqual(['run', '/config/team.yaml']);
    expect(pod.securityContext.runAsUser).toBe(10001);
    const dockerfile = readFileSync(join(ROOT, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^USER 10001(:10001)?$/m);
    const config = pod.volumes.find((v: any) => v.configMap);
    expect(config.configMap.name).toBe(byKind['ConfigMap'].metadata.name);
    expect(container.volumeMounts).toContainEqual({
      name: config.name,
      mountPath: '/config',
      readOnly: true,
    });
    expect(container.envFrom).toContainEqual({ secretRef: { name: byKind['Secret'].metadata.name } });
    const team = byKind['ConfigMap'].data['team.yaml'] as string;
    // every ${VAR} of the team file comes from the Secret, whose values are placeholders
    const vars = [...team.matchAll(/\$\{([A-Z0-9_]+)\}/g)].map((m) => m[1]);
    expect(vars).toContain('DBT_CLOUD_API_TOKEN');
    for (const v of vars) expect(Object.keys(byKind['Secret'].stringData)).toContain(v);
    for (const value of Object.values(byKind['Secret'].stringData) as string[])
      expect(value).toMatch(/replace/);
  });

  it('sizes memory from the measured peak RSS stated in the file', () => {
    const { requests, limits } = container.resources;
    const peaks = [...text.matchAll(/([\d,]+) MB at ([\d,]+) runs/g)].map((m) =>
      Number(m[1]!.replace(/,/g, '')),
    );
    expect(text).toMatch(/peak RSS/);
    expect(peaks.length).toBeGreaterThanOrEqual(2);
    const peakMib = (Math.max(...peaks) * 1e6) / 2 ** 20;
    // the request covers the largest measured first load; the limit leaves headroom over it
    expect(mib(requests.memory)).toBeGreaterThanOrEqual(peakMib);
    expect(mib(limits.memory)).toBeGreaterThanOrEqual(1.5 * peakMib);
    expect(mib(limits.memory)).toBeLessThanOrEqual(4 * peakMib);
    expect(requests.cpu).toBeDefined();
  });
});
