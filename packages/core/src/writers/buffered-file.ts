import { open, type FileHandle } from 'node:fs/promises';

/** Chunk size before a write hits the disk: large enough to amortize syscalls, small for flat memory. */
const FLUSH_BYTES = 1 << 20;

/** Appends text to a file through an in-memory chunk; `close()` fsyncs so a later rename is durable. */
export class BufferedFile {
  private chunks: string[] = [];
  private pending = 0;
  private handle: FileHandle | undefined;
  /** Bytes written (counted as UTF-16 code units; close enough for rotation). */
  bytes = 0;

  private readonly fileHandle: FileHandle;

  private constructor(fileHandle: FileHandle) {
    this.fileHandle = fileHandle;
    this.handle = fileHandle;
  }

  /** Create (truncate) the file. */
  static async create(path: string): Promise<BufferedFile> {
    return new BufferedFile(await open(path, 'w'));
  }

  /** Append text; returns a promise only when the chunk was flushed. */
  append(text: string): void | Promise<void> {
    this.chunks.push(text);
    this.pending += text.length;
    this.bytes += text.length;
    if (this.pending >= FLUSH_BYTES) return this.flush();
  }

  private writing: Promise<unknown> = Promise.resolve();

  /** Write the chunk out. Writes are chained, so concurrent appenders never race on the file position. */
  flush(): Promise<void> {
    if (this.chunks.length > 0) {
      const text = this.chunks.join('');
      this.chunks = [];
      this.pending = 0;
      this.writing = this.writing.then(() => this.fileHandle.write(text));
    }
    return this.writing.then(() => undefined);
  }

  /** Flush, fsync and close. Idempotent. */
  async close(): Promise<void> {
    if (!this.handle) return;
    await this.flush();
    await this.fileHandle.sync();
    await this.fileHandle.close();
    this.handle = undefined;
  }
}
