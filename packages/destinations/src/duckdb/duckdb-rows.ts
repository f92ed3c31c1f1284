import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';
import { FerryError, ReadOnlySqlError, type UntrustedQueryOptions } from '@ferry/core';

/** A result row as a plain object. */
export type Row = Record<string, unknown>;

/** A DuckDB JS value for users: BIGINT as a number when safe, else an exact `bigint`. */
export function toJs(value: unknown): unknown {
  if (typeof value === 'bigint')
    return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER)
      ? Number(value)
      : value;
  return value;
}

/** Run a query and return every row as a plain object. */
export async function queryRows(
  connection: DuckDBConnection,
  sql: string,
  params?: unknown[],
): Promise<Row[]> {
  const reader = await connection.runAndReadAll(sql, params as DuckDBValue[] | undefined);
  return reader.getRowObjectsJS().map((r) => {
    const out: Row = {};
    for (const [k, v] of Object.entries(r)) out[k] = toJs(v);
    return out;
  });
}

/** Stream a query in batches of `batchSize` rows (DuckDB's streaming result: memory stays flat). */
export async function* streamRows(
  connection: DuckDBConnection,
  sql: string,
  params: unknown[] | undefined,
  batchSize: number,
): AsyncIterable<Row[]> {
  const result = await connection.stream(sql, params as DuckDBValue[] | undefined);
  const names = result.columnNames();
  let batch: Row[] = [];
  for await (const rows of result.yieldRowsJs()) {
    for (const values of rows) {
      const row: Row = {};
      for (let i = 0; i < names.length; i++) row[names[i]!] = toJs(values[i]);
      batch.push(row);
      if (batch.length >= batchSize) {
        yield batch;
        batch = [];
      }
    }
  }
  if (batch.length > 0) yield batch;
}

/** DuckDB statement types an untrusted query may have (SHOW, DESCRIBE and SUMMARIZE parse as SELECT). */
const QUERY_TYPES = new Set<number>([1 /* SELECT */, 4 /* EXPLAIN */]);

/**
 * Run one untrusted statement on a read-only connection with external access off (the caller's job): DuckDB's
 * own parser counts the statements (exactly one) and names its type (SELECT or EXPLAIN only), the statement
 * is interrupted past the timeout, and at most `maxRows` rows are read.
 */
export async function untrustedRows(
  connection: DuckDBConnection,
  sql: string,
  params: unknown[] | undefined,
  options: UntrustedQueryOptions,
): Promise<Row[]> {
  let extracted;
  try {
    extracted = await connection.extractStatements(sql);
  } catch (error) {
    throw new ReadOnlySqlError(`the query does not parse: ${(error as Error).message}`);
  }
  if (extracted.count !== 1)
    throw new ReadOnlySqlError(`only one statement is allowed (DuckDB found ${extracted.count})`);
  const prepared = await extracted.prepare(0);
  try {
    if (!QUERY_TYPES.has(prepared.statementType))
      throw new ReadOnlySqlError(
        `only a query (SELECT, WITH, SHOW, DESCRIBE, EXPLAIN) is allowed; DuckDB reads this as statement type ${prepared.statementType}`,
      );
    if (params && params.length > 0) prepared.bind(params as DuckDBValue[]);
    let timedOut = false;
    const timer = setTimeout(
      () => {
        timedOut = true;
        connection.interrupt();
      },
      Math.max(1, options.timeoutMs),
    );
    try {
      const result = await prepared.stream();
      const names = result.columnNames();
      const rows: Row[] = [];
      const limit = options.maxRows ?? Number.POSITIVE_INFINITY;
      outer: for await (const batch of result.yieldRowsJs()) {
        for (const values of batch) {
          if (rows.length >= limit) break outer;
          const row: Row = {};
          for (let i = 0; i < names.length; i++) row[names[i]!] = toJs(values[i]);
          rows.push(row);
        }
      }
      return rows;
    } catch (error) {
      if (timedOut)
        throw new FerryError('QUERY_TIMEOUT', `the query was interrupted after ${options.timeoutMs} ms`, {
          cause: error,
        });
      throw error;
    } finally {
      clearTimeout(timer);
    }
  } finally {
    prepared.destroySync();
  }
}
