import {
  SYSTEM_COLUMNS,
  SYSTEM_TABLES,
  type ColumnSchema,
  type DataType,
  type TableSchema,
} from '@ferry/core';

/** A statement with positional parameters. */
export interface Statement {
  /** SQL text with the dialect's placeholders. */
  sql: string;
  /** Parameter values. */
  params: unknown[];
}

/** One table of a merge chain, as the compiler needs it. */
export interface MergeTable {
  /** Table schema (current columns). */
  table: TableSchema;
  /** Target, fully qualified and quoted. */
  target: string;
  /** Staging copy, fully qualified and quoted. */
  staging: string;
}

/**
 * The default SQL compiler: DDL, system tables, replace and merge. Written in the SQL that Postgres and
 * DuckDB share; other warehouses override only what differs (STYLE.md §3), each with a one-line reason.
 */
export class SqlCompiler {
  /** Quote an identifier (double quotes, doubled inside). */
  quote(name: string): string {
    return `"${name.replaceAll('"', '""')}"`;
  }

  /** `"schema"."table"`. */
  qualified(schema: string, table: string): string {
    return `${this.quote(schema)}.${this.quote(table)}`;
  }

  /** Placeholder for parameter `i` (1-based). Default `$i`. */
  param(i: number): string {
    return `$${i}`;
  }

  /** Native type of a Ferry data type. */
  columnType(column: Pick<ColumnSchema, 'dataType' | 'precision' | 'scale'>): string {
    return TYPE_NAMES[column.dataType](column);
  }

  /** Ferry data type of a native type name (for introspection); text when unknown. */
  fromNativeType(native: string): DataType {
    const t = native.toLowerCase();
    if (t.startsWith('timestamp')) return 'timestamp';
    if (t === 'bigint' || t === 'int8' || t === 'integer' || t === 'int64' || t === 'hugeint')
      return 'bigint';
    if (t === 'double' || t === 'double precision' || t === 'float8' || t === 'float64' || t === 'real')
      return 'double';
    if (t === 'boolean' || t === 'bool') return 'bool';
    if (t === 'date') return 'date';
    if (t.startsWith('decimal') || t.startsWith('numeric')) return 'decimal';
    if (t === 'json' || t === 'jsonb') return 'json';
    return 'text';
  }

  /** A column definition in CREATE TABLE. */
  columnDefinition(column: ColumnSchema): string {
    return `${this.quote(column.name)} ${this.columnType(column)}${column.nullable ? '' : ' NOT NULL'}`;
  }

  /** CREATE SCHEMA IF NOT EXISTS. */
  createSchema(schema: string): string {
    return `CREATE SCHEMA IF NOT EXISTS ${this.quote(schema)}`;
  }

  /** CREATE TABLE for a Ferry table (all its current columns). */
  createTable(qualifiedName: string, columns: ColumnSchema[], ifNotExists = true): string {
    return `CREATE TABLE ${ifNotExists ? 'IF NOT EXISTS ' : ''}${qualifiedName} (${columns.map((c) => this.columnDefinition(c)).join(', ')})`;
  }

  /** ADD COLUMN statements (nullable: existing rows have no value). One statement per column (portable). */
  addColumns(qualifiedName: string, columns: ColumnSchema[]): string[] {
    return columns.map(
      (c) => `ALTER TABLE ${qualifiedName} ADD COLUMN ${this.quote(c.name)} ${this.columnType(c)}`,
    );
  }

  /** Widen a column's type in place. */
  alterColumnType(qualifiedName: string, column: ColumnSchema): string {
    return `ALTER TABLE ${qualifiedName} ALTER COLUMN ${this.quote(column.name)} TYPE ${this.columnType(column)}`;
  }

  /** Statements that widen a column in place. Default: one ALTER … TYPE; Snowflake widens by copy. */
  widenColumn(qualifiedName: string, column: ColumnSchema): string[] {
    return [this.alterColumnType(qualifiedName, column)];
  }

