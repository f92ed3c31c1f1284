import { describe, expect, it } from 'vitest';
import { DataError, SchemaContractError } from '../errors.ts';
import { NamingConvention } from '../schema/naming.ts';
import { Schema } from '../schema/schema.ts';
import type { SchemaContract, StoredSchema, TableSchema } from '../schema/types.ts';
import { RowNormalizer, type ResourceTableInfo } from './relational.ts';

type Rows = Record<string, Record<string, unknown>[]>;

function info(overrides: Partial<ResourceTableInfo> = {}): ResourceTableInfo {
  return {
    resource: 'items',
    table: 'items',
    writeDisposition: 'append',
    primaryKey: [],
    mergeKey: [],
    columns: {},
    maxTableNesting: 1000,
    ...overrides,
  };
}

function setup(stored?: StoredSchema) {
  const schema = new Schema('src', stored);
  const naming = new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' });
  const normalizer = new RowNormalizer(schema, naming, { loadId: 'L1' });
  const rows: Rows = {};
  const order: string[] = [];
  const emit = (table: TableSchema, row: Record<string, unknown>): void => {
    (rows[table.name] ??= []).push(row);
    order.push(table.name);
  };
  const run = (i: ResourceTableInfo, records: Record<string, unknown>[]): boolean[] =>
    records.map((r, n) => normalizer.normalize(i, r, `root${n}`, emit));
  return { schema, naming, normalizer, rows, order, emit, run };
}

function types(table: TableSchema | undefined): Record<string, string> {
  return Object.fromEntries(Object.values(table?.columns ?? {}).map((c) => [c.name, c.dataType]));
}

