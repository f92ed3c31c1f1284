import { open, type FileHandle } from 'node:fs/promises';
import { stringifyJson, type DataType, type FileWriter, type FileWriterFactory } from '@ferry/core';
import type {
  ByteWriter as HyparquetByteWriter,
  ParquetWriter as HyparquetParquetWriter,
  Writer as HyparquetSink,
} from 'hyparquet-writer';
import {
  DECIMAL_PRECISION,
  DECIMAL_SCALE,
  dateDays,
  decimalUnscaled,
  int64,
  timestampMicros,
} from './parquet-values.ts';

type SchemaElement = ConstructorParameters<typeof HyparquetParquetWriter>[0]['schema'][number];

/** Rows per row group: about 10–30 MB of column arrays for a typical table; memory stays flat. */
export const ROW_GROUP_ROWS = 100_000;

/** The Parquet schema element of a Ferry column (all columns OPTIONAL: files of one table may differ). */
export function parquetElement(name: string, dataType: DataType): SchemaElement {
  const base = { name, repetition_type: 'OPTIONAL' as const };
  switch (dataType) {
    case 'bigint':
      // Plain INT64 is signed 64-bit; hyparquet-writer 0.17 serializes an INTEGER logical type DuckDB rejects.
      return { ...base, type: 'INT64' };
    case 'double':
      return { ...base, type: 'DOUBLE' };
    case 'bool':
      return { ...base, type: 'BOOLEAN' };
    case 'timestamp':
      return {
        ...base,
        type: 'INT64',
        converted_type: 'TIMESTAMP_MICROS',
        logical_type: { type: 'TIMESTAMP', isAdjustedToUTC: true, unit: 'MICROS' },
      };
    case 'date':
      return { ...base, type: 'INT32', converted_type: 'DATE', logical_type: { type: 'DATE' } };
    case 'decimal':
      return {
        ...base,
        type: 'FIXED_LEN_BYTE_ARRAY',
        type_length: 16,
        converted_type: 'DECIMAL',
        precision: DECIMAL_PRECISION,
        scale: DECIMAL_SCALE,
        logical_type: { type: 'DECIMAL', precision: DECIMAL_PRECISION, scale: DECIMAL_SCALE },
      };
    case 'text':
    case 'json':
      return { ...base, type: 'BYTE_ARRAY', converted_type: 'UTF8', logical_type: { type: 'STRING' } };
  }
}

/** Convert one canonical value (see core's writers) to what hyparquet-writer stores for the type. */
function converter(dataType: DataType): (v: unknown) => unknown {
  switch (dataType) {
    case 'bigint':
      return int64;
    case 'double':
      return (v) => (typeof v === 'number' ? v : Number(v));
    case 'bool':
      return (v) => v === true || v === 'true';
    case 'timestamp':
      return (v) => timestampMicros(String(v));
    case 'date':
      return (v) => dateDays(String(v));
    case 'decimal':
      return (v) => decimalUnscaled(String(v));
    case 'json':
      return (v) => stringifyJson(v);
    case 'text':
      return (v) => (typeof v === 'string' ? v : String(v));
  }
}

/**
 * A hyparquet-writer byte sink that appends each finished row group to the file and resets its buffer,
 * so one row group at a time is held in memory.
 */
function fileSink(
  ByteWriter: typeof HyparquetByteWriter,
  handle: FileHandle,
): HyparquetSink & { offset: number } {
  const sink = new ByteWriter(1 << 20);
  const flush = async () => {
    if (sink.index === 0) return;
    // Copy: the buffer is reused for the next row group while the write may still be in flight.
    const bytes = new Uint8Array(sink.buffer.slice(0, sink.index));
    sink.index = 0;
    await handle.write(bytes);
  };
  Object.assign(sink, { flush, finish: flush });
  return sink as unknown as HyparquetSink & { offset: number };
}

/**
 * Parquet loader files written in pure JS by hyparquet-writer: typed columns (INT64, DOUBLE, BOOLEAN,
 * UTF8, TIMESTAMP(MICROS, UTC), DATE, DECIMAL(38, 9); json as JSON text), snappy, one row group buffered at
 * a time. The fallback when `@duckdb/node-api` is not installed (see `parquet-duckdb-writer.ts`).
 */
export const hyparquetWriter: FileWriterFactory = async (path, columns) => {
  const { ParquetWriter, ByteWriter } = await import('hyparquet-writer');
  const handle = await open(path, 'w');
  const sink = fileSink(ByteWriter, handle);
  const schema: SchemaElement[] = [
    { name: 'root', num_children: columns.length },
    ...columns.map((c) => parquetElement(c.name, c.dataType)),
  ];
  const pw = new ParquetWriter({ writer: sink, schema, createdBy: 'ferry (hyparquet-writer)' });
  const convert = columns.map((c) => converter(c.dataType));
  let buffers: unknown[][] = columns.map(() => []);
  let rows = 0;
  let bytes = 0;
  let estimate = 0;
  let closed = false;

  const flushGroup = async () => {
    if (rows === 0) return;
    const columnData = columns.map((c, i) => ({ name: c.name, data: buffers[i]! as never[] }));
    buffers = columns.map(() => []);
    const n = rows;
    rows = 0;
    const before = sink.offset;
    await pw.write({ columnData: columnData as never, rowGroupSize: n });
    bytes += sink.offset - before;
    estimate = 0;
  };

  const writer: FileWriter = {
    write(row) {
      for (let i = 0; i < convert.length; i++) {
        const v = row[i];
        if (v === null || v === undefined) {
          buffers[i]!.push(null);
        } else {
          buffers[i]!.push(convert[i]!(v));
          estimate += typeof v === 'string' ? v.length : 8;
        }
      }
      rows++;
      if (rows >= ROW_GROUP_ROWS) return flushGroup();
    },
    get bytes() {
      // Written bytes plus a compressed-size guess for the buffered group (for size rotation).
      return bytes + Math.round(estimate / 4);
    },
    async close() {
      if (closed) return;
      closed = true;
      try {
        await flushGroup();
        await pw.finish();
        await handle.sync();
      } finally {
        await handle.close();
      }
    },
  };
  return writer;
};
