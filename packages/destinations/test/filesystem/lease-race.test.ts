import { spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

/**
 * The filesystem lease under real concurrency: four processes claim one pipeline's lease file in the same
 * instant (none there; an expired one from another host; a live one of a dead process on this host).
 * Exactly one wins each time, and no temp or aside file is left in the bucket.
 */
const CHILD = path.join(import.meta.dirname, 'fixtures', 'lease-race-child.ts');
const children: ChildProcess[] = [];
const dirs: string[] = [];
afterEach(async () => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function race(bucket: string, dataset: string, round: string): Promise<string[]> {
  const go = path.join(bucket, `go-${round}`);
  const racers = Array.from({ length: 4 }, () => {
    const child = spawn(process.execPath, ['--conditions=@ferry/source', CHILD], {
      env: { ...process.env, BUCKET: bucket, DATASET: dataset, GO: go },
    });
    children.push(child);
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const ready = new Promise<void>((resolve) =>
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('ready')) resolve();
      }),
    );
    const done = new Promise<string>((resolve) =>
      child.on('close', () => resolve(out.replace('ready\n', '').trim() || `stderr: ${err}`)),
    );
    return { ready, done };
  });
  await Promise.all(racers.map((r) => r.ready));
  await writeFile(go, '');
  const outcomes = await Promise.all(racers.map((r) => r.done));
  await rm(go);
  return outcomes.sort();
}

describe('filesystem lease: processes racing for one pipeline', () => {
  it('exactly one of four wins: no lease yet, an expired one, one of a dead process on this host', async () => {
    const bucket = await mkdtemp(path.join(tmpdir(), 'ferry-lease-race-'));
    dirs.push(bucket);
    const leaseDir = path.join(bucket, 'ds', '_ferry_pipeline_lease');
    const leaseFile = path.join(leaseDir, 'race.json');
    expect(await race(bucket, 'ds', 'none')).toEqual(['busy', 'busy', 'busy', 'won']);

    await mkdir(leaseDir, { recursive: true });
    const since = new Date(0).toISOString();
    await writeFile(
      leaseFile,
      JSON.stringify({
        holder: 'gone',
        info: { host: 'pod-gone', pid: 1, since },
        expiresMs: Date.now() - 1,
      }),
    );
    expect(await race(bucket, 'ds', 'expired')).toEqual(['busy', 'busy', 'busy', 'won']);

    await writeFile(
      leaseFile,
      JSON.stringify({
        holder: 'crashed',
        info: { host: hostname(), pid: 2 ** 30, since },
        expiresMs: Date.now() + 60_000,
      }),
    );
    expect(await race(bucket, 'ds', 'dead')).toEqual(['busy', 'busy', 'busy', 'won']);
    // Every winner gave its lease back on close; nothing else is left.
    expect(await readdir(leaseDir)).toEqual([]);
  }, 60_000);
});
