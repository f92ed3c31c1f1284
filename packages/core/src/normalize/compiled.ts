/**
 * Code generation for the normalizer's fast path: one function per resource and schema version, written
 * out from the shape the generic {@link RowNormalizer} has already learned (its field tree and the
 * table's columns), as ajv and fast-json-stringify generate code per schema.
 *
 * The generated function does exactly what the generic normalizer does for a record that changes
 * nothing: it walks the record's keys in the record's own order (so row keys and the order of child rows
 * come out the same), skips nulls, coerces each value into its column's type with the same
 * `coerceValue`, builds child rows with the same ids, and buffers every row. On anything it was not
 * written for (a new key, a value its column cannot hold, a list or object where there was none, a
 * missing primary key) it returns false before touching any state, and the caller normalizes the record
 * through the generic path, which evolves the schema, writes variants, applies contracts and limits.
 */
import { NOT_COERCIBLE, coerceValue, parseTimestamp } from '../schema/infer.ts';
import { SYSTEM_COLUMNS, type DataType, type TableSchema } from '../schema/types.ts';

/** One known field of an object in the shape: a raw key and what the generic path does with its values. */
export interface ShapeField {
  /** Raw key as it appears in records. */
  readonly key: string;
  /** The existing column scalar values go to (name and type in the table), if any. */
  readonly column: { readonly name: string; readonly dataType: DataType } | undefined;
  /**
   * Whether object values expand (lists into a child table, plain objects into `a__b` columns): the
   * level is below the nesting limit, and neither a hint nor the column says `json`.
   */
  readonly expands: boolean;
  /** Known keys of nested plain objects at this field, in the order records usually have them. */
  readonly children: readonly ShapeField[];
  /** The child table non-empty lists at this field unpack into, if it exists. */
  readonly list: ShapeTable | undefined;
}

/** One table of the shape: the root table, or a child table fed by lists. */
export interface ShapeTable {
  /** The live table rows are emitted with. */
  readonly table: TableSchema;
  /** Known fields of the table's rows: object items' keys, plus `value` (scalars) and `list` (lists). */
  readonly fields: readonly ShapeField[];
}

/** The whole shape of one resource's records. */
export interface Shape {
  /** The root table and its fields. */
  readonly root: ShapeTable;
  /** Normalized primary key columns: a root row without one goes the generic way (which refuses it). */
  readonly primaryKeyColumns: readonly string[];
  /** Child rows carry `_ferry_root_id` (merge tables). */
  readonly rootId: boolean;
  /** Value of `_ferry_load_id` on root rows. */
  readonly loadId: string;
}

/**
 * A generated normalizer for one shape. `run` returns false when the record does not fit (nothing was
 * emitted or changed); on true the rows are in `tables`/`rows`, parents first, in the generic order.
 */
export interface CompiledNormalizer {
  /** Normalize one plain-object record into the buffers; false: use the generic path. */
  run(record: Record<string, unknown>, rootId: string): boolean;
  /** Tables of the rows buffered by the last successful `run`, aligned with `rows`. */
  readonly tables: TableSchema[];
  /** Rows buffered by the last `run` (cleared at the start of each). */
  readonly rows: Record<string, unknown>[];
}

/** Objects nested deeper than this inside one row are left to the generic path (bounded code size). */
const MAX_INLINE_DEPTH = 32;
/**
 * Rows with more columns than this are written by computed key. Named stores give every pattern of
 * nulls its own hidden class, which costs more than it saves on wide rows; V8 turns an object that gets
 * many properties by computed key into a dictionary early, as the generic path's rows are.
 */
const NAMED_STORE_COLUMNS = 128;
/** Objects with more known fields than this dispatch to functions of this many fields each. */
const CHUNK_FIELDS = 128;
/** Shapes with more fields than this are not compiled (code size; the generic path handles them). */
export const MAX_COMPILED_FIELDS = 20_000;

const OBJECT_PROTO = Object.prototype;

function isPlain(value: object): boolean {
  const proto = Object.getPrototypeOf(value) as unknown;
  return proto === OBJECT_PROTO || proto === null;
}

/**
 * Coercion for a field that expands objects but has only ever held scalars: a list or plain object
 * there would unpack or flatten on the generic path, so it misses (a Date is a scalar, as there).
 */
