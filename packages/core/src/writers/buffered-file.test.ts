import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BufferedFile } from './buffered-file.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'ferry-buffered-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('BufferedFile', () => {
  it('writes every byte in order (append and appendLine): multi-byte text across chunk ends, texts larger than a chunk, unawaited appends', async () => {
    const file = path.join(dir, 'buffered.txt');
    const f = await BufferedFile.create(file);
    const parts: string[] = [];
    const pending: Promise<void>[] = [];
    let i = 0;
    // ~5 MB of mixed one-, two-, three- and four-byte UTF-8, plus two 1.5M-char texts.
    while (parts.length < 60_000) {
      const text = `${i} é東🚀 "${'x'.repeat(i % 97)}"`;
      parts.push(`${text}\n`);
      // appendLine(t) writes the bytes of append(t + '\n').
      const p = i % 2 === 0 ? f.append(`${text}\n`) : f.appendLine(text);
      // Await only every few flushes: appends keep coming while a chunk is being written.
      if (p && i % 3 === 0) await p;
      else if (p) pending.push(p);
      if (i === 20_000 || i === 40_000) {
        const big = `${'ü'.repeat(700_000)}${'a'.repeat(800_000)}\n`;
        parts.push(big);
        const q = f.append(big);
        if (q) pending.push(q);
      }
      i++;
    }
    await Promise.all(pending);
    await f.close();
    await f.close();
    const want = parts.join('');
    expect(f.bytes).toBe(want.length);
    const got = await readFile(file);
    expect(got.length).toBe(Buffer.byteLength(want));
    expect(got.toString('utf8') === want).toBe(true);
  });

  it('an empty file stays empty', async () => {
    const file = path.join(dir, 'empty.txt');
    const f = await BufferedFile.create(file);
    await f.close();
    expect(await readFile(file, 'utf8')).toBe('');
  });
});
