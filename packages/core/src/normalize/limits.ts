import type { DestinationCapabilities } from '../destination/capabilities.ts';
import { DataError } from '../errors.ts';
import { SYSTEM_COLUMNS, type DataType, type TableSchema } from '../schema/types.ts';
import type { ContractMode } from '../schema/types.ts';

/**
 * The destination limits the normalizer enforces, taken from its capabilities (see
 * {@link DestinationCapabilities} for each). Plain data, so it crosses to normalize worker threads.
 */
export interface NormalizeLimits {
  /** Destination type, for messages. */
  destination: string;
  /** See {@link DestinationCapabilities.maxColumnsPerTable}. */
  maxColumnsPerTable: number;
  /** See {@link DestinationCapabilities.maxRowWidthBytes}. */
  maxRowWidthBytes: number;
  /** See {@link DestinationCapabilities.variableWidthBytes}. */
  variableWidthBytes: number;
  /** See {@link DestinationCapabilities.maxRowBytes}. */
  maxRowBytes: number;
  /** See {@link DestinationCapabilities.maxValueBytes}. */
  maxValueBytes: number;
  /** See {@link DestinationCapabilities.maxNestingDepth}. */
  maxNestingDepth: number;
}

/** No limits: what the normalizer enforces when the caller gives none (unit tests, old callers). */
export const NO_LIMITS: NormalizeLimits = Object.freeze({
  destination: 'the destination',
  maxColumnsPerTable: Number.POSITIVE_INFINITY,
  maxRowWidthBytes: Number.POSITIVE_INFINITY,
  variableWidthBytes: 24,
  maxRowBytes: Number.POSITIVE_INFINITY,
  maxValueBytes: Number.POSITIVE_INFINITY,
  maxNestingDepth: Number.POSITIVE_INFINITY,
});

/** The limits of a destination's capabilities. */
export function limitsOf(caps: DestinationCapabilities, destination: string): NormalizeLimits {
  return {
    destination,
    maxColumnsPerTable: caps.maxColumnsPerTable,
    maxRowWidthBytes: caps.maxRowWidthBytes,
    variableWidthBytes: caps.variableWidthBytes,
    maxRowBytes: caps.maxRowBytes,
    maxValueBytes: caps.maxValueBytes,
    maxNestingDepth: caps.maxNestingDepth,
  };
}

/**
 * Columns kept free in every table for what the normalizer adds after a row's fields: up to five
 * system columns (`_ferry_id`, `_ferry_load_id` or `_ferry_parent_id`, `_ferry_list_idx`,
 * `_ferry_root_id`) and the overflow column.
 */
const RESERVED_COLUMNS = 6;
/** Heap tuple header (Postgres: 23 bytes, aligned). Counted once per row. */
const ROW_HEADER_BYTES = 24;
/** Fixed-width types at 8 bytes each: their width, or their width plus alignment padding. */
const FIXED_WIDTH_BYTES = 8;
const VARIABLE_TYPES: ReadonlySet<DataType> = new Set(['text', 'json', 'decimal']);

interface TableUsage {
  /** `schema.changeCount` when counted. */
  stamp: number;
  /** Data columns (system and overflow columns are in the reservation). */
  columns: number;
  /** Their width in bytes. */
  width: number;
}

/**
 * Keeps every table within the destination's columns-per-table and row-width limits: {@link fits} says
 * whether one more column of a type still fits, counting the reservation for system and overflow
 * columns. Counts are cached per table and redone only after the schema changed.
 */
export class TableBudget {
  /** Whether any column limit applies (else {@link fits} is always true and costs nothing). */
  readonly enabled: boolean;
  private readonly limits: NormalizeLimits;
  private readonly usage = new WeakMap<TableSchema, TableUsage>();

  constructor(limits: NormalizeLimits) {
    this.limits = limits;
    this.enabled = Number.isFinite(limits.maxColumnsPerTable) || Number.isFinite(limits.maxRowWidthBytes);
  }

  private widthOf(dataType: DataType): number {
    return VARIABLE_TYPES.has(dataType)
      ? Math.max(this.limits.variableWidthBytes, FIXED_WIDTH_BYTES)
      : FIXED_WIDTH_BYTES;
  }

  private usageOf(table: TableSchema, stamp: number): TableUsage {
    let u = this.usage.get(table);
    if (u === undefined || u.stamp !== stamp) {
      let columns = 0;
      let width = 0;
      for (const c of Object.values(table.columns)) {
        if (c.name.startsWith('_ferry_') || c.name.startsWith('_FERRY_')) continue;
        columns++;
        width += this.widthOf(c.dataType);
      }
      u = { stamp, columns, width };
      this.usage.set(table, u);
    }
    return u;
  }

