/**
 * The peer case through the generated fast path: dlt's GitHub issues page (shared/peer-cases/dlt-github-issues),
 * normalized three times over (300 records, real-world heterogeneity: optional `pull_request`, null
 * `closed_by`/`milestone`, labels and assignees lists of any length), gives the same rows and schema with
 * code generation as without, and that schema has dlt's tables, columns and data types (as
 * parity-github.test.ts checks for the generic path, with its one deliberate difference).
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NamingConvention } from '../src/schema/naming.ts';
import { Schema } from '../src/schema/schema.ts';
import type { TableSchema } from '../src/schema/types.ts';
import { RowNormalizer, type ResourceTableInfo } from '../src/normalize/relational.ts';
import { deepDiff } from './deep-diff.ts';

const CASE_DIR = path.resolve(import.meta.dirname, '../../../../shared/peer-cases/dlt-github-issues');

const page = JSON.parse(readFileSync(path.join(CASE_DIR, 'issues.page.json'), 'utf8')) as Record<
  string,
  unknown
>[];
const dlt = JSON.parse(readFileSync(path.join(CASE_DIR, 'issues.schema.json'), 'utf8')) as {
  tables: Record<string, { columns: Record<string, { data_type: string }> }>;
};

const INFO: ResourceTableInfo = {
  resource: 'issues',
  table: 'issues',
  writeDisposition: 'append',
  primaryKey: [],
  mergeKey: [],
  columns: {},
  maxTableNesting: 1000,
};

function normalize(codegen: boolean) {
  const schema = new Schema('github');
  const naming = new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' });
  const normalizer = new RowNormalizer(schema, naming, { loadId: '1700000000.000001', codegen });
  const emitted: { table: string; row: Record<string, unknown> }[] = [];
  for (let round = 0; round < 3; round++) {
    page.forEach((record, i) => {
      normalizer.normalize(INFO, record, `issue${round}_${i}`, (table: TableSchema, row) => {
        emitted.push({ table: table.name, row });
      });
    });
  }
  return { schema, emitted, stats: normalizer.codegenStats };
}

describe('parity with dlt through the generated fast path: GitHub issues', () => {
  const generic = normalize(false);
  const compiled = normalize(true);

  it('gives the same rows, in the same order with the same keys, and the same schema', () => {
    expect(compiled.emitted.length).toBe(generic.emitted.length);
    expect(deepDiff(compiled.emitted, generic.emitted, 'rows')).toEqual([]);
    expect(deepDiff(compiled.schema.toStored(), generic.schema.toStored(), 'schema')).toEqual([]);
  });

  it('takes most records on the fast path', () => {
    // The first page settles the schema (a few optional fields appear late); the repeats fit it.
    expect(compiled.stats.hits).toBeGreaterThan(200);
    expect(compiled.stats.hits + compiled.stats.generic).toBe(300);
  });

  it("has dlt's tables, columns and data types", () => {
    const dataTables = Object.keys(dlt.tables).filter((t) => !t.startsWith('_dlt_'));
    expect([...compiled.schema.tables.keys()].sort()).toEqual([...dataTables].sort());
    for (const name of dataTables) {
      const expected: Record<string, string> = {};
      for (const [column, c] of Object.entries(dlt.tables[name]!.columns))
        expected[column.startsWith('_dlt_') ? `_ferry_${column.slice(5)}` : column] = c.data_type;
      const actual: Record<string, string> = {};
      for (const c of Object.values(compiled.schema.table(name)!.columns)) actual[c.name] = c.dataType;
      // The deliberate difference of parity-github.test.ts: `+1` keeps its own column.
      if (name === 'issues') delete actual.reactions__x1;
      expect(actual, name).toEqual(expected);
    }
  });
});
