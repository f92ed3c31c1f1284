import {
  BufferedFile,
  DataError,
  daysFromCivil,
  parseTimestamp,
  stringifyJson,
  type FileWriterColumn,
  type FileWriterFactory,
  type RecordFileWriter,
} from '@ferry/core';

/** `PGCOPY\n\377\r\n\0`, then flags (int32 0) and header extension length (int32 0). */
const HEADER = Buffer.from([
  0x50, 0x47, 0x43, 0x4f, 0x50, 0x59, 0x0a, 0xff, 0x0d, 0x0a, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
]);
/** Encode buffer size: handed to the file when full (the file writes 1 MiB chunks). */
const BUFFER_BYTES = 1 << 20;
const TWO_32 = 4294967296;
/** Days from 1970-01-01 to 2000-01-01, Postgres's epoch for dates and timestamps. */
const PG_EPOCH_DAYS = 10957;
/** |seconds| below this times 1e6 stays a safe integer (years ~1715–2285); beyond, microseconds use BigInt. */
const SAFE_SECONDS = 9_007_199_254;

function num(text: string, at: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) v = v * 10 + (text.charCodeAt(at + i) - 48);
  return v;
}

/**
 * The digits of a canonical decimal (`-123.4500`, `0.0000001`) as Postgres's binary numeric: base-10000
 * digit groups around the decimal point, weight of the first group, sign, and the display scale.
 */
function numericParts(text: string): { digits: number[]; weight: number; negative: boolean; dscale: number } {
  let s = text.trim();
  const negative = s.startsWith('-');
  if (negative || s.startsWith('+')) s = s.slice(1);
  if (!/^(?:\d+\.?\d*|\.\d+)$/.test(s)) throw new Error(`not a decimal: ${text}`);
  const dot = s.indexOf('.');
  const intPart = dot < 0 ? s : s.slice(0, dot);
  const fracPart = dot < 0 ? '' : s.slice(dot + 1);
  const intPadded = intPart.padStart(Math.ceil(intPart.length / 4) * 4, '0');
  const fracPadded = fracPart.padEnd(Math.ceil(fracPart.length / 4) * 4, '0');
  const digits: number[] = [];
  for (let i = 0; i < intPadded.length; i += 4) digits.push(Number(intPadded.slice(i, i + 4)));
  let weight = digits.length - 1;
  for (let i = 0; i < fracPadded.length; i += 4) digits.push(Number(fracPadded.slice(i, i + 4)));
  while (digits.length > 0 && digits[0] === 0) {
    digits.shift();
    weight--;
  }
  while (digits.length > 0 && digits[digits.length - 1] === 0) digits.pop();
  if (digits.length === 0) weight = 0;
  return { digits, weight, negative: negative && digits.length > 0, dscale: fracPart.length };
}

/**
 * Loader files in PostgreSQL's binary COPY format (`COPY … FROM STDIN (FORMAT binary)`): each value is
 * sent as the server stores it, so the server parses no text. Measured on a 300k-row dbt-run table with
 * five timestamptz columns: COPY 1.5 s against 3.2 s for the same rows as CSV. Types: bigint → int8,
 * double → float8, bool, text, timestamp → timestamptz (microseconds since 2000-01-01, exact), date,
 * decimal → numeric (typmod applied by the server), json → jsonb (version 1 + JSON text). NULL is length
 * -1. The columns must have exactly these types (the Postgres destination creates them so).
 */
