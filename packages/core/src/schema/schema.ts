import { createHash } from 'node:crypto';
import { SchemaContractError } from '../errors.ts';
import type { SchemaChange } from '../pipeline/types.ts';
import { widenType } from './infer.ts';
import type { NamingConvention } from './naming.ts';
import { stableStringify } from '../util/json.ts';
import {
  SCHEMA_ENGINE_VERSION,
  type ColumnSchema,
  type ContractMode,
  type DataType,
  type MergeStrategy,
  type SchemaContract,
  type StoredSchema,
  type TableSchema,
  type WriteDisposition,
} from './types.ts';

/** A contract with all three parts spelled out. */
export interface ResolvedContract {
  /** New tables. */
  readonly tables: ContractMode;
  /** New columns of existing tables. */
  readonly columns: ContractMode;
  /** Variant columns and widened types. */
  readonly data_type: ContractMode;
  /** Records past a destination limit (see {@link SchemaContract}). */
  readonly limits: ContractMode;
}

/** The default contract: everything evolves (dlt's default). */
export const EVOLVE_CONTRACT: ResolvedContract = Object.freeze({
  tables: 'evolve',
  columns: 'evolve',
  data_type: 'evolve',
  limits: 'evolve',
});

const MODE_CONTRACTS = new Map<string, ResolvedContract>();

/** Spell out a contract: a single mode applies to all three parts, missing parts default to `evolve`. */
export function resolveContract(contract: SchemaContract | undefined): ResolvedContract {
  if (contract === undefined) return EVOLVE_CONTRACT;
  if (typeof contract === 'string') {
    let resolved = MODE_CONTRACTS.get(contract);
    if (resolved === undefined) {
      resolved = Object.freeze({
        tables: contract,
        columns: contract,
        data_type: contract,
        limits: contract,
      });
      MODE_CONTRACTS.set(contract, resolved);
    }
    return resolved;
  }
  return {
    tables: contract.tables ?? 'evolve',
    columns: contract.columns ?? 'evolve',
    data_type: contract.data_type ?? 'evolve',
    limits: contract.limits ?? 'evolve',
  };
}

/** What a contract decided about a change: `evolve` applied it; the discard modes tell the caller what to drop. */
export type ContractOutcome = 'evolve' | 'discard_row' | 'discard_value';

/** Content hash of tables: stable JSON → sha256 → base64url, 22 characters. */
export function schemaVersionHash(tables: Record<string, TableSchema>): string {
  return createHash('sha256').update(stableStringify(tables)).digest('base64url').slice(0, 22);
}

function cloneTable(table: TableSchema): TableSchema {
  return structuredClone(table);
}

function isSystemColumn(name: string): boolean {
  return name.startsWith('_ferry_') || name.startsWith('_FERRY_');
}

/**
 * A pipeline's schema, mutable while normalizing. Tables are live objects: the normalizer reads them on every
 * row and changes them only through the methods here, which apply the schema contract and mark the schema
 * dirty. {@link toStored} takes a snapshot and bumps the version when something changed.
 */
export class Schema {
  /** Schema name (the source name). */
  readonly name: string;
  /** Current tables (live objects; the normalizer mutates through the methods below). */
  readonly tables: Map<string, TableSchema>;
  private version: number;
  private versionHash: string;
  private isDirty = false;
  private changes = 0;
  /**
   * Tables created through this instance: they accept any new column (their first load defines them). Cleared
   * by {@link sealNewTables}.
   */
  private readonly newTables = new Set<string>();
  /** A schema that started without tables accepts its first tables whatever the `tables` contract (dlt). */
  private readonly startedEmpty: boolean;

  constructor(name: string, stored?: StoredSchema) {
    this.name = name;
    this.tables = new Map();
    if (stored) {
      for (const [tableName, table] of Object.entries(stored.tables))
        this.tables.set(tableName, cloneTable(table));
      this.version = stored.version;
      this.versionHash = stored.versionHash;
    } else {
      this.version = 0;
      this.versionHash = schemaVersionHash({});
    }
    this.startedEmpty = this.tables.size === 0;
  }

  private touch(): void {
    this.isDirty = true;
    this.changes++;
  }

  /** Increases with every change (cheap to compare on a hot path: "did anything change since?"). */
  get changeCount(): number {
    return this.changes;
  }

  /** True once changed since the last toStored()/markClean(). */
  get dirty(): boolean {
    return this.isDirty;
  }

