import { createReadStream, createWriteStream } from 'node:fs';
import {
  copyFile,
  link,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { createGzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { FilesystemStore, PutFileOptions, PutFileResult, VersionedObject } from './filesystem-store.ts';

const TMP_MARK = '.ferry-tmp-';

/** Error codes of a filesystem without hard links (SMB shares, some FUSE mounts). */
const NO_HARD_LINKS = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS']);

/**
 * Put the whole file `tmp` at `target` only if nothing is there: a hard link appears complete or fails
 * with EEXIST. Without hard links, an exclusive create and then the write. Returns whether it did.
 */
async function createExclusive(tmp: string, target: string, body: string): Promise<boolean> {
  try {
    await link(tmp, target);
    return true;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_HARD_LINKS.has(code)) throw error;
  }
  try {
    const handle = await open(target, 'wx');
    try {
      await handle.writeFile(body);
    } finally {
      await handle.close();
    }
    return true;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw error;
  }
}

/**
 * A local folder as a store. Writes go to a temp file in the same folder and are renamed into place,
 * so a crash never leaves a half-written data file or marker under its final name.
 */
export class LocalStore implements FilesystemStore {
  /** Root folder (absolute). */
  readonly dir: string;
  readonly url: string;

  constructor(dir: string) {
    this.dir = dir;
    this.url = pathToFileURL(dir).href;
  }

  private abs(key: string): string {
    const p = path.resolve(this.dir, key);
    if (p !== this.dir && !p.startsWith(this.dir + path.sep))
      throw new Error(`key '${key}' escapes the bucket folder ${this.dir}`);
    return p;
  }

  private async tempFor(target: string): Promise<string> {
    await mkdir(path.dirname(target), { recursive: true });
    return `${target}${TMP_MARK}${randomBytes(4).toString('hex')}`;
  }

  async init(): Promise<void> {
    await mkdir(this.dir, { recursive: true });
  }

  async put(key: string, body: string | Uint8Array): Promise<void> {
    const target = this.abs(key);
    const tmp = await this.tempFor(target);
    await writeFile(tmp, body, { flush: true });
    await rename(tmp, target);
  }

  async putFile(key: string, localPath: string, options: PutFileOptions = {}): Promise<PutFileResult> {
    const target = this.abs(key);
    const tmp = await this.tempFor(target);
    try {
      if (options.gzip)
        await pipeline(createReadStream(localPath), createGzip(), createWriteStream(tmp, { flush: true }));
      else await copyFile(localPath, tmp);
      await rename(tmp, target);
    } catch (error) {
      await rm(tmp, { force: true });
      throw error;
    }
    return { bytes: (await stat(target)).size, parts: 1 };
  }

  async get(key: string): Promise<Buffer | undefined> {
    try {
      return await readFile(this.abs(key));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw error;
    }
  }

  async getVersioned(key: string): Promise<VersionedObject | undefined> {
    const body = await this.get(key);
    return body === undefined ? undefined : { text: body.toString('utf8') };
  }

  async putIf(key: string, body: string, expected: VersionedObject | undefined): Promise<boolean> {
    const target = this.abs(key);
    const tmp = await this.tempFor(target);
    await writeFile(tmp, body, { flush: true });
    try {
      if (expected !== undefined && !(await this.takeIfUnchanged(target, expected))) return false;
      return await createExclusive(tmp, target, body);
    } finally {
      await rm(tmp, { force: true });
    }
  }

  async deleteIf(key: string, expected: VersionedObject): Promise<boolean> {
    return this.takeIfUnchanged(this.abs(key), expected);
  }

  /**
   * Remove `target` if its text is still `expected.text`: it is renamed aside first (only one rename of
   * a file can succeed), and put back (never over a newer one) when it turns out to have changed.
   */
  private async takeIfUnchanged(target: string, expected: VersionedObject): Promise<boolean> {
    const aside = `${target}${TMP_MARK}${randomBytes(4).toString('hex')}`;
    try {
      await rename(target, aside);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    try {
      if ((await readFile(aside, 'utf8')) === expected.text) return true;
      await link(aside, target).catch(() => undefined);
      return false;
    } finally {
      await rm(aside, { force: true });
    }
  }

  async getFile(key: string, localPath: string): Promise<void> {
    await mkdir(path.dirname(localPath), { recursive: true });
    await copyFile(this.abs(key), localPath);
  }

  async list(prefix: string): Promise<string[]> {
    const slash = prefix.lastIndexOf('/');
    const base = slash < 0 ? '' : prefix.slice(0, slash);
    let entries;
    try {
      entries = await readdir(this.abs(base), { recursive: true, withFileTypes: true });
    } catch (error) {
      if (
        (error as NodeJS.ErrnoException).code === 'ENOENT' ||
        (error as NodeJS.ErrnoException).code === 'ENOTDIR'
      )
        return [];
      throw error;
    }
    const keys: string[] = [];
    for (const e of entries) {
      if (!e.isFile() || e.name.includes(TMP_MARK)) continue;
      const key = path.relative(this.dir, path.join(e.parentPath, e.name)).split(path.sep).join('/');
      if (key.startsWith(prefix)) keys.push(key);
    }
    return keys;
  }

  async delete(keys: string[]): Promise<void> {
    await Promise.all(keys.map((k) => rm(this.abs(k), { force: true })));
  }

  /** Remove a whole folder (dropDataset). */
  async deletePrefix(prefix: string): Promise<void> {
    await rm(this.abs(prefix), { recursive: true, force: true });
  }

  async exists(key: string): Promise<boolean> {
    try {
      return (await stat(this.abs(key))).isFile();
    } catch {
      return false;
    }
  }

  localPath(key: string): string {
    return this.abs(key);
  }

  async close(): Promise<void> {}
}