function leafSlow(value: unknown, to: DataType): unknown {
  if (typeof value === 'object' && value !== null && !(value instanceof Date)) {
    // An empty list sets nothing on the generic path; other objects: a class instance is coerced there.
    if (Array.isArray(value) || isPlain(value)) return NOT_COERCIBLE;
  }
  return coerceValue(value, to);
}

/** A JS string literal for any string (JSON string syntax is valid JS since ES2019). */
const lit = (s: string): string => JSON.stringify(s);

/** Counts the fields of a shape, or returns -1 when a column name cannot be written as a plain property. */
function countFields(table: ShapeTable): number {
  let n = 0;
  const visit = (fields: readonly ShapeField[]): boolean => {
    for (const f of fields) {
      // `row['__proto__'] = x` would set the prototype: the generic path is the reference for such a name.
      if (f.column?.name === '__proto__') return false;
      n++;
      if (!visit(f.children)) return false;
      if (f.list !== undefined) {
        const m = countFields(f.list);
        if (m < 0) return false;
        n += m;
      }
    }
    return true;
  };
  return visit(table.fields) ? n : -1;
}

/**
 * Generate the normalizer for `shape`, or return undefined when the shape is not worth or not safe to
 * compile (too many fields, a column named `__proto__`). Throws what `new Function` throws where code
 * generation is forbidden (`--disallow-code-generation-from-strings`, a CSP): the caller turns it off.
 */
