import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startS3Server, type S3TestServer } from '../../support/s3-server.ts';
import type { ConformanceTarget } from './types.ts';

const local = (name: string, format: 'parquet' | 'jsonl'): ConformanceTarget => ({
  name,
  async setup() {
    const dir = await mkdtemp(path.join(tmpdir(), `ferry-conf-${name}-`));
    return {
      config: {
        type: 'filesystem',
        bucketUrl: `file://${dir}`,
        format,
        ...(format === 'jsonl' ? { compression: 'gzip' as const } : {}),
      },
      teardown: () => rm(dir, { recursive: true, force: true }),
    };
  },
});

let server: S3TestServer | undefined;
let bucketCounter = 0;

/** Parquet on S3 through the real `@aws-sdk/client-s3` against s3rver on 127.0.0.1 (one bucket per case). */
const s3: ConformanceTarget = {
  name: 'filesystem-s3',
  async start() {
    server = await startS3Server();
  },
  async stop() {
    await server?.stop();
    server = undefined;
  },
  async setup() {
    if (!server) throw new Error('filesystem-s3: the S3 server is not running (start() was not called)');
    const bucket = `conf-${process.pid}-${bucketCounter++}`;
    await server.createBucket(bucket);
    return {
      config: {
        type: 'filesystem',
        bucketUrl: `s3://${bucket}/ferry`,
        format: 'parquet',
        s3: server.settings,
      },
      teardown: async () => undefined,
    };
  },
};

/** Filesystem destination: local Parquet, local gzip JSONL, S3 Parquet. */
export const targets: ConformanceTarget[] = [
  local('filesystem', 'parquet'),
  local('filesystem-jsonl', 'jsonl'),
  s3,
];
