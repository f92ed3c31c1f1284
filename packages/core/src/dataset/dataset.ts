import { FerryError } from '../errors.ts';
import type {
  DatasetReader,
  Destination,
  DestinationClient,
  PipelineStateDoc,
  UntrustedQueryOptions,
} from '../destination/destination.ts';
import { SYSTEM_TABLES, type DataType, type StoredSchema, type TableSchema } from '../schema/types.ts';
import { assertReadOnlySql } from './read-only-sql.ts';
import type { Table as ArrowTable, Vector as ArrowVector } from 'apache-arrow';
import type { Kysely } from 'kysely';
import type { ReadonlyKysely } from 'kysely/readonly';

/** Default timeout of `Dataset.sql`: 5 minutes, long enough for an analyst's query, short of a stuck one. */
export const DEFAULT_QUERY_TIMEOUT_MS = 300_000;

/** A row as the dataset API returns it. */
export type DatasetRow = Record<string, unknown>;

const OPERATORS = new Set(['=', '!=', '<>', '<', '<=', '>', '>=', 'like', 'in', 'is null', 'is not null']);

/**
 * Convert a destination value to what users expect for the column's type: bigint columns as JS
 * `bigint` (exact, never rounded), timestamps as `Date` (UTC), json parsed, decimals as strings.
 */
export function toUserValue(value: unknown, dataType: DataType | undefined): unknown {
  if (value === null || value === undefined) return null;
  switch (dataType) {
    case 'bigint':
      return typeof value === 'bigint'
        ? value
        : typeof value === 'number'
          ? BigInt(Math.trunc(value))
          : BigInt(String(value));
    case 'double':
      return typeof value === 'number' ? value : Number(value);
    case 'bool':
      return typeof value === 'boolean' ? value : value === 'true' || value === 1 || value === 't';
    case 'timestamp':
      if (value instanceof Date) return value;
      if (typeof value === 'number' || typeof value === 'bigint') return new Date(Number(value) / 1000);
      return new Date(
        String(value)
          .replace(' ', 'T')
          .replace(/([+-]\d\d)$/, '$1:00'),
      );
    case 'date':
      if (value instanceof Date) return value.toISOString().slice(0, 10);
      return String(value).slice(0, 10);
    case 'json':
      return typeof value === 'string' ? JSON.parse(value) : value;
    case 'decimal':
      return String(value);
    case 'text':
      return typeof value === 'string' ? value : String(value);
    default:
      return value;
  }
}

/** A query over one table, built step by step; nothing runs until `toArray`, `iterate` or `toArrow`. */
export class Relation {
  private readonly dataset: Dataset;
  /** Table name. */
  readonly table: string;
  private columns: string[] | undefined;
  private readonly filters: { column: string; op: string; value: unknown }[] = [];
  private readonly order: { column: string; direction: 'asc' | 'desc' }[] = [];
  private limitN: number | undefined;
  private offsetN: number | undefined;

  constructor(dataset: Dataset, table: string) {
    this.dataset = dataset;
    this.table = table;
  }

  /** Keep only these columns (default: all). */
  select(...columns: string[]): this {
    this.columns = columns;
    return this;
  }

  /** Filter with a parameterized comparison; values are never spliced into SQL. */
  where(
    column: string,
    op: '=' | '!=' | '<>' | '<' | '<=' | '>' | '>=' | 'like' | 'in' | 'is null' | 'is not null',
    value?: unknown,
  ): this {
    const o = op.toLowerCase();
    if (!OPERATORS.has(o)) throw new FerryError('QUERY_INVALID', `unsupported operator '${op}'`);
    this.filters.push({ column, op: o, value });
    return this;
  }

  /** Order by a column. Default ascending. */
  orderBy(column: string, direction: 'asc' | 'desc' = 'asc'): this {
    this.order.push({ column, direction });
    return this;
  }

  /** At most `n` rows. */
  limit(n: number): this {
    this.limitN = Math.max(0, Math.floor(n));
    return this;
  }

