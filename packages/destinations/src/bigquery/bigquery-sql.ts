import { DestinationError, SYSTEM_COLUMNS, type ColumnSchema, type DataType } from '@ferry/core';
import { SqlCompiler, type MergeTable, type Statement } from '../sql/sql-compiler.ts';

/** Where the compiler's tables live. */
export interface BigQuerySqlOptions {
  /** GCP project that holds the datasets. */
  projectId: string;
  /** Dataset location for `CREATE SCHEMA`. Default `US` (BigQuery's own default). */
  location?: string;
}

/** Marker in the description of the commit script's staging row-count assertions. */
export const STAGING_CHECK = 'ferry_staging_check';

/**
 * BigQuery GoogleSQL. Overrides only what differs from the default compiler (STYLE.md §3), each with its
 * reason; merge statements alias their targets because BigQuery cannot qualify a column with a
 * `project.dataset.table` path.
 */
export class BigQuerySqlCompiler extends SqlCompiler {
  /** Project of every qualified name. */
  readonly projectId: string;
  /** Location given to new datasets. Default `US`. */
  readonly location: string;

  constructor(options: BigQuerySqlOptions) {
    super();
    this.projectId = options.projectId;
    this.location = options.location ?? 'US';
  }

  // BigQuery quotes identifiers with backticks; a backslash escapes inside them.
  override quote(name: string): string {
    return `\`${name.replace(/[\\`]/g, (c) => `\\${c}`)}\``;
  }

  // A dataset lives in a project: `project`.`dataset`.`table`.
  override qualified(schema: string, table: string): string {
    return `${this.quote(this.projectId)}.${this.quote(schema)}.${this.quote(table)}`;
  }

  /** `project`.`dataset`, for dataset DDL. */
  datasetPath(schema: string): string {
    return `${this.quote(this.projectId)}.${this.quote(schema)}`;
  }

  // Named parameters (`@p1`): a multi-statement script renumbers them (see renumberParams).
  override param(i: number): string {
    return `@p${i}`;
  }

  /** A GoogleSQL string literal (backslash escapes). */
  literal(text: string): string {
    return `'${text
      .replace(/[\\']/g, (c) => `\\${c}`)
      .replaceAll('\n', '\\n')
      .replaceAll('\r', '\\r')}'`;
  }

  // BigQuery's type names; NUMERIC holds at most 29 integer and 9 fraction digits, BIGNUMERIC the rest.
  override columnType(column: Pick<ColumnSchema, 'dataType' | 'precision' | 'scale'>): string {
    switch (column.dataType) {
      case 'text':
        return 'STRING';
      case 'bigint':
        return 'INT64';
      case 'double':
        return 'FLOAT64';
      case 'bool':
        return 'BOOL';
      case 'timestamp':
        return 'TIMESTAMP';
      case 'date':
        return 'DATE';
      case 'json':
        return 'JSON';
      case 'decimal': {
        if (column.precision === undefined) return 'NUMERIC';
        const scale = column.scale ?? 0;
        if (column.precision - scale <= 29 && scale <= 9) return `NUMERIC(${column.precision}, ${scale})`;
        // BIGNUMERIC(P, S) needs S <= 38 and P <= S + 38 (BigQuery's parameterized decimal types).
        if (column.precision - scale <= 38 && scale <= 38) return `BIGNUMERIC(${column.precision}, ${scale})`;
        throw new DestinationError(
          `decimal(${column.precision}, ${scale}) does not fit BigQuery: BIGNUMERIC holds at most 38 digits before the point and 38 after (P <= S + 38). ` +
            'Give the column a smaller precision hint, or load it as text',
          { context: { precision: column.precision, scale } },
        );
      }
    }
  }

  // INFORMATION_SCHEMA reports BigQuery names (INT64, STRING, BIGNUMERIC(…)), which the default does not know.
  override fromNativeType(native: string): DataType {
    const t = native.toUpperCase();
    if (t === 'INT64') return 'bigint';
    if (t === 'FLOAT64') return 'double';
    if (t === 'BOOL') return 'bool';
    if (t === 'STRING') return 'text';
    if (t.startsWith('BIGNUMERIC') || t.startsWith('NUMERIC')) return 'decimal';
    return super.fromNativeType(native);
  }

  // New datasets take the configured location (BigQuery cannot move a dataset later).
  override createSchema(schema: string): string {
    return `CREATE SCHEMA IF NOT EXISTS ${this.datasetPath(schema)} OPTIONS (location = ${this.literal(this.location)})`;
  }

  // One ALTER per table: BigQuery rate-limits table metadata updates (5 per 10 s per table).
  override addColumns(qualifiedName: string, columns: ColumnSchema[]): string[] {
    if (columns.length === 0) return [];
    return [
      `ALTER TABLE ${qualifiedName} ${columns.map((c) => `ADD COLUMN IF NOT EXISTS ${this.quote(c.name)} ${this.columnType(c)}`).join(', ')}`,
    ];
  }

  // BigQuery spells it SET DATA TYPE (and can widen only INT64 → NUMERIC/BIGNUMERIC/FLOAT64).
  override alterColumnType(qualifiedName: string, column: ColumnSchema): string {
    return `ALTER TABLE ${qualifiedName} ALTER COLUMN ${this.quote(column.name)} SET DATA TYPE ${this.columnType(column)}`;
  }

  // BigQuery's DELETE requires a WHERE clause (TRUNCATE is not allowed inside a transaction).
  override deleteAll(qualifiedName: string): string {
    return `DELETE FROM ${qualifiedName} WHERE TRUE`;
  }

  /** DROP SCHEMA … CASCADE: the dataset with its tables. */
  dropSchema(schema: string): string {
    return `DROP SCHEMA IF EXISTS ${this.datasetPath(schema)} CASCADE`;
  }

  /** Append staged rows to the target (inside the package's transaction). */
  insertFromStaging(target: string, staging: string, columns: string[]): string {
    const cols = columns.map((c) => this.quote(c)).join(', ');
    return `INSERT INTO ${target} (${cols}) SELECT ${cols} FROM ${staging}`;
  }

  /**
   * `ASSERT` that a staging table holds exactly the package's rows for it (BigQuery fails the script,
   * and so rolls the transaction back, when it does not). Guards the 409 reuse of load jobs: a job
   * that succeeded earlier loaded into a staging table that may have been dropped or expired since.
   * The description carries {@link STAGING_CHECK} so the client knows to reload.
   */
  assertStagingRows(staging: string, table: string, rows: number): string {
    return `ASSERT (SELECT COUNT(*) FROM ${staging}) = ${rows} AS ${this.literal(`${STAGING_CHECK}: staging table of '${table}' does not hold the package's ${rows} rows`)}`;
  }

  /**
   * The schema version row, only when its hash is not stored yet: a conditional INSERT inside the
   * script saves the query job a separate lookup would cost.
   */
  insertVersionIfNew(schema: string, row: Parameters<SqlCompiler['insertVersion']>[1]): Statement {
    const table = this.qualified(schema, '_ferry_version');
    const p = (i: number) => this.param(i);
    return {
      sql:
        `INSERT INTO ${table} (version, engine_version, inserted_at, schema_name, version_hash, schema) ` +
        `SELECT ${p(1)}, ${p(2)}, ${this.timestampParam(3)}, ${p(4)}, ${p(5)}, ${p(6)} FROM (SELECT 1 AS one) AS x ` +
        `WHERE NOT EXISTS (SELECT 1 FROM ${table} AS v WHERE v.version_hash = ${p(5)})`,
      params: [row.version, row.engineVersion, row.insertedAt, row.schemaName, row.versionHash, row.schema],
    };
  }

  // Columns cannot be qualified by a `project.dataset.table` path: the target is aliased `t`.
  protected override replacedRows(
    root: MergeTable,
    primaryKey: string[],
    mergeKey: string[],
    alias = 't',
  ): string {
    const parts: string[] = [];
    for (const key of [primaryKey, mergeKey]) {
      if (key.length > 0)
        parts.push(`EXISTS (SELECT 1 FROM ${root.staging} AS s WHERE ${this.matchColumns('s', alias, key)})`);
    }
    return parts.join(' OR ');
  }

  // Same as the default, with aliases (see replacedRows).
  protected override deleteChildren(
    root: MergeTable,
    children: MergeTable[],
    primaryKey: string[],
    mergeKey: string[],
  ): string[] {
    const id = this.quote(SYSTEM_COLUMNS.id);
    const rootId = this.quote(SYSTEM_COLUMNS.rootId);
    return children.map(
      (child) =>
        `DELETE FROM ${child.target} AS c WHERE c.${rootId} IN (SELECT t.${id} FROM ${root.target} AS t WHERE ${this.replacedRows(root, primaryKey, mergeKey)})`,
    );
  }

  // Same as the default, with aliases (see replacedRows).
  override mergeDeleteInsert(
    root: MergeTable,
    children: MergeTable[],
    primaryKey: string[],
    mergeKey: string[],
  ): string[] {
    const cols = Object.keys(root.table.columns);
    return [
      ...this.deleteChildren(root, children, primaryKey, mergeKey),
      `DELETE FROM ${root.target} AS t WHERE ${this.replacedRows(root, primaryKey, mergeKey)}`,
      `INSERT INTO ${root.target} (${cols.map((c) => this.quote(c)).join(', ')}) ${this.dedupedStaging(root, primaryKey, cols)}`,
      ...this.insertChildren(root, children),
    ];
  }

  // BigQuery's MERGE: an aliased target, so SET and ON never need the project-qualified name.
  protected override mergeTarget(target: string): { into: string; ref: string } {
    return { into: `${target} AS t`, ref: 't' };
  }

  // The dataset's own INFORMATION_SCHEMA, not the SQL-standard one.
  override selectColumns(schema: string): Statement {
    return {
      sql: `SELECT table_name, column_name, data_type, is_nullable FROM ${this.datasetPath(schema)}.INFORMATION_SCHEMA.COLUMNS ORDER BY table_name, ordinal_position`,
      params: [],
    };
  }
}

