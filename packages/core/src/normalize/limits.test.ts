import { describe, expect, it } from 'vitest';
import { DataError } from '../errors.ts';
import { NamingConvention } from '../schema/naming.ts';
import { Schema } from '../schema/schema.ts';
import type { SchemaContract, TableSchema } from '../schema/types.ts';
import { NO_LIMITS, SizeGuard, type NormalizeLimits } from './limits.ts';
import { RowNormalizer, type ResourceTableInfo } from './relational.ts';

const info = (schemaContract?: SchemaContract, maxTableNesting = 1000): ResourceTableInfo => ({
  resource: 'items',
  table: 'items',
  writeDisposition: 'append',
  primaryKey: [],
  mergeKey: [],
  columns: {},
  maxTableNesting,
  ...(schemaContract === undefined ? {} : { schemaContract }),
});

function setup(limits: Partial<NormalizeLimits>) {
  const schema = new Schema('src');
  const naming = new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' });
  const normalizer = new RowNormalizer(schema, naming, {
    loadId: 'L1',
    limits: { ...NO_LIMITS, destination: 'testdb', ...limits },
  });
  const rows: Record<string, Record<string, unknown>[]> = {};
  const emit = (table: TableSchema, row: Record<string, unknown>) => {
    (rows[table.name] ??= []).push(row);
  };
  return { schema, normalizer, rows, emit };
}

const wide = (n: number, start = 0): Record<string, unknown> => {
  const r: Record<string, unknown> = { id: 1 };
  for (let i = start; i < start + n; i++) r[`k${i}`] = i;
  return r;
};

