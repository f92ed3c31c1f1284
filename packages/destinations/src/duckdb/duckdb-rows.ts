import type { DuckDBConnection, DuckDBValue } from '@duckdb/node-api';

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
