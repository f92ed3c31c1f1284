import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import {
  pipeline,
  type Destination,
  type DestinationClient,
  type Pipeline,
  type PipelineOptions,
} from '@ferry/core';
import { createDestination, type DestinationConfig } from '@ferry/destinations';
import { afterAll, beforeAll } from 'vitest';
import type { ConformanceTarget } from './targets/types.ts';

/** A fresh pipeline environment for one conformance case. */
export interface CaseEnv {
  /** Destination config (for child processes). */
  config: DestinationConfig;
  /** Dataset name, unique per case. */
  dataset: string;
  /** Pipeline name, unique per case. */
  name: string;
  /** A new local working folder (call again for a "fresh container"). */
  newDataDir(): Promise<string>;
  /** A pipeline over the destination with the given dataDir (default: the case's first one). */
  pipeline(options?: Partial<PipelineOptions>): Promise<Pipeline>;
  /** Run a function with a connected destination client. */
  withClient<T>(fn: (client: DestinationClient) => Promise<T>): Promise<T>;
  /** Row count of a table. */
  count(table: string): Promise<number>;
  /** Rows of a SQL query (use `t('name')` for qualified table names). */
  rows(sql: (t: (table: string) => string) => string): Promise<Record<string, unknown>[]>;
  /** The destination object. */
  destination: Destination;
}

let counter = 0;

/** Build a case environment; `dispose` removes temp folders. */
export async function makeCase(
  config: DestinationConfig,
  label: string,
): Promise<{ env: CaseEnv; dispose(): Promise<void> }> {
  const destination = await createDestination(config);
  const suffix = `${process.pid}_${Date.now().toString(36)}_${counter++}`;
  const name = `conf_${label}_${suffix}`.slice(0, 50);
  const dataset = name;
  const dirs: string[] = [];
  const newDataDir = async () => {
    const d = await mkdtemp(path.join(tmpdir(), 'ferry-conf-data-'));
    dirs.push(d);
    return d;
  };
  const first = await newDataDir();
  const withClient = async <T>(fn: (client: DestinationClient) => Promise<T>): Promise<T> => {
    const p = pipeline({ name, dataset, destination, dataDir: first });
    const client = await destination.connect({ dataset: p.destinationDataset, pipelineName: name });
    try {
      return await fn(client);
    } finally {
      await client.close();
    }
  };
  const env: CaseEnv = {
    config,
    dataset,
    name,
    destination,
    newDataDir,
    pipeline: async (options = {}) => pipeline({ name, dataset, destination, dataDir: first, ...options }),
    withClient,
    rows: (sql) =>
      withClient(async (c) => {
        if (!c.reader) throw new Error(`${destination.type} has no reader`);
        const reader = c.reader;
        return reader.query(sql((t) => reader.qualifiedTable(t)));
      }),
    count: async (table) => {
      const rows = await env.rows((t) => `SELECT COUNT(*) AS n FROM ${t(table)}`);
      return Number(rows[0]?.n);
    },
  };
  return {
    env,
    dispose: async () => {
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    },
  };
}

/**
 * Start and stop `target` around the current `describe` block, and return the runner of its cases: each
 * case body gets a fresh place (dataset, working folder) that is torn down even when the body fails.
 */
export function useTarget(
  target: ConformanceTarget,
): (label: string, body: (env: CaseEnv) => Promise<void>) => Promise<void> {
  beforeAll(async () => {
    await target.start?.();
  }, 180_000);
  afterAll(async () => {
    await target.stop?.();
  });
  return async (label, body) => {
    const { config, teardown } = await target.setup(label);
    const { env, dispose } = await makeCase(config, label);
    try {
      await body(env);
    } finally {
      await env.withClient((c) => c.dropDataset()).catch(() => undefined);
      await dispose();
      await teardown();
    }
  };
}
