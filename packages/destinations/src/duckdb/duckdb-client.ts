import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import type { DatasetReader, LoadJobFile, TableSchema } from '@ferry/core';
import { SqlJobClient, type Row } from '../sql/sql-job-client.ts';
import { DuckDbSqlCompiler } from './duckdb-sql.ts';

/** Convert DuckDB result values to plain JS: bigint stays bigint when unsafe, timestamps become Dates. */
function toJs(value: unknown): unknown {
  if (typeof value === 'bigint') return value <= BigInt(Number.MAX_SAFE_INTEGER) && value >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(value) : value;
  return value;
}

/** DuckDB client: one connection to one database file; a package loads in one transaction. */
export class DuckDbClient extends SqlJobClient {
  override readonly compiler = new DuckDbSqlCompiler();
  readonly reader: DatasetReader;
  private readonly instance: DuckDBInstance;
  private readonly connection: DuckDBConnection;
  private readonly path: string;
  private closed = false;

  constructor(instance: DuckDBInstance, connection: DuckDBConnection, dataset: string, path: string) {
    super(dataset);
    this.instance = instance;
    this.connection = connection;
    this.path = path;
    this.reader = {
      query: (sql, params) => this.query(sql, params),
      stream: (sql, params, batchSize) => this.stream(sql, params, batchSize),
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
    const reader = await this.connection.runAndReadAll(sql, params as DuckDBValue[] | undefined);
    return reader.getRowObjectsJS().map((r) => {
      const out: Row = {};
      for (const [k, v] of Object.entries(r)) out[k] = toJs(v);
      return out;
    });
  }

  private async *stream(sql: string, params: unknown[] | undefined, batchSize: number): AsyncIterable<Row[]> {
    const result = await this.connection.stream(sql, params as DuckDBValue[] | undefined);
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

  protected async loadFile(job: LoadJobFile, target: string, table: TableSchema): Promise<void> {
    const cols = job.columns.map((c) => this.compiler.quote(c)).join(', ');
    const file = this.compiler.literal(job.path);
    let source: string;
    if (job.format === 'jsonl') {
      const types = job.columns
        .map((c) => `${this.compiler.literal(c)}: ${this.compiler.literal(this.compiler.columnType(table.columns[c] ?? { dataType: 'text' }))}`)
        .join(', ');
      source = `read_json(${file}, format = 'newline_delimited', columns = {${types}}, maximum_object_size = 134217728)`;
    } else if (job.format === 'parquet') {
      source = `read_parquet(${file})`;
    } else {
      source = `read_csv(${file}, header = true, all_varchar = true)`;
    }
    await this.execute(`INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${source}`);
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
