import { DataError } from '../errors.ts';
import { NOT_COERCIBLE, coerceValue, inferDataType, widenType } from '../schema/infer.ts';
import type { NamingConvention } from '../schema/naming.ts';
import { NO_LIMITS, OVERFLOW_COLUMN, TableBudget, type NormalizeLimits } from './limits.ts';
import {
  compileShape,
  type CompiledNormalizer,
  type Shape,
  type ShapeField,
  type ShapeTable,
} from './compiled.ts';
import { resolveContract, type ResolvedContract, type Schema } from '../schema/schema.ts';
import {
  SYSTEM_COLUMNS,
  type ColumnHint,
  type ColumnSchema,
  type DataType,
  type MergeStrategy,
  type SchemaContract,
  type TableSchema,
  type WriteDisposition,
} from '../schema/types.ts';

/** What the normalizer needs to know about the resource a record came from. */
export interface ResourceTableInfo {
  /** Resource name (for error messages and the tables' `resource`). */
  resource: string;
  /** Raw resource/table name; normalized into the root table name. */
  table: string;
  /** How the root table is written; child tables inherit it. */
  writeDisposition: WriteDisposition;
  /** Merge strategy of the root table (merge only). */
  mergeStrategy?: MergeStrategy;
  /** Primary key fields, raw source names (`__` joins a nested path). */
  primaryKey: string[];
  /** Merge key fields, raw source names. */
  mergeKey: string[];
  /**
   * Hints by raw field name (nested paths joined with '__'). Child-table fields are addressed by the list's
   * path then the field (`labels__name`). The normalized column name is accepted as a key, too.
   */
  columns: Record<string, ColumnHint>;
  /** Levels of nesting (objects and lists, the root record is level 0) expanded into columns and child tables; deeper data stays json. Default 1000. */
  maxTableNesting: number;
  /** Contract for this resource's tables. Default `evolve`. */
  schemaContract?: SchemaContract;
}

/** A cached field path within one table: one per distinct (table, parent path, raw key). */
interface PathNode {
  /** Normalized column name (the whole path, shortened as a whole). */
  readonly column: string;
  /** Raw path joined with `__`, relative to the table. */
  readonly rawPath: string;
  /** The resource's hint for this field, if any. */
  readonly hint: ColumnHint | undefined;
  /** Primary key field of the root table. */
  readonly primaryKey: boolean;
  /** Merge key field of the root table. */
  readonly mergeKey: boolean;
  /** Fields nested under this one (objects). */
  children: Map<string, PathNode> | undefined;
  /** Child table for a list at this path (computed on first list). */
  childTable: TableCtx | undefined;
  /** Variant column names by type. */
  variants: Partial<Record<DataType, string>> | undefined;
}

/** Per-table caches. */
interface TableCtx {
  /** Normalized table name. */
  readonly name: string;
  /** Normalized parent table name (child tables). */
  readonly parent: string | undefined;
  /** Raw path of this table's list relative to the root record, `''` for the root table (hint lookups). */
  readonly rawPrefix: string;
  /** The root of this table's field tree. */
  readonly root: PathNode;
  /** The live TableSchema whose system columns were last checked. */
  systemFor: TableSchema | undefined;
  /** Whether `_ferry_root_id` was checked for that table. */
  systemRootId: boolean;
  /** Which raw field path claimed each column name (two fields folding into one name is an error). */
  readonly claimed: Map<string, string>;
}

/** Per-resource settings derived once from a ResourceTableInfo. */
interface InfoCtx {
  readonly info: ResourceTableInfo;
  readonly rootTable: string;
  readonly contract: ResolvedContract;
  readonly maxNesting: number;
  /** Child rows carry `_ferry_root_id`. */
  readonly rootId: boolean;
  readonly pkRaw: Set<string>;
  readonly mkRaw: Set<string>;
  /** Normalized primary key column names, aligned with `info.primaryKey`. */
  readonly pkColumns: string[];
  /** The root table the key flags and table settings were last applied to. */
  appliedTo: TableSchema | undefined;
  /** The generated fast path and the schema version (`changeCount`) it was written for. */
  compiled:
    { fn: CompiledNormalizer; stamp: number; root: TableSchema; tries: number; misses: number } | undefined;
  /** `changeCount` after the last generic record, and how many generic records in a row left it so. */
  streakStamp: number;
  streak: number;
  /** Functions generated so far for this resource (each waits twice as long for the schema to settle). */
  compiles: number;
  /** The last record of the generic path: its key order is the order the generated code expects first. */
  sample: Record<string, unknown> | undefined;
}