describe('destination limits in the normalizer', () => {
  it('columns past maxColumnsPerTable go to one JSON overflow column; the table stays within the limit', () => {
    const { schema, normalizer, rows, emit } = setup({ maxColumnsPerTable: 50 });
    normalizer.normalize(info(), wide(20_000), 'r0', emit);
    const table = schema.table('items')!;
    const columns = Object.keys(table.columns);
    expect(columns.length).toBeLessThanOrEqual(50);
    expect(table.columns._ferry_overflow?.dataType).toBe('json');
    const row = rows.items![0]!;
    const overflow = row._ferry_overflow as Record<string, unknown>;
    // Every field is somewhere: a column or the overflow object, with its value.
    const inColumns = columns.filter((c) => /^k\d+$/.test(c));
    expect(inColumns.length + Object.keys(overflow).length).toBe(20_000);
    expect(overflow.k19999).toBe(19_999);
    for (const c of inColumns) expect(row[c]).toBe(Number(c.slice(1)));
    // A second record: known columns stay columns, new fields overflow too.
    normalizer.normalize(info(), { id: 2, k0: 5, brand_new: 'x' }, 'r1', emit);
    expect(rows.items![1]!.k0).toBe(5);
    expect(rows.items![1]!._ferry_overflow).toEqual({ brand_new: 'x' });
    expect(Object.keys(table.columns).length).toBeLessThanOrEqual(50);
  });

  it('row width counts fixed types at 8 bytes and text at the variable width (Postgres: 8,160)', () => {
    const { schema, normalizer, emit } = setup({ maxRowWidthBytes: 8160, variableWidthBytes: 24 });
    normalizer.normalize(info(), wide(2000), 'r0', emit);
    const cols = Object.values(schema.table('items')!.columns);
    const width = cols.reduce((w, c) => w + (['text', 'json', 'decimal'].includes(c.dataType) ? 24 : 8), 0);
    expect(width + 24 + Math.ceil(cols.length / 8)).toBeLessThanOrEqual(8160);
    expect(cols.length).toBeGreaterThan(900); // bigints: about a thousand fit
  });

  it("contract limits: 'freeze' refuses the record naming resource, position and limit", () => {
    const { normalizer, emit } = setup({ maxColumnsPerTable: 20 });
    normalizer.normalize(info({ limits: 'freeze' }), wide(5), 'r0', emit);
    const error = (() => {
      try {
        normalizer.normalize(info({ limits: 'freeze' }), wide(40), 'r1', emit, 7);
      } catch (e) {
        return e;
      }
    })() as DataError;
    expect(error).toBeInstanceOf(DataError);
    expect(error.message).toMatch(/Record at position 7 of resource 'items' needs column 'k\d+'/);
    expect(error.message).toContain("testdb's limit of 20 columns per table");
  });

  it("contract limits: 'discard_row' drops the record, 'discard_value' the overflowing fields", () => {
    const a = setup({ maxColumnsPerTable: 20 });
    expect(a.normalizer.normalize(info({ limits: 'discard_row' }), wide(40), 'r0', a.emit)).toBe(false);
    expect(a.rows.items).toBeUndefined();
    const b = setup({ maxColumnsPerTable: 20 });
    expect(b.normalizer.normalize(info({ limits: 'discard_value' }), wide(40), 'r0', b.emit)).toBe(true);
    expect(b.rows.items![0]!._ferry_overflow).toBeUndefined();
    expect(Object.keys(b.rows.items![0]!).length).toBeLessThanOrEqual(20);
  });

  it('nesting past maxNestingDepth is stored as JSON: 1,000 nested arrays make at most that many tables', () => {
    const { schema, normalizer, rows, emit } = setup({ maxNestingDepth: 8 });
    let deep: unknown = [1];
    for (let i = 0; i < 1000; i++) deep = [deep];
    normalizer.normalize(info(), { id: 1, deep }, 'r0', emit);
    expect(schema.tables.size).toBeLessThanOrEqual(9);
    const json = [...schema.tables.values()].flatMap((t) =>
      Object.values(t.columns).filter((c) => c.dataType === 'json'),
    );
    expect(json).toHaveLength(1);
    const holder = Object.values(rows).find((rs) => rs.some((r) => r[json[0]!.name] !== undefined))!;
    expect(JSON.stringify(holder[0]![json[0]!.name]).length).toBeGreaterThan(1900);
  });

  it('__proto__, constructor and other Object.prototype names are ordinary fields, also in the overflow', () => {
    const { schema, normalizer, rows, emit } = setup({ maxColumnsPerTable: 9 });
    const record = JSON.parse(
      '{"id":1,"__proto__":{"a":1},"constructor":"c","toString":"t","hasOwnProperty":2,"valueOf":3,"isPrototypeOf":4,"x__proto__":5}',
    ) as Record<string, unknown>;
    normalizer.normalize(info(), record, 'r0', emit);
    const row = rows.items![0]!;
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    const overflow = (row._ferry_overflow ?? {}) as Record<string, unknown>;
    const stored = { ...row, ...overflow };
    const values = Object.entries(stored)
      .filter(([k]) => !k.startsWith('_ferry_'))
      .map(([, v]) => v);
    expect(values.sort()).toEqual([1, 1, 2, 3, 4, 5, 'c', 't'].sort());
    expect(Object.keys(schema.table('items')!.columns).length).toBeLessThanOrEqual(9);
  });

  it('rows and values past the size limits are refused naming resource, position and limit', () => {
    const guard = new SizeGuard({ ...NO_LIMITS, destination: 'testdb', maxRowBytes: 1000 });
    expect(guard.needsCheck(300)).toBe(false);
    expect(guard.needsCheck(400)).toBe(true);
    const table = { name: 'items', writeDisposition: 'append', columns: {} } as TableSchema;
    const where = { resource: 'items', position: 'line 3 of items.0.jsonl' };
    expect(guard.check([{ a: 'x'.repeat(900) }], [table], where, 'evolve')).toBe(true);
    expect(() => guard.check([{ a: 'é'.repeat(600) }], [table], where, 'evolve')).toThrow(
      /Record at line 3 of items.0.jsonl of resource 'items' cannot load: its row in table 'items' is 1200 bytes, past testdb's limit of 1000 bytes per row/,
    );
    expect(guard.check([{ a: 'é'.repeat(600) }], [table], where, 'discard_row')).toBe(false);
    const values = new SizeGuard({ ...NO_LIMITS, destination: 'testdb', maxValueBytes: 10 });
    expect(() => values.check([{ a: { b: 'long text' } }], [table], where, 'freeze')).toThrow(
      /value for column 'a' of table 'items' is 17 bytes, past testdb's limit of 10 bytes per value/,
    );
  });
});