  /** DROP TABLE IF EXISTS. */
  dropTable(qualifiedName: string): string {
    return `DROP TABLE IF EXISTS ${qualifiedName}`;
  }

  /** Empty a table inside a transaction (DELETE keeps MVCC readers on the old rows until commit). */
  deleteAll(qualifiedName: string): string {
    return `DELETE FROM ${qualifiedName}`;
  }

  /**
   * A system-table column as it appears in SQL. Bare by default; a warehouse where one of them is a
   * reserved word (Snowflake: SCHEMA) quotes them all, and every system statement below follows.
   */
  protected systemColumn(name: string): string {
    return name;
  }

  /** DDL of the system tables. */
  systemTables(schema: string): string[] {
    const q = (t: string) => this.qualified(schema, t);
    const c = (n: string) => this.systemColumn(n);
    const text = this.columnType({ dataType: 'text' });
    const big = this.columnType({ dataType: 'bigint' });
    const ts = this.columnType({ dataType: 'timestamp' });
    return [
      `CREATE TABLE IF NOT EXISTS ${q(SYSTEM_TABLES.loads)} (${c('load_id')} ${text} NOT NULL, ${c('schema_name')} ${text}, ${c('status')} ${big} NOT NULL, ${c('inserted_at')} ${ts} NOT NULL, ${c('schema_version_hash')} ${text})`,
      `CREATE TABLE IF NOT EXISTS ${q(SYSTEM_TABLES.state)} (${c('version')} ${big} NOT NULL, ${c('engine_version')} ${big} NOT NULL, ${c('pipeline_name')} ${text} NOT NULL, ${c('state')} ${text} NOT NULL, ${c('created_at')} ${ts} NOT NULL, ${c('version_hash')} ${text}, ${c(SYSTEM_COLUMNS.loadId)} ${text} NOT NULL)`,
      `CREATE TABLE IF NOT EXISTS ${q(SYSTEM_TABLES.version)} (${c('version')} ${big} NOT NULL, ${c('engine_version')} ${big} NOT NULL, ${c('inserted_at')} ${ts} NOT NULL, ${c('schema_name')} ${text} NOT NULL, ${c('version_hash')} ${text} NOT NULL, ${c('schema')} ${text} NOT NULL)`,
    ];
  }

  /**
   * DDL of the lease table (warehouses without session locks; see `PipelineLease`). Expiry is epoch
   * milliseconds of the holder's clock, so no dialect's timestamp arithmetic is involved.
   */
  leaseTable(schema: string): string {
    const c = (n: string) => this.systemColumn(n);
    const text = this.columnType({ dataType: 'text' });
    const big = this.columnType({ dataType: 'bigint' });
    return `CREATE TABLE IF NOT EXISTS ${this.qualified(schema, SYSTEM_TABLES.lease)} (${c('pipeline_name')} ${text} NOT NULL, ${c('holder')} ${text} NOT NULL, ${c('info')} ${text} NOT NULL, ${c('expires_ms')} ${big} NOT NULL)`;
  }

  /**
   * Take a pipeline's lease when there is none, it expired, or the holder already has it (a renewal), in
   * one MERGE: the warehouse serializes it against a concurrent one. Parameters: pipeline, holder, info
   * (JSON), new expiry, now (both epoch ms).
   */
  claimLease(schema: string): string {
    const c = (n: string) => this.systemColumn(n);
    const { into, ref } = this.mergeTarget(this.qualified(schema, SYSTEM_TABLES.lease));
    const cols = ['pipeline_name', 'holder', 'info', 'expires_ms'].map(c);
    return (
      `MERGE INTO ${into} USING (SELECT ${this.param(1)} AS ${cols[0]}, ${this.param(2)} AS ${cols[1]}, ${this.param(3)} AS ${cols[2]}, ` +
      `${this.param(4)} AS ${cols[3]}, ${this.param(5)} AS ${c('now_ms')}) AS s ON ${ref}.${cols[0]} = s.${cols[0]} ` +
      `WHEN MATCHED AND (${ref}.${cols[1]} = s.${cols[1]} OR ${ref}.${cols[3]} < s.${c('now_ms')}) THEN UPDATE SET ` +
      `${cols[1]} = s.${cols[1]}, ${cols[2]} = s.${cols[2]}, ${cols[3]} = s.${cols[3]} ` +
      `WHEN NOT MATCHED THEN INSERT (${cols.join(', ')}) VALUES (${cols.map((x) => `s.${x}`).join(', ')})`
    );
  }

