import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { pipeline, resource, source } from '@ferry/core';
import { compileOnly } from '@ferry/destinations/compile-only';

const dirs: string[] = [];
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

async function plan(options: Parameters<typeof resource>[0], rows: Record<string, unknown>[]) {
  const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-plan-'));
  dirs.push(dataDir);
  const dest = compileOnly();
  const p = pipeline({ name: 'plan', dataset: 'ds', destination: dest, dataDir });
  await p.run(source({ name: 'src', resources: [resource(options, () => [rows])] }));
  return dest.statements.map((s) => s.sql);
}

describe('compile-only destination: the SQL a load runs', () => {
  it('append: DDL, a file load into the target, then version, state-free marker, in one transaction', async () => {
    const sql = await plan({ name: 'runs' }, [{ id: 1, name: 'a' }]);
    const begin = sql.indexOf('BEGIN');
    expect(begin).toBeGreaterThan(-1);
    const body = sql.slice(begin);
    expect(body).toContain(
      'CREATE TABLE IF NOT EXISTS "ds"."runs" ("id" BIGINT, "name" TEXT, "_ferry_load_id" TEXT NOT NULL, "_ferry_id" TEXT NOT NULL)',
    );
    expect(body.some((s) => s.startsWith('LOAD csv') || s.startsWith('LOAD jsonl'))).toBe(true);
    expect(body.findIndex((s) => s.startsWith('INSERT INTO "ds"."_ferry_loads"'))).toBe(body.length - 2);
    expect(body.at(-1)).toBe('COMMIT');
  });

  it('merge delete-insert: children deleted by root id, roots by key, de-duplicated insert, then children', async () => {
    const sql = await plan({ name: 'runs', writeDisposition: 'merge', primaryKey: 'id' }, [
      { id: 1, steps: [{ n: 1 }] },
    ]);
    const merge = sql.filter((s) => /^(DELETE|INSERT INTO "ds"\."runs)/.test(s));
    expect(merge).toEqual([
      'DELETE FROM "ds"."runs__steps" WHERE "_ferry_root_id" IN (SELECT "_ferry_id" FROM "ds"."runs" WHERE EXISTS (SELECT 1 FROM "ds_staging"."runs" s WHERE s."id" = "ds"."runs"."id"))',
      'DELETE FROM "ds"."runs" WHERE EXISTS (SELECT 1 FROM "ds_staging"."runs" s WHERE s."id" = "ds"."runs"."id")',
      'INSERT INTO "ds"."runs" ("id", "_ferry_load_id", "_ferry_id") SELECT "id", "_ferry_load_id", "_ferry_id" FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "id" ORDER BY "_ferry_id" DESC) AS _ferry_rn FROM "ds_staging"."runs") d WHERE d._ferry_rn = 1',
      'INSERT INTO "ds"."runs__steps" ("n", "_ferry_id", "_ferry_parent_id", "_ferry_list_idx", "_ferry_root_id") SELECT "n", "_ferry_id", "_ferry_parent_id", "_ferry_list_idx", "_ferry_root_id" FROM "ds_staging"."runs__steps" WHERE "_ferry_root_id" IN (SELECT "_ferry_id" FROM "ds"."runs")',
    ]);
  });

  it('refuses merge before touching data when the destination has no merge', async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), 'ferry-plan-'));
    dirs.push(dataDir);
    const dest = compileOnly({ capabilities: { mergeStrategies: [] } });
    const p = pipeline({ name: 'plan', dataset: 'ds', destination: dest, dataDir });
    const src = source({
      name: 'src',
      resources: [
        resource({ name: 'runs', writeDisposition: 'merge', primaryKey: 'id' }, () => [[{ id: 1 }]]),
      ],
    });
    await expect(p.run(src)).rejects.toThrow(/does not support.*Use write_disposition append or replace/);
    expect(dest.statements).toEqual([]);
    expect(await p.hasPending()).toBe(false);
  });
});
