import type { ColumnSchema } from '@ferry/core';
import { SqlCompiler } from '../sql/sql-compiler.ts';

/** DuckDB dialect: only the type names differ from the default compiler. */
export class DuckDbSqlCompiler extends SqlCompiler {
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