/**
 * Join statements into one multi-statement script, renumbering each statement's `@pN` parameters so
 * they stay distinct (`@p1` of the second statement becomes `@p8` when the first had seven).
 * Quoted identifiers and string literals are left untouched.
 */
export function buildScript(statements: (Statement | string)[]): {
  sql: string;
  params: Record<string, unknown>;
} {
  const params: Record<string, unknown> = {};
  let offset = 0;
  const parts: string[] = [];
  for (const s of statements) {
    const st = typeof s === 'string' ? { sql: s, params: [] } : s;
    parts.push(renumberParams(st.sql, offset));
    st.params.forEach((v, i) => (params[`p${offset + i + 1}`] = v));
    offset += st.params.length;
  }
  return { sql: parts.map((p) => `${p};`).join('\n'), params };
}

const TOKENS = /(`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|@p(\d+)\b/g;

/** Shift `@pN` placeholders by `offset` outside quotes. */
export function renumberParams(sql: string, offset: number): string {
  if (offset === 0) return sql;
  return sql.replace(TOKENS, (match, quoted: string | undefined, n: string | undefined) =>
    quoted !== undefined ? match : `@p${Number(n) + offset}`,
  );
}

/** Whether SQL uses `@pN` named parameters (outside quotes). */
export function usesNamedParams(sql: string): boolean {
  let found = false;
  sql.replace(TOKENS, (match, quoted: string | undefined) => {
    if (quoted === undefined) found = true;
    return match;
  });
  return found;
}

/** Rewrite the reader's positional `$1` placeholders to BigQuery named `@p1` (outside quotes). */
export function dollarToNamed(sql: string): { sql: string; found: boolean } {
  let found = false;
  const out = sql.replace(
    /(`(?:[^`\\]|\\.)*`|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")|\$(\d+)\b/g,
    (match, quoted: string | undefined, n: string | undefined) => {
      if (quoted !== undefined) return match;
      found = true;
      return `@p${n}`;
    },
  );
  return { sql: out, found };
}