  /** The lease row of a pipeline (parameter: pipeline). */
  selectLease(schema: string): string {
    const c = (n: string) => this.systemColumn(n);
    return `SELECT ${c('holder')} AS holder, ${c('info')} AS info, ${c('expires_ms')} AS expires_ms FROM ${this.qualified(schema, SYSTEM_TABLES.lease)} WHERE ${c('pipeline_name')} = ${this.param(1)}`;
  }

  /** Remove a pipeline's lease if the holder still holds it (parameters: pipeline, holder). */
  releaseLease(schema: string): string {
    const c = (n: string) => this.systemColumn(n);
    return `DELETE FROM ${this.qualified(schema, SYSTEM_TABLES.lease)} WHERE ${c('pipeline_name')} = ${this.param(1)} AND ${c('holder')} = ${this.param(2)}`;
  }

  /** A comma-separated list of system-table columns. */
  protected systemColumns(names: string[]): string {
    return names.map((n) => this.systemColumn(n)).join(', ');
  }

  /** Cast a parameter to a timestamp (drivers bind ISO strings as text). */
  timestampParam(i: number): string {
    return `CAST(${this.param(i)} AS ${this.columnType({ dataType: 'timestamp' })})`;
  }

  /** INSERT of the `_ferry_loads` commit marker. */
  insertLoad(
    schema: string,
    loadId: string,
    schemaName: string,
    versionHash: string,
    insertedAt: string,
  ): Statement {
    return {
      sql: `INSERT INTO ${this.qualified(schema, SYSTEM_TABLES.loads)} (${this.systemColumns(['load_id', 'schema_name', 'status', 'inserted_at', 'schema_version_hash'])}) VALUES (${this.param(1)}, ${this.param(2)}, 0, ${this.timestampParam(3)}, ${this.param(4)})`,
      params: [loadId, schemaName, insertedAt, versionHash],
    };
  }

  /** INSERT of a pipeline state row. */
  insertState(
    schema: string,
    row: {
      version: number;
      engineVersion: number;
      pipelineName: string;
      state: string;
      createdAt: string;
      versionHash: string;
      loadId: string;
    },
  ): Statement {
    return {
      sql: `INSERT INTO ${this.qualified(schema, SYSTEM_TABLES.state)} (${this.systemColumns(['version', 'engine_version', 'pipeline_name', 'state', 'created_at', 'version_hash', SYSTEM_COLUMNS.loadId])}) VALUES (${this.param(1)}, ${this.param(2)}, ${this.param(3)}, ${this.param(4)}, ${this.timestampParam(5)}, ${this.param(6)}, ${this.param(7)})`,
      params: [
        row.version,
        row.engineVersion,
        row.pipelineName,
        row.state,
        row.createdAt,
        row.versionHash,
        row.loadId,
      ],
    };
  }

  /** INSERT of a schema version row. */
  insertVersion(
    schema: string,
    row: {
      version: number;
      engineVersion: number;
      insertedAt: string;
      schemaName: string;
      versionHash: string;
      schema: string;
    },
  ): Statement {
    return {
      sql: `INSERT INTO ${this.qualified(schema, SYSTEM_TABLES.version)} (${this.systemColumns(['version', 'engine_version', 'inserted_at', 'schema_name', 'version_hash', 'schema'])}) VALUES (${this.param(1)}, ${this.param(2)}, ${this.timestampParam(3)}, ${this.param(4)}, ${this.param(5)}, ${this.param(6)})`,
      params: [row.version, row.engineVersion, row.insertedAt, row.schemaName, row.versionHash, row.schema],
    };
  }

