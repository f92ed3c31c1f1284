/**
 * The data model of a Ferry schema. Plain JSON-serializable objects: they travel in load packages
 * (`schema.json`) and are stored at the destination in `_ferry_version`.
 */

/** Ferry's portable data types. Destinations map each one to a native type. */
export type DataType = 'text' | 'bigint' | 'double' | 'bool' | 'timestamp' | 'date' | 'decimal' | 'json';

/** All data types, in a stable order (used for validation and variant naming). */
export const DATA_TYPES: readonly DataType[] = [
  'text',
  'bigint',
  'double',
  'bool',
  'timestamp',
  'date',
  'decimal',
  'json',
];

/** How a resource's rows are written. Default `append`. */
export type WriteDisposition = 'append' | 'replace' | 'merge';

/** How `merge` is carried out. Default `delete-insert` (works everywhere, de-duplicates within a load). */
export type MergeStrategy = 'delete-insert' | 'upsert';

/** What a schema contract does with something new. Default `evolve` everywhere. */
export type ContractMode = 'evolve' | 'freeze' | 'discard_row' | 'discard_value';

/**
 * Schema contract for a resource or a source (dlt-compatible). A single mode applies to every part.
 * `limits` (Ferry's own part) decides what happens to a record past a destination limit (columns per
 * table, row width, row or value size): `evolve` (default) stores overflowing fields in the table's JSON
 * overflow column; `freeze` refuses the record naming resource, position and limit; `discard_row` drops
 * the record; `discard_value` drops the overflowing fields. Row and value sizes cannot overflow: there
 * `evolve` refuses too.
 */
export type SchemaContract =
  | ContractMode
  | { tables?: ContractMode; columns?: ContractMode; data_type?: ContractMode; limits?: ContractMode };

/** A column of a table. */
export interface ColumnSchema {
  /** Normalized (destination-safe) name. */
  name: string;
  /** Portable data type. */
  dataType: DataType;
  /** Whether nulls are allowed. Default true; system and key columns are not nullable. */
  nullable: boolean;
  /** Part of the primary key (merge dedup and upsert key). */
  primaryKey?: boolean;
  /** Part of the merge key (delete-insert deletes by it, too). */
  mergeKey?: boolean;
  /** True when the column holds values that could not be coerced into the base column. */
  variant?: boolean;
  /** For decimals: precision and scale. Default 38, 9. */
  precision?: number;
  /** Decimal scale. */
  scale?: number;
  /** The source field path this column came from (dotted raw names), for people reading the schema. */
  sourcePath?: string;
}

/** A table in the schema. Child tables (unpacked lists) name their parent. */
export interface TableSchema {
  /** Normalized table name. */
  name: string;
  /** Parent table for child tables (`runs__run_steps` → `runs`). Undefined for root tables. */
  parent?: string;
  /** The resource that produced this table (root tables; children inherit). */
  resource?: string;
  /** Root tables only; children follow their root. Default `append`. */
  writeDisposition: WriteDisposition;
  /** Root tables with `merge`: the strategy. Default `delete-insert`. */
  mergeStrategy?: MergeStrategy;
  /** Columns in creation order (object key order is preserved by JSON). */
  columns: Record<string, ColumnSchema>;
  /** Contract in force for this table (resolved from resource and source). */
  schemaContract?: SchemaContract;
}

/** The whole schema of a pipeline. */
export interface StoredSchema {
  /** Schema name (the source name). */
  name: string;
  /** Increases by one with every change. */
  version: number;
  /** Content hash of `tables` (stable JSON, sha256 base64url, 22 chars). */
  versionHash: string;
  /** Ferry schema engine version, for future migrations. */
  engineVersion: number;
  /** Tables by normalized name, in creation order; parents come before children. */
  tables: Record<string, TableSchema>;
}

/** Current schema engine version (bumped on incompatible changes to this model). */
export const SCHEMA_ENGINE_VERSION = 1;

/** Hints a resource gives for a column (keyed by source field name, `__`-joined for nested paths). */
export interface ColumnHint {
  /** Force a data type instead of inferring one. */
  dataType?: DataType;
  /** Nullability; default true. */
  nullable?: boolean;
  /** Decimal precision/scale. */
  precision?: number;
  /** Decimal scale. */
  scale?: number;
}

/** Names of Ferry's system columns. */
export const SYSTEM_COLUMNS = {
  /** Unique row id, on every row; deterministic for child rows. */
  id: '_ferry_id',
  /** The load that wrote a root row. */
  loadId: '_ferry_load_id',
  /** Child rows: the parent row's `_ferry_id`. */
  parentId: '_ferry_parent_id',
  /** Child rows: position in the parent's list. */
  listIdx: '_ferry_list_idx',
  /** Child rows of merge tables: the root row's `_ferry_id`. */
  rootId: '_ferry_root_id',
  /** Fields past a destination's column or row-width limit, as one JSON object by raw field path. */
  overflow: '_ferry_overflow',
  /** Lists of scalars unpack into a child table with this column. */
  value: 'value',
} as const;

/** Names of Ferry's system tables at the destination. */
export const SYSTEM_TABLES = {
  /** One row per committed load: the commit marker. */
  loads: '_ferry_loads',
  /** Pipeline state documents, one per load that changed state. */
  state: '_ferry_pipeline_state',
  /** Schema versions. */
  version: '_ferry_version',
  /** One lease row per running pipeline, on warehouses without session locks (BigQuery, Snowflake). */
  lease: '_ferry_pipeline_lease',
} as const;