  /** Skip `n` rows (for paging). */
  offset(n: number): this {
    this.offsetN = Math.max(0, Math.floor(n));
    return this;
  }

  /** The SQL and parameters this relation runs (`$1` placeholders). */
  async toSql(): Promise<{ sql: string; params: unknown[]; columns: string[] }> {
    const reader = await this.dataset.reader();
    const schema = await this.dataset.tableSchema(this.table);
    const known = Object.keys(schema.columns);
    const check = (c: string) => {
      if (!known.includes(c))
        throw new FerryError(
          'QUERY_INVALID',
          `table '${this.table}' has no column '${c}' (it has: ${known.join(', ')})`,
        );
      return reader.quoteIdentifier(c);
    };
    const cols = this.columns ?? known;
    const params: unknown[] = [];
    const where = this.filters.map((f) => {
      const col = check(f.column);
      if (f.op === 'is null' || f.op === 'is not null') return `${col} ${f.op.toUpperCase()}`;
      if (f.op === 'in') {
        const list = Array.isArray(f.value) ? f.value : [f.value];
        if (list.length === 0) return '1 = 0';
        return `${col} IN (${list.map((v) => `$${params.push(v)}`).join(', ')})`;
      }
      return `${col} ${f.op.toUpperCase()} $${params.push(f.value)}`;
    });
    let sql = `SELECT ${cols.map(check).join(', ')} FROM ${reader.qualifiedTable(this.table)}`;
    if (where.length > 0) sql += ` WHERE ${where.join(' AND ')}`;
    if (this.order.length > 0)
      sql += ` ORDER BY ${this.order.map((o) => `${check(o.column)} ${o.direction.toUpperCase()}`).join(', ')}`;
    if (this.limitN !== undefined) sql += ` LIMIT ${this.limitN}`;
    if (this.offsetN !== undefined) sql += ` OFFSET ${this.offsetN}`;
    return { sql, params, columns: cols };
  }

  private convert(rows: DatasetRow[], schema: TableSchema): DatasetRow[] {
    return rows.map((r) => {
      const out: DatasetRow = {};
      for (const [k, v] of Object.entries(r)) out[k] = toUserValue(v, schema.columns[k]?.dataType);
      return out;
    });
  }

  /** All rows. */
  async toArray(): Promise<DatasetRow[]> {
    const { sql, params } = await this.toSql();
    const reader = await this.dataset.reader();
    return this.convert(await reader.query(sql, params), await this.dataset.tableSchema(this.table));
  }

  /** Rows in batches, with bounded memory (the destination streams). Default batch 10,000. */
  async *iterate(options: { batchSize?: number } = {}): AsyncGenerator<DatasetRow[]> {
    const { sql, params } = await this.toSql();
    const reader = await this.dataset.reader();
    const schema = await this.dataset.tableSchema(this.table);
    for await (const batch of reader.stream(sql, params, options.batchSize ?? 10_000))
      yield this.convert(batch, schema);
  }

  /** An `apache-arrow` Table with types from the schema (int64, float64, bool, utf8, timestamp[us, UTC], date). */
  async toArrow(): Promise<ArrowTable> {
    const arrow = await import('apache-arrow');
    const schema = await this.dataset.tableSchema(this.table);
    const { columns } = await this.toSql();
    const rows = await this.toArray();
    const vectors: Record<string, ArrowVector> = {};
    for (const c of columns) {
      const t = schema.columns[c]?.dataType;
      const values = rows.map((r) => r[c] ?? null);
      switch (t) {
        case 'bigint':
          vectors[c] = arrow.vectorFromArray(values, new arrow.Int64());
          break;
        case 'double':
          vectors[c] = arrow.vectorFromArray(values, new arrow.Float64());
          break;
        case 'bool':
          vectors[c] = arrow.vectorFromArray(values, new arrow.Bool());
          break;
        case 'timestamp':
          vectors[c] = arrow.vectorFromArray(
            values.map((v) => (v === null ? null : (v as Date).getTime())),
            new arrow.TimestampMillisecond('UTC'),
          );
          break;
        case 'date':
          vectors[c] = arrow.vectorFromArray(
            values.map((v) => (v === null ? null : new Date(`${String(v)}T00:00:00Z`))),
            new arrow.DateDay(),
          );
          break;
        case 'json':
          vectors[c] = arrow.vectorFromArray(
            values.map((v) => (v === null ? null : JSON.stringify(v))),
            new arrow.Utf8(),
          );
          break;
        default:
          vectors[c] = arrow.vectorFromArray(
            values.map((v) => (v === null ? null : String(v))),
            new arrow.Utf8(),
          );
      }
    }
    return new arrow.Table(vectors);
  }
}

