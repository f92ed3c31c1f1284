/** Compile-only golden tests of the Snowflake SQL: DDL, PUT/COPY, MERGE, system rows. No server. */
import { describe, expect, it } from 'vitest';
import { DestinationError, type ColumnSchema, type StoredSchema, type TableSchema } from '@ferry/core';
import { SnowflakeSqlCompiler, snowflake } from '@ferry/destinations/snowflake';

const c = new SnowflakeSqlCompiler();
const col = (
  name: string,
  dataType: ColumnSchema['dataType'],
  extra: Partial<ColumnSchema> = {},
): ColumnSchema => ({ name, dataType, nullable: true, ...extra });

const runs: TableSchema = {
  name: 'runs',
  writeDisposition: 'merge',
  columns: {
    id: col('id', 'bigint', { nullable: false, primaryKey: true }),
    status: col('status', 'bigint'),
    _ferry_id: col('_ferry_id', 'text', { nullable: false }),
  },
};
const steps: TableSchema = {
  name: 'runs__steps',
  writeDisposition: 'merge',
  columns: {
    name: col('name', 'text'),
    _ferry_root_id: col('_ferry_root_id', 'text'),
    _ferry_id: col('_ferry_id', 'text'),
  },
};
const root = { table: runs, target: c.qualified('ds', 'runs'), staging: c.qualified('ds_staging', 'runs') };
const child = {
  table: steps,
  target: c.qualified('ds', 'runs__steps'),
  staging: c.qualified('ds_staging', 'runs__steps'),
};