describe('RowNormalizer: flattening and unpacking', () => {
  it('flattens nested objects into parent__child columns', () => {
    const { schema, rows, run } = setup();
    run(info(), [{ id: 1, user: { login: 'ann', plan: { name: 'pro' } }, empty: {} }]);
    expect(rows.items).toEqual([
      { id: 1, user__login: 'ann', user__plan__name: 'pro', _ferry_load_id: 'L1', _ferry_id: 'root0' },
    ]);
    expect(types(schema.table('items'))).toEqual({
      id: 'bigint',
      user__login: 'text',
      user__plan__name: 'text',
      _ferry_load_id: 'text',
      _ferry_id: 'text',
    });
    expect(schema.table('items')?.columns.user__login?.sourcePath).toBe('user.login');
    expect(schema.table('items')?.columns._ferry_id?.nullable).toBe(false);
  });

  it('unpacks lists of objects into child tables, parents first, with deterministic ids', () => {
    const { schema, rows, order, run } = setup();
    run(info({ table: 'Runs' }), [{ id: 7, steps: [{ name: 'a', logs: [{ line: 1 }] }, { name: 'b' }] }]);
    expect(order).toEqual(['runs', 'runs__steps', 'runs__steps__logs', 'runs__steps']);
    expect(rows.runs__steps).toEqual([
      { name: 'a', _ferry_id: 'root0.0', _ferry_parent_id: 'root0', _ferry_list_idx: 0 },
      { name: 'b', _ferry_id: 'root0.1', _ferry_parent_id: 'root0', _ferry_list_idx: 1 },
    ]);
    expect(rows.runs__steps__logs).toEqual([
      { line: 1, _ferry_id: 'root0.0.0', _ferry_parent_id: 'root0.0', _ferry_list_idx: 0 },
    ]);
    const steps = schema.table('runs__steps')!;
    expect(steps.parent).toBe('runs');
    expect(steps.resource).toBe('items');
    expect(steps.writeDisposition).toBe('append');
    expect(schema.table('runs__steps__logs')?.parent).toBe('runs__steps');
    expect(types(steps)).toEqual({
      name: 'text',
      _ferry_id: 'text',
      _ferry_parent_id: 'text',
      _ferry_list_idx: 'bigint',
    });
  });

  it('unpacks lists of scalars into a value column', () => {
    const { schema, rows, run } = setup();
    run(info(), [{ id: 1, tags: ['x', 'y', null] }]);
    expect(rows.items__tags?.map((r) => r.value)).toEqual(['x', 'y', undefined]);
    expect(rows.items__tags?.[2]).toEqual({
      _ferry_id: 'root0.2',
      _ferry_parent_id: 'root0',
      _ferry_list_idx: 2,
    });
    expect(types(schema.table('items__tags')).value).toBe('text');
  });

  it('unpacks lists of lists through an intermediate __list table', () => {
    const { schema, rows, run } = setup();
    run(info(), [{ matrix: [[1, 2], [3]] }]);
    expect(rows.items__matrix).toEqual([
      { _ferry_id: 'root0.0', _ferry_parent_id: 'root0', _ferry_list_idx: 0 },
      { _ferry_id: 'root0.1', _ferry_parent_id: 'root0', _ferry_list_idx: 1 },
    ]);
    expect(rows.items__matrix__list).toEqual([
      { value: 1, _ferry_id: 'root0.0.0', _ferry_parent_id: 'root0.0', _ferry_list_idx: 0 },
      { value: 2, _ferry_id: 'root0.0.1', _ferry_parent_id: 'root0.0', _ferry_list_idx: 1 },
      { value: 3, _ferry_id: 'root0.1.0', _ferry_parent_id: 'root0.1', _ferry_list_idx: 0 },
    ]);
    expect(schema.table('items__matrix__list')?.parent).toBe('items__matrix');
  });

  it('names child tables of lists inside objects by the whole path', () => {
    const { rows, run } = setup();
    run(info(), [{ pull_request: { reviewers: [{ login: 'a' }] } }]);
    expect(rows.items__pull_request__reviewers).toHaveLength(1);
  });

  it('ignores empty lists and nulls until a value arrives', () => {
    const { schema, rows, run } = setup();
    run(info(), [{ id: 1, note: null, tags: [] }]);
    expect(schema.table('items__tags')).toBeUndefined();
    expect(types(schema.table('items')).note).toBeUndefined();
    run(info(), [{ id: 2, note: 'later' }]);
    expect(types(schema.table('items')).note).toBe('text');
    expect(rows.items?.[0]).not.toHaveProperty('note');
  });

  it('keeps data past maxTableNesting as json', () => {
    const { schema, rows, run } = setup();
    const record = { id: 1, user: { plan: { tier: 'pro' } }, tags: ['a'], runs: [{ steps: [{ n: 1 }] }] };
    run(info({ maxTableNesting: 1 }), [record]);
    expect(rows.items?.[0]).toMatchObject({ user__plan: { tier: 'pro' } });
    expect(types(schema.table('items')).user__plan).toBe('json');
    expect(rows.items__tags).toHaveLength(1);
    expect(rows.items__runs?.[0]).toMatchObject({ steps: [{ n: 1 }] });
    expect(types(schema.table('items__runs')).steps).toBe('json');

    const flat = setup();
    flat.run(info({ maxTableNesting: 0 }), [record]);
    expect(Object.keys(flat.rows)).toEqual(['items']);
    expect(types(flat.schema.table('items'))).toMatchObject({ user: 'json', tags: 'json', runs: 'json' });
  });

  it('stops descent at a column hinted json', () => {
    const { rows, schema, run } = setup();
    run(info({ columns: { payload: { dataType: 'json' } } }), [{ payload: { a: [1, 2] }, other: { a: 1 } }]);
    expect(rows.items?.[0]).toMatchObject({ payload: { a: [1, 2] }, other__a: 1 });
    expect(schema.table('items__payload__a')).toBeUndefined();
  });

  it('produces identical rows and ids on a re-run (deterministic)', () => {
    const records = [{ id: 1, steps: [{ x: 1 }, { x: 2, sub: [[1]] }] }];
    const a = setup();
    const b = setup();
    a.run(info(), records);
    b.run(info(), records);
    expect(a.rows).toEqual(b.rows);
    expect(a.schema.toStored().versionHash).toBe(b.schema.toStored().versionHash);
  });

  it('adds _ferry_root_id to child rows of merge tables', () => {
    const { schema, rows, run } = setup();
    run(info({ writeDisposition: 'merge', primaryKey: ['id'] }), [{ id: 1, items: [{ a: { b: [1] } }] }]);
    expect(rows.items__items?.[0]?._ferry_root_id).toBe('root0');
    expect(rows.items__items__a__b?.[0]?._ferry_root_id).toBe('root0');
    expect(schema.table('items__items')?.writeDisposition).toBe('merge');
    expect(schema.table('items__items')?.columns._ferry_root_id?.nullable).toBe(false);
    expect(schema.table('items')?.columns.id).toMatchObject({ primaryKey: true, nullable: false });
  });

  it('normalizes field names with the naming convention and caches them', () => {
    const { rows, run } = setup();
    run(info(), [{ userID: 1, 'Created At': '2024-01-01T00:00:00Z', reactions: { '+1': 2, '-1': 0 } }]);
    expect(rows.items?.[0]).toMatchObject({
      user_id: 1,
      created_at: '2024-01-01T00:00:00.000000Z',
      reactions__x1: 2,
      reactions___1: 0,
    });
  });
});

