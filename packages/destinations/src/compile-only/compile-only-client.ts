import type { DatasetReader, LoadJobFile, TableSchema } from '@ferry/core';
import type { SqlCompiler } from '../sql/sql-compiler.ts';
import { SqlJobClient, type Row } from '../sql/sql-job-client.ts';

/** One recorded statement. */
export interface RecordedStatement {
  /** SQL text (a file load is recorded as `LOAD <file> INTO <table> (<columns>)`). */
  sql: string;
  /** Parameter values. */
  params: unknown[];
}

/**
 * A client that compiles and records every statement instead of running it (kysely's DummyDriver).
 * Queries return no rows, so every table looks new and no load looks committed.
 */
export class CompileOnlyClient extends SqlJobClient {
  readonly compiler: SqlCompiler;
  readonly reader: DatasetReader | undefined = undefined;
  /** Everything "executed", in order. */
  readonly statements: RecordedStatement[];

  constructor(dataset: string, compiler: SqlCompiler, statements: RecordedStatement[]) {
    super(dataset);
    this.compiler = compiler;
    this.statements = statements;
  }

  async execute(sql: string, params: unknown[] = []): Promise<void> {
    this.statements.push({ sql, params });
  }

  async query(sql: string, params: unknown[] = []): Promise<Row[]> {
    this.statements.push({ sql, params });
    return [];
  }

  protected async loadFile(job: LoadJobFile, target: string, _table: TableSchema): Promise<void> {
    this.statements.push({
      sql: `LOAD ${job.format} ${job.jobId} INTO ${target} (${job.columns.join(', ')})`,
      params: [],
    });
  }

  protected isTransient(): boolean {
    return false;
  }

  async close(): Promise<void> {}
}