describe('SnowflakeSqlCompiler (golden)', () => {
  it('folds identifiers to upper case and always quotes them', () => {
    expect(c.quote('runs__run_steps')).toBe('"RUNS__RUN_STEPS"');
    expect(c.quote('x"y')).toBe('"X""Y"');
    expect(c.qualified('my_data', '_ferry_loads')).toBe('"MY_DATA"."_FERRY_LOADS"');
    expect(c.param(3)).toBe(':3');
    expect(c.rewriteParams(`SELECT '$1', "$2" FROM t WHERE a = $1 AND b = $12`)).toBe(
      `SELECT '$1', "$2" FROM t WHERE a = :1 AND b = :12`,
    );
  });

  it('maps every Ferry type to the issue 6 type set and back', () => {
    const types = (['text', 'bigint', 'double', 'bool', 'timestamp', 'date', 'decimal', 'json'] as const).map(
      (t) => c.columnType({ dataType: t }),
    );
    expect(types).toEqual([
      'VARCHAR',
      'NUMBER(19,0)',
      'FLOAT',
      'BOOLEAN',
      'TIMESTAMP_TZ(6)',
      'DATE',
      'NUMBER(38,9)',
      'VARIANT',
    ]);
    expect(c.columnType({ dataType: 'decimal', precision: 50, scale: 4 })).toBe('NUMBER(38,4)');
    expect(
      ['TEXT', 'FLOAT', 'BOOLEAN', 'TIMESTAMP_TZ', 'DATE', 'VARIANT', 'OBJECT'].map((t) =>
        c.fromNativeType(t),
      ),
    ).toEqual(['text', 'double', 'bool', 'timestamp', 'date', 'json', 'json']);
    expect([c.fromNumber(0), c.fromNumber(9)]).toEqual(['bigint', 'decimal']);
  });

  it('DDL: tables, staging tables, added columns, widening by copy', () => {
    const cols = [
      col('id', 'bigint', { nullable: false }),
      col('created_at', 'timestamp'),
      col('payload', 'json'),
      col('amount', 'decimal', { precision: 12, scale: 2 }),
    ];
    expect(c.createSchema('ds')).toBe('CREATE SCHEMA IF NOT EXISTS "DS"');
    expect(c.createTable('"DS"."RUNS"', cols)).toBe(
      'CREATE TABLE IF NOT EXISTS "DS"."RUNS" ("ID" NUMBER(19,0) NOT NULL, "CREATED_AT" TIMESTAMP_TZ(6), "PAYLOAD" VARIANT, "AMOUNT" NUMBER(12,2))',
    );
    expect(c.createTable('"DS_STAGING"."RUNS"', cols, false)).toBe(
      'CREATE OR REPLACE TRANSIENT TABLE "DS_STAGING"."RUNS" ("ID" NUMBER(19,0) NOT NULL, "CREATED_AT" TIMESTAMP_TZ(6), "PAYLOAD" VARIANT, "AMOUNT" NUMBER(12,2))',
    );
    expect(c.addColumns('"DS"."RUNS"', [col('new_field', 'text')])).toEqual([
      'ALTER TABLE "DS"."RUNS" ADD COLUMN "NEW_FIELD" VARCHAR',
    ]);
    const tmp = c.widenTempColumn('amount');
    expect(tmp).toMatch(/^_FERRY_WIDEN_[A-Z0-9_]{12}$/);
    expect(c.widenColumn('"DS"."RUNS"', col('amount', 'double'))).toEqual([
      `ALTER TABLE "DS"."RUNS" DROP COLUMN IF EXISTS "${tmp}"`,
      `ALTER TABLE "DS"."RUNS" ADD COLUMN "${tmp}" FLOAT`,
      `UPDATE "DS"."RUNS" SET "${tmp}" = "AMOUNT"`,
      'ALTER TABLE "DS"."RUNS" DROP COLUMN "AMOUNT"',
      `ALTER TABLE "DS"."RUNS" RENAME COLUMN "${tmp}" TO "AMOUNT"`,
    ]);
    expect(c.widenRepair('"DS"."RUNS"', 'amount')).toBe(
      `ALTER TABLE "DS"."RUNS" RENAME COLUMN "${tmp}" TO "AMOUNT"`,
    );
    expect(c.systemTables('ds')).toEqual([
      'CREATE TABLE IF NOT EXISTS "DS"."_FERRY_LOADS" ("LOAD_ID" VARCHAR NOT NULL, "SCHEMA_NAME" VARCHAR, "STATUS" NUMBER(19,0) NOT NULL, "INSERTED_AT" TIMESTAMP_TZ(6) NOT NULL, "SCHEMA_VERSION_HASH" VARCHAR)',
      'CREATE TABLE IF NOT EXISTS "DS"."_FERRY_PIPELINE_STATE" ("VERSION" NUMBER(19,0) NOT NULL, "ENGINE_VERSION" NUMBER(19,0) NOT NULL, "PIPELINE_NAME" VARCHAR NOT NULL, "STATE" VARCHAR NOT NULL, "CREATED_AT" TIMESTAMP_TZ(6) NOT NULL, "VERSION_HASH" VARCHAR, "_FERRY_LOAD_ID" VARCHAR NOT NULL)',
      'CREATE TABLE IF NOT EXISTS "DS"."_FERRY_VERSION" ("VERSION" NUMBER(19,0) NOT NULL, "ENGINE_VERSION" NUMBER(19,0) NOT NULL, "INSERTED_AT" TIMESTAMP_TZ(6) NOT NULL, "SCHEMA_NAME" VARCHAR NOT NULL, "VERSION_HASH" VARCHAR NOT NULL, "SCHEMA" VARCHAR NOT NULL)',
    ]);
  });

  it('load: PUT into the table stage under the load id, COPY INTO by column name', () => {
    const stage = c.tableStage('ds', 'runs');
    expect(stage).toBe('"DS"."%RUNS"');
    expect(c.put('/data/p/new_jobs/runs.abc.0.jsonl', stage, '1712345678.123')).toBe(
      `PUT 'file:///data/p/new_jobs/runs.abc.0.jsonl' @"DS"."%RUNS"/1712345678.123/ OVERWRITE = TRUE AUTO_COMPRESS = TRUE PARALLEL = 4`,
    );
    expect(c.put("/tmp/it's here/a.jsonl", stage, '1')).toBe(
      `PUT 'file:///tmp/it''s here/a.jsonl' @"DS"."%RUNS"/1/ OVERWRITE = TRUE AUTO_COMPRESS = TRUE PARALLEL = 4`,
    );
    expect(c.copyInto('"DS"."RUNS"', stage, '1712345678.123', ['runs.abc.0.jsonl.gz'])).toBe(
      `COPY INTO "DS"."RUNS" FROM @"DS"."%RUNS"/1712345678.123/ FILES = ('runs.abc.0.jsonl.gz') FILE_FORMAT = (TYPE = 'JSON' STRIP_OUTER_ARRAY = FALSE) MATCH_BY_COLUMN_NAME = CASE_INSENSITIVE ON_ERROR = ABORT_STATEMENT FORCE = TRUE`,
    );
  });

  it('merge (upsert): MERGE with a target alias on the de-duplicated staging rows; children replaced', () => {
    expect(c.mergeUpsert(root, [child], ['id'])).toEqual([
      'DELETE FROM "DS"."RUNS__STEPS" WHERE "_FERRY_ROOT_ID" IN (SELECT "_FERRY_ID" FROM "DS"."RUNS" WHERE EXISTS (SELECT 1 FROM "DS_STAGING"."RUNS" s WHERE s."ID" = "DS"."RUNS"."ID"))',
      'MERGE INTO "DS"."RUNS" AS t USING (SELECT "ID", "STATUS", "_FERRY_ID" FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "ID" ORDER BY "_FERRY_ID" DESC) AS _ferry_rn FROM "DS_STAGING"."RUNS") d WHERE d._ferry_rn = 1) AS s ON t."ID" = s."ID" ' +
        'WHEN MATCHED THEN UPDATE SET "STATUS" = s."STATUS", "_FERRY_ID" = s."_FERRY_ID" WHEN NOT MATCHED THEN INSERT ("ID", "STATUS", "_FERRY_ID") VALUES (s."ID", s."STATUS", s."_FERRY_ID")',
      'INSERT INTO "DS"."RUNS__STEPS" ("NAME", "_FERRY_ROOT_ID", "_FERRY_ID") SELECT "NAME", "_FERRY_ROOT_ID", "_FERRY_ID" FROM "DS_STAGING"."RUNS__STEPS" WHERE "_FERRY_ROOT_ID" IN (SELECT "_FERRY_ID" FROM "DS"."RUNS")',
    ]);
  });

  it('merge (delete-insert): DELETE matched keys, INSERT de-duplicated rows', () => {
    expect(c.mergeDeleteInsert(root, [], ['id'], [])).toEqual([
      'DELETE FROM "DS"."RUNS" WHERE EXISTS (SELECT 1 FROM "DS_STAGING"."RUNS" s WHERE s."ID" = "DS"."RUNS"."ID")',
      'INSERT INTO "DS"."RUNS" ("ID", "STATUS", "_FERRY_ID") SELECT "ID", "STATUS", "_FERRY_ID" FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY "ID" ORDER BY "_FERRY_ID" DESC) AS _ferry_rn FROM "DS_STAGING"."RUNS") d WHERE d._ferry_rn = 1',
    ]);
  });

  it('system rows: quoted columns (SCHEMA is reserved), `:n` binds, marker last', () => {
    expect(c.insertLoad('ds', '1712.5', 'src', 'hash', '2024-01-01T00:00:00.000Z')).toEqual({
      sql: 'INSERT INTO "DS"."_FERRY_LOADS" ("LOAD_ID", "SCHEMA_NAME", "STATUS", "INSERTED_AT", "SCHEMA_VERSION_HASH") VALUES (:1, :2, 0, CAST(:3 AS TIMESTAMP_TZ(6)), :4)',
      params: ['1712.5', 'src', '2024-01-01T00:00:00.000Z', 'hash'],
    });
    expect(c.selectSchema('ds')).toBe(
      'SELECT "SCHEMA" AS schema_json FROM "DS"."_FERRY_VERSION" WHERE "SCHEMA_NAME" = :1 ORDER BY "VERSION" DESC LIMIT 1',
    );
    expect(c.selectState('ds').sql).toBe(
      'SELECT s."STATE" AS state, s."VERSION" AS version, s."_FERRY_LOAD_ID" AS load_id FROM "DS"."_FERRY_PIPELINE_STATE" s JOIN "DS"."_FERRY_LOADS" l ON l."LOAD_ID" = s."_FERRY_LOAD_ID" WHERE s."PIPELINE_NAME" = :1 AND l."STATUS" = 0 ORDER BY s."_FERRY_LOAD_ID" DESC LIMIT 1',
    );
  });

  it('refuses names that differ only by case, naming both', () => {
    const schema = (tables: TableSchema[]): StoredSchema =>
      ({
        name: 's',
        version: 1,
        versionHash: 'h',
        engineVersion: 1,
        tables: Object.fromEntries(tables.map((t) => [t.name, t])),
      }) as unknown as StoredSchema;
    const clash = {
      name: 'runs',
      writeDisposition: 'append' as const,
      columns: { id: col('id', 'bigint'), ID: col('ID', 'bigint') },
    };
    expect(() => c.checkFoldedNames(schema([clash]))).toThrow(DestinationError);
    expect(() => c.checkFoldedNames(schema([clash]))).toThrow(
      `columns 'id' and 'ID' of table 'runs' differ only by case; Snowflake folds both to "ID"`,
    );
    expect(() => c.checkFoldedNames(schema([{ ...runs, name: 'Runs' }, runs]))).toThrow(
      `tables 'Runs' and 'runs' differ only by case; Snowflake folds both to "RUNS"`,
    );
    expect(() => c.checkFoldedNames(schema([runs, steps]))).not.toThrow();
  });

  it('capabilities and config checks, without connecting', async () => {
    const d = snowflake({
      account: 'org-acct',
      username: 'loader',
      password: 'hunter2-secret',
      database: 'RAW',
      warehouse: 'WH',
    });
    expect(d.capabilities).toMatchObject({
      preferredFileFormat: 'jsonl',
      supportsTransactionalDdl: false,
      maxIdentifierLength: 255,
      identifierCase: 'lower',
    });
    expect(d.describe()).toBe('snowflake://loader@org-acct/RAW?warehouse=WH');
    expect(d.describe()).not.toContain('hunter2');
    await expect(
      snowflake({ account: 'a', username: 'u', database: 'd' }).connect({ dataset: 'x', pipelineName: 'p' }),
    ).rejects.toThrow(/give a password or a privateKey/);
    const missingKey = await snowflake({
      account: 'a',
      username: 'u',
      database: 'd',
      privateKey: '/nonexistent/key.p8',
    })
      .connect({ dataset: 'x', pipelineName: 'p' })
      .then(
        () => new Error('connected without a key file'),
        (e: unknown) => e as Error,
      );
    expect(missingKey.message).toMatch(/cannot read the key file '\/nonexistent\/key.p8' \(ENOENT\)/);
  });
});