  /** Current version number (bumped by {@link toStored} when dirty). */
  get currentVersion(): number {
    return this.version;
  }

  /** Table by normalized name. */
  table(name: string): TableSchema | undefined {
    return this.tables.get(name);
  }

  /** True when `name` was created through this instance (so any new column is allowed on it). */
  isNewTable(name: string): boolean {
    return this.newTables.has(name);
  }

  /** Forget which tables are new: call between loads when one instance serves several loads. */
  sealNewTables(): void {
    this.newTables.clear();
  }

  /** Record an outside change to a live table or column (e.g. a flag set by the normalizer). */
  markDirty(): void {
    this.touch();
  }

  /** Accept the current content as saved without bumping the version. */
  markClean(): void {
    this.isDirty = false;
  }

  /**
   * Create a table if missing (applying the tables contract). Returns the table, or undefined when the
   * contract says discard. Throws SchemaContractError on freeze. An existing root table takes the given
   * write disposition, merge strategy and contract (the resource's declaration wins over the stored one).
   */
  ensureTable(def: {
    name: string;
    parent?: string;
    resource?: string;
    writeDisposition: WriteDisposition;
    mergeStrategy?: MergeStrategy;
    schemaContract?: SchemaContract;
  }): TableSchema | undefined {
    const existing = this.tables.get(def.name);
    if (existing) {
      if (def.parent === undefined) this.updateRootTable(existing, def);
      return existing;
    }
    const mode = this.startedEmpty ? 'evolve' : resolveContract(def.schemaContract).tables;
    if (mode === 'freeze') {
      throw new SchemaContractError(
        `Table '${def.name}'${def.resource ? ` (resource '${def.resource}')` : ''} is new, but the schema contract ` +
          `for tables is 'freeze'. Relax it (schemaContract: { tables: 'evolve' }) to create the table, or stop ` +
          `the resource from yielding this data.`,
        { table: def.name, contract: 'tables', mode, resource: def.resource },
      );
    }
    if (mode !== 'evolve') return undefined;
    const table: TableSchema = { name: def.name, writeDisposition: def.writeDisposition, columns: {} };
    if (def.parent !== undefined) table.parent = def.parent;
    if (def.resource !== undefined) table.resource = def.resource;
    if (def.mergeStrategy !== undefined && def.parent === undefined) table.mergeStrategy = def.mergeStrategy;
    if (def.schemaContract !== undefined) table.schemaContract = def.schemaContract;
    this.tables.set(def.name, table);
    this.newTables.add(def.name);
    this.touch();
    return table;
  }

  private updateRootTable(
    table: TableSchema,
    def: {
      writeDisposition: WriteDisposition;
      mergeStrategy?: MergeStrategy;
      schemaContract?: SchemaContract;
    },
  ): void {
    if (table.writeDisposition !== def.writeDisposition) {
      table.writeDisposition = def.writeDisposition;
      this.touch();
    }
    if (def.mergeStrategy !== undefined && table.mergeStrategy !== def.mergeStrategy) {
      table.mergeStrategy = def.mergeStrategy;
      this.touch();
    }
    if (
      def.schemaContract !== undefined &&
      stableStringify(def.schemaContract) !== stableStringify(table.schemaContract)
    ) {
      table.schemaContract = def.schemaContract;
      this.touch();
    }
  }

  /**
   * Add a column to a table, applying the contract: `columns` for a new column of an existing table (a
   * table new in this instance accepts any column), `data_type` for a variant column; `_ferry_*` columns are
   * always allowed. Returns `evolve` when added, else the discard mode; throws SchemaContractError on freeze.
   */
  addColumn(
    table: TableSchema,
    column: ColumnSchema,
    contract: ResolvedContract,
    resource?: string,
  ): ContractOutcome {
    if (!isSystemColumn(column.name)) {
      const part = column.variant ? 'data_type' : 'columns';
      const mode = part === 'columns' && this.newTables.has(table.name) ? 'evolve' : contract[part];
      if (mode !== 'evolve') {
        if (mode === 'freeze') {
          const what = column.variant
            ? `needs the variant column '${column.name}' (a value of type ${column.dataType} does not fit)`
            : `has a new column '${column.name}' (${column.dataType})`;
          throw new SchemaContractError(
            `Table '${table.name}'${resource ? ` (resource '${resource}')` : ''} ${what}, but the schema contract ` +
              `for ${part} is 'freeze'. Relax it (schemaContract: { ${part}: 'evolve' }) or fix the source data.`,
            { table: table.name, column: column.name, contract: part, mode, resource },
          );
        }
        return mode;
      }
    }
    table.columns[column.name] = column;
    this.touch();
    return 'evolve';
  }