export function compileShape(shape: Shape): CompiledNormalizer | undefined {
  const fields = countFields(shape.root);
  if (fields < 0 || fields > MAX_COMPILED_FIELDS) return undefined;

  // Constants the generated code refers to by index: tables, key arrays and key → field index maps.
  const tables: TableSchema[] = [];
  const keyLists: string[][] = [];
  const keyMaps: Map<string, number>[] = [];
  const out: string[] = [];
  let fnCount = 0;
  const tableFns: string[] = [];

  const tableIndex = (t: TableSchema): number => {
    const i = tables.indexOf(t);
    if (i >= 0) return i;
    tables.push(t);
    return tables.length - 1;
  };

  /** A test that `v` is already its column's canonical value (the common case), or undefined. */
  const fastTest = (dataType: DataType, v: string): string | undefined => {
    switch (dataType) {
      case 'text':
        return `typeof ${v} === 'string'`;
      case 'bigint':
        return `typeof ${v} === 'number' && Number.isSafeInteger(${v})`;
      case 'double':
        return `typeof ${v} === 'number' && Number.isFinite(${v})`;
      case 'bool':
        return `typeof ${v} === 'boolean'`;
      default:
        return undefined;
    }
  };

  /**
   * Statements storing scalar `v` in column `f.column` (or returning false). `leafOnly`: the field expands
   * objects but has never had one, so any object but a Date (which the generic path coerces) misses.
   */
  const leafCode = (f: ShapeField, v: string, leafOnly: boolean, row: RowCtx): string => {
    const { name, dataType } = f.column!;
    const to = row.keyed ? `row[${nameRef(name)}]` : `row[${lit(name)}]`;
    const slow = `(c = ${leafOnly ? 'leafSlow' : 'coerceValue'}(${v}, ${lit(dataType)})) !== NC`;
    const fast = fastTest(dataType, v);
    if (fast !== undefined)
      return `if (${fast}) ${to} = ${v};
else if (${slow}) ${to} = c;
else return false;
`;
    if (dataType === 'timestamp')
      return (
        `if (typeof ${v} === 'string' && ${v}.length !== 10 && (c = parseTimestamp(${v})) !== undefined) ${to} = c;
` +
        `else if (${slow}) ${to} = c;
else return false;
`
      );
    return `if (${slow}) ${to} = c;
else return false;
`;
  };

  /**
   * Code for one row's fields. `lists` collects the list slots of this row (one per list field met,
   * in generation order); lists are queued at run time in the order the record has them.
   */
  interface RowCtx {
    lists: ShapeTable[];
    /** Store columns by a computed key (see {@link NAMED_STORE_COLUMNS}). */
    keyed: boolean;
  }

  /** Columns a row of `fields` can have (nested objects included, child tables not). */
  const rowColumns = (fields: readonly ShapeField[]): number => {
    let n = 0;
    for (const f of fields) n += (f.column === undefined ? 0 : 1) + rowColumns(f.children);
    return n;
  };
  const names: string[] = [];
  const nameIndex = new Map<string, number>();
  const nameRef = (name: string): string => {
    let i = nameIndex.get(name);
    if (i === undefined) {
      i = names.length;
      names.push(name);
      nameIndex.set(name, i);
    }
    return `NM[${i}]`;
  };

  /** The statements handling value `v` of field `f` (v is neither null nor undefined). */
  const fieldCode = (f: ShapeField, v: string, depth: number, row: RowCtx): string => {
    if (f.column !== undefined && (!f.expands || (f.children.length === 0 && f.list === undefined)))
      return leafCode(f, v, f.expands, row);
    let s = '';
    if (f.expands) {
      s += `if (typeof ${v} === 'object') {\n`;
      s += `if (Array.isArray(${v})) {\n`;
      if (f.list !== undefined) {
        const slot = row.lists.length;
        row.lists.push(f.list);
        s += `if (${v}.length > 0) (Q ??= []).push(${slot}, ${v});\n`;
      } else {
        s += `if (${v}.length > 0) return false;\n`;
      }
      s += `break;\n}\n`;
      s += `if (isPlain(${v})) {\n`;
      if (depth >= MAX_INLINE_DEPTH) s += `return false;\n`;
      else s += objectCode(f.children, v, depth + 1, row);
      s += `break;\n}\n}\n`;
    }
    s += f.column === undefined ? `return false;\n` : leafCode(f, v, false, row);
    return s;
  };

  /** A loop over the keys of object `o` (in its own order) dispatching to the known fields. */
  const objectCode = (known: readonly ShapeField[], o: string, depth: number, row: RowCtx): string => {
    const kl = keyLists.length;
    keyLists.push(known.map((f) => f.key));
    keyMaps.push(new Map(known.map((f, i) => [f.key, i])));
    const k = `k${depth}`;
    const v = `v${depth}`;
    const p = `p${depth}`;
    let s = `{ let ${p} = 0; const K = KL[${kl}];\n`;
    s += `for (const ${k} in ${o}) {\n`;
    s += `const ${v} = ${o}[${k}];\n`;
    // The usual record has its keys in the usual order: one comparison finds the field (two after a
    // key the record lacks).
    s += `const f = ${k} === K[${p}] ? ${p} : ${k} === K[${p} + 1] ? ${p} + 1 : (KM[${kl}].get(${k}) ?? -1);\n`;
    // Nulls set nothing (as on the generic path, even for a key never seen), but keep the place.
    s += `if (${v} === null || ${v} === undefined) { if (f >= 0) ${p} = f + 1; continue; }\n`;
    if (known.length <= CHUNK_FIELDS) {
      s += `switch (f) {\n`;
      known.forEach((field, i) => {
        s += `case ${i}: {\n${fieldCode(field, v, depth, row)}break;\n}\n`;
      });
      s += `default: return false;\n}\n`;
    } else {
      // Wide objects: the cases go into functions of CHUNK_FIELDS each, so every function stays small
      // enough for the optimizing compiler (V8 does not optimize very large functions).
      s += `if (f < 0) return false;\n`;
      const calls: string[] = [];
      for (let from = 0; from < known.length; from += CHUNK_FIELDS) {
        const name = `c${fnCount++}`;
        let fn = `function ${name}(f, ${v}, row, Q) {\nlet c;\nswitch (f) {\n`;
        for (let i = from; i < Math.min(known.length, from + CHUNK_FIELDS); i++)
          fn += `case ${i}: {\n${fieldCode(known[i]!, v, depth, row)}break;\n}\n`;
        fn += `}\nreturn Q === undefined ? true : Q;\n}\n`;
        tableFns.push(fn);
        calls.push(name);
      }
      // A chunk returns false on a miss, else true or the list queue (created there when it was undefined).
      s += `const cr = ${calls.map((name, j) => (j === calls.length - 1 ? `${name}(f, ${v}, row, Q)` : `f < ${(j + 1) * CHUNK_FIELDS} ? ${name}(f, ${v}, row, Q) : `)).join('')};\n`;
      s += `if (cr === false) return false;\nif (cr !== true) Q = cr;\n`;
    }
    s += `${p} = f + 1;\n}\n}\n`;
    return s;
  };

  /** Pushes the row, then unpacks its queued lists (depth first, as the generic path does). */
  const emitAndUnpack = (t: ShapeTable, row: RowCtx, id: string, rootId: string): string => {
    let s = `T.push(TB[${tableIndex(t.table)}]); R.push(row);\n`;
    if (row.lists.length > 0) {
      const fns = row.lists.map((lt) => tableFn(lt));
      s += `if (Q !== undefined) for (let qi = 0; qi < Q.length; qi += 2) {\n`;
      s += `switch (Q[qi]) {\n`;
      fns.forEach((fn, slot) => {
        s += `case ${slot}: if (!${fn}(Q[qi + 1], ${id}, ${rootId})) return false; break;\n`;
      });
      s += `}\n}\n`;
    }
    return s;
  };

  /** A function unpacking one list into child table `t`; returns its name. */
  const tableFn = (t: ShapeTable): string => {
    const name = `t${fnCount++}`;
    const row: RowCtx = { lists: [], keyed: rowColumns(t.fields) > NAMED_STORE_COLUMNS };
    const byKey = new Map(t.fields.map((f) => [f.key, f]));
    const valueField = byKey.get(SYSTEM_COLUMNS.value);
    const listField = byKey.get('list');
    let body = '';
    body += `const row = {};\n`;
    body += `const id = parentId + '.' + idx;\n`;
    body += `const item = list[idx];\n`;
    body += `if (item !== null && item !== undefined) {\n`;
    body += `if (typeof item === 'object' && !Array.isArray(item) && isPlain(item)) {\n`;
    body += objectCode(t.fields, 'item', 0, row);
    body += `} else if (Array.isArray(item)) {\n`;
    body +=
      listField !== undefined
        ? `switch (0) { case 0: {\n${fieldCode(listField, 'item', 0, row)}} }\n`
        : `return false;\n`;
    body += `} else {\n`;
    body +=
      valueField !== undefined
        ? `switch (0) { case 0: {\n${fieldCode(valueField, 'item', 0, row)}} }\n`
        : `return false;\n`;
    body += `}\n}\n`;
    body += `row[${lit(SYSTEM_COLUMNS.id)}] = id;\n`;
    body += `row[${lit(SYSTEM_COLUMNS.parentId)}] = parentId;\n`;
    body += `row[${lit(SYSTEM_COLUMNS.listIdx)}] = idx;\n`;
    if (shape.rootId) body += `row[${lit(SYSTEM_COLUMNS.rootId)}] = rootId;\n`;
    const tail = emitAndUnpack(t, row, 'id', 'rootId');
    let s = `function ${name}(list, parentId, rootId) {\n`;
    s += `for (let idx = 0; idx < list.length; idx++) {\n`;
    s += `let Q;\nlet c;\n`;
    s += body + tail;
    s += `}\nreturn true;\n}\n`;
    tableFns.push(s);
    return name;
  };

  // The root row.
  const rootRow: RowCtx = { lists: [], keyed: rowColumns(shape.root.fields) > NAMED_STORE_COLUMNS };
  let root = `function run(record, rootId) {\nT.length = 0; R.length = 0;\nconst row = {};\nlet Q;\nlet c;\n`;
  root += objectCode(shape.root.fields, 'record', 0, rootRow);
  for (const pk of shape.primaryKeyColumns) root += `if (row[${lit(pk)}] === undefined) return false;\n`;
  root += `row[${lit(SYSTEM_COLUMNS.loadId)}] = LOAD_ID;\n`;
  root += `row[${lit(SYSTEM_COLUMNS.id)}] = rootId;\n`;
  root += emitAndUnpack(shape.root, rootRow, 'rootId', 'rootId');
  root += `return true;\n}\n`;
  out.push(...tableFns, root);

  const source =
    `'use strict';\n` +
    `const { coerceValue, leafSlow, parseTimestamp, NC, isPlain, TB, KL, KM, NM, LOAD_ID, T, R } = H;\n` +
    out.join('\n') +
    `return run;\n`;
  const buffers = { tables: [] as TableSchema[], rows: [] as Record<string, unknown>[] };
  // The point of this module. The source holds only JSON string literals, numbers and fixed code.
  const factory = new Function('H', source) as (h: unknown) => CompiledNormalizer['run'];
  const run = factory({
    coerceValue,
    leafSlow,
    parseTimestamp,
    NC: NOT_COERCIBLE,
    isPlain,
    TB: tables,
    KL: keyLists,
    KM: keyMaps,
    NM: names,
    LOAD_ID: shape.loadId,
    T: buffers.tables,
    R: buffers.rows,
  });
  return { run, tables: buffers.tables, rows: buffers.rows };
}