  /** Tables and columns of a schema (columns: table_name, column_name, data_type, is_nullable), in order. */
  selectColumns(schema: string): Statement {
    return {
      sql: `SELECT table_name, column_name, data_type, is_nullable FROM information_schema.columns WHERE table_schema = ${this.param(1)} ORDER BY table_name, ordinal_position`,
      params: [schema],
    };
  }

  /** Newest committed state of a pipeline. Columns: state, version, load_id. */
  selectState(schema: string): Statement {
    const c = (n: string) => this.systemColumn(n);
    const loadId = c(SYSTEM_COLUMNS.loadId);
    return {
      sql: `SELECT s.${c('state')} AS state, s.${c('version')} AS version, s.${loadId} AS load_id FROM ${this.qualified(schema, SYSTEM_TABLES.state)} s JOIN ${this.qualified(schema, SYSTEM_TABLES.loads)} l ON l.${c('load_id')} = s.${loadId} WHERE s.${c('pipeline_name')} = ${this.param(1)} AND l.${c('status')} = 0 ORDER BY s.${loadId} DESC LIMIT 1`,
      params: [],
    };
  }

  /** Newest schema by name. Column: schema. */
  selectSchema(schema: string): string {
    return `SELECT schema FROM ${this.qualified(schema, SYSTEM_TABLES.version)} WHERE schema_name = ${this.param(1)} ORDER BY version DESC LIMIT 1`;
  }

  /** Whether a schema version hash is stored. */
  selectVersionHash(schema: string): string {
    return `SELECT 1 AS found FROM ${this.qualified(schema, SYSTEM_TABLES.version)} WHERE ${this.systemColumn('version_hash')} = ${this.param(1)} LIMIT 1`;
  }

  /** Whether a load is committed. */
  selectLoad(schema: string): string {
    return `SELECT 1 AS found FROM ${this.qualified(schema, SYSTEM_TABLES.loads)} WHERE ${this.systemColumn('load_id')} = ${this.param(1)} LIMIT 1`;
  }

  /** `a.c1 = b.c1 AND …` */
  protected matchColumns(a: string, b: string, columns: string[]): string {
    return columns.map((c) => `${a}.${this.quote(c)} = ${b}.${this.quote(c)}`).join(' AND ');
  }

  /** Predicate on target rows that a staged row replaces (primary key or merge key). */
  protected replacedRows(root: MergeTable, primaryKey: string[], mergeKey: string[]): string {
    const parts: string[] = [];
    for (const key of [primaryKey, mergeKey]) {
      if (key.length > 0)
        parts.push(
          `EXISTS (SELECT 1 FROM ${root.staging} s WHERE ${this.matchColumns('s', root.target, key)})`,
        );
    }
    return parts.join(' OR ');
  }

  /** Staged root rows, de-duplicated on the primary key (the last row of the load wins: ids sort by position). */
  protected dedupedStaging(root: MergeTable, primaryKey: string[], columns: string[]): string {
    const cols = columns.map((c) => this.quote(c)).join(', ');
    if (primaryKey.length === 0) return `SELECT ${cols} FROM ${root.staging}`;
    const partition = primaryKey.map((c) => this.quote(c)).join(', ');
    return `SELECT ${cols} FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY ${partition} ORDER BY ${this.quote(SYSTEM_COLUMNS.id)} DESC) AS _ferry_rn FROM ${root.staging}) d WHERE d._ferry_rn = 1`;
  }