describe('RowNormalizer: types, widening and variants', () => {
  it('types a column from its first non-null value and writes canonical values', () => {
    const { schema, rows, run } = setup();
    run(info(), [
      { a: null, ts: '2023-05-27 21:05:16.109548+05:30', big: 9007199254740993n, d: '2024-02-29', ok: true },
      { a: 1.5 },
    ]);
    expect(types(schema.table('items'))).toMatchObject({
      a: 'double',
      ts: 'timestamp',
      big: 'bigint',
      d: 'date',
      ok: 'bool',
    });
    expect(rows.items?.[0]).toMatchObject({
      ts: '2023-05-27T15:35:16.109548Z',
      big: 9007199254740993n,
      d: '2024-02-29',
    });
  });

  it('widens bigint to double', () => {
    const { schema, rows, run } = setup();
    run(info(), [{ n: 1 }, { n: 2.5 }, { n: 3 }]);
    expect(types(schema.table('items')).n).toBe('double');
    expect(rows.items?.map((r) => r.n)).toEqual([1, 2.5, 3]);
    expect(schema.diff(undefined)[0]?.newColumns.n).toBe('double');
  });

  it('widens date to timestamp', () => {
    const { schema, rows, run } = setup();
    run(info(), [{ d: '2024-01-01' }, { d: '2024-01-02T10:00:00+01:00' }, { d: '2024-01-03' }]);
    expect(types(schema.table('items')).d).toBe('timestamp');
    expect(rows.items?.map((r) => r.d)).toEqual([
      '2024-01-01',
      '2024-01-02T09:00:00.000000Z',
      '2024-01-03T00:00:00.000000Z',
    ]);
  });

  it('coerces into the existing type where it can', () => {
    const { schema, rows, run } = setup();
    run(info(), [
      { t: 'x', n: 5, ts: '2024-01-01T00:00:00Z' },
      { t: 5, n: '6', ts: '2024-01-01 01:00:00+00:00' },
    ]);
    expect(types(schema.table('items'))).toMatchObject({ t: 'text', n: 'bigint', ts: 'timestamp' });
    expect(rows.items?.[1]).toMatchObject({ t: '5', n: 6, ts: '2024-01-01T01:00:00.000000Z' });
  });

  it('writes values that do not fit into variant columns', () => {
    const { schema, rows, run } = setup();
    run(info(), [{ n: 1, ts: '2024-01-01T00:00:00Z' }, { n: 'many', ts: 'yesterday' }, { n: 'lots' }]);
    const t = schema.table('items')!;
    expect(t.columns.n__v_text).toMatchObject({ dataType: 'text', variant: true, nullable: true });
    expect(t.columns.ts__v_text).toMatchObject({ dataType: 'text', variant: true });
    expect(rows.items?.[1]).toMatchObject({ n__v_text: 'many', ts__v_text: 'yesterday' });
    expect(rows.items?.[1]).not.toHaveProperty('n');
    expect(rows.items?.[2]).toMatchObject({ n__v_text: 'lots' });
  });

  it('forces hinted types: coerces, never widens, variants when impossible', () => {
    const { schema, rows, run } = setup();
    const i = info({
      columns: {
        price: { dataType: 'decimal', precision: 12, scale: 2 },
        code: { dataType: 'text' },
        n: { dataType: 'bigint' },
      },
    });
    run(i, [
      { price: 12.5, code: 42, n: 1 },
      { price: '3.10', code: 'x', n: 1.5 },
    ]);
    const t = schema.table('items')!;
    expect(t.columns.price).toMatchObject({ dataType: 'decimal', precision: 12, scale: 2 });
    expect(types(t)).toMatchObject({ code: 'text', n: 'bigint', n__v_double: 'double' });
    expect(rows.items?.[0]).toMatchObject({ price: '12.5', code: '42', n: 1 });
    expect(rows.items?.[1]).toMatchObject({ price: '3.10', code: 'x', n__v_double: 1.5 });
  });

  it('applies hints to nested paths and child-table fields', () => {
    const { schema, run } = setup();
    run(info({ columns: { user__id: { dataType: 'text' }, labels__id: { dataType: 'text' } } }), [
      { user: { id: 5 }, labels: [{ id: 6 }] },
    ]);
    expect(types(schema.table('items')).user__id).toBe('text');
    expect(types(schema.table('items__labels')).id).toBe('text');
  });
});

