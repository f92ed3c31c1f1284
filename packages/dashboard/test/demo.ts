import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { pipeline, type Destination, type LoadInfo, type Pipeline } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import { dbtCloudSource } from '@ferry/source-dbt-cloud';
import { startEmulator, type DbtCloudEmulator } from '@ferry/source-dbt-cloud/emulator';
import { startDashboard } from '@ferry/dashboard';

/** A dbt Cloud job name that is markup: it must show as text, never as an element. */
export const XSS_JOB_NAME = '<img src=x onerror=alert(1)>';
/** The emulator's API token: it must never appear on a page or in an API answer. */
export const API_TOKEN = 'dbtc_dashboard-SECRET-token-4f9c1e';
/** A password in the destination's description (and so in the last run's trace.json): never served. */
export const DEST_PASSWORD = 'pw-dashboard-SECRET-8d2b';

/** The demo: dbt Cloud emulator → DuckDB in two incremental runs, and a dashboard on it. */
export interface Demo {
  emu: DbtCloudEmulator;
  pipeline: Pipeline;
  runs: LoadInfo[];
  /** The dashboard's URL with its token (`http://127.0.0.1:<port>/?token=…`). */
  url: string;
  /** The dashboard's token, for the `Authorization: Bearer` header of API calls. */
  token: string;
  dir: string;
  close(): Promise<void>;
}

/**
 * Build the demo pipeline: 1,000 fixture runs (about 3.5 days of 5-minute spacing, so the charts have
 * several days), the first job renamed to {@link XSS_JOB_NAME}, a second run after 25 new runs so the
 * overview lists two loads, then start the dashboard.
 */
export async function buildDemo(): Promise<Demo> {
  const dir = await mkdtemp(path.join(tmpdir(), 'ferry-dashboard-'));
  const emu = await startEmulator({ runs: 1000, inFlightRuns: 3, seed: 5, token: API_TOKEN });
  emu.store.jobs[0]!.name = XSS_JOB_NAME;
  const base = duckdb({ path: path.join(dir, 'demo.duckdb') });
  // Like a warehouse destination whose description carries a secret: the dashboard must not pass it on.
  const destination: Destination = {
    ...base,
    describe: () => `duckdb://admin:${DEST_PASSWORD}@local/${path.join(dir, 'demo.duckdb')}`,
  };
  const p = pipeline({
    name: 'dbt_demo',
    dataset: 'dbt_cloud',
    destination,
    dataDir: path.join(dir, 'data'),
    normalizeWorkers: 0,
  });
  const source = () =>
    dbtCloudSource({
      baseUrl: emu.url,
      accountId: emu.accountId,
      apiToken: API_TOKEN,
      retryBaseDelayMs: 5,
      retryMaxDelayMs: 50,
    });
  const runs = [await p.run(source())];
  emu.addRuns(25);
  runs.push(await p.run(source()));
  const dashboard = await startDashboard({ pipeline: p });
  return {
    emu,
    pipeline: p,
    runs,
    url: dashboard.url,
    token: dashboard.token,
    dir,
    async close() {
      await dashboard.close();
      await emu.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
