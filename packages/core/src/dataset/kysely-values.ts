import {
  AliasNode,
  ColumnNode,
  IdentifierNode,
  ReferenceNode,
  SelectAllNode,
  SelectQueryNode,
  TableNode,
  type KyselyPlugin,
  type OperationNode,
  type PluginTransformQueryArgs,
  type PluginTransformResultArgs,
  type QueryResult,
  type RootOperationNode,
  type UnknownRow,
} from 'kysely';
import type { DataType, TableSchema } from '../schema/types.ts';

/** Output column name → the schema type its values are converted by. */
type Conversions = Map<string, DataType>;

/**
 * A kysely plugin that gives typed queries the values the `DB` interface of `ferry pipeline types`
 * promises (bigint columns as `bigint`, timestamps as `Date`, dates and decimals as text, json parsed),
 * the same on every destination, by the stored schema and the conversion `Relation.toArray` uses.
 * Only output columns that are a plain column reference (`select('id')`, `select('r.id as x')`,
 * `selectAll()`) of a top-level SELECT are converted; expressions, subqueries and CTE columns keep the
 * destination's value, because the schema says nothing about them.
 */
export class DatasetValuesPlugin implements KyselyPlugin {
  private readonly tables: (name: string) => TableSchema | undefined;
  private readonly convert: (value: unknown, dataType: DataType) => unknown;
  private readonly pending = new WeakMap<object, Conversions>();

  /**
   * `tables` looks a data table up by name in the stored schemas (undefined: not a Ferry table);
   * `convert` turns a destination value into the user's (core's `toUserValue`).
   */
  constructor(
    tables: (name: string) => TableSchema | undefined,
    convert: (value: unknown, dataType: DataType) => unknown,
  ) {
    this.tables = tables;
    this.convert = convert;
  }

  /** Leaves the query as it is; notes which output columns take which schema type. */
  transformQuery(args: PluginTransformQueryArgs): RootOperationNode {
    if (SelectQueryNode.is(args.node)) {
      const conversions = this.conversions(args.node);
      if (conversions.size > 0) this.pending.set(args.queryId, conversions);
    }
    return args.node;
  }

  /** Converts the noted columns of each row; a value that does not convert stays as it came. */
  async transformResult(args: PluginTransformResultArgs): Promise<QueryResult<UnknownRow>> {
    const conversions = this.pending.get(args.queryId);
    if (!conversions) return args.result;
    const rows = args.result.rows.map((row) => {
      const out: UnknownRow = { ...row };
      for (const [name, dataType] of conversions) {
        if (!(name in out)) continue;
        try {
          out[name] = this.convert(out[name], dataType);
        } catch {
          // An alias that shadows a column name over another expression: keep the destination's value.
        }
      }
      return out;
    });
    return { ...args.result, rows };
  }

  private conversions(node: SelectQueryNode): Conversions {
    // Alias or table name → its schema, for the FROM items and joins that are plain tables.
    const sources = new Map<string, TableSchema>();
    const addSource = (item: OperationNode) => {
      let table: OperationNode = item;
      let alias: string | undefined;
      if (AliasNode.is(item)) {
        table = item.node;
        if (IdentifierNode.is(item.alias)) alias = item.alias.name;
      }
      if (!TableNode.is(table)) return;
      const name = table.table.identifier.name;
      const schema = this.tables(name);
      if (schema) sources.set(alias ?? name, schema);
    };
    for (const item of node.from?.froms ?? []) addSource(item);
    for (const join of node.joins ?? []) addSource(join.table);

    const out: Conversions = new Map();
    const columnType = (column: string, table: string | undefined): DataType | undefined => {
      if (table !== undefined) return sources.get(table)?.columns[column]?.dataType;
      const types = new Set<DataType>();
      for (const s of sources.values()) {
        const t = s.columns[column]?.dataType;
        if (t) types.add(t);
      }
      return types.size === 1 ? [...types][0] : undefined;
    };
    // `*` over several tables: a name two of them share with different types is left alone.
    const allColumns = (schemas: Iterable<TableSchema>, qualified: boolean) => {
      for (const s of schemas)
        for (const c of Object.values(s.columns)) {
          const t = qualified ? c.dataType : columnType(c.name, undefined);
          if (t) out.set(c.name, t);
        }
    };
    for (const selection of node.selections ?? []) {
      let expr: OperationNode = selection.selection;
      let alias: string | undefined;
      if (AliasNode.is(expr)) {
        if (IdentifierNode.is(expr.alias)) alias = expr.alias.name;
        expr = expr.node;
      }
      if (SelectAllNode.is(expr)) allColumns(sources.values(), false);
      else if (ColumnNode.is(expr)) {
        const t = columnType(expr.column.name, undefined);
        if (t) out.set(alias ?? expr.column.name, t);
      } else if (ReferenceNode.is(expr)) {
        const table = expr.table?.table.identifier.name;
        if (SelectAllNode.is(expr.column)) {
          const s = table === undefined ? undefined : sources.get(table);
          if (s) allColumns([s], true);
          continue;
        }
        const t = columnType(expr.column.column.name, table);
        if (t) out.set(alias ?? expr.column.column.name, t);
      }
    }
    return out;
  }
}