describe('RowNormalizer: awkward input', () => {
  it('treats fields named like Object.prototype members as ordinary columns', () => {
    const { schema, rows, run } = setup();
    const record = JSON.parse(
      '{"constructor": "c", "toString": 1, "__proto__": {"polluted": true}, "valueOf": [1]}',
    ) as Record<string, unknown>;
    run(info(), [record]);
    expect(types(schema.table('items'))).toMatchObject({
      constructor: 'text',
      to_string: 'bigint',
      _protoxx__polluted: 'bool',
    });
    expect(rows.items?.[0]).toMatchObject({ constructor: 'c', to_string: 1, _protoxx__polluted: true });
    expect(rows.items__value_of).toHaveLength(1);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });

  it('stores Date objects as canonical timestamps', () => {
    const { schema, rows, run } = setup();
    run(info(), [{ at: new Date(Date.UTC(2024, 4, 6, 7, 8, 9, 10)) }]);
    expect(types(schema.table('items')).at).toBe('timestamp');
    expect(rows.items?.[0]?.at).toBe('2024-05-06T07:08:09.010000Z');
  });

  it('follows an upper-case naming convention (Snowflake) and keeps system columns as they are', () => {
    const schema = new Schema('src');
    const naming = new NamingConvention({ maxIdentifierLength: 255, identifierCase: 'upper' });
    const normalizer = new RowNormalizer(schema, naming, { loadId: 'L' });
    const rows: Record<string, unknown>[] = [];
    normalizer.normalize(info({ table: 'myItems' }), { userId: 1, tags: ['a'], n: 1 }, 'r', (t, row) =>
      rows.push({ t: t.name, ...row }),
    );
    normalizer.normalize(info({ table: 'myItems' }), { n: 'x' }, 's', (t, row) =>
      rows.push({ t: t.name, ...row }),
    );
    expect(rows[0]).toEqual({ t: 'MY_ITEMS', USER_ID: 1, N: 1, _ferry_load_id: 'L', _ferry_id: 'r' });
    expect(rows[1]).toMatchObject({ t: 'MY_ITEMS__TAGS', VALUE: 'a' });
    expect(rows[2]).toMatchObject({ N__V_TEXT: 'x' });
  });

  it('shortens long paths and child table names to the identifier limit', () => {
    const { schema, rows, run } = setup();
    const deep = {
      level_one_is_long: {
        level_two_is_longer: { level_three_is_longest_of_all: { list_field: [{ v: 1 }] } },
      },
    };
    run(info({ table: 'a_fairly_long_resource_name' }), [deep]);
    for (const name of schema.tables.keys()) expect(name.length).toBeLessThanOrEqual(63);
    expect(schema.tables.size).toBe(2);
    const child = [...schema.tables.values()].find((t) => t.parent !== undefined)!;
    expect(rows[child.name]).toHaveLength(1);
  });
});

