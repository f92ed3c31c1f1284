import { mkdtemp, readdir, rm, utimes, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { withFileMutex } from './fs.ts';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});
async function dir() {
  const d = await mkdtemp(path.join(tmpdir(), 'ferry-mutex-'));
  dirs.push(d);
  return d;
}

describe('withFileMutex', () => {
  it('runs critical sections one at a time and removes the mutex after each', async () => {
    const d = await dir();
    const mutex = path.join(d, 'm');
    let inside = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      Array.from({ length: 6 }, (_, i) =>
        withFileMutex(mutex, async () => {
          inside++;
          most = Math.max(most, inside);
          await new Promise((r) => setTimeout(r, 5));
          order.push(i);
          inside--;
        }),
      ),
    );
    expect(most).toBe(1);
    expect(order.sort()).toEqual([0, 1, 2, 3, 4, 5]);
    expect(await readdir(d)).toEqual([]);
  });

  it("a crashed holder's mutex is removed once stale; a live one makes the waiter give up after waitMs", async () => {
    const d = await dir();
    const mutex = path.join(d, 'm');
    await writeFile(mutex, '');
    await expect(withFileMutex(mutex, async () => 'never', { waitMs: 50 })).rejects.toThrow(
      /has been held for over 50 ms/,
    );
    const old = new Date(Date.now() - 60_000);
    await utimes(mutex, old, old);
    expect(await withFileMutex(mutex, async () => 'ran')).toBe('ran');
    expect(await readdir(d)).toEqual([]);
  });

  it('the mutex goes also when the section throws', async () => {
    const d = await dir();
    const mutex = path.join(d, 'm');
    await expect(
      withFileMutex(mutex, async () => {
        throw new Error('boom');
      }),
    ).rejects.toThrow('boom');
    expect(await readdir(d)).toEqual([]);
  });
});
