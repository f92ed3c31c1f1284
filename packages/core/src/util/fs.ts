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
