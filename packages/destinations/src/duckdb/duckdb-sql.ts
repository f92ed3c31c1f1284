import type { ColumnSchema } from '@ferry/core';
import { SqlCompiler } from '../sql/sql-compiler.ts';

/** DuckDB dialect: type names, and table names qualified with the catalog when it shares the dataset's name. */
export class DuckDbSqlCompiler extends SqlCompiler {
  /**
   * The database's catalog name (the file's stem, e.g. `pokemon` for `pokemon.duckdb`). When it equals the
   * schema, DuckDB refuses `"pokemon"."t"` as an ambiguous reference to catalog or schema, so names are
   * written `"pokemon"."pokemon"."t"` then. Default undefined: two-part names.
   */
  private readonly catalog: string | undefined;

  constructor(catalog?: string) {
    super();
    this.catalog = catalog;
  }

  override qualified(schema: string, table: string): string {
    const two = super.qualified(schema, table);
    return this.catalog !== undefined && this.catalog === schema ? `${this.quote(this.catalog)}.${two}` : two;
  }

  // DuckDB's canonical names (DOUBLE, VARCHAR, TIMESTAMPTZ) read back from information_schema unchanged.
  override columnType(column: Pick<ColumnSchema, 'dataType' | 'precision' | 'scale'>): string {
    switch (column.dataType) {
      case 'text':
        return 'VARCHAR';
      case 'double':
        return 'DOUBLE';
      case 'timestamp':
        return 'TIMESTAMPTZ';
      case 'decimal':
        return `DECIMAL(${Math.min(column.precision ?? 38, 38)}, ${column.scale ?? 9})`;
      default:
        return super.columnType(column);
    }
  }

  /** DuckDB string literal. */
  literal(text: string): string {
    return `'${text.replaceAll("'", "''")}'`;
  }
}
