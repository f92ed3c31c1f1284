import {
  AliasNode,
  ColumnNode,
  DefaultQueryCompiler,
  IdentifierNode,
  ReferenceNode,
  SelectQueryNode,
  ValueNode,
  type CompiledQuery,
  type LimitNode,
  type OffsetNode,
  type OperationNode,
  type SchemableIdentifierNode,
} from 'kysely';

/**
 * A LIMIT/OFFSET count as a literal integer when kysely made it a parameter: warehouses differ in
 * whether a bind may stand there, a literal works on all. Anything else stays as kysely compiles it.
 */
function literalCount(node: OperationNode): string | undefined {
  if (!ValueNode.is(node)) return undefined;
  const v = node.value;
  if (typeof v === 'bigint' || (typeof v === 'number' && Number.isSafeInteger(v))) return String(v);
  return undefined;
}

/**
 * GoogleSQL for kysely: identifiers in backticks with backslash escapes (as Ferry's BigQuery compiler
 * quotes them), string literals with backslash escapes (GoogleSQL has no `''`), parameters `$n` (the
 * reader binds them), a schema-qualified table prefixed with the project (`project`.`dataset`.`table`),
 * LIMIT/OFFSET as literals.
 */
export class BigQueryQueryCompiler extends DefaultQueryCompiler {
  private readonly projectId: string;

  /** `projectId`: the project of the dataset, put before every schema-qualified table. */
  constructor(projectId: string) {
    super();
    this.projectId = projectId;
  }

  protected override getLeftIdentifierWrapper(): string {
    return '`';
  }

  protected override getRightIdentifierWrapper(): string {
    return '`';
  }

  protected override sanitizeIdentifier(identifier: string): string {
    return identifier.replace(/[\\`]/g, (c) => `\\${c}`);
  }

  protected override sanitizeStringLiteral(value: string): string {
    return value.replace(/[\\']/g, (c) => `\\${c}`);
  }

  // A dataset lives in a project; without the project BigQuery would look in the job's default one.
  protected override visitSchemableIdentifier(node: SchemableIdentifierNode): void {
    if (node.schema) {
      this.visitNode(IdentifierNode.create(this.projectId));
      this.append('.');
    }
    super.visitSchemableIdentifier(node);
  }

  protected override visitLimit(node: LimitNode): void {
    const n = literalCount(node.limit);
    if (n === undefined) super.visitLimit(node);
    else this.append(`limit ${n}`);
  }

  protected override visitOffset(node: OffsetNode): void {
    const n = literalCount(node.offset);
    if (n === undefined) super.visitOffset(node);
    else this.append(`offset ${n}`);
  }
}

/**
 * Snowflake SQL for kysely: every identifier folded to upper case and double-quoted, as Ferry's Snowflake
 * compiler makes its tables (so `runs.id` is `"RUNS"."ID"`), string literals with backslashes escaped
 * (Snowflake reads `\` as an escape), parameters `$n` (the reader turns them into `:n`), LIMIT/OFFSET as
 * literals.
 */
export class SnowflakeQueryCompiler extends DefaultQueryCompiler {
  protected override sanitizeIdentifier(identifier: string): string {
    return identifier.toUpperCase().replaceAll('"', '""');
  }

  protected override sanitizeStringLiteral(value: string): string {
    return value.replace(/\\/g, '\\\\').replace(/'/g, "''");
  }

  protected override visitLimit(node: LimitNode): void {
    const n = literalCount(node.limit);
    if (n === undefined) super.visitLimit(node);
    else this.append(`limit ${n}`);
  }

  protected override visitOffset(node: OffsetNode): void {
    const n = literalCount(node.offset);
    if (n === undefined) super.visitOffset(node);
    else this.append(`offset ${n}`);
  }
}

/**
 * Snowflake answers with the folded (upper-case) names and the reader lowers an all-upper name; an
 * output name of the query spelled otherwise (`as totalRuns`) is given back its spelling, so rows match
 * the types kysely infers. Undefined when no name needs it.
 */
export function snowflakeRowNames(
  compiled: CompiledQuery,
): ((row: Record<string, unknown>) => Record<string, unknown>) | undefined {
  if (!SelectQueryNode.is(compiled.query)) return undefined;
  const renames = new Map<string, string>();
  for (const s of compiled.query.selections ?? []) {
    let name: string | undefined;
    const e = s.selection;
    if (AliasNode.is(e) && IdentifierNode.is(e.alias)) name = e.alias.name;
    else if (ColumnNode.is(e)) name = e.column.name;
    else if (ReferenceNode.is(e) && ColumnNode.is(e.column)) name = e.column.column.name;
    if (name !== undefined && name !== name.toLowerCase()) renames.set(name.toLowerCase(), name);
  }
  if (renames.size === 0) return undefined;
  return (row) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) out[renames.get(k) ?? k] = v;
    return out;
  };
}
