import { createReadStream, createWriteStream } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { pipeline } from 'node:stream/promises';
import { withFileMutex } from '@ferry/core';
import { createGzip } from 'node:zlib';
import { randomBytes } from 'node:crypto';
import type { FilesystemStore, PutFileOptions, PutFileResult, VersionedObject } from './filesystem-store.ts';

const TMP_MARK = '.ferry-tmp-';

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

  /** Run a conditional step on `key` under its mutex file (a sibling the listing skips). */
  private underMutex<T>(key: string, fn: (target: string) => Promise<T>): Promise<T> {
    const target = this.abs(key);
    return withFileMutex(`${target}${TMP_MARK}mutex`, () => fn(target));
  }

  async putIf(key: string, body: string, expected: VersionedObject | undefined): Promise<boolean> {
    return this.underMutex(key, async () => {
      const current = await this.getVersioned(key);
      if (expected === undefined ? current !== undefined : current?.text !== expected.text) return false;
      await this.put(key, body);
      return true;
    });
  }

  async deleteIf(key: string, expected: VersionedObject): Promise<boolean> {
    return this.underMutex(key, async (target) => {
      if ((await this.getVersioned(key))?.text !== expected.text) return false;
      await rm(target, { force: true });
      return true;
    });
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
