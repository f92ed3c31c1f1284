import {
  DestinationError,
  SYSTEM_TABLES,
  shortHash,
  type ColumnSchema,
  type DataType,
  type StoredSchema,
} from '@ferry/core';
import { SqlCompiler } from '../sql/sql-compiler.ts';

/** One loader file staged for `COPY INTO`: where it was PUT and under which name it landed. */
export interface StagedFile {
  /** Absolute local path of the loader file. */
  localPath: string;
  /** Stage reference without the leading `@`, e.g. `"DS"."%RUNS"`. */
  stage: string;
  /** Folder inside the stage: the load id, so a retry overwrites the same object. */
  folder: string;
  /** File name in the stage (the SDK gzips and appends `.gz`). */
  stagedName: string;
}

/**
 * Snowflake dialect. Identifiers are folded to upper case and always quoted, so the tables Ferry creates
 * read naturally in unquoted SQL (`select id from runs`) while names with any character stay safe; the
 * engine's schema keeps its lower-case names and {@link SnowflakeSqlCompiler.fold} maps them.
 */
export class SnowflakeSqlCompiler extends SqlCompiler {
  /** Snowflake folds unquoted identifiers to upper case: quoting the folded name keeps both spellings working. */
  fold(name: string): string {
    return name.toUpperCase();
  }

  /**
   * Refuse a schema whose names collide once folded to upper case (`id` and `ID` would be one Snowflake
   * column), naming both. The engine's naming lower-cases every name, so this guards schemas built elsewhere.
   */
  checkFoldedNames(schema: StoredSchema): void {
    const seen = new Map<string, string>();
    for (const table of Object.values(schema.tables)) {
      const key = this.fold(table.name);
      const other = seen.get(key);
      if (other !== undefined) {
        throw new DestinationError(
          `tables '${other}' and '${table.name}' differ only by case; Snowflake folds both to "${key}". Rename one of the resources (or give it an explicit table name).`,
          { context: { tables: [other, table.name] } },
        );
      }
      seen.set(key, table.name);
      const cols = new Map<string, string>();
      for (const column of Object.keys(table.columns)) {
        const ckey = this.fold(column);
        const prev = cols.get(ckey);
        if (prev !== undefined) {
          throw new DestinationError(
            `columns '${prev}' and '${column}' of table '${table.name}' differ only by case; Snowflake folds both to "${ckey}". Rename one of the fields (a column hint or a map step in the resource).`,
            { context: { table: table.name, columns: [prev, column] } },
          );
        }
        cols.set(ckey, column);
      }
    }
  }

  // Quoted names are case-sensitive in Snowflake; folding first makes `"RUNS"` equal to unquoted `runs`.
  override quote(name: string): string {
    return `"${this.fold(name).replaceAll('"', '""')}"`;
  }

  // Snowflake binds are `?` or `:n`; `:n` may repeat and never collides with `$1` (a staged file's first column).
  override param(i: number): string {
    return `:${i}`;
  }

