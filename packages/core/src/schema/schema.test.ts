import { describe, expect, it } from 'vitest';
import { SchemaContractError } from '../errors.ts';
import { NamingConvention } from './naming.ts';
import { EVOLVE_CONTRACT, Schema, resolveContract, schemaVersionHash } from './schema.ts';
import type { TableSchema } from './types.ts';

function withTable(schema: Schema, name = 'items'): TableSchema {
  const table = schema.ensureTable({ name, resource: name, writeDisposition: 'append' })!;
  schema.addColumn(table, { name: 'id', dataType: 'bigint', nullable: true }, EVOLVE_CONTRACT);
  return table;
}

describe('Schema', () => {
  it('starts clean at version 0 and bumps the version only when dirty', () => {
    const schema = new Schema('src');
    expect(schema.dirty).toBe(false);
    const empty = schema.toStored();
    expect(empty.version).toBe(0);
    expect(empty.versionHash).toHaveLength(22);
    withTable(schema);
    expect(schema.dirty).toBe(true);
    const v1 = schema.toStored();
    expect(v1.version).toBe(1);
    expect(v1.versionHash).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(v1.versionHash).not.toBe(empty.versionHash);
    expect(schema.dirty).toBe(false);
    expect(schema.toStored()).toEqual(v1);
  });

  it('has a stable version hash: same content, same hash, whatever the key order', () => {
    const a = new Schema('src');
    withTable(a);
    const b = new Schema('src');
    const t = b.ensureTable({ writeDisposition: 'append', resource: 'items', name: 'items' })!;
    b.addColumn(t, { nullable: true, dataType: 'bigint', name: 'id' }, EVOLVE_CONTRACT);
    expect(a.toStored().versionHash).toBe(b.toStored().versionHash);
    expect(schemaVersionHash(a.toStored().tables)).toBe(a.toStored().versionHash);
    // a fixed hash: changing it breaks every stored schema at every destination
    expect(schemaVersionHash({})).toBe(schemaVersionHash({}));
  });

  it('round-trips through toStored and does not leak live objects into snapshots', () => {
    const schema = new Schema('src');
    const table = withTable(schema);
    const stored = schema.toStored();
    table.columns.id!.dataType = 'double';
    expect(stored.tables.items?.columns.id?.dataType).toBe('bigint');
    const restored = new Schema('src', stored);
    expect(restored.toStored()).toEqual(stored);
    expect(restored.dirty).toBe(false);
  });

  it('diffs new tables, new columns and widened columns', () => {
    const schema = new Schema('src');
    const table = withTable(schema);
    const before = schema.toStored();
    schema.addColumn(table, { name: 'name', dataType: 'text', nullable: true }, EVOLVE_CONTRACT);
    schema.widenColumn(table, table.columns.id!, 'double', EVOLVE_CONTRACT);
    const child = schema.ensureTable({ name: 'items__tags', parent: 'items', writeDisposition: 'append' })!;
    schema.addColumn(child, { name: 'value', dataType: 'text', nullable: true }, EVOLVE_CONTRACT);
    expect(schema.diff(before)).toEqual([
      { table: 'items', newTable: false, newColumns: { name: 'text' }, widened: { id: 'bigint→double' } },
      { table: 'items__tags', newTable: true, newColumns: { value: 'text' }, widened: {} },
    ]);
    expect(schema.diff(schema.toStored())).toEqual([]);
  });

  it('merges another schema: new tables and columns, widening, variants on conflict', () => {
    const schema = new Schema('src');
    const table = withTable(schema);
    schema.addColumn(table, { name: 'flag', dataType: 'bool', nullable: true }, EVOLVE_CONTRACT);
    const other = new Schema('src', schema.toStored());
    const otherTable = other.table('items')!;
    otherTable.columns.id!.dataType = 'double';
    otherTable.columns.flag!.dataType = 'text';
    other.addColumn(otherTable, { name: 'extra', dataType: 'text', nullable: true }, EVOLVE_CONTRACT);
    other.ensureTable({ name: 'more', writeDisposition: 'replace' });
    const before = schema.toStored();
    schema.merge(
      other.toStored(),
      new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' }),
    );
    expect(schema.dirty).toBe(true);
    const merged = schema.table('items')!;
    expect(merged.columns.id?.dataType).toBe('double');
    expect(merged.columns.flag?.dataType).toBe('bool');
    expect(merged.columns.flag__v_text).toMatchObject({ dataType: 'text', variant: true });
    expect(merged.columns.extra?.dataType).toBe('text');
    expect(schema.table('more')?.writeDisposition).toBe('replace');
    expect(schema.diff(before).map((c) => c.table)).toEqual(['items', 'more']);
  });

  it('updates a root table to the resource declaration', () => {
    const schema = new Schema('src');
    withTable(schema);
    schema.markClean();
    schema.ensureTable({ name: 'items', writeDisposition: 'append' });
    expect(schema.dirty).toBe(false);
    schema.ensureTable({ name: 'items', writeDisposition: 'merge', mergeStrategy: 'upsert' });
    expect(schema.table('items')).toMatchObject({ writeDisposition: 'merge', mergeStrategy: 'upsert' });
    expect(schema.dirty).toBe(true);
  });

  it('applies the tables contract to new tables of a non-empty schema', () => {
    const start = new Schema('src');
    withTable(start);
    const stored = start.toStored();
    const frozen = new Schema('src', stored);
    expect(() =>
      frozen.ensureTable({ name: 'other', writeDisposition: 'append', schemaContract: 'freeze' }),
    ).toThrow(SchemaContractError);
    expect(
      frozen.ensureTable({
        name: 'other',
        writeDisposition: 'append',
        schemaContract: { tables: 'discard_row' },
      }),
    ).toBeUndefined();
    expect(
      frozen.ensureTable({ name: 'items', writeDisposition: 'append', schemaContract: 'freeze' }),
    ).toBeDefined();
  });

  it('always allows _ferry_ system columns and tracks new tables', () => {
    const start = new Schema('src');
    withTable(start);
    const schema = new Schema('src', start.toStored());
    const table = schema.table('items')!;
    const frozen = resolveContract('freeze');
    expect(schema.addColumn(table, { name: '_ferry_id', dataType: 'text', nullable: false }, frozen)).toBe(
      'evolve',
    );
    expect(() => schema.addColumn(table, { name: 'x', dataType: 'text', nullable: true }, frozen)).toThrow(
      SchemaContractError,
    );
    expect(schema.isNewTable('items')).toBe(false);
    const fresh = schema.ensureTable({ name: 'fresh', writeDisposition: 'append' })!;
    expect(schema.isNewTable('fresh')).toBe(true);
    expect(schema.addColumn(fresh, { name: 'x', dataType: 'text', nullable: true }, frozen)).toBe('evolve');
    schema.sealNewTables();
    expect(schema.isNewTable('fresh')).toBe(false);
  });

  it('resolves contracts', () => {
    expect(resolveContract(undefined)).toEqual({
      tables: 'evolve',
      columns: 'evolve',
      data_type: 'evolve',
      limits: 'evolve',
    });
    expect(resolveContract('discard_row')).toEqual({
      tables: 'discard_row',
      columns: 'discard_row',
      data_type: 'discard_row',
      limits: 'discard_row',
    });
    expect(resolveContract({ columns: 'freeze' })).toEqual({
      tables: 'evolve',
      columns: 'freeze',
      data_type: 'evolve',
      limits: 'evolve',
    });
  });
});