  /**
   * Widen a column's type (bigint → double, date → timestamp), applying the `data_type` contract. Returns
   * `evolve` when widened, else the discard mode; throws SchemaContractError on freeze.
   */
  widenColumn(
    table: TableSchema,
    column: ColumnSchema,
    to: DataType,
    contract: ResolvedContract,
    resource?: string,
  ): ContractOutcome {
    const mode = contract.data_type;
    if (mode === 'freeze') {
      throw new SchemaContractError(
        `Column '${column.name}' of table '${table.name}'${resource ? ` (resource '${resource}')` : ''} would widen ` +
          `from ${column.dataType} to ${to}, but the schema contract for data_type is 'freeze'. Relax it ` +
          `(schemaContract: { data_type: 'evolve' }) or fix the source data.`,
        { table: table.name, column: column.name, contract: 'data_type', mode, resource },
      );
    }
    if (mode !== 'evolve') return mode;
    column.dataType = to;
    this.touch();
    return 'evolve';
  }

  /** Snapshot; bumps version and recomputes versionHash when dirty (stable JSON → sha256 → base64url, 22 chars). */
  toStored(): StoredSchema {
    const tables: Record<string, TableSchema> = {};
    for (const [name, table] of this.tables) tables[name] = cloneTable(table);
    if (this.isDirty) {
      const hash = schemaVersionHash(tables);
      if (hash !== this.versionHash) {
        this.version += 1;
        this.versionHash = hash;
      }
      this.isDirty = false;
    }
    return {
      name: this.name,
      version: this.version,
      versionHash: this.versionHash,
      engineVersion: SCHEMA_ENGINE_VERSION,
      tables,
    };
  }

  /** Changes since the given snapshot (new tables, new columns, widened columns) — for LoadInfo. */
  diff(previous: StoredSchema | undefined): SchemaChange[] {
    const changes: SchemaChange[] = [];
    for (const [name, table] of this.tables) {
      const before = previous && Object.hasOwn(previous.tables, name) ? previous.tables[name] : undefined;
      const newColumns: Record<string, string> = {};
      const widened: Record<string, string> = {};
      for (const column of Object.values(table.columns)) {
        const old =
          before && Object.hasOwn(before.columns, column.name) ? before.columns[column.name] : undefined;
        if (!old) newColumns[column.name] = column.dataType;
        else if (old.dataType !== column.dataType)
          widened[column.name] = `${old.dataType}→${column.dataType}`;
      }
      if (!before || Object.keys(newColumns).length > 0 || Object.keys(widened).length > 0) {
        changes.push({ table: name, newTable: !before, newColumns, widened });
      }
    }
    return changes;
  }

  /**
   * Merge another schema's additions (e.g. from a worker) deterministically: its tables and columns in its
   * order; conflicting types resolve by widening, else a variant column `<col>__v_<type>` is added (the
   * caller must route such values there). Contracts are not applied: the other schema applied them already.
   * Pass the pipeline's naming so variant names follow the destination's case and length limit.
   */
  merge(other: StoredSchema, naming?: NamingConvention): void {
    for (const [name, theirs] of Object.entries(other.tables)) {
      const mine = this.tables.get(name);
      if (!mine) {
        this.tables.set(name, cloneTable(theirs));
        this.touch();
        continue;
      }
      for (const column of Object.values(theirs.columns)) {
        const existing = Object.hasOwn(mine.columns, column.name) ? mine.columns[column.name] : undefined;
        if (!existing) {
          mine.columns[column.name] = { ...column };
          this.touch();
          continue;
        }
        if (existing.dataType === column.dataType) continue;
        const widened = widenType(existing.dataType, column.dataType);
        if (widened !== undefined) {
          if (existing.dataType !== widened) {
            existing.dataType = widened;
            this.touch();
          }
          continue;
        }
        const variantName = naming
          ? naming.joinPath(column.name, naming.normalizeIdentifier(`v_${column.dataType}`))
          : `${column.name}__v_${column.dataType}`;
        if (!Object.hasOwn(mine.columns, variantName)) {
          mine.columns[variantName] = {
            name: variantName,
            dataType: column.dataType,
            nullable: true,
            variant: true,
          };
          this.touch();
        }
      }
    }
  }
}