  /** Insert staged child rows whose root survived de-duplication. */
  protected insertChildren(root: MergeTable, children: MergeTable[]): string[] {
    const id = this.quote(SYSTEM_COLUMNS.id);
    const rootId = this.quote(SYSTEM_COLUMNS.rootId);
    return children.map((child) => {
      const cols = Object.keys(child.table.columns)
        .map((c) => this.quote(c))
        .join(', ');
      return `INSERT INTO ${child.target} (${cols}) SELECT ${cols} FROM ${child.staging} WHERE ${rootId} IN (SELECT ${id} FROM ${root.target})`;
    });
  }

  /** Delete the children of target roots that the staged rows replace. */
  protected deleteChildren(
    root: MergeTable,
    children: MergeTable[],
    primaryKey: string[],
    mergeKey: string[],
  ): string[] {
    const id = this.quote(SYSTEM_COLUMNS.id);
    const rootId = this.quote(SYSTEM_COLUMNS.rootId);
    return children.map(
      (child) =>
        `DELETE FROM ${child.target} WHERE ${rootId} IN (SELECT ${id} FROM ${root.target} WHERE ${this.replacedRows(root, primaryKey, mergeKey)})`,
    );
  }

  /**
   * delete-insert: delete target rows (and their children) matching staged keys, insert staged rows
   * de-duplicated on the primary key, then their children.
   */
  mergeDeleteInsert(
    root: MergeTable,
    children: MergeTable[],
    primaryKey: string[],
    mergeKey: string[],
  ): string[] {
    const cols = Object.keys(root.table.columns);
    return [
      ...this.deleteChildren(root, children, primaryKey, mergeKey),
      `DELETE FROM ${root.target} WHERE ${this.replacedRows(root, primaryKey, mergeKey)}`,
      `INSERT INTO ${root.target} (${cols.map((c) => this.quote(c)).join(', ')}) ${this.dedupedStaging(root, primaryKey, cols)}`,
      ...this.insertChildren(root, children),
    ];
  }

  /**
   * upsert: MERGE staged roots on the primary key (update matched, insert new); children of updated roots
   * are replaced.
   */
  mergeUpsert(root: MergeTable, children: MergeTable[], primaryKey: string[]): string[] {
    const cols = Object.keys(root.table.columns);
    const q = (c: string) => this.quote(c);
    const updates = cols.filter((c) => !primaryKey.includes(c)).map((c) => `${q(c)} = s.${q(c)}`);
    const { into, ref } = this.mergeTarget(root.target);
    return [
      ...this.deleteChildren(root, children, primaryKey, []),
      `MERGE INTO ${into} USING (${this.dedupedStaging(root, primaryKey, cols)}) AS s ON ${this.upsertOn(ref, primaryKey)} ` +
        (updates.length > 0 ? `WHEN MATCHED THEN UPDATE SET ${updates.join(', ')} ` : '') +
        `WHEN NOT MATCHED THEN INSERT (${cols.map(q).join(', ')}) VALUES (${cols.map((c) => `s.${q(c)}`).join(', ')})`,
      ...this.insertChildren(root, children),
    ];
  }

  /** How MERGE names its target (`into`) and how ON refers to it (`ref`). Default: the qualified name. */
  protected mergeTarget(target: string): { into: string; ref: string } {
    return { into: target, ref: target };
  }

  /** The ON condition of the upsert MERGE: staged row `s` against the target `ref`, on the primary key. */
  protected upsertOn(ref: string, primaryKey: string[]): string {
    return this.matchColumns('s', ref, primaryKey);
  }
}

const TYPE_NAMES: Record<DataType, (c: Pick<ColumnSchema, 'precision' | 'scale'>) => string> = {
  text: () => 'TEXT',
  bigint: () => 'BIGINT',
  double: () => 'DOUBLE PRECISION',
  bool: () => 'BOOLEAN',
  timestamp: () => 'TIMESTAMP WITH TIME ZONE',
  date: () => 'DATE',
  decimal: (c) => `NUMERIC(${c.precision ?? 38}, ${c.scale ?? 9})`,
  json: () => 'JSON',
};
