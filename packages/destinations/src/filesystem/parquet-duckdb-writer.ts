import { rm } from 'node:fs/promises';
import { jsonlWriter, type DataType, type FileWriterFactory, type RecordFileWriter } from '@ferry/core';
import type { DuckDBInstance } from '@duckdb/node-api';
import { DECIMAL_PRECISION, DECIMAL_SCALE } from './parquet-values.ts';

/** DuckDB type a JSONL column is read as before it is written to Parquet. */
export function duckdbType(dataType: DataType): string {
  switch (dataType) {
    case 'bigint':
      return 'BIGINT';
    case 'double':
      return 'DOUBLE';
    case 'bool':
      return 'BOOLEAN';
    case 'timestamp':
      return 'TIMESTAMPTZ';
    case 'date':
      return 'DATE';
    case 'decimal':
      return `DECIMAL(${DECIMAL_PRECISION}, ${DECIMAL_SCALE})`;
    case 'json':
      return 'JSON';
    case 'text':
      return 'VARCHAR';
  }
}

/** SQL string literal. */
export function sqlLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

/** SQL identifier. */
export function sqlIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

let shared: Promise<DuckDBInstance> | undefined;

/**
 * One in-memory DuckDB per thread for Parquet encoding (created on first use, never holds data). Rows of
 * up to 16 MiB (the JSON reader's object limit, as in the DuckDB destination); 256 MB of memory each.
 */
async function encoder(): Promise<DuckDBInstance> {
  shared ??= (async () => {
    const { DuckDBInstance } = await import('@duckdb/node-api');
    // Bounded: each normalize worker has its own encoder, and DuckDB's default is 80% of the machine's RAM.
    return DuckDBInstance.create(':memory:', { threads: '2', memory_limit: '256MB' });
  })();
  return shared;
}

/**
 * Parquet loader files encoded by DuckDB: rows stream into a JSONL side file (core's writer, exact
 * bigints and microsecond timestamps), and `close()` runs one `COPY (SELECT … FROM read_json(…,
 * columns = {typed})) TO '<file>' (FORMAT parquet)` and removes the side file. Types: INT64, DOUBLE,
 * BOOLEAN, UTF8, TIMESTAMP(MICROS, isAdjustedToUTC), DATE, DECIMAL(38, 9), json as JSON text. Chosen by
 * measurement over hyparquet-writer (about 3–4× faster per row, see `bench/results/filesystem.md`); the
 * rows are never held in memory (DuckDB streams the side file in vectors).
 */
export const duckdbParquetWriter: FileWriterFactory = async (path, columns) => {
  const side = `${path}.rows.jsonl`;
  const rows = (await jsonlWriter(side, columns)) as RecordFileWriter;
  let closed = false;
  const writer: RecordFileWriter = {
    write: (row) => rows.write(row),
    // Row objects go straight to the side file: no values array per row (core's JSONL writer takes them).
    writeRecord: (row) => rows.writeRecord(row),
    get bytes() {
      // JSONL is ~4–7× larger than the snappy Parquet it becomes; rotation uses the Parquet estimate.
      return Math.round(rows.bytes / 5);
    },
    async close() {
      if (closed) return;
      closed = true;
      await rows.close();
      try {
        await copyToParquet(side, path, columns);
      } finally {
        await rm(side, { force: true });
      }
    },
  };
  return writer;
};

/** Encode a typed JSONL file as Parquet with DuckDB. */
export async function copyToParquet(
  jsonl: string,
  parquet: string,
  columns: { name: string; dataType: DataType }[],
): Promise<void> {
  const db = await encoder();
  const connection = await db.connect();
  try {
    // Decimals are read as text and cast in the SELECT: read_json's own DECIMAL parsing is several times slower.
    const readType = (t: DataType) => (t === 'decimal' ? 'VARCHAR' : duckdbType(t));
    const types = columns.map((c) => `${sqlLiteral(c.name)}: ${sqlLiteral(readType(c.dataType))}`).join(', ');
    const select = columns
      .map((c) => {
        const col = sqlIdent(c.name);
        if (c.dataType === 'json') return `CAST(${col} AS VARCHAR) AS ${col}`;
        if (c.dataType === 'decimal') return `CAST(${col} AS ${duckdbType('decimal')}) AS ${col}`;
        return col;
      })
      .join(', ');
    const source = `read_json(${sqlLiteral(jsonl)}, format = 'newline_delimited', columns = {${types}}, maximum_object_size = 16777216)`;
    await connection.run(
      `COPY (SELECT ${select || '1 AS _empty'} FROM ${source}) TO ${sqlLiteral(parquet)} (FORMAT parquet, COMPRESSION snappy, ROW_GROUP_SIZE 122880)`,
    );
  } finally {
    connection.closeSync();
  }
}
