import {
  DialectAdapterBase,
  sql,
  type DatabaseIntrospector,
  type Kysely,
  type SchemaMetadata,
  type TableMetadata,
} from 'kysely';
import { FerryError } from '@ferry/core';

/** Where a warehouse keeps its information schema, and how it spells names. */
export interface InformationSchemaOptions {
  /** Destination type, for messages. */
  destination: string;
  /** The dataset's schema name as the warehouse stores it (Snowflake: upper case). */
  schema: string;
  /** The information schema to read, as SQL (`information_schema`, BigQuery: `` `project`.`dataset`.INFORMATION_SCHEMA ``). */
  informationSchema: string;
  /** A stored name back to Ferry's spelling (Snowflake folds to upper case). Default: as stored. */
  name?: (stored: string) => string;
}

interface ColumnRow {
  table_name: string;
  column_name: string;
  data_type: string;
  is_nullable: string;
  table_type: string | null;
}

/**
 * A kysely `DatabaseIntrospector` over the SQL-standard `INFORMATION_SCHEMA` (DuckDB, BigQuery,
 * Snowflake), limited to the dataset's schema: the reader only ever reads that one. The query runs as
 * raw SQL, so it takes the reader's untrusted (read-only) path like any raw statement.
 */
export class InformationSchemaIntrospector implements DatabaseIntrospector {
  private readonly db: Kysely<unknown>;
  private readonly options: InformationSchemaOptions;

  constructor(db: Kysely<unknown>, options: InformationSchemaOptions) {
    this.db = db;
    this.options = options;
  }

  /** The dataset's schema: the only one this reader sees. */
  async getSchemas(): Promise<SchemaMetadata[]> {
    return [{ name: this.options.schema }];
  }

  /** Tables and views of the dataset with their columns, in column order. */
  async getTables(): Promise<TableMetadata[]> {
    const is = sql.raw(this.options.informationSchema);
    const { rows } =
      await sql<ColumnRow>`SELECT c.table_name AS table_name, c.column_name AS column_name, c.data_type AS data_type, c.is_nullable AS is_nullable, t.table_type AS table_type FROM ${is}.columns c LEFT JOIN ${is}.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name WHERE c.table_schema = ${this.options.schema} ORDER BY c.table_name, c.ordinal_position`.execute(
        this.db,
      );
    const name = this.options.name ?? ((s: string) => s);
    const tables = new Map<string, TableMetadata & { columns: TableMetadata['columns'][number][] }>();
    for (const r of rows) {
      const table = name(String(r.table_name));
      let t = tables.get(table);
      if (!t) {
        t = {
          name: table,
          schema: this.options.schema,
          isView: /view/i.test(String(r.table_type ?? '')),
          isForeign: false,
          columns: [],
        };
        tables.set(table, t);
      }
      t.columns.push({
        name: name(String(r.column_name)),
        dataType: String(r.data_type),
        isNullable: String(r.is_nullable).toUpperCase() === 'YES',
        isAutoIncrementing: false,
        hasDefaultValue: false,
      });
    }
    return [...tables.values()];
  }
}

/**
 * The kysely adapter of a reader dialect: no RETURNING, no migrations (a dataset reader never writes;
 * Ferry's own load path owns the tables).
 */
export class ReaderAdapter extends DialectAdapterBase {
  private readonly destination: string;

  /** `destination`: type name for the refusal message. */
  constructor(destination: string) {
    super();
    this.destination = destination;
  }

  /** Refused: kysely migrations do not run on a Ferry dataset reader. */
  async acquireMigrationLock(): Promise<void> {
    throw new FerryError(
      'UNSUPPORTED',
      `${this.destination}: kysely migrations cannot run through dataset.kysely(), which only reads; Ferry creates and evolves the tables`,
    );
  }

  /** Refused (see {@link acquireMigrationLock}). */
  async releaseMigrationLock(): Promise<void> {
    await this.acquireMigrationLock();
  }
}
