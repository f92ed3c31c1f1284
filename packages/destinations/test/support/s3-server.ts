import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { CreateBucketCommand, S3Client } from '@aws-sdk/client-s3';

/** A local S3-compatible server for tests (s3rver on 127.0.0.1, in a child process). */
export interface S3TestServer {
  /** `http://127.0.0.1:PORT`. */
  endpoint: string;
  /** Settings for `FilesystemConfig.s3` (path style, dummy credentials, a region). */
  settings: {
    endpoint: string;
    region: string;
    forcePathStyle: boolean;
    accessKeyId: string;
    secretAccessKey: string;
  };
  /** A client for assertions. */
  client: S3Client;
  /** Create a bucket. */
  createBucket(name: string): Promise<void>;
  /** Stop the server and remove its folder. */
  stop(): Promise<void>;
}

/**
 * Start s3rver bound to 127.0.0.1 on a free port. It runs in a child process with
 * `NODE_OPTIONS=--openssl-legacy-provider` (its continuation tokens use DES, which OpenSSL 3 refuses
 * otherwise), so paginated listings work. The child exits when this process closes its stdin.
 */
export async function startS3Server(): Promise<S3TestServer> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-s3rver-'));
  const child = spawn(process.execPath, [path.join(import.meta.dirname, 's3-server-child.mjs'), dir], {
    env: { ...process.env, NODE_OPTIONS: '--openssl-legacy-provider' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.once('line', (line) => resolve((JSON.parse(line) as { port: number }).port));
    child.once('exit', (code) => reject(new Error(`s3rver exited with ${code} before listening: ${stderr}`)));
  });
  const endpoint = `http://127.0.0.1:${port}`;
  const settings = {
    endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    accessKeyId: 'S3RVER',
    secretAccessKey: 'S3RVER',
  };
  const client = new S3Client({
    ...settings,
    credentials: { accessKeyId: 'S3RVER', secretAccessKey: 'S3RVER' },
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
  });
  return {
    endpoint,
    settings,
    client,
    async createBucket(name) {
      await client.send(new CreateBucketCommand({ Bucket: name }));
    },
    async stop() {
      client.destroy();
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