/** What the fast path did, for tests and benchmarks (counts over the normalizer's lifetime). */
export interface CodegenStats {
  /** Whether code generation is on (the option, and `new Function` worked). */
  enabled: boolean;
  /** Functions generated. */
  compiles: number;
  /** Records normalized by a generated function. */
  hits: number;
  /** Records a generated function handed to the generic path (a new key, another type, ...). */
  misses: number;
  /** Records normalized by the generic path (misses included). */
  generic: number;
}

/**
 * Generic records with no schema change before the first function is generated; it doubles with each
 * regeneration up to {@link MAX_SETTLE_RECORDS}, so a schema that keeps changing costs one generation per
 * that many records at most.
 */
const SETTLE_RECORDS = 8;
/** The longest wait for a settled schema, in generic records. */
const MAX_SETTLE_RECORDS = 64;
/**
 * A generated function that misses on more than 80% of at least this many records (records a contract
 * discards, fields that overflow) is dropped, and generated again after the next settled stretch.
 */
const MISS_WINDOW = 256;

/** Code generation's default: on, unless `FERRY_NORMALIZE_CODEGEN=off` (the environment forbids it, or A/B runs). */
function codegenDefault(): boolean {
  const v = typeof process === 'undefined' ? undefined : process.env.FERRY_NORMALIZE_CODEGEN;
  return v !== 'off' && v !== '0' && v !== 'false';
}

const OBJECT_PROTO = Object.prototype;

function isPlainObject(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === OBJECT_PROTO || proto === null;
}

/**
 * A table's column by name. Own properties only: a field named `constructor` or `toString` must not find
 * Object.prototype's members.
 */
function columnOf(table: TableSchema, name: string): ColumnSchema | undefined {
  const columns = table.columns;
  const column = columns[name];
  return column !== undefined && Object.hasOwn(columns, name) ? column : undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object')
    return `an object of class ${(value as object).constructor?.name ?? 'unknown'}`;
  return `a ${typeof value}`;
}

/**
 * dlt's relational normalizer: flattens one source record into table rows. Nested objects become
 * `parent__child` columns; lists become child tables (`<table>__<path>`), lists of scalars a child table with a
 * `value` column, lists of lists an intermediate `…__list` table. Infers and evolves the schema on the way
 * (widening, variant columns, contracts). Names are cached per (table, raw key), so the steady state does one
 * Map lookup, one coercion and one property write per field.
 */
export class RowNormalizer {
  private readonly schema: Schema;
  private readonly naming: NamingConvention;
  private readonly loadId: string;
  private readonly tableCtxs = new Map<string, TableCtx>();
  private readonly infoCtxs = new WeakMap<ResourceTableInfo, InfoCtx>();
  private readonly positions = new Map<string, number>();
  /** Lists found while building rows: (node, list, level) triples; a row's lists are unpacked after it is emitted. */
  private readonly pending: unknown[] = [];
  /** Set when a contract discarded the row being built. */
  private discardRow = false;
  private readonly valueKey: string;
  private readonly listKey: string;

  private readonly widen: boolean;
  private readonly limits: NormalizeLimits;
  private readonly budget: TableBudget;
  /** Position of the record being normalized (for messages). */
  private position = 0;
  private codegen: boolean;
  private readonly stats: CodegenStats;

