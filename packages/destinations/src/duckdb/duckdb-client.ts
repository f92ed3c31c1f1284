import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import type { DatasetReader, LoadJobFile, LoadPackagePlan, TableSchema } from '@ferry/core';
import { SqlJobClient } from '../sql/sql-job-client.ts';
import { queryRows, streamRows, untrustedRows, type Row } from './duckdb-rows.ts';
import { DuckDbSqlCompiler } from './duckdb-sql.ts';

/** DuckDB client: one connection to one database file; a package loads in one transaction. */
export class DuckDbClient extends SqlJobClient {
  override readonly compiler: DuckDbSqlCompiler;
  readonly reader: DatasetReader;
  private readonly instance: DuckDBInstance;
  private readonly connection: DuckDBConnection;
  private readonly path: string;
  private closed = false;
  /** `catalog`: the database's catalog name (see {@link DuckDbSqlCompiler}); default none. */
  constructor(
    instance: DuckDBInstance,
    connection: DuckDBConnection,
    dataset: string,
    path: string,
    catalog?: string,
  ) {
    super(dataset);
    this.compiler = new DuckDbSqlCompiler(catalog);
    this.instance = instance;
    this.connection = connection;
    this.path = path;
    this.reader = {
      query: (sql, params) => this.query(sql, params),
      stream: (sql, params, batchSize) => this.stream(sql, params, batchSize),
      untrustedQuery: (sql, params, options) => untrustedRows(this.connection, sql, params, options),
      kyselyDialect: async () =>
        (await import('../kysely/duckdb-dialect.ts')).duckdbKyselyDialect(this.reader, this.dataset),
      quoteIdentifier: (name) => this.compiler.quote(name),
      qualifiedTable: (table) => this.compiler.qualified(this.dataset, table),
    };
  }

  protected override describeTarget(): string {
    return `duckdb ${this.path} dataset '${this.dataset}'`;
  }

  async execute(sql: string, params?: unknown[]): Promise<void> {
    await this.connection.run(sql, params as DuckDBValue[] | undefined);
  }

  async query(sql: string, params?: unknown[]): Promise<Row[]> {
    return queryRows(this.connection, sql, params);
  }

  private stream(sql: string, params: unknown[] | undefined, batchSize: number): AsyncIterable<Row[]> {
    return streamRows(this.connection, sql, params, batchSize);
  }

  /**
   * Load a table's files with as few statements as possible: one INSERT … SELECT over one reader call
   * per file layout. One statement per table lets DuckDB write the rows straight to their final row
   * groups; an INSERT per file (worst with a small file first, as a schema change leaves) makes it
   * rewrite the whole table at the next checkpoint: 0.5–2.5 s of the 1M-record benchmark's ~3 s load.
   */
  protected override async loadTable(
    jobs: readonly LoadJobFile[],
    target: string,
    table: TableSchema,
    events: LoadPackagePlan['events'],
  ): Promise<void> {
    for (const job of jobs) await events.jobStarted(job);
    // JSONL files share one reader call (columns by key). CSV and parquet files share one per column
    // layout (each worker writes its own order); layouts load biggest first (a small first INSERT costs most).
    const layouts = new Map<string, LoadJobFile[]>();
    for (const j of jobs) {
      const key = j.format === 'jsonl' ? 'jsonl' : `${j.format}\0${j.columns.join('\0')}`;
      layouts.set(key, [...(layouts.get(key) ?? []), j]);
    }
    const rows = (group: LoadJobFile[]) => group.reduce((n, j) => n + j.rows, 0);
    for (const group of [...layouts.values()].sort((a, b) => rows(b) - rows(a))) {
      try {
        await this.insertFiles(group, target, table);
      } catch (error) {
        throw this.wrap(error, `load ${group.map((j) => j.jobId).join(', ')} into ${target}`);
      }
    }
    for (const job of jobs) await events.jobCompleted(job);
  }

  /** One file (the SQL client's per-file step; {@link loadTable} loads whole tables instead). */
  protected async loadFile(job: LoadJobFile, target: string, table: TableSchema): Promise<void> {
    await this.insertFiles([job], target, table);
  }

  private async insertFiles(group: LoadJobFile[], target: string, table: TableSchema): Promise<void> {
    const columns = [...new Set(group.flatMap((j) => j.columns))];
    const cols = columns.map((c) => this.compiler.quote(c)).join(', ');
    await this.execute(
      `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${this.source(group, columns, table)}`,
    );
  }

  /**
   * The reader call over loader files of one layout. JSONL: `read_json` with the schema's types by key
   * (a file may lack keys: NULL). CSV (core's writer: RFC 4180, header, NULL = empty unquoted field,
   * empty string = `""`): `read_csv` with nothing sniffed, the schema's types in file order. Rows up to
   * 16 MiB in both (the CSV buffer must hold a whole line; 32 MiB keeps two threads within the memory limit).
   */
  private source(group: LoadJobFile[], columns: string[], table: TableSchema): string {
    const files =
      group.length === 1
        ? this.compiler.literal(group[0]!.path)
        : `[${group.map((j) => this.compiler.literal(j.path)).join(', ')}]`;
    const types = columns
      .map(
        (c) =>
          `${this.compiler.literal(c)}: ${this.compiler.literal(this.compiler.columnType(table.columns[c] ?? { dataType: 'text' }))}`,
      )
      .join(', ');
    switch (group[0]!.format) {
      case 'jsonl':
        return `read_json(${files}, format = 'newline_delimited', columns = {${types}}, maximum_object_size = 16777216)`;
      case 'parquet':
        return `read_parquet(${files})`;
      default:
        return (
          `read_csv(${files}, header = true, auto_detect = false, delim = ',', quote = '"', escape = '"', ` +
          `new_line = '\\n', nullstr = '', allow_quoted_nulls = false, max_line_size = 16777216, ` +
          `buffer_size = 33554432, columns = {${types}})`
        );
    }
  }

  protected isTransient(): boolean {
    return false; // embedded: no network, no server to lose
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.connection.closeSync();
    this.instance.closeSync();
  }
}