describe('RowNormalizer: keys and bad input', () => {
  it('flags primary and merge keys and requires primary key values', () => {
    const { schema, normalizer, emit } = setup();
    const i = info({ writeDisposition: 'merge', primaryKey: ['id', 'org__id'], mergeKey: ['day'] });
    normalizer.normalize(i, { id: 1, org: { id: 2 }, day: '2024-01-01' }, 'r0', emit);
    const t = schema.table('items')!;
    expect(t.columns.id).toMatchObject({ primaryKey: true, nullable: false });
    expect(t.columns.org__id).toMatchObject({ primaryKey: true, nullable: false });
    expect(t.columns.day).toMatchObject({ mergeKey: true, nullable: false });
    expect(t.writeDisposition).toBe('merge');
    let error: unknown;
    try {
      normalizer.normalize(i, { id: 3, org: { id: null } }, 'r1', emit);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(DataError);
    expect((error as DataError).message).toContain("resource 'items'");
    expect((error as DataError).message).toContain("'org__id'");
    expect((error as DataError).message).toContain('position 1');
  });

  it('rejects records that are not plain objects', () => {
    const { normalizer, emit } = setup();
    for (const bad of [null, 5, 'x', [1], new Map()]) {
      expect(() =>
        normalizer.normalize(info(), bad as unknown as Record<string, unknown>, 'r', emit),
      ).toThrow(/Resource 'items' yielded .* records must be plain objects/);
    }
  });
});

describe('RowNormalizer: contracts', () => {
  function existing(contract: SchemaContract) {
    const first = setup();
    first.run(info(), [{ id: 1, tags: ['a'], n: 1 }]);
    const stored = first.schema.toStored();
    const next = setup(stored);
    return { ...next, i: info({ schemaContract: contract }) };
  }

  it('evolve (default) accepts new tables, columns and variants', () => {
    const { schema, run, i } = existing('evolve');
    expect(run(i, [{ id: 2, extra: 'x', n: 'text', other: [1] }])).toEqual([true]);
    expect(types(schema.table('items'))).toMatchObject({ extra: 'text', n__v_text: 'text' });
    expect(schema.table('items__other')).toBeDefined();
  });

  it('tables: freeze throws naming the table; discard modes drop the rows', () => {
    const frozen = existing({ tables: 'freeze' });
    expect(() => frozen.run(frozen.i, [{ id: 2, other: [1] }])).toThrow(SchemaContractError);
    try {
      frozen.run(frozen.i, [{ id: 3, other: [1] }]);
    } catch (e) {
      expect((e as SchemaContractError).table).toBe('items__other');
      expect((e as Error).message).toContain("schemaContract: { tables: 'evolve' }");
    }
    for (const mode of ['discard_row', 'discard_value'] as const) {
      const d = existing({ tables: mode });
      expect(d.run(d.i, [{ id: 2, other: [1], tags: ['b'] }])).toEqual([true]);
      expect(d.schema.table('items__other')).toBeUndefined();
      expect(d.rows.items__tags).toHaveLength(1);
      // a new root table is discarded as a whole record
      expect(d.run({ ...d.i, table: 'brand_new' }, [{ id: 1 }])).toEqual([false]);
      expect(d.schema.table('brand_new')).toBeUndefined();
    }
  });

  it('tables contract does not block the first tables of an empty schema', () => {
    const { schema, run } = setup();
    expect(run(info({ schemaContract: 'freeze' }), [{ id: 1, tags: ['a'] }])).toEqual([true]);
    expect(schema.table('items__tags')).toBeDefined();
  });

  it('columns: freeze throws naming table and column', () => {
    const { run, i } = existing({ columns: 'freeze' });
    let error: SchemaContractError | undefined;
    try {
      run(i, [{ id: 2, extra: 'x' }]);
    } catch (e) {
      error = e as SchemaContractError;
    }
    expect(error).toBeInstanceOf(SchemaContractError);
    expect(error?.table).toBe('items');
    expect(error?.column).toBe('extra');
    expect(error?.message).toContain("schemaContract: { columns: 'evolve' }");
  });

  it('columns: discard_row drops the record, discard_value drops the value', () => {
    const row = existing({ columns: 'discard_row' });
    expect(row.run(row.i, [{ id: 2, extra: 'x', tags: ['z'] }, { id: 3 }])).toEqual([false, true]);
    expect(row.rows.items).toEqual([{ id: 3, _ferry_load_id: 'L1', _ferry_id: 'root1' }]);
    expect(row.rows.items__tags).toBeUndefined();
    expect(types(row.schema.table('items')).extra).toBeUndefined();

    const value = existing({ columns: 'discard_value' });
    expect(value.run(value.i, [{ id: 2, extra: 'x' }])).toEqual([true]);
    expect(value.rows.items).toEqual([{ id: 2, _ferry_load_id: 'L1', _ferry_id: 'root0' }]);
  });

  it('columns contract applies to child rows too, but not to tables created in this load', () => {
    const d = existing({ columns: 'discard_row', tables: 'evolve' });
    d.run(d.i, [{ id: 2, tags: [{ nested: 1 }], fresh: [{ a: 1, b: 2 }] }]);
    expect(d.rows.items?.[0]?.id).toBe(2);
    // items__tags existed with a `value` column only: the new `nested` column discards that child row
    expect(d.rows.items__tags).toBeUndefined();
    // items__fresh is new in this load: all its columns are allowed
    expect(d.rows.items__fresh?.[0]).toMatchObject({ a: 1, b: 2 });
  });

  it('data_type: freeze / discard_row / discard_value on variants and widening', () => {
    const frozen = existing({ data_type: 'freeze' });
    expect(() => frozen.run(frozen.i, [{ id: 2, n: 'text' }])).toThrow(/data_type is 'freeze'/);
    expect(() => frozen.run(frozen.i, [{ id: 2, n: 1.5 }])).toThrow(SchemaContractError);

    const row = existing({ data_type: 'discard_row' });
    expect(
      row.run(row.i, [
        { id: 2, n: 'text' },
        { id: 3, n: 2.5 },
        { id: 4, n: 4 },
      ]),
    ).toEqual([false, false, true]);
    expect(types(row.schema.table('items')).n).toBe('bigint');

    const value = existing({ data_type: 'discard_value' });
    expect(value.run(value.i, [{ id: 2, n: 'text' }])).toEqual([true]);
    expect(value.rows.items?.[0]).toEqual({ id: 2, _ferry_load_id: 'L1', _ferry_id: 'root0' });
    expect(value.schema.table('items')?.columns.n__v_text).toBeUndefined();
  });

  it('a single mode applies to all three', () => {
    const { run, i } = existing('freeze');
    expect(() => run(i, [{ id: 2, extra: 1 }])).toThrow(/columns is 'freeze'/);
    expect(run(i, [{ id: 2, n: 3 }])).toEqual([true]);
  });
});

describe('RowNormalizer: name collisions', () => {
  it('refuses two fields that normalize to the same column, naming both', async () => {
    const { Schema } = await import('../schema/schema.ts');
    const { NamingConvention } = await import('../schema/naming.ts');
    const n = new RowNormalizer(
      new Schema('s'),
      new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' }),
      { loadId: '1' },
    );
    const info = {
      resource: 'r',
      table: 'r',
      writeDisposition: 'append' as const,
      primaryKey: [],
      mergeKey: [],
      columns: {},
      maxTableNesting: 1000,
    };
    expect(() => n.normalize(info, { userId: 1, user_id: 2 }, 'x', () => undefined)).toThrow(
      /fields 'userId' and 'user_id' both become column 'user_id' of table 'r'/,
    );
  });
});