  /**
   * `widen` (default true): bigint→double and date→timestamp widen the column in place. False for
   * destinations that cannot alter a column's type: the value goes to a variant column instead.
   * `limits` (default none): the destination's limits; fields past its column or row-width limit go to
   * the table's overflow column (or the record is refused, per the contract's `limits` part).
   * `codegen` (default true, unless the environment has `FERRY_NORMALIZE_CODEGEN=off`): once a
   * resource's schema settles, generate a function for its shape and normalize records that fit it
   * there (same rows, ids and schema; about 3–9× faster); records that do not fit, and every schema
   * change, go the generic way. Off for environments that forbid `new Function`; it also turns itself
   * off when `new Function` throws.
   */
  constructor(
    schema: Schema,
    naming: NamingConvention,
    options: { loadId: string; widen?: boolean; limits?: NormalizeLimits; codegen?: boolean },
  ) {
    this.codegen = options.codegen ?? codegenDefault();
    this.stats = { enabled: this.codegen, compiles: 0, hits: 0, misses: 0, generic: 0 };
    this.widen = options.widen ?? true;
    this.limits = options.limits ?? NO_LIMITS;
    this.budget = new TableBudget(this.limits);
    this.schema = schema;
    this.naming = naming;
    this.loadId = options.loadId;
    this.valueKey = SYSTEM_COLUMNS.value;
    this.listKey = 'list';
  }

  /**
   * Normalize one source record. Calls emit(table, row) for the root row and every child row, parents first.
   * `rootId` is the root row's _ferry_id (the caller makes it deterministic). Returns false when a contract
   * discarded the record. `position` (the record's index in its resource, for error messages) defaults to a
   * count kept per resource. Pass the same `info` object for every record of a resource: settings are cached
   * on it.
   */
  normalize(
    info: ResourceTableInfo,
    record: Record<string, unknown>,
    rootId: string,
    emit: (table: TableSchema, row: Record<string, unknown>) => void,
    position?: number,
  ): boolean {
    if (this.codegen) {
      const ic = this.infoCtx(info);
      const c = ic.compiled;
      if (
        c !== undefined &&
        c.stamp === this.schema.changeCount &&
        c.root === this.schema.tables.get(ic.rootTable) &&
        record !== null &&
        typeof record === 'object' &&
        !Array.isArray(record) &&
        isPlainObject(record)
      ) {
        c.tries++;
        if (c.fn.run(record, rootId)) {
          this.positions.set(info.resource, (this.positions.get(info.resource) ?? 0) + 1);
          this.stats.hits++;
          const { tables, rows } = c.fn;
          for (let i = 0; i < rows.length; i++) emit(tables[i]!, rows[i]!);
          return true;
        }
        this.stats.misses++;
        c.misses++;
        if (c.tries >= MISS_WINDOW && c.misses * 5 > c.tries * 4) ic.compiled = undefined;
      }
      this.stats.generic++;
      const kept = this.normalizeGeneric(info, record, rootId, emit, position);
      this.afterGeneric(ic, record);
      return kept;
    }
    return this.normalizeGeneric(info, record, rootId, emit, position);
  }

  /** What code generation did so far (a copy). */
  get codegenStats(): CodegenStats {
    return { ...this.stats };
  }

  /** After a generic record: generate the fast path once the schema has not changed for a while. */
  private afterGeneric(ic: InfoCtx, record: Record<string, unknown>): void {
    const stamp = this.schema.changeCount;
    if (ic.compiled !== undefined && ic.compiled.stamp === stamp) return;
    ic.sample = record;
    if (ic.streakStamp !== stamp) {
      ic.streakStamp = stamp;
      ic.streak = 0;
      return;
    }
    ic.streak++;
    if (ic.streak < Math.min(SETTLE_RECORDS << Math.min(ic.compiles, 20), MAX_SETTLE_RECORDS)) return;
    ic.streak = 0;
    ic.compiles++;
    const root = this.schema.tables.get(ic.rootTable);
    const shape = root === undefined ? undefined : this.describeShape(ic, root);
    if (root === undefined || shape === undefined) return;
    let fn: CompiledNormalizer | undefined;
    try {
      fn = compileShape(shape);
    } catch {
      // `new Function` is forbidden here (a flag or a policy): stay on the generic path for good.
      this.codegen = false;
      this.stats.enabled = false;
      return;
    }
    if (fn === undefined) return;
    this.stats.compiles++;
    ic.compiled = { fn, stamp, root, tries: 0, misses: 0 };
  }