  /** Whether `table` can take one more column of `dataType`; `stamp` is the schema's change count. */
  fits(table: TableSchema, dataType: DataType, stamp: number): boolean {
    if (!this.enabled) return true;
    const u = this.usageOf(table, stamp);
    const columns = u.columns + 1 + RESERVED_COLUMNS;
    if (columns > this.limits.maxColumnsPerTable) return false;
    const reserved = RESERVED_COLUMNS * this.widthOf('text');
    const width = ROW_HEADER_BYTES + Math.ceil(columns / 8) + u.width + this.widthOf(dataType) + reserved;
    return width <= this.limits.maxRowWidthBytes;
  }

  /** The limit a refused column ran into, for messages. */
  describeLimit(): string {
    const parts: string[] = [];
    if (Number.isFinite(this.limits.maxColumnsPerTable))
      parts.push(`${this.limits.maxColumnsPerTable} columns per table`);
    if (Number.isFinite(this.limits.maxRowWidthBytes))
      parts.push(`a row width of ${this.limits.maxRowWidthBytes} bytes`);
    return `${this.limits.destination}'s limit of ${parts.join(' and ')}`;
  }
}

/** The overflow column's name (one JSON column per table). */
export const OVERFLOW_COLUMN = SYSTEM_COLUMNS.overflow;

/** Bytes of a value as the writers store it (UTF-8 text; JSON for objects; 8 for the rest). */
export function valueBytes(value: unknown): number {
  if (typeof value === 'string') return Buffer.byteLength(value);
  if (value !== null && typeof value === 'object' && !(value instanceof Date))
    return Buffer.byteLength(
      JSON.stringify(value, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v)),
    );
  return 8;
}

/**
 * Checks rows against the destination's row and value size limits. {@link needsCheck} is a cheap
 * bound on the record's raw JSON text, so ordinary records are never measured.
 */
export class SizeGuard {
  private readonly limits: NormalizeLimits;
  private readonly bound: number;

  constructor(limits: NormalizeLimits) {
    this.limits = limits;
    this.bound = Math.min(limits.maxRowBytes, limits.maxValueBytes);
  }

  /**
   * Whether a record whose raw JSON text has `chars` characters may break a size limit: no row or value
   * normalized from it can be longer than its text in UTF-8 (3 bytes per character at most).
   */
  needsCheck(chars: number): boolean {
    return chars * 3 > this.bound;
  }

  /**
   * Measure the rows normalized from one record; throws a {@link DataError} naming resource, position and
   * limit when one is too big, unless `mode` is `discard_row` (then returns false: drop the record).
   */
  check(
    rows: readonly Record<string, unknown>[],
    tables: readonly TableSchema[],
    where: { resource: string; position: string },
    mode: ContractMode,
  ): boolean {
    for (let i = 0; i < rows.length; i++) {
      const row = rows[i]!;
      let total = 0;
      for (const [column, value] of Object.entries(row)) {
        const bytes = valueBytes(value);
        total += bytes;
        if (bytes > this.limits.maxValueBytes)
          return this.refuse(
            mode,
            where,
            `its value for column '${column}' of table '${tables[i]!.name}' is ${bytes} bytes, past ${this.limits.destination}'s limit of ${this.limits.maxValueBytes} bytes per value`,
            { table: tables[i]!.name, column, bytes, limit: this.limits.maxValueBytes },
          );
      }
      if (total > this.limits.maxRowBytes)
        return this.refuse(
          mode,
          where,
          `its row in table '${tables[i]!.name}' is ${total} bytes, past ${this.limits.destination}'s limit of ${this.limits.maxRowBytes} bytes per row`,
          { table: tables[i]!.name, bytes: total, limit: this.limits.maxRowBytes },
        );
    }
    return true;
  }

  private refuse(
    mode: ContractMode,
    where: { resource: string; position: string },
    what: string,
    context: Record<string, unknown>,
  ): false {
    if (mode === 'discard_row') return false;
    throw new DataError(
      `Record at ${where.position} of resource '${where.resource}' cannot load: ${what}. ` +
        `Split or trim the field in the source (or drop such records with schemaContract: { limits: 'discard_row' }).`,
      { resource: where.resource, position: where.position, ...context },
    );
  }
}
