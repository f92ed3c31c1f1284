import { startGcsServer, type GcsTestServer } from '../../support/gcs-server/gcs-server.ts';
import type { ConformanceTarget } from './types.ts';

let server: GcsTestServer | undefined;
let buckets = 0;

/**
 * Parquet on Google Cloud Storage through the real `@google-cloud/storage` against the local JSON API
 * server (one bucket per case; gzip JSONL crosses the SDK in the GCS tests).
 */
export const target: ConformanceTarget = {
  name: 'filesystem-gcs',
  async start() {
    // No metadata-server probing in this process or the crash children (they inherit the environment).
    process.env.METADATA_SERVER_DETECTION = 'none';
    server = await startGcsServer();
  },
  async stop() {
    await server?.stop();
    server = undefined;
  },
  async setup() {
    if (!server) throw new Error('filesystem-gcs: the GCS server is not running (start() was not called)');
    const bucket = `conf-${process.pid}-${buckets++}`;
    server.createBucket(bucket);
    return {
      config: {
        type: 'filesystem',
        bucketUrl: `gs://${bucket}/ferry`,
        format: 'parquet',
        gcs: { apiEndpoint: server.endpoint, projectId: 'ferry-test' },
      },
      teardown: async () => undefined,
    };
  },
};
