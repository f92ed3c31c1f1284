import { startAzurite, type AzuriteServer } from '../../filesystem-azure/azurite.ts';
import type { ConformanceTarget } from './types.ts';

let server: AzuriteServer | undefined;
let containers = 0;

/**
 * Parquet on Azure Blob Storage through the real `@azure/storage-blob` against Azurite on 127.0.0.1 (one
 * container per case, shared-key auth, which Azurite checks).
 */
export const target: ConformanceTarget = {
  name: 'filesystem-azure',
  async start() {
    server = await startAzurite();
  },
  async stop() {
    await server?.stop();
    server = undefined;
  },
  async setup() {
    if (!server) throw new Error('filesystem-azure: Azurite is not running (start() was not called)');
    const container = `conf-${process.pid}-${containers++}`;
    await server.createContainer(container);
    return {
      config: {
        type: 'filesystem',
        bucketUrl: `az://${container}/ferry`,
        format: 'parquet',
        azure: server.settings,
      },
      teardown: async () => {
        await server?.service.getContainerClient(container).deleteIfExists();
      },
    };
  },
};