/**
 * Read access to what a pipeline loaded, the same on every destination: tables, relations, SQL,
 * row counts, loads, state and schema. Opens the destination read-only; call `close()` when done.
 */
export class Dataset {
  private readonly destination: Destination;
  /** Dataset name at the destination. */
  readonly name: string;
  private readonly pipelineName: string;
  private readonly schemaNames: () => Promise<string[]>;
  private client: Promise<DestinationClient> | undefined;
  private schemaCache: StoredSchema[] | undefined;
  private readonly kyselys: Kysely<unknown>[] = [];

  constructor(
    destination: Destination,
    name: string,
    pipelineName: string,
    schemaNames: () => Promise<string[]>,
  ) {
    this.destination = destination;
    this.name = name;
    this.pipelineName = pipelineName;
    this.schemaNames = schemaNames;
  }

  private connection(): Promise<DestinationClient> {
    this.client ??= this.destination.connect({
      dataset: this.name,
      pipelineName: this.pipelineName,
      readOnly: true,
    });
    return this.client;
  }

  /** The destination's reader (throws when the destination cannot be read). */
  async reader(): Promise<DatasetReader> {
    const c = await this.connection();
    if (!c.reader)
      throw new FerryError('UNSUPPORTED', `destination ${this.destination.type} cannot be queried`);
    return c.reader;
  }

  /** Schemas stored at the destination (newest version of each). */
  async schemas(): Promise<StoredSchema[]> {
    if (!this.schemaCache) {
      const c = await this.connection();
      const out: StoredSchema[] = [];
      let names = await this.schemaNames();
      if (names.length === 0 && c.reader) {
        // A fresh container: ask the destination which schemas it holds.
        const rows = await c.reader
          .query(`SELECT DISTINCT schema_name FROM ${c.reader.qualifiedTable(SYSTEM_TABLES.version)}`)
          .catch(() => []);
        names = rows.map((r) => String(r.schema_name));
      }
      for (const n of names) {
        const s = await c.getStoredSchema(n);
        if (s) out.push(s);
      }
      this.schemaCache = out;
    }
    return this.schemaCache;
  }

  /** The newest schema (by name, default: the first the pipeline knows). */
  async schema(name?: string): Promise<StoredSchema | undefined> {
    const all = await this.schemas();
    return name ? all.find((s) => s.name === name) : all[0];
  }

  /** Schema of one table (from the stored schema; system tables from introspection). */
  async tableSchema(table: string): Promise<TableSchema> {
    for (const s of await this.schemas()) if (s.tables[table]) return s.tables[table];
    const live = await (await this.connection()).introspect();
    const t = live[table];
    if (!t)
      throw new FerryError(
        'QUERY_INVALID',
        `dataset '${this.name}' has no table '${table}' (tables: ${(await this.tables()).join(', ')})`,
      );
    return t;
  }

  /** Data tables, parents before children (system tables excluded). */
  async tables(): Promise<string[]> {
    const names: string[] = [];
    for (const s of await this.schemas())
      for (const t of Object.keys(s.tables)) if (!names.includes(t)) names.push(t);
    return names;
  }

  /** A relation over one table. */
  table(name: string): Relation {
    return new Relation(this, name);
  }

