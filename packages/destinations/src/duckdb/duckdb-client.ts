import type { DuckDBConnection, DuckDBInstance, DuckDBValue } from '@duckdb/node-api';
import type { DatasetReader, LoadJobFile, TableSchema } from '@ferry/core';
import { SqlJobClient } from '../sql/sql-job-client.ts';
import { queryRows, streamRows, type Row } from './duckdb-rows.ts';
import { DuckDbSqlCompiler } from './duckdb-sql.ts';

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
    return queryRows(this.connection, sql, params);
  }

  private stream(sql: string, params: unknown[] | undefined, batchSize: number): AsyncIterable<Row[]> {
    return streamRows(this.connection, sql, params, batchSize);
  }

  protected async loadFile(job: LoadJobFile, target: string, table: TableSchema): Promise<void> {
    const cols = job.columns.map((c) => this.compiler.quote(c)).join(', ');
    const file = this.compiler.literal(job.path);
    let source: string;
    if (job.format === 'jsonl') {
      const types = job.columns
        .map(
          (c) =>
            `${this.compiler.literal(c)}: ${this.compiler.literal(this.compiler.columnType(table.columns[c] ?? { dataType: 'text' }))}`,
        )
        .join(', ');
      source = `read_json(${file}, format = 'newline_delimited', columns = {${types}}, maximum_object_size = 16777216)`;
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