  /** The shape the generic path has learned for a resource: its field trees and the columns they feed. */
  private describeShape(ic: InfoCtx, root: TableSchema): Shape | undefined {
    const tctx = this.tableCtxs.get(ic.rootTable);
    if (tctx === undefined || tctx.systemFor !== root || ic.appliedTo !== root) return undefined;
    return {
      root: { table: root, fields: this.describeFields(ic, root, tctx.root, 0, ic.sample) },
      primaryKeyColumns: ic.pkColumns,
      rootId: ic.rootId,
      loadId: this.loadId,
    };
  }

  private describeFields(
    ic: InfoCtx,
    table: TableSchema,
    parent: PathNode,
    level: number,
    sample: unknown,
  ): ShapeField[] {
    const children = parent.children;
    if (children === undefined) return [];
    // Keys in the sample record's order first: the generated code finds those with one comparison.
    const order: string[] = [];
    if (sample !== null && typeof sample === 'object' && !Array.isArray(sample)) {
      for (const key in sample) if (children.has(key)) order.push(key);
    }
    const seen = new Set(order);
    for (const key of children.keys()) if (!seen.has(key)) order.push(key);
    return order.map((key) => {
      const node = children.get(key)!;
      const column = columnOf(table, node.column);
      const expands = level < ic.maxNesting && node.hint?.dataType !== 'json' && column?.dataType !== 'json';
      const sub =
        sample !== null && typeof sample === 'object' ? (sample as Record<string, unknown>)[key] : undefined;
      let list: ShapeTable | undefined;
      if (expands && node.childTable !== undefined) {
        const items = Array.isArray(sub) ? (sub as unknown[]) : undefined;
        list = this.describeTable(ic, node.childTable, level + 1, items?.[0]);
      }
      return {
        key,
        column: column === undefined ? undefined : { name: column.name, dataType: column.dataType },
        expands,
        children: expands
          ? this.describeFields(ic, table, node, level + 1, Array.isArray(sub) ? undefined : sub)
          : [],
        list,
      };
    });
  }

  private describeTable(
    ic: InfoCtx,
    tctx: TableCtx,
    level: number,
    sampleItem: unknown,
  ): ShapeTable | undefined {
    const table = this.schema.tables.get(tctx.name);
    // A table the generic path has not finished setting up (system columns) is left to it.
    if (table === undefined || tctx.systemFor !== table || tctx.systemRootId !== ic.rootId) return undefined;
    return { table, fields: this.describeFields(ic, table, tctx.root, level, sampleItem) };
  }

  /** The generic path: flatten, infer, evolve. */
  private normalizeGeneric(
    info: ResourceTableInfo,
    record: Record<string, unknown>,
    rootId: string,
    emit: (table: TableSchema, row: Record<string, unknown>) => void,
    position?: number,
  ): boolean {
    const counted = this.positions.get(info.resource) ?? 0;
    this.positions.set(info.resource, counted + 1);
    const pos = position ?? counted;
    this.position = pos;
    if (record === null || typeof record !== 'object' || Array.isArray(record) || !isPlainObject(record)) {
      throw new DataError(
        `Resource '${info.resource}' yielded ${describe(record)} at position ${pos}; records must be plain objects. ` +
          `Wrap scalars (yield { value: x }) or convert class instances to plain objects.`,
        { resource: info.resource, position: pos },
      );
    }
    const ic = this.infoCtx(info);
    let table = this.schema.tables.get(ic.rootTable);
    if (table === undefined || ic.appliedTo !== table) {
      table = this.schema.ensureTable({
        name: ic.rootTable,
        resource: info.resource,
        writeDisposition: info.writeDisposition,
        ...(info.mergeStrategy !== undefined ? { mergeStrategy: info.mergeStrategy } : {}),
        ...(info.schemaContract !== undefined ? { schemaContract: info.schemaContract } : {}),
      });
      if (table === undefined) return false;
      this.applyKeyFlags(ic, table);
    }
    const tctx = this.tableCtx(ic.rootTable, undefined, '');
    // normalize() is not re-entrant: whatever an earlier call left behind (it threw) is stale.
    this.pending.length = 0;
    const start = 0;
    const row: Record<string, unknown> = {};
    this.discardRow = false;
    this.flattenObject(ic, table, tctx, tctx.root, record, row, 0);
    if (this.discardRow) {
      this.pending.length = start;
      return false;
    }
    const pkColumns = ic.pkColumns;
    for (let i = 0; i < pkColumns.length; i++) {
      if (row[pkColumns[i]!] === undefined) {
        this.pending.length = start;
        throw new DataError(
          `Record at position ${pos} of resource '${info.resource}' has no value for primary key ` +
            `'${info.primaryKey[i]}'. Every record needs one: fix the source data or change the resource's primaryKey.`,
          { resource: info.resource, primaryKey: info.primaryKey[i], position: pos },
        );
      }
    }
    if (tctx.systemFor !== table) this.ensureSystemColumns(ic, tctx, table, true);
    row[SYSTEM_COLUMNS.loadId] = this.loadId;
    row[SYSTEM_COLUMNS.id] = rootId;
    emit(table, row);
    this.unpackPending(ic, start, tctx, rootId, rootId, emit);
    return true;
  }

