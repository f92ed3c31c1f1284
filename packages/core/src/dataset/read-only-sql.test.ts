import { describe, expect, it } from 'vitest';
import { assertReadOnlySql } from './read-only-sql.ts';

describe('assertReadOnlySql', () => {
  it.each([
    'SELECT 1',
    'select * from "ds"."runs" where name = \'drop table x; delete\'',
    'WITH t AS (SELECT 1 AS n) SELECT n FROM t;',
    '-- drop\nSELECT "delete" FROM x',
    'SELECT _ferry_load_id, created_at FROM runs /* insert */',
  ])('allows %s', (sql) => expect(() => assertReadOnlySql(sql)).not.toThrow());

  it.each([
    ['DROP TABLE runs', /DROP/],
    ['delete from runs', /DELETE/],
    ['INSERT INTO runs VALUES (1)', /INSERT/],
    ['update runs set a = 1', /UPDATE/],
    ['CREATE TABLE x (a int)', /CREATE/],
    ['ALTER TABLE x ADD COLUMN b int', /ALTER/],
    ["COPY runs TO '/tmp/x'", /COPY/],
    ["ATTACH 'x.db'", /ATTACH/],
    ['SELECT 1; SELECT 2', /one statement/],
    ['SELECT 1; DROP TABLE runs', /one statement/],
    ['WITH d AS (DELETE FROM runs RETURNING *) SELECT * FROM d', /DELETE/],
    ['', /empty/],
  ])('refuses %s', (sql, message) => expect(() => assertReadOnlySql(sql)).toThrow(message));
});
