import type { FileFormat } from '../destination/capabilities.ts';
import type { FileWriter, FileWriterFactory } from '../destination/destination.ts';
import type { DataType } from '../schema/types.ts';
import { stringifyJson, stringifyJsonWithBigints } from '../util/json.ts';
import { BufferedFile } from './buffered-file.ts';

/** A loader-file column: name and type (the writer formats values by type). */
export interface WriterColumn {
  /** Column name. */
  name: string;
  /** Column type. */
  dataType: DataType;
  /** Nullable. */
  nullable: boolean;
  /** Decimal precision (decimal columns). */
  precision?: number;
  /** Decimal scale (decimal columns). */
  scale?: number;
}

/**
 * A {@link FileWriter} of core's builtin writers that also takes a row as an object, so normalize hands
 * over the rows it built without copying each into a values array.
 */
export interface RecordFileWriter extends FileWriter {
  /**
   * Write a row given as an object keyed by column name. The caller guarantees its keys are among the
   * writer's columns and that NULL is an absent (or undefined) key, never `null`: `RowNormalizer` rows are.
   */
  writeRecord(row: Readonly<Record<string, unknown>>): void | Promise<void>;
}

/** Whether a writer accepts row objects ({@link RecordFileWriter.writeRecord}). */
export function isRecordFileWriter(writer: FileWriter): writer is RecordFileWriter {
  return typeof (writer as Partial<RecordFileWriter>).writeRecord === 'function';
}

/**
 * JSONL loader file: one object per row, null columns omitted, bigints as exact integer literals,
 * timestamps as canonical UTC strings, json columns as nested JSON. DuckDB, BigQuery and Snowflake
 * read it with explicit column types (by key, so key order does not matter).
 */
export const jsonlWriter: FileWriterFactory = async (path, columns) => {
  const file = await BufferedFile.create(path);
  const names = columns.map((c) => c.name);
  // After the first row holding a bigint, the file uses the replacer for every row (no throw per row).
  let bigints = false;
  const line = (obj: object): string => {
    if (!bigints) {
      try {
        return JSON.stringify(obj);
      } catch {
        bigints = true;
      }
    }
    return stringifyJsonWithBigints(obj);
  };
  const writer: RecordFileWriter = {
    write(row) {
      const obj: Record<string, unknown> = {};
      for (let i = 0; i < names.length; i++) {
        const v = row[i];
        if (v !== null && v !== undefined) obj[names[i]!] = v;
      }
      return file.appendLine(line(obj));
    },
    writeRecord(row) {
      // The row object is stringified as it is: no copy (keys in the row's order, not the columns').
      return file.appendLine(line(row));
    },
    get bytes() {
      return file.bytes;
    },
    close: () => file.close(),
  };
  return writer;
};

const NEEDS_QUOTE = /[",\n\r]/;

function csvText(text: string): string {
  if (text.length === 0) return '""';
  return NEEDS_QUOTE.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

function csvValue(value: unknown, dataType: DataType): string {
  if (value === null || value === undefined) return '';
  switch (dataType) {
    case 'text':
    case 'timestamp':
    case 'date':
    case 'decimal':
      return csvText(String(value));
    case 'json':
      return csvText(stringifyJson(value));
    default:
      return typeof value === 'string' ? csvText(value) : String(value);
  }
}

/**
 * CSV loader file (RFC 4180) with a header: NULL is an empty unquoted field, the empty string is `""`,
 * so Postgres `COPY … (FORMAT csv, HEADER true)` tells them apart.
 */
export const csvWriter: FileWriterFactory = async (path, columns) => {
  const file = await BufferedFile.create(path);
  await file.append(`${columns.map((c) => csvText(c.name)).join(',')}\n`);
  const types = columns.map((c) => c.dataType);
  const names = columns.map((c) => c.name);
  const writer: RecordFileWriter = {
    write(row) {
      let line = '';
      for (let i = 0; i < types.length; i++) {
        if (i > 0) line += ',';
        line += csvValue(row[i], types[i]!);
      }
      return file.appendLine(line);
    },
    writeRecord(row) {
      let line = '';
      for (let i = 0; i < types.length; i++) {
        if (i > 0) line += ',';
        line += csvValue(row[names[i]!], types[i]!);
      }
      return file.appendLine(line);
    },
    get bytes() {
      return file.bytes;
    },
    close: () => file.close(),
  };
  return writer;
};

/** The writers core ships; destinations add others through `Destination.fileWriter`. */
export const BUILTIN_WRITERS: Partial<Record<FileFormat, FileWriterFactory>> = {
  jsonl: jsonlWriter,
  csv: csvWriter,
};

/** File name extension per format. */
export const FILE_EXTENSIONS: Record<FileFormat, string> = {
  jsonl: 'jsonl',
  csv: 'csv',
  parquet: 'parquet',
  pgcopy: 'pgcopy',
};