  private infoCtx(info: ResourceTableInfo): InfoCtx {
    let ic = this.infoCtxs.get(info);
    if (ic === undefined) {
      const naming = this.naming;
      const pathColumn = (raw: string): string =>
        naming.joinPath(...raw.split('__').map((p) => naming.normalizeIdentifier(p)));
      const merge = info.writeDisposition === 'merge';
      ic = {
        info,
        rootTable: naming.normalizeIdentifier(info.table),
        contract: resolveContract(info.schemaContract),
        maxNesting: Math.min(info.maxTableNesting ?? 1000, this.limits.maxNestingDepth),
        rootId: merge,
        pkRaw: new Set(info.primaryKey),
        mkRaw: new Set(info.mergeKey),
        pkColumns: info.primaryKey.map(pathColumn),
        appliedTo: undefined,
        compiled: undefined,
        streakStamp: -1,
        streak: 0,
        compiles: 0,
        sample: undefined,
      };
      this.infoCtxs.set(info, ic);
    }
    return ic;
  }

  /** Key flags on columns that already exist (a key declared after the column was first seen). */
  private applyKeyFlags(ic: InfoCtx, table: TableSchema): void {
    const naming = this.naming;
    let changed = false;
    const mark = (raw: string, flag: 'primaryKey' | 'mergeKey'): void => {
      const name = naming.joinPath(...raw.split('__').map((p) => naming.normalizeIdentifier(p)));
      const column = columnOf(table, name);
      if (column && (!column[flag] || column.nullable)) {
        column[flag] = true;
        column.nullable = false;
        changed = true;
      }
    };
    for (const raw of ic.info.primaryKey) mark(raw, 'primaryKey');
    for (const raw of ic.info.mergeKey) mark(raw, 'mergeKey');
    if (changed) this.schema.markDirty();
    ic.appliedTo = table;
  }

  private tableCtx(name: string, parent: string | undefined, rawPrefix: string): TableCtx {
    let ctx = this.tableCtxs.get(name);
    if (ctx === undefined) {
      ctx = {
        name,
        parent,
        rawPrefix,
        root: {
          column: '',
          rawPath: '',
          hint: undefined,
          primaryKey: false,
          mergeKey: false,
          children: undefined,
          childTable: undefined,
          variants: undefined,
        },
        systemFor: undefined,
        systemRootId: false,
        claimed: new Map(),
      };
      this.tableCtxs.set(name, ctx);
    }
    return ctx;
  }

