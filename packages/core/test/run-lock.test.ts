import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FerryError, pipeline, resource, source } from '@ferry/core';
import { filesOnly } from './fixtures/files-only.ts';

const CHILD = path.join(import.meta.dirname, 'fixtures', 'lock-child.ts');
const RACE_CHILD = path.join(import.meta.dirname, 'fixtures', 'lock-race-child.ts');
const dirs: string[] = [];
const children: ChildProcess[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function workdir() {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-lock-'));
  dirs.push(dataDir);
  return { dataDir, go: path.join(dataDir, 'go'), lock: path.join(dataDir, 'locked', 'run.lock') };
}

/** Start the child; resolves once it paused mid-extract (holding the lock), with a promise of its result. */
function startChild(dataDir: string, go: string) {
  const child = spawn(process.execPath, ['--conditions=@ferry/source', CHILD], {
    env: { ...process.env, DATA_DIR: dataDir, GO: go },
  });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const result = new Promise<{ ok: boolean; items?: Record<string, number>; code?: string }>(
    (resolve, reject) => {
      child.on('close', () => {
        const last = out.trim().split('\n').pop() ?? '';
        try {
          resolve(JSON.parse(last));
        } catch {
          reject(new Error(`child printed ${JSON.stringify(out)}; stderr: ${err}`));
        }
      });
    },
  );
  const paused = new Promise<void>((resolve) =>
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('paused')) resolve();
    }),
  );
  return { paused, result };
}

const items = (n: number) =>
  source({
    name: 'src',
    resources: [resource({ name: 'items' }, () => [Array.from({ length: n }, (_, id) => ({ id }))])],
  });

describe('run lock of a working folder', () => {
  it('a second writer fails with PIPELINE_BUSY naming the holder; a reader meanwhile deletes nothing; the first finishes', async () => {
    const { dataDir, go } = await workdir();
    const child = startChild(dataDir, go);
    await child.paused;
    const tmp = path.join(dataDir, 'locked', 'tmp');
    const before = await readdir(tmp);
    expect(before.length).toBeGreaterThan(0); // the child's extract folder
    const p = pipeline({ name: 'locked', destination: filesOnly, dataDir });
    const error = await p.extract(items(10)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(FerryError);
    expect((error as FerryError).code).toBe('PIPELINE_BUSY');
    expect((error as Error).message).toMatch(
      new RegExp(`pipeline 'locked' is already running \\(pid \\d+ on ${hostname()}`),
    );
    // Readers (state, schema, pending, the dataset API's open) leave the running extract's files alone.
    expect(await p.hasPending()).toBe(false);
    await p.state();
    expect(await readdir(tmp)).toEqual(before);
    await writeFile(go, '');
    expect(await child.result).toEqual({ ok: true, items: { items: 2000 } });
    // The lock is gone with the run: the next writer goes ahead.
    const next = await p.extract(items(10));
    expect(next.items).toEqual({ items: 10 });
  }, 60_000);

  it('two pipelines of one process on one folder exclude each other too', async () => {
    const { dataDir } = await workdir();
    const a = pipeline({ name: 'locked', destination: filesOnly, dataDir });
    const b = pipeline({ name: 'locked', destination: filesOnly, dataDir });
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => (release = r));
    const slow = source({
      name: 'src',
      resources: [
        resource({ name: 'items' }, async function* () {
          yield [{ id: 1 }];
          await gate;
        }),
      ],
    });
    const first = a.extract(slow);
    await new Promise((r) => setTimeout(r, 200));
    await expect(b.extract(items(1))).rejects.toMatchObject({ code: 'PIPELINE_BUSY' });
    release();
    expect((await first).items).toEqual({ items: 1 });
    expect((await b.extract(items(1))).items).toEqual({ items: 1 });
  });

  it('a stale lock is taken over: a dead pid on this host, or no heartbeat for a minute on another host', async () => {
    const { dataDir, lock } = await workdir();
    const p = pipeline({ name: 'locked', destination: filesOnly, dataDir });
    await p.extract(items(1)); // creates the folders
    const write = (info: object) =>
      writeFile(lock, JSON.stringify({ token: 'other', startedAt: 'then', ...info }));
    // A pid that cannot be alive (above the kernel's pid_max), on this host.
    await write({ pid: 2 ** 30, host: hostname() });
    expect((await p.extract(items(2))).items).toEqual({ items: 2 });
    // Another host, heartbeat 2 minutes ago: stale.
    await write({ pid: 1, host: 'pod-gone' });
    const old = new Date(Date.now() - 120_000);
    await utimes(lock, old, old);
    expect((await p.extract(items(3))).items).toEqual({ items: 3 });
    // Another host with a fresh heartbeat: live, so busy.
    await write({ pid: 1, host: 'pod-running' });
    await expect(p.extract(items(4))).rejects.toMatchObject({ code: 'PIPELINE_BUSY' });
  });

  it('processes racing to take over one stale lock: exactly one wins each time', async () => {
    const { dataDir } = await workdir();
    const lock = path.join(dataDir, 'run.lock');
    for (let round = 0; round < 3; round++) {
      // A lock from another host whose heartbeat stopped two minutes ago.
      await writeFile(lock, JSON.stringify({ pid: 1, host: 'pod-gone', token: 'gone', startedAt: 'then' }));
      const old = new Date(Date.now() - 120_000);
      await utimes(lock, old, old);
      const go = path.join(dataDir, `go-${round}`);
      const racers = Array.from({ length: 4 }, () => {
        const child = spawn(process.execPath, ['--conditions=@ferry/source', RACE_CHILD], {
          env: { ...process.env, GO: go, LOCK: lock, HOLD_MS: '800' },
        });
        children.push(child);
        let out = '';
        child.stdout.on('data', (d: Buffer) => (out += d.toString()));
        const ready = new Promise<void>((resolve) =>
          child.stdout.on('data', () => out.includes('ready') && resolve()),
        );
        const done = new Promise<string>((resolve) =>
          child.on('close', () => resolve(out.replace('ready\n', '').trim())),
        );
        return { ready, done };
      });
      await Promise.all(racers.map((r) => r.ready));
      await writeFile(go, '');
      const outcomes = await Promise.all(racers.map((r) => r.done));
      expect(outcomes.sort()).toEqual(['busy', 'busy', 'busy', 'won']);
      expect((await readdir(dataDir)).filter((f) => f.startsWith('run.lock.'))).toEqual([]);
    }
  });
});
