import type { ColumnSchema } from '@ferry/core';
import { SqlCompiler } from '../sql/sql-compiler.ts';

/**
 * Postgres dialect. The default compiler is already written in Postgres-flavoured SQL (`$n` placeholders,
 * `MERGE`, double-quoted identifiers), so only the type names differ.
 */
export class PostgresSqlCompiler extends SqlCompiler {
  override columnType(column: Pick<ColumnSchema, 'dataType' | 'precision' | 'scale'>): string {
    switch (column.dataType) {
      // jsonb, not json: binary storage, indexable, and equality/containment operators work on it.
      case 'json':
        return 'jsonb';
      // The short canonical names; information_schema reports them as their long forms, which the base maps back.
      case 'double':
        return 'double precision';
      case 'timestamp':
        return 'timestamptz';
      // Postgres allows precision up to 1000, so the schema's precision passes through unclamped.
      case 'decimal':
        return `numeric(${column.precision ?? 38}, ${column.scale ?? 9})`;
      default:
        return super.columnType(column);
    }
  }

  /** A string literal (standard_conforming_strings is on since 9.1: only quotes are doubled). */
  literal(text: string): string {
    return `'${text.replaceAll("'", "''")}'`;
  }

  /**
   * `COPY <target> (<cols>) FROM STDIN` for a CSV loader file with a header line. Core's CSV writer
   * writes NULL as an empty unquoted field and '' as `""`, which is exactly COPY's CSV convention.
   */
  copyCsv(target: string, columns: readonly string[]): string {
    return `COPY ${target} (${columns.map((c) => this.quote(c)).join(', ')}) FROM STDIN WITH (FORMAT csv, HEADER true)`;
  }

  /** `COPY <target> (<cols>) FROM STDIN` for a binary loader file (`pgcopy`, the Postgres writer's). */
  copyBinary(target: string, columns: readonly string[]): string {
    return `COPY ${target} (${columns.map((c) => this.quote(c)).join(', ')}) FROM STDIN WITH (FORMAT binary)`;
  }

  /**
   * `COPY` of JSON lines into a one-column (jsonb) table: CSV mode with quote and delimiter set to control
   * characters that valid JSON text never contains raw, so every line arrives verbatim.
   */
  copyJsonLines(target: string, column: string): string {
    return `COPY ${target} (${this.quote(column)}) FROM STDIN WITH (FORMAT csv, QUOTE E'\\x01', DELIMITER E'\\x02')`;
  }

  /**
   * Move JSON documents from a one-column table into the target, typing each field by the target's own
   * row type (`jsonb_populate_record`), so bigints, numerics and timestamps never pass through JS numbers.
   */
  insertFromJsonDocs(target: string, columns: readonly string[], docs: string, column: string): string {
    const cols = columns.map((c) => this.quote(c)).join(', ');
    const picked = columns.map((c) => `r.${this.quote(c)}`).join(', ');
    return `INSERT INTO ${target} (${cols}) SELECT ${picked} FROM ${docs} d, jsonb_populate_record(NULL::${target}, d.${this.quote(column)}) r`;
  }
}