  private childNode(ic: InfoCtx, tctx: TableCtx, parent: PathNode, key: string): PathNode {
    let children = parent.children;
    if (children === undefined) {
      children = new Map();
      parent.children = children;
    }
    let node = children.get(key);
    if (node === undefined) {
      const naming = this.naming;
      const component = naming.normalizeIdentifier(key);
      const column = parent.column === '' ? component : naming.joinPath(parent.column, component);
      const rawPath = parent.rawPath === '' ? key : `${parent.rawPath}__${key}`;
      const owner = tctx.claimed.get(column);
      if (owner !== undefined && owner !== rawPath) {
        throw new DataError(
          `resource '${ic.info.resource}': fields '${owner}' and '${rawPath}' both become column '${column}' of table '${tctx.name}' after name normalization; rename one of them in the source (or map it) so no data is silently merged`,
          { resource: ic.info.resource, table: tctx.name, column, fields: [owner, rawPath] },
        );
      }
      tctx.claimed.set(column, rawPath);
      const hintKey = tctx.rawPrefix === '' ? rawPath : `${tctx.rawPrefix}__${rawPath}`;
      const hints = ic.info.columns;
      const hint = Object.hasOwn(hints, hintKey)
        ? hints[hintKey]
        : Object.hasOwn(hints, column)
          ? hints[column]
          : undefined;
      const isRoot = tctx.parent === undefined;
      node = {
        column,
        rawPath,
        hint,
        primaryKey: isRoot && (ic.pkRaw.has(rawPath) || ic.pkRaw.has(column)),
        mergeKey: isRoot && (ic.mkRaw.has(rawPath) || ic.mkRaw.has(column)),
        children: undefined,
        childTable: undefined,
        variants: undefined,
      };
      children.set(key, node);
    }
    return node;
  }

  private flattenObject(
    ic: InfoCtx,
    table: TableSchema,
    tctx: TableCtx,
    parent: PathNode,
    obj: Record<string, unknown>,
    row: Record<string, unknown>,
    level: number,
  ): void {
    for (const key in obj) {
      const value = obj[key];
      if (value === null || value === undefined) continue;
      this.flattenField(ic, table, tctx, parent, key, value, row, level);
      if (this.discardRow) return;
    }
  }

  private flattenField(
    ic: InfoCtx,
    table: TableSchema,
    tctx: TableCtx,
    parent: PathNode,
    key: string,
    value: unknown,
    row: Record<string, unknown>,
    level: number,
  ): void {
    const node = parent.children?.get(key) ?? this.childNode(ic, tctx, parent, key);
    if (typeof value === 'object' && level < ic.maxNesting && node.hint?.dataType !== 'json') {
      const column = columnOf(table, node.column);
      if (column === undefined || column.dataType !== 'json') {
        if (Array.isArray(value)) {
          if (value.length > 0) this.pending.push(node, value, level);
          return;
        }
        if (isPlainObject(value as object)) {
          this.flattenObject(ic, table, tctx, node, value as Record<string, unknown>, row, level + 1);
          return;
        }
      }
    }
    this.setValue(ic, table, node, value, row);
  }

  private setValue(
    ic: InfoCtx,
    table: TableSchema,
    node: PathNode,
    value: unknown,
    row: Record<string, unknown>,
  ): void {
    const name = node.column;
    const column = columnOf(table, name);
    if (column !== undefined) {
      const coerced = coerceValue(value, column.dataType);
      if (coerced !== NOT_COERCIBLE) {
        row[name] = coerced;
        return;
      }
      const valueType = inferDataType(value);
      if (valueType === undefined) return;
      // Hinted types are forced: never widened, a misfit goes to a variant.
      if (node.hint?.dataType === undefined && this.widen) {
        const widened = widenType(column.dataType, valueType);
        if (widened !== undefined) {
          const outcome = this.schema.widenColumn(table, column, widened, ic.contract, ic.info.resource);
          if (outcome === 'evolve') row[name] = coerceValue(value, widened);
          else if (outcome === 'discard_row') this.discardRow = true;
          return;
        }
      }
      this.setVariant(ic, table, node, valueType, value, row);
      return;
    }
    const hint = node.hint;
    const dataType = hint?.dataType ?? inferDataType(value);
    if (dataType === undefined) return;
    if (
      this.budget.enabled &&
      !this.budget.fits(table, dataType, this.schema.changeCount) &&
      (ic.contract.columns === 'evolve' || this.schema.isNewTable(table.name))
    ) {
      this.overflow(ic, table, node, name, value, row);
      return;
    }
    const created: ColumnSchema = {
      name,
      dataType,
      nullable: !(node.primaryKey || node.mergeKey) && hint?.nullable !== false,
    };
    if (node.primaryKey) created.primaryKey = true;
    if (node.mergeKey) created.mergeKey = true;
    if (hint?.precision !== undefined) created.precision = hint.precision;
    if (hint?.scale !== undefined) created.scale = hint.scale;
    created.sourcePath = node.rawPath.split('__').join('.');
    const outcome = this.schema.addColumn(table, created, ic.contract, ic.info.resource);
    if (outcome !== 'evolve') {
      if (outcome === 'discard_row') this.discardRow = true;
      return;
    }
    const coerced = coerceValue(value, dataType);
    if (coerced !== NOT_COERCIBLE) {
      row[name] = coerced;
      return;
    }
    const valueType = inferDataType(value);
    if (valueType !== undefined) this.setVariant(ic, table, node, valueType, value, row);
  }

