import { mkdir, open, rename, writeFile, rm, readdir, stat } from 'node:fs/promises';
import path from 'node:path';

/**
 * Write a file atomically: write to a temp sibling, fsync, rename. A reader sees the old or the new
 * content, never a torn file, even after SIGKILL.
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, file);
}

/** fsync a directory so a rename inside it survives a crash. Best effort (some filesystems refuse). */
export async function syncDir(dir: string): Promise<void> {
  try {
    const handle = await open(dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  } catch {
    // directories cannot be fsynced everywhere; the rename itself is still atomic
  }
}

/** Names in a folder, or [] when it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  try {
    return (await readdir(dir)).sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/** True when the path exists. */
export async function exists(p: string): Promise<boolean> {
  try {
    await stat(p);
    return true;
  } catch {
    return false;
  }
}

/** Remove a path recursively; no error when missing. */
export async function remove(p: string): Promise<void> {
  await rm(p, { recursive: true, force: true });
}

/** Write JSON atomically (pretty, for people who open package folders). */
export async function writeJsonAtomic(file: string, value: unknown): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2));
}

export { writeFile };

/** Options of {@link withFileMutex}. */
export interface FileMutexOptions {
  /** A mutex file older than this is left from a crashed holder and removed. Default 30 s. */
  staleMs?: number;
  /** Give up (throw) after waiting this long for the mutex. Default 10 s: holders keep it for milliseconds. */
  waitMs?: number;
}

/**
 * Run `fn` holding the mutex file `mutex` (created with O_EXCL, removed after): a short critical section
 * across processes sharing a folder, for read-compare-write steps such as taking over a stale lock or a
 * conditional write. A crashed holder's mutex is removed once it is older than `staleMs`.
 */
export async function withFileMutex<T>(
  mutex: string,
  fn: () => Promise<T>,
  options: FileMutexOptions = {},
): Promise<T> {
  const staleMs = options.staleMs ?? 30_000;
  const deadline = Date.now() + (options.waitMs ?? 10_000);
  await mkdir(path.dirname(mutex), { recursive: true });
  for (;;) {
    try {
      const handle = await open(mutex, 'wx');
      await handle.close();
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    const age = await stat(mutex).then(
      (s) => Date.now() - s.mtimeMs,
      () => 0,
    );
    if (age > staleMs) await rm(mutex, { force: true });
    else if (Date.now() > deadline)
      throw new Error(`${mutex} has been held for over ${options.waitMs ?? 10_000} ms`);
    else await new Promise((r) => setTimeout(r, 2 + Math.random() * 8));
  }
  try {
    return await fn();
  } finally {
    await rm(mutex, { force: true });
  }
}
