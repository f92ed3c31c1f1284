import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { BlobServiceClient, StorageSharedKeyCredential } from '@azure/storage-blob';

/** Azurite's built-in account and its documented well-known key (not a secret). */
export const AZURITE_ACCOUNT = 'devstoreaccount1';
export const AZURITE_KEY =
  'Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==';

/** A running Azurite blob service. */
export interface AzuriteServer {
  /** Blob endpoint with the account path, `http://127.0.0.1:PORT/devstoreaccount1`. */
  endpoint: string;
  /** Settings for `FilesystemConfig.azure`. */
  settings: { endpoint: string; accountName: string; accountKey: string };
  /** A client for assertions and setup. */
  service: BlobServiceClient;
  /** Create a container. */
  createContainer(name: string): Promise<void>;
  /** Stop Azurite and remove its folder. */
  stop(): Promise<void>;
}

/**
 * Start Azurite's blob service (the npm package, a real emulator) on 127.0.0.1 and a free port, in memory,
 * with telemetry off (it would otherwise send usage data out), in a child process that exits with us.
 */
export async function startAzurite(): Promise<AzuriteServer> {
  const main = createRequire(import.meta.url).resolve('azurite/dist/src/blob/main.js');
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-azurite-'));
  const child = spawn(
    process.execPath,
    [
      main,
      '--blobHost',
      '127.0.0.1',
      '--blobPort',
      '0',
      '--inMemoryPersistence',
      '--disableTelemetry',
      '--skipApiVersionCheck',
      '--silent',
    ],
    { cwd: dir, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const port = await new Promise<number>((resolve, reject) => {
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const m = /listens on http:\/\/127\.0\.0\.1:(\d+)/.exec(line);
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) =>
      reject(new Error(`azurite exited with ${code} before listening: ${stderr}`)),
    );
  });
  const endpoint = `http://127.0.0.1:${port}/${AZURITE_ACCOUNT}`;
  const service = new BlobServiceClient(
    endpoint,
    new StorageSharedKeyCredential(AZURITE_ACCOUNT, AZURITE_KEY),
  );
  return {
    endpoint,
    settings: { endpoint, accountName: AZURITE_ACCOUNT, accountKey: AZURITE_KEY },
    service,
    async createContainer(name) {
      await service.getContainerClient(name).create();
    },
    async stop() {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
      await rm(dir, { recursive: true, force: true });
    },
  };
}