  private setVariant(
    ic: InfoCtx,
    table: TableSchema,
    node: PathNode,
    valueType: DataType,
    value: unknown,
    row: Record<string, unknown>,
  ): void {
    let variants = node.variants;
    if (variants === undefined) {
      variants = {};
      node.variants = variants;
    }
    let name = variants[valueType];
    if (name === undefined) {
      name = this.naming.joinPath(node.column, this.naming.normalizeIdentifier(`v_${valueType}`));
      variants[valueType] = name;
    }
    let column = columnOf(table, name);
    if (
      column === undefined &&
      this.budget.enabled &&
      ic.contract.data_type === 'evolve' &&
      !this.budget.fits(table, valueType, this.schema.changeCount)
    ) {
      this.overflow(ic, table, node, name, value, row);
      return;
    }
    if (column === undefined) {
      column = {
        name,
        dataType: valueType,
        nullable: true,
        variant: true,
        sourcePath: node.rawPath.split('__').join('.'),
      };
      const outcome = this.schema.addColumn(table, column, ic.contract, ic.info.resource);
      if (outcome !== 'evolve') {
        if (outcome === 'discard_row') this.discardRow = true;
        return;
      }
    }
    const coerced = coerceValue(value, column.dataType);
    if (coerced === NOT_COERCIBLE) {
      throw new DataError(
        `Cannot store a ${valueType} value of field '${node.rawPath}' in table '${table.name}': the column ` +
          `'${node.column}' is ${columnOf(table, node.column)?.dataType} and its variant '${name}' is ${column.dataType}. ` +
          `Give the field a column hint (dataType: 'text' or 'json') to store mixed values.`,
        { resource: ic.info.resource, table: table.name, column: node.column },
      );
    }
    row[name] = coerced;
  }

