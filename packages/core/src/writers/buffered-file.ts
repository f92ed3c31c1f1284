import { open, type FileHandle } from 'node:fs/promises';

/** Chunk size before a write hits the disk: large enough to amortize syscalls, small for flat memory. */
const FLUSH_BYTES = 1 << 20;
/** Chunk capacity: the flush size plus room for one more line without a check against the end. */
const CHUNK_BYTES = FLUSH_BYTES + (1 << 16);

const done = (): void => undefined;

/**
 * Appends text to a file through an in-memory chunk; `close()` fsyncs so a later rename is durable.
 *
 * Text is UTF-8-encoded straight into a byte chunk as it is appended (no array of strings joined and
 * encoded again at flush). A full chunk is written in the background while the caller fills the next:
 * the promise `append` returns settles when the *previous* chunk is on disk, so at most two chunks are
 * in memory and the CPU does not sit idle waiting for each write.
 */
export class BufferedFile {
  private chunk: Buffer = Buffer.allocUnsafe(CHUNK_BYTES);
  private offset = 0;
  private handle: FileHandle | undefined;
  /** Bytes written (text counted as UTF-16 code units, close enough for rotation; bytes exactly). */
  bytes = 0;

  private readonly fileHandle: FileHandle;
  /** The chain of writes: each starts after the one before, so the file position never races. */
  private writing: Promise<unknown> = Promise.resolve();

  private constructor(fileHandle: FileHandle) {
    this.fileHandle = fileHandle;
    this.handle = fileHandle;
  }

  /** Create (truncate) the file. */
  static async create(path: string): Promise<BufferedFile> {
    return new BufferedFile(await open(path, 'w'));
  }

  /** Append text; returns a promise only when a chunk was handed to the disk (await it for backpressure). */
  append(text: string): void | Promise<void> {
    this.bytes += text.length;
    // A UTF-16 code unit takes at most 3 UTF-8 bytes.
    if (this.offset + text.length * 3 > this.chunk.length) {
      if (text.length * 3 > CHUNK_BYTES) {
        // Larger than a chunk: write what is buffered, then the text itself, in order.
        this.startWrite();
        return this.chainWrite(text);
      }
      const p = this.startWrite();
      this.offset = this.chunk.write(text, 0);
      return p;
    }
    this.offset += this.chunk.write(text, this.offset);
    if (this.offset >= FLUSH_BYTES) return this.startWrite();
  }

  /**
   * Append text and a newline: the same bytes as `append(text + '\n')` without building that string
   * (a concatenation the encoder would have to flatten first).
   */
  appendLine(text: string): void | Promise<void> {
    if (this.offset + text.length * 3 + 1 > this.chunk.length) return this.append(`${text}\n`);
    this.bytes += text.length + 1;
    this.offset += this.chunk.write(text, this.offset);
    this.chunk[this.offset++] = 0x0a;
    if (this.offset >= FLUSH_BYTES) return this.startWrite();
  }

  /**
   * Append bytes (binary writers encode into their own buffer and hand it over; the caller must not
   * change `bytes` afterwards). Bytes that fit are copied into the chunk; larger ones are queued as they
   * are, after what is buffered. Returns a promise when a chunk was handed to the disk, as `append` does.
   */
  appendBytes(bytes: Buffer): void | Promise<void> {
    this.bytes += bytes.length;
    if (this.offset + bytes.length <= this.chunk.length) {
      bytes.copy(this.chunk, this.offset);
      this.offset += bytes.length;
      if (this.offset >= FLUSH_BYTES) return this.startWrite();
      return;
    }
    this.startWrite();
    return this.chainWrite(bytes);
  }

  /** Hand the buffered bytes to the disk; resolves when the write before them has finished. */
  private startWrite(): Promise<void> {
    const previous = this.writing;
    if (this.offset > 0) {
      const bytes = this.chunk.subarray(0, this.offset);
      this.chunk = Buffer.allocUnsafe(CHUNK_BYTES);
      this.offset = 0;
      this.chainWrite(bytes);
    }
    return previous.then(done);
  }

  private chainWrite(data: Buffer | string): Promise<void> {
    const next = this.writing.then(() => this.writeAll(data));
    // Marked handled here; the error still reaches whoever awaits the chain (the next append, flush, close).
    next.catch(done);
    this.writing = next;
    return next.then(done);
  }

  /** Write all of `data` (a write may take less than it was given). */
  private async writeAll(data: Buffer | string): Promise<void> {
    let bytes = typeof data === 'string' ? Buffer.from(data) : data;
    while (bytes.length > 0) {
      const { bytesWritten } = await this.fileHandle.write(bytes);
      bytes = bytes.subarray(bytesWritten);
    }
  }

  /** Write everything buffered and wait until it is on disk (in the OS). */
  async flush(): Promise<void> {
    this.startWrite();
    await this.writing;
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