  /**
   * Run one read-only SQL query written by a user. A text guard refuses DDL, DML and several statements
   * with a clear message first; then the destination's own read-only path runs it (one statement as its
   * parser counts them, a read-only transaction or connection, SELECT only, a timeout). Default timeout:
   * 5 minutes (a library caller who wants longer says so); rows: all unless `maxRows`.
   */
  async sql(
    text: string,
    params: unknown[] = [],
    options: Partial<UntrustedQueryOptions> = {},
  ): Promise<DatasetRow[]> {
    assertReadOnlySql(text);
    return (await this.reader()).untrustedQuery(text, params, {
      timeoutMs: options.timeoutMs ?? DEFAULT_QUERY_TIMEOUT_MS,
      ...(options.maxRows !== undefined ? { maxRows: options.maxRows } : {}),
    });
  }

  /**
   * A typed, read-only kysely over the dataset: `(await dataset.kysely<DB>()).selectFrom('runs')…`,
   * with `DB` the interface `ferry pipeline types` writes from the stored schema, so a query naming a
   * column that does not exist fails to compile. Tables resolve in the dataset (kysely's `withSchema`),
   * queries run through the destination's reader (its read-only connection; the filesystem's through
   * DuckDB over its files), and values come back as the `DB` interface types them: bigint columns as
   * `bigint`, timestamps as `Date`, dates and decimals as text, json parsed (plain column references of
   * a top-level SELECT; expressions keep the destination's value). Writes do not compile (kysely's
   * `ReadonlyKysely`). `close()` releases it with the dataset. Throws UNSUPPORTED where the destination
   * has no kysely dialect.
   */
  async kysely<DB>(): Promise<ReadonlyKysely<DB>> {
    const reader = await this.reader();
    if (!reader.kyselyDialect)
      throw new FerryError(
        'UNSUPPORTED',
        `destination ${this.destination.type} has no kysely dialect: use dataset.table() or dataset.sql() instead`,
      );
    const [{ Kysely }, { DatasetValuesPlugin }] = await Promise.all([
      import('kysely'),
      import('./kysely-values.ts'),
    ]);
    const schemas = await this.schemas();
    const db = new Kysely<DB>({ dialect: await reader.kyselyDialect() });
    this.kyselys.push(db as Kysely<unknown>);
    const values = new DatasetValuesPlugin((table) => {
      for (const s of schemas) if (s.tables[table]) return s.tables[table];
      return undefined;
    }, toUserValue);
    return db.withSchema(this.name).withPlugin(values) as unknown as ReadonlyKysely<DB>;
  }

  /** Row count per data table. */
  async rowCounts(): Promise<Record<string, number>> {
    const reader = await this.reader();
    const out: Record<string, number> = {};
    for (const t of await this.tables()) {
      const rows = await reader.query(`SELECT COUNT(*) AS n FROM ${reader.qualifiedTable(t)}`);
      out[t] = Number(rows[0]?.n ?? 0);
    }
    return out;
  }

  /** Committed loads, newest first. */
  async loads(): Promise<
    { loadId: string; schemaName: string; status: number; insertedAt: Date; schemaVersionHash: string }[]
  > {
    const reader = await this.reader();
    const rows = await reader.query(
      `SELECT load_id, schema_name, status, inserted_at, schema_version_hash FROM ${reader.qualifiedTable(SYSTEM_TABLES.loads)} ORDER BY load_id DESC`,
    );
    return rows.map((r) => ({
      loadId: String(r.load_id),
      schemaName: String(r.schema_name),
      status: Number(r.status),
      insertedAt: toUserValue(r.inserted_at, 'timestamp') as Date,
      schemaVersionHash: String(r.schema_version_hash),
    }));
  }

  /** The newest committed pipeline state. */
  async state(): Promise<PipelineStateDoc | undefined> {
    return (await (await this.connection()).getStoredState(this.pipelineName))?.state;
  }

  /** Release the connection (and every `kysely()` handed out). */
  async close(): Promise<void> {
    for (const db of this.kyselys.splice(0)) await db.destroy().catch(() => undefined);
    const c = this.client;
    this.client = undefined;
    if (c) await (await c).close();
  }
}