  /**
   * Rewrite the dataset API's `$n` placeholders as Snowflake's `:n` (in Snowflake `$1` is a staged file's
   * first column). Quoted strings and identifiers are left alone.
   */
  rewriteParams(sql: string): string {
    return sql.replace(
      /('(?:[^'\\]|\\.|'')*'|"(?:[^"]|"")*")|\$(\d+)/g,
      (match, quoted: string | undefined, n: string | undefined) => (quoted ? match : `:${n}`),
    );
  }

  // Issue 6's type set: NUMBER, FLOAT, BOOLEAN, VARCHAR, VARIANT, DATE, TIMESTAMP_TZ.
  override columnType(column: Pick<ColumnSchema, 'dataType' | 'precision' | 'scale'>): string {
    return SNOWFLAKE_TYPES[column.dataType](column);
  }

  // Snowflake's INFORMATION_SCHEMA names (NUMBER with a scale is decimal; see `fromNumber`).
  override fromNativeType(native: string): DataType {
    const t = native.toUpperCase();
    if (t.startsWith('TIMESTAMP')) return 'timestamp';
    if (t === 'NUMBER' || t === 'DECIMAL' || t === 'NUMERIC' || t.startsWith('NUMBER(')) return 'bigint';
    if (t === 'FLOAT' || t === 'DOUBLE' || t === 'REAL' || t === 'DOUBLE PRECISION') return 'double';
    if (t === 'BOOLEAN') return 'bool';
    if (t === 'DATE') return 'date';
    if (t === 'VARIANT' || t === 'OBJECT' || t === 'ARRAY') return 'json';
    return 'text';
  }

  /**
   * Ferry type of a Snowflake `NUMBER(precision, scale)`: `NUMBER(19,0)` (what Ferry creates for bigint) and
   * a NUMBER without a known precision are bigint; any other precision or a scale is decimal, so a Ferry
   * `decimal(p, 0)` column reads back as itself (not as bigint, which would be widened again every package).
   */
  fromNumber(scale: number | null | undefined, precision?: number | null): DataType {
    if (scale !== null && scale !== undefined && scale !== 0) return 'decimal';
    return precision === null || precision === undefined || precision === 19 ? 'bigint' : 'decimal';
  }

  /** Snowflake string literal: single quotes doubled, backslashes escaped (Snowflake reads `\` as an escape). */
  literal(text: string): string {
    return `'${text.replaceAll('\\', '\\\\').replaceAll("'", "''")}'`;
  }

  // Staging tables are rebuilt for every package: one statement, and TRANSIENT skips Fail-safe storage costs.
  override createTable(qualifiedName: string, columns: ColumnSchema[], ifNotExists = true): string {
    if (ifNotExists) return super.createTable(qualifiedName, columns, true);
    return `CREATE OR REPLACE TRANSIENT TABLE ${qualifiedName} (${columns.map((c) => this.columnDefinition(c)).join(', ')})`;
  }

  // Snowflake spells it SET DATA TYPE, and only grows NUMBER precision or VARCHAR length this way; the
  // client widens every other change by copy (`widenColumn`).
  override alterColumnType(qualifiedName: string, column: ColumnSchema): string {
    return `ALTER TABLE ${qualifiedName} ALTER COLUMN ${this.quote(column.name)} SET DATA TYPE ${this.columnType(column)}`;
  }

  /** Name of the temporary column a widening copies into; deterministic so a crashed widening is found again. */
  widenTempColumn(column: string): string {
    return `_FERRY_WIDEN_${shortHash(column, 12)
      .replace(/[^A-Za-z0-9]/g, '_')
      .toUpperCase()}`;
  }

  /**
   * Widen a column by copy (Snowflake's ALTER only grows NUMBER precision and VARCHAR length): add a
   * temporary column of the new type, copy with an implicit cast, drop the old one, rename. Each step
   * auto-commits; a crash between DROP and RENAME is repaired by {@link widenRepair} on the next load.
   */
  override widenColumn(qualifiedName: string, column: ColumnSchema): string[] {
    const tmp = this.quote(this.widenTempColumn(column.name));
    const col = this.quote(column.name);
    return [
      `ALTER TABLE ${qualifiedName} DROP COLUMN IF EXISTS ${tmp}`,
      `ALTER TABLE ${qualifiedName} ADD COLUMN ${tmp} ${this.columnType(column)}`,
      `UPDATE ${qualifiedName} SET ${tmp} = ${col}`,
      `ALTER TABLE ${qualifiedName} DROP COLUMN ${col}`,
      `ALTER TABLE ${qualifiedName} RENAME COLUMN ${tmp} TO ${col}`,
    ];
  }

  /** Finish a widening that crashed after dropping the old column: rename the copy into place. */
  widenRepair(qualifiedName: string, column: string): string {
    return `ALTER TABLE ${qualifiedName} RENAME COLUMN ${this.quote(this.widenTempColumn(column))} TO ${this.quote(column)}`;
  }

  /** The table stage of a table: `"DS"."%RUNS"` (dlt's form; `@` is added where it is referenced). */
  tableStage(schema: string, table: string): string {
    return `${this.quote(schema)}.${this.quote(`%${table}`)}`;
  }

  /**
   * PUT a loader file into a stage folder named by the load id. `OVERWRITE = TRUE` makes a retry
   * rewrite the same object (idempotent); `AUTO_COMPRESS` gzips it on the way (`.gz` is appended).
   */
  put(localPath: string, stage: string, folder: string): string {
    return `PUT ${this.literal(`file://${localPath}`)} @${stage}/${folder}/ OVERWRITE = TRUE AUTO_COMPRESS = TRUE PARALLEL = 4`;
  }

  /** Remove a load's staged files: `REMOVE @stage/<folder>/` (after its COMMIT). */
  removeStaged(stage: string, folder: string): string {
    return `REMOVE @${stage}/${folder}/`;
  }

  /**
   * COPY staged JSONL files into a table, columns matched by name (JSON keys are Ferry's lower-case names,
   * columns their upper-case fold). `FORCE = TRUE` because exactly-once comes from the `_ferry_loads` row
   * committed in the same transaction, not from COPY's load history: a rolled-back attempt must load again.
   */
  copyInto(target: string, stage: string, folder: string, files: string[]): string {
    return (
      `COPY INTO ${target} FROM @${stage}/${folder}/ FILES = (${files.map((f) => this.literal(f)).join(', ')}) ` +
      `FILE_FORMAT = (TYPE = 'JSON' STRIP_OUTER_ARRAY = FALSE) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE`
    );
  }

  // SCHEMA is a reserved word in Snowflake: every system column is quoted (and so folded).
  protected override systemColumn(name: string): string {
    return this.quote(name);
  }

  // Quoted: SCHEMA is reserved.
  override selectSchema(schema: string): string {
    const q = (n: string) => this.quote(n);
    return `SELECT ${q('schema')} AS schema_json FROM ${this.qualified(schema, SYSTEM_TABLES.version)} WHERE ${q('schema_name')} = ${this.param(1)} ORDER BY ${q('version')} DESC LIMIT 1`;
  }

  // Snowflake's MERGE takes a target alias; ON then reads `t."ID" = s."ID"` rather than a qualified name.
  protected override mergeTarget(target: string): { into: string; ref: string } {
    return { into: `${target} AS t`, ref: 't' };
  }

  protected override upsertOn(ref: string, primaryKey: string[]): string {
    return this.matchColumns(ref, 's', primaryKey);
  }
}

const SNOWFLAKE_TYPES: Record<DataType, (c: Pick<ColumnSchema, 'precision' | 'scale'>) => string> = {
  text: () => 'VARCHAR',
  // NUMBER(19,0) holds every int64; Snowflake stores it as compactly as a smaller precision.
  bigint: () => 'NUMBER(19,0)',
  double: () => 'FLOAT',
  bool: () => 'BOOLEAN',
  // Precision 6: Ferry keeps microseconds, the most any source sends.
  timestamp: () => 'TIMESTAMP_TZ(6)',
  date: () => 'DATE',
  decimal: (c) => `NUMBER(${Math.min(c.precision ?? 38, 38)},${Math.min(c.scale ?? 9, 37)})`,
  json: () => 'VARIANT',
};
