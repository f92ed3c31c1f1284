import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DuckDBInstance } from '@duckdb/node-api';
import { pipeline, type Pipeline } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';
import type { DbtCloudSourceOptions } from '@ferry/source-dbt-cloud';

/**
 * Small retry delays, no request pacing and silent waits: fault tests stay fast; the logic under test is
 * the same as with production delays.
 */
export const FAST = {
  retryBaseDelayMs: 5,
  retryMaxDelayMs: 50,
  rateLimitCooldownMs: 50,
  requestsPerMinute: 0,
  onWait: () => undefined,
  timeoutMs: 5_000,
} satisfies Partial<DbtCloudSourceOptions>;

/** A temp folder removed by `cleanup()`. */
export async function tempDir(prefix: string): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), `ferry-dbt-${prefix}-`));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A pipeline into a DuckDB file, dataset `dbt_cloud`. */
export function duckPipeline(file: string, dataDir: string): Pipeline {
  return pipeline({
    name: 'dbt',
    dataset: 'dbt_cloud',
    destination: duckdb({ type: 'duckdb', path: file }),
    dataDir,
    normalizeWorkers: 0,
  });
}

/** Run SQL against a DuckDB file (opened and closed around the call) and return row objects. */
export async function query(file: string, sql: string): Promise<Record<string, unknown>[]> {
  const instance = await DuckDBInstance.create(file);
  try {
    const conn = await instance.connect();
    try {
      const reader = await conn.runAndReadAll(sql);
      return reader.getRowObjects() as Record<string, unknown>[];
    } finally {
      conn.closeSync();
    }
  } finally {
    instance.closeSync();
  }
}

/** `count(*)` of a table in schema dbt_cloud. */
export async function count(file: string, table: string, where = 'true'): Promise<number> {
  const rows = await query(file, `select count(*)::integer as n from dbt_cloud."${table}" where ${where}`);
  return Number(rows[0]?.['n']);
}
