/**
 * Parity with dlt: a page of 100 GitHub issues through Ferry's relational normalizer must give the tables,
 * columns and data types dlt inferred from the same data (shared/peer-cases/dlt-github-issues), except where
 * Ferry differs on purpose — each such difference is asserted below with its reason.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NamingConvention } from '../src/schema/naming.ts';
import { Schema } from '../src/schema/schema.ts';
import type { TableSchema } from '../src/schema/types.ts';
import { RowNormalizer, type ResourceTableInfo } from '../src/normalize/relational.ts';

const CASE_DIR = path.resolve(import.meta.dirname, '../../../../shared/peer-cases/dlt-github-issues');

interface DltColumn {
  data_type: string;
  nullable?: boolean;
}
interface DltSchema {
  tables: Record<string, { parent?: string; write_disposition?: string; columns: Record<string, DltColumn> }>;
}

const page = JSON.parse(readFileSync(path.join(CASE_DIR, 'issues.page.json'), 'utf8')) as Record<
  string,
  unknown
>[];
const dlt = JSON.parse(readFileSync(path.join(CASE_DIR, 'issues.schema.json'), 'utf8')) as DltSchema;

/** dlt's system names → Ferry's. */
function ferryName(dltName: string): string {
  return dltName.startsWith('_dlt_') ? `_ferry_${dltName.slice('_dlt_'.length)}` : dltName;
}

function normalizePage() {
  const schema = new Schema('github');
  const naming = new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' });
  const normalizer = new RowNormalizer(schema, naming, { loadId: '1700000000.000001' });
  const info: ResourceTableInfo = {
    resource: 'issues',
    table: 'issues',
    writeDisposition: 'append',
    primaryKey: [],
    mergeKey: [],
    columns: {},
    maxTableNesting: 1000,
  };
  const rows: Record<string, Record<string, unknown>[]> = {};
  page.forEach((record, i) => {
    normalizer.normalize(info, record, `issue${i}`, (table: TableSchema, row) => {
      (rows[table.name] ??= []).push(row);
    });
  });
  return { schema, rows };
}

describe('parity with dlt: GitHub issues', () => {
  const { schema, rows } = normalizePage();
  // dlt's _dlt_version and _dlt_loads are destination bookkeeping tables created by the loader, not
  // inferred from data; Ferry's equivalents (_ferry_version, _ferry_loads) are likewise not schema tables.
  const dltDataTables = Object.keys(dlt.tables).filter((t) => !t.startsWith('_dlt_'));

  it('produces the same tables with the same parents', () => {
    expect([...schema.tables.keys()].sort()).toEqual([...dltDataTables].sort());
    for (const name of dltDataTables) {
      expect(schema.table(name)?.parent, name).toBe(dlt.tables[name]?.parent);
    }
    expect(schema.table('issues')?.writeDisposition).toBe(dlt.tables.issues?.write_disposition);
    expect(rows.issues).toHaveLength(100);
  });

  for (const tableName of ['issues', 'issues__labels', 'issues__assignees']) {
    it(`${tableName}: same columns and data types`, () => {
      const dltColumns = dlt.tables[tableName]!.columns;
      const expected: Record<string, string> = {};
      for (const [name, column] of Object.entries(dltColumns)) expected[ferryName(name)] = column.data_type;
      const actual: Record<string, string> = {};
      for (const column of Object.values(schema.table(tableName)!.columns))
        actual[column.name] = column.dataType;

      if (tableName === 'issues') {
        // Deliberate difference: GitHub's reactions have keys `+1` and `-1`. dlt's snake_case of that era
        // mapped both to `_1`, so the two counts collided in one column `reactions___1` (silently mixing
        // thumbs-up and thumbs-down). Ferry maps `+` to `x` (as current dlt does), keeping them apart:
        // `-1` → `reactions___1` (same as dlt) and `+1` → `reactions__x1` (new).
        expect(actual.reactions__x1).toBe('bigint');
        expect(actual.reactions___1).toBe('bigint');
        delete actual.reactions__x1;
      }
      expect(actual).toEqual(expected);
      expect(Object.keys(actual)).toHaveLength(Object.keys(expected).length);
    });

    it(`${tableName}: same nullability of system columns`, () => {
      const dltColumns = dlt.tables[tableName]!.columns;
      for (const [name, column] of Object.entries(dltColumns)) {
        if (!name.startsWith('_dlt_')) continue;
        expect(schema.table(tableName)!.columns[ferryName(name)]?.nullable, name).toBe(column.nullable);
      }
    });
  }

  it('writes canonical values: UTC microsecond timestamps, deterministic child ids', () => {
    const first = rows.issues![0]!;
    expect(first.created_at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(first._ferry_id).toBe('issue0');
    expect(first._ferry_load_id).toBe('1700000000.000001');
    const labels = rows.issues__labels!.filter((r) => r._ferry_parent_id === 'issue0');
    expect(labels.map((r) => r._ferry_id)).toEqual(labels.map((_, i) => `issue0.${i}`));
    expect(labels.map((r) => r._ferry_list_idx)).toEqual(labels.map((_, i) => i));
    const totalLabels = page.reduce((n, r) => n + (Array.isArray(r.labels) ? r.labels.length : 0), 0);
    expect(rows.issues__labels).toHaveLength(totalLabels);
  });
});