export const pgCopyWriter: FileWriterFactory = async (path, columns) => {
  const file = await BufferedFile.create(path);
  let buf = Buffer.allocUnsafe(BUFFER_BYTES);
  let pos = 0;
  HEADER.copy(buf, 0);
  pos = HEADER.length;
  const names = columns.map((c) => c.name);
  const types = columns.map((c) => c.dataType);
  const count = columns.length;
  let pending: Promise<void> | undefined;

  /** Make room for `n` more bytes: hand a full buffer to the file (a bigger one for a huge value). */
  const reserve = (n: number) => {
    if (pos + n <= buf.length) return;
    const p = file.appendBytes(buf.subarray(0, pos));
    if (p) pending = pending ? pending.then(() => p) : p;
    buf = Buffer.allocUnsafe(Math.max(BUFFER_BYTES, n));
    pos = 0;
  };

  const int64 = (n: number) => {
    const hi = Math.floor(n / TWO_32);
    buf.writeInt32BE(hi, pos);
    buf.writeUInt32BE(n - hi * TWO_32, pos + 4);
    pos += 8;
  };

  const fail = (column: FileWriterColumn, value: unknown, why: string): never => {
    throw new DataError(
      `column '${column.name}' (${column.dataType}): ${why}: ${JSON.stringify(String(value)).slice(0, 80)}`,
      { column: column.name },
    );
  };

  const text = (s: string, prefix?: number) => {
    const extra = prefix === undefined ? 0 : 1;
    reserve(4 + extra + s.length * 3);
    const start = pos;
    pos += 4;
    if (prefix !== undefined) buf[pos++] = prefix;
    pos += buf.write(s, pos, 'utf8');
    buf.writeInt32BE(pos - start - 4, start);
  };

  const timestamp = (value: unknown, column: FileWriterColumn) => {
    let t = typeof value === 'string' ? value : value instanceof Date ? value.toISOString() : undefined;
    if (t === undefined) return fail(column, value, 'not a timestamp');
    // The normalizer writes canonical 'YYYY-MM-DDTHH:MM:SS.ffffffZ'; anything else is made canonical first.
    if (t.length !== 27 || t.charCodeAt(26) !== 90)
      t = parseTimestamp(t) ?? fail(column, value, 'not a timestamp');
    const days = daysFromCivil(num(t, 0, 4), num(t, 5, 2), num(t, 8, 2)) - PG_EPOCH_DAYS;
    const seconds = days * 86400 + num(t, 11, 2) * 3600 + num(t, 14, 2) * 60 + num(t, 17, 2);
    const micros = num(t, 20, 6);
    reserve(12);
    buf.writeInt32BE(8, pos);
    pos += 4;
    if (Math.abs(seconds) < SAFE_SECONDS) int64(seconds * 1_000_000 + micros);
    else {
      buf.writeBigInt64BE(BigInt(seconds) * 1_000_000n + BigInt(micros), pos);
      pos += 8;
    }
  };

  const numeric = (value: unknown, column: FileWriterColumn) => {
    let parts: ReturnType<typeof numericParts>;
    try {
      parts = numericParts(typeof value === 'string' ? value : String(value));
    } catch {
      return fail(column, value, 'not a decimal');
    }
    const { digits } = parts;
    reserve(4 + 8 + digits.length * 2);
    buf.writeInt32BE(8 + digits.length * 2, pos);
    buf.writeInt16BE(digits.length, pos + 4);
    buf.writeInt16BE(parts.weight, pos + 6);
    buf.writeUInt16BE(parts.negative ? 0x4000 : 0, pos + 8);
    buf.writeInt16BE(parts.dscale, pos + 10);
    pos += 12;
    for (const d of digits) {
      buf.writeInt16BE(d, pos);
      pos += 2;
    }
  };

  const value = (v: unknown, i: number) => {
    if (v === null || v === undefined) {
      reserve(4);
      buf.writeInt32BE(-1, pos);
      pos += 4;
      return;
    }
    switch (types[i]!) {
      case 'text':
        return text(typeof v === 'string' ? v : String(v));
      case 'bigint':
        reserve(12);
        buf.writeInt32BE(8, pos);
        pos += 4;
        if (typeof v === 'number' && Number.isSafeInteger(v)) return int64(v);
        if (typeof v === 'bigint' || (typeof v === 'number' && Number.isInteger(v))) {
          buf.writeBigInt64BE(BigInt(v), pos);
          pos += 8;
          return;
        }
        return fail(columns[i]!, v, 'not an integer');
      case 'double':
        reserve(12);
        buf.writeInt32BE(8, pos);
        buf.writeDoubleBE(Number(v), pos + 4);
        pos += 12;
        return;
      case 'bool':
        reserve(5);
        buf.writeInt32BE(1, pos);
        buf[pos + 4] = v === true || v === 'true' ? 1 : 0;
        pos += 5;
        return;
      case 'timestamp':
        return timestamp(v, columns[i]!);
      case 'date': {
        const d = String(v);
        if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) return fail(columns[i]!, v, 'not a date');
        reserve(8);
        buf.writeInt32BE(4, pos);
        buf.writeInt32BE(daysFromCivil(num(d, 0, 4), num(d, 5, 2), num(d, 8, 2)) - PG_EPOCH_DAYS, pos + 4);
        pos += 8;
        return;
      }
      case 'decimal':
        return numeric(v, columns[i]!);
      case 'json':
        return text(stringifyJson(v), 1);
    }
  };

  const startRow = () => {
    reserve(2);
    buf.writeInt16BE(count, pos);
    pos += 2;
  };
  const endRow = (): void | Promise<void> => {
    const p = pending;
    pending = undefined;
    return p;
  };
  let closed = false;

  const writer: RecordFileWriter = {
    write(values) {
      startRow();
      for (let i = 0; i < count; i++) value(values[i], i);
      return endRow();
    },
    writeRecord(record) {
      startRow();
      for (let i = 0; i < count; i++) value(record[names[i]!], i);
      return endRow();
    },
    get bytes() {
      return file.bytes + pos;
    },
    async close() {
      if (closed) return;
      closed = true;
      reserve(2);
      buf.writeInt16BE(-1, pos);
      pos += 2;
      await file.appendBytes(buf.subarray(0, pos));
      await pending;
      await file.close();
    },
  };
  return writer;
};
