import { FerryError, type DatasetReader } from '@ferry/core';
import {
  SelectQueryNode,
  type CompiledQuery,
  type DatabaseConnection,
  type Driver,
  type QueryResult,
} from 'kysely';

/** Options of {@link ReaderDriver}. */
export interface ReaderDriverOptions {
  /** Destination type, for error messages (`duckdb`, `bigquery`, …). */
  destination: string;
  /**
   * Timeout of a statement that is not a kysely SELECT (raw `sql`), which runs as untrusted text.
   * Default 5 minutes, as `dataset.sql()`.
   */
  untrustedTimeoutMs?: number;
  /**
   * Rewrites each result row for the query that produced it (Snowflake gives back the original spelling
   * of names it folded). Default: rows as the reader returns them.
   */
  rows?: (compiled: CompiledQuery) => ((row: Record<string, unknown>) => Record<string, unknown>) | undefined;
}

/**
 * A kysely `Driver` over a Ferry {@link DatasetReader}: every query goes through the reader the
 * destination opened for the dataset (its read-only connection, its parameter style from `$n`, its value
 * conversion and its error wrapping), so kysely adds typing and nothing else. A SELECT built by kysely
 * runs as the reader's own query; anything else (a raw `sql` statement) runs through the reader's
 * `untrustedQuery`, where the destination itself refuses all but one read, and cannot be streamed.
 * One shared "connection": readers are safe to call concurrently. Transactions are refused.
 */
export class ReaderDriver implements Driver {
  private readonly reader: DatasetReader;
  private readonly options: ReaderDriverOptions;
  private readonly connection: ReaderConnection;

  /** `reader`: the destination client's reader, opened for the dataset. */
  constructor(reader: DatasetReader, options: ReaderDriverOptions) {
    this.reader = reader;
    this.options = options;
    this.connection = new ReaderConnection(reader, options);
  }

  /** Nothing to set up: the destination client is already connected. */
  async init(): Promise<void> {}

  /** The one shared connection over the reader. */
  async acquireConnection(): Promise<DatabaseConnection> {
    return this.connection;
  }

  /** Refused: a dataset reader only reads, so there is nothing to make atomic. */
  async beginTransaction(): Promise<void> {
    throw new FerryError(
      'UNSUPPORTED',
      `${this.options.destination}: dataset.kysely() is read-only and has no transactions; run the queries without one`,
    );
  }

  /** Refused (see {@link beginTransaction}). */
  async commitTransaction(): Promise<void> {
    await this.beginTransaction();
  }

  /** Refused (see {@link beginTransaction}). */
  async rollbackTransaction(): Promise<void> {
    await this.beginTransaction();
  }

  /** Nothing to release: the connection is shared. */
  async releaseConnection(): Promise<void> {}

  /** Nothing to close here: the reader belongs to the destination client, which `Dataset.close()` closes. */
  async destroy(): Promise<void> {
    void this.reader;
  }
}

/** Default timeout of a raw statement: 5 minutes, as `dataset.sql()`. */
const DEFAULT_UNTRUSTED_TIMEOUT_MS = 300_000;

/** The one {@link DatabaseConnection} of a {@link ReaderDriver}. */
class ReaderConnection implements DatabaseConnection {
  private readonly reader: DatasetReader;
  private readonly options: ReaderDriverOptions;

  constructor(reader: DatasetReader, options: ReaderDriverOptions) {
    this.reader = reader;
    this.options = options;
  }

  async executeQuery<R>(compiled: CompiledQuery): Promise<QueryResult<R>> {
    const params = [...compiled.parameters];
    const rows = SelectQueryNode.is(compiled.query)
      ? await this.reader.query(compiled.sql, params)
      : await this.reader.untrustedQuery(compiled.sql, params, {
          timeoutMs: this.options.untrustedTimeoutMs ?? DEFAULT_UNTRUSTED_TIMEOUT_MS,
        });
    const map = this.options.rows?.(compiled);
    return { rows: (map ? rows.map(map) : rows) as R[] };
  }

  async *streamQuery<R>(compiled: CompiledQuery, chunkSize: number): AsyncIterableIterator<QueryResult<R>> {
    if (!SelectQueryNode.is(compiled.query))
      throw new FerryError(
        'UNSUPPORTED',
        `${this.options.destination}: only a kysely SELECT can be streamed from a dataset; run raw SQL with execute()`,
      );
    const map = this.options.rows?.(compiled);
    for await (const batch of this.reader.stream(compiled.sql, [...compiled.parameters], chunkSize))
      yield { rows: (map ? batch.map(map) : batch) as R[] };
  }
}