  /**
   * A field that would add a column past the destination's limit: into the table's JSON overflow column
   * (by raw field path), or refused, dropped or skipped as the contract's `limits` part says.
   */
  private overflow(
    ic: InfoCtx,
    table: TableSchema,
    node: PathNode,
    column: string,
    value: unknown,
    row: Record<string, unknown>,
  ): void {
    const mode = ic.contract.limits;
    if (mode === 'discard_value') return;
    if (mode === 'discard_row') {
      this.discardRow = true;
      return;
    }
    if (mode === 'freeze') {
      throw new DataError(
        `Record at position ${this.position} of resource '${ic.info.resource}' needs column '${column}' ` +
          `(field '${node.rawPath}') in table '${table.name}', past ${this.budget.describeLimit()}. ` +
          `Store the parent field as JSON (a column hint dataType: 'json'), yield fewer fields, or let such ` +
          `fields go to the '${OVERFLOW_COLUMN}' JSON column (schemaContract: { limits: 'evolve' }, the default).`,
        {
          resource: ic.info.resource,
          position: this.position,
          table: table.name,
          column,
          limit: this.budget.describeLimit(),
        },
      );
    }
    if (columnOf(table, OVERFLOW_COLUMN) === undefined) {
      this.schema.addColumn(
        table,
        { name: OVERFLOW_COLUMN, dataType: 'json', nullable: true },
        ic.contract,
        ic.info.resource,
      );
    }
    let bag = row[OVERFLOW_COLUMN] as Record<string, unknown> | undefined;
    if (bag === undefined) {
      bag = {};
      row[OVERFLOW_COLUMN] = bag;
    }
    // defineProperty: a field named `__proto__` is data here like any other.
    Object.defineProperty(bag, node.rawPath, {
      value,
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }

  private ensureSystemColumns(ic: InfoCtx, tctx: TableCtx, table: TableSchema, root: boolean): void {
    const add = (name: string, dataType: DataType): void => {
      if (columnOf(table, name) === undefined) {
        this.schema.addColumn(table, { name, dataType, nullable: false }, ic.contract, ic.info.resource);
      }
    };
    if (root) {
      add(SYSTEM_COLUMNS.loadId, 'text');
      add(SYSTEM_COLUMNS.id, 'text');
    } else {
      add(SYSTEM_COLUMNS.id, 'text');
      add(SYSTEM_COLUMNS.parentId, 'text');
      add(SYSTEM_COLUMNS.listIdx, 'bigint');
      if (ic.rootId) add(SYSTEM_COLUMNS.rootId, 'text');
    }
    tctx.systemFor = table;
    tctx.systemRootId = ic.rootId;
  }

  /** Unpack the lists queued since `start` (they belong to the row just emitted), depth first. */
  private unpackPending(
    ic: InfoCtx,
    start: number,
    parentCtx: TableCtx,
    parentId: string,
    rootId: string,
    emit: (table: TableSchema, row: Record<string, unknown>) => void,
  ): void {
    const pending = this.pending;
    const end = pending.length;
    for (let i = start; i < end; i += 3) {
      const node = pending[i] as PathNode;
      const list = pending[i + 1] as unknown[];
      const level = pending[i + 2] as number;
      let child = node.childTable;
      if (child === undefined) {
        const rawPrefix =
          parentCtx.rawPrefix === '' ? node.rawPath : `${parentCtx.rawPrefix}__${node.rawPath}`;
        child = this.tableCtx(this.naming.joinPath(parentCtx.name, node.column), parentCtx.name, rawPrefix);
        node.childTable = child;
      }
      this.unpackList(ic, child, list, level + 1, parentId, rootId, emit);
    }
    pending.length = start;
  }

  private unpackList(
    ic: InfoCtx,
    tctx: TableCtx,
    list: unknown[],
    level: number,
    parentId: string,
    rootId: string,
    emit: (table: TableSchema, row: Record<string, unknown>) => void,
  ): void {
    const info = ic.info;
    const table =
      this.schema.tables.get(tctx.name) ??
      this.schema.ensureTable({
        name: tctx.name,
        parent: tctx.parent!,
        resource: info.resource,
        writeDisposition: info.writeDisposition,
        ...(info.schemaContract !== undefined ? { schemaContract: info.schemaContract } : {}),
      });
    if (table === undefined) return;
    const pending = this.pending;
    for (let idx = 0; idx < list.length; idx++) {
      const item = list[idx];
      const id = `${parentId}.${idx}`;
      const row: Record<string, unknown> = {};
      const start = pending.length;
      this.discardRow = false;
      if (item !== null && item !== undefined) {
        if (typeof item === 'object' && !Array.isArray(item) && isPlainObject(item)) {
          this.flattenObject(ic, table, tctx, tctx.root, item as Record<string, unknown>, row, level);
        } else {
          // Lists of lists: a mock row { list: [...] } whose list becomes the `…__list` child table.
          this.flattenField(
            ic,
            table,
            tctx,
            tctx.root,
            Array.isArray(item) ? this.listKey : this.valueKey,
            item,
            row,
            level,
          );
        }
      }
      if (this.discardRow) {
        pending.length = start;
        this.discardRow = false;
        continue;
      }
      if (tctx.systemFor !== table || tctx.systemRootId !== ic.rootId)
        this.ensureSystemColumns(ic, tctx, table, false);
      row[SYSTEM_COLUMNS.id] = id;
      row[SYSTEM_COLUMNS.parentId] = parentId;
      row[SYSTEM_COLUMNS.listIdx] = idx;
      if (ic.rootId) row[SYSTEM_COLUMNS.rootId] = rootId;
      emit(table, row);
      this.unpackPending(ic, start, tctx, id, rootId, emit);
    }
  }
}
