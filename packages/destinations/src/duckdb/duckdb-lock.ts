import type { DuckDBInstance } from '@duckdb/node-api';
import { FerryError } from '@ferry/core';

/**
 * How long a writer (`ferry run`, `pipeline.run`) waits for a DuckDB file that another process holds:
 * 60 s, twice the dashboard's 30 s query timeout, so a run that starts during the longest dashboard
 * query waits it out instead of failing. `FERRY_DUCKDB_LOCK_TIMEOUT_MS` overrides it (0: fail at once).
 */
export const DEFAULT_DUCKDB_WRITER_LOCK_WAIT_MS = 60_000;

/**
 * How long a reader (dataset API, `ferry query`, the dashboard) waits for a file a writer holds: 1 s.
 * A run keeps the file for its whole length, so waiting longer would only stall the page; the reader
 * fails with a message that says the file is being written.
 */
export const DEFAULT_DUCKDB_READER_LOCK_WAIT_MS = 1_000;

/** First pause between two attempts; it grows by half each time up to {@link MAX_PAUSE_MS}. */
const FIRST_PAUSE_MS = 20;
/** Longest pause: a writer starts at most this long after the last reader closed. */
const MAX_PAUSE_MS = 200;

/** Whether a DuckDB error says that another process holds the file's lock (DuckDB locks per process). */
export function isDuckDbLockConflict(error: unknown): boolean {
  return error instanceof Error && /Could not set lock on file/i.test(error.message);
}

/** The writer wait from `FERRY_DUCKDB_LOCK_TIMEOUT_MS`, else {@link DEFAULT_DUCKDB_WRITER_LOCK_WAIT_MS}. */
export function writerLockWaitMs(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env.FERRY_DUCKDB_LOCK_TIMEOUT_MS;
  if (raw === undefined || raw.trim() === '') return DEFAULT_DUCKDB_WRITER_LOCK_WAIT_MS;
  const ms = Number(raw);
  if (!Number.isFinite(ms) || ms < 0)
    throw new FerryError(
      'CONFIG_INVALID',
      `FERRY_DUCKDB_LOCK_TIMEOUT_MS must be a number of milliseconds >= 0, got '${raw}'`,
    );
  return ms;
}

/**
 * Open a DuckDB instance, waiting up to `waitMs` while another process holds the file. DuckDB allows one
 * writing process or many reading ones per file; readers hold the file only while they query, so a
 * writer that finds it taken retries with short pauses rather than failing the run. Past `waitMs` it
 * fails with a message naming the file, the process holding it (DuckDB says which) and what to do.
 * Any other open error is thrown as is.
 */
export async function createDuckDbInstance(
  create: (file: string, options: Record<string, string>) => Promise<DuckDBInstance>,
  file: string,
  options: { readOnly: boolean; settings: Record<string, string>; waitMs: number },
): Promise<DuckDBInstance> {
  const started = performance.now();
  let pause = FIRST_PAUSE_MS;
  for (;;) {
    try {
      return await create(file, options.settings);
    } catch (error) {
      if (!isDuckDbLockConflict(error)) throw error;
      const waited = performance.now() - started;
      if (waited >= options.waitMs) throw lockError(file, error as Error, options.readOnly, waited);
      await new Promise((resolve) => setTimeout(resolve, Math.min(pause, options.waitMs - waited)));
      pause = Math.min(MAX_PAUSE_MS, Math.ceil(pause * 1.5));
    }
  }
}

function lockError(file: string, cause: Error, readOnly: boolean, waitedMs: number): FerryError {
  const pid = /\(PID (\d+)\)/.exec(cause.message)?.[1];
  const holder = pid ? `process ${pid}` : 'another process';
  const waited = `${(waitedMs / 1000).toFixed(1)} s`;
  const message = readOnly
    ? `duckdb file ${file} is being written by ${holder} (a run holds it until it ends; waited ${waited}): try again when the run has finished`
    : `duckdb file ${file} is held by ${holder} (waited ${waited}): a reader such as \`ferry query\` or the dashboard holds it for at most its query timeout, another run until it ends. Stop that process or try again; FERRY_DUCKDB_LOCK_TIMEOUT_MS sets how long a run waits (default ${DEFAULT_DUCKDB_WRITER_LOCK_WAIT_MS / 1000} s).`;
  return new FerryError('DESTINATION_BUSY', message, {
    context: { file, pid: pid === undefined ? null : Number(pid), readOnly, waitedMs: Math.round(waitedMs) },
    cause,
  });
}
