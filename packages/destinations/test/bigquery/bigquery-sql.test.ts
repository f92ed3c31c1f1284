/**
 * Compile-only golden tests of the BigQuery SQL: DDL, load-job configuration and ids, and the one
 * transaction script per package. No server, no SDK.
 */
import { describe, expect, it } from 'vitest';
import type { ColumnSchema, LoadPackagePlan, StoredSchema, TableSchema } from '@ferry/core';
import {
  BIGQUERY_CAPABILITIES,
  BigQuerySqlCompiler,
  buildScript,
  dollarToNamed,
  loadJobConfiguration,
  loadJobId,
  parseServiceAccount,
  planPackage,
  renumberParams,
  resolveBigQuerySettings,
} from '@ferry/destinations/bigquery';

const c = new BigQuerySqlCompiler({ projectId: 'my-proj', location: 'EU' });
const col = (
  name: string,
  dataType: ColumnSchema['dataType'],
  extra: Partial<ColumnSchema> = {},
): ColumnSchema => ({ name, dataType, nullable: true, ...extra });
const table = (name: string, columns: ColumnSchema[], extra: Partial<TableSchema> = {}): TableSchema => ({
  name,
  writeDisposition: 'append',
  columns: Object.fromEntries(columns.map((x) => [x.name, x])),
  ...extra,
});

describe('BigQuerySqlCompiler', () => {
  it('quotes with backticks and qualifies with the project', () => {
    expect(c.quote('a`b\\c')).toBe('`a\\`b\\\\c`');
    expect(c.qualified('ds', 'runs')).toBe('`my-proj`.`ds`.`runs`');
    expect(c.param(3)).toBe('@p3');
  });

  it('maps every Ferry type to a BigQuery type', () => {
    const types = ['text', 'bigint', 'double', 'bool', 'timestamp', 'date', 'decimal', 'json'] as const;
    expect(types.map((dataType) => c.columnType({ dataType }))).toEqual([
      'STRING',
      'INT64',
      'FLOAT64',
      'BOOL',
      'TIMESTAMP',
      'DATE',
      'NUMERIC',
      'JSON',
    ]);
    expect(c.columnType({ dataType: 'decimal', precision: 20, scale: 4 })).toBe('NUMERIC(20, 4)');
    expect(c.columnType({ dataType: 'decimal', precision: 50, scale: 20 })).toBe('BIGNUMERIC(50, 20)');
    // BIGNUMERIC(P, S) needs P <= S + 38: 50 integer digits fit no BigQuery decimal.
    expect(c.columnType({ dataType: 'decimal', precision: 38, scale: 0 })).toBe('BIGNUMERIC(38, 0)');
    expect(() => c.columnType({ dataType: 'decimal', precision: 50, scale: 0 })).toThrow(
      /decimal\(50, 0\) does not fit BigQuery: BIGNUMERIC holds at most 38 digits before the point/,
    );
    expect(
      ['INT64', 'FLOAT64', 'BOOL', 'STRING', 'TIMESTAMP', 'DATE', 'NUMERIC(20, 4)', 'BIGNUMERIC', 'JSON'].map(
        (t) => c.fromNativeType(t),
      ),
    ).toEqual(['bigint', 'double', 'bool', 'text', 'timestamp', 'date', 'decimal', 'decimal', 'json']);
  });

  it('DDL: dataset with location, table, one ALTER for new columns, widening, delete-all', () => {
    expect(c.createSchema('ds')).toBe("CREATE SCHEMA IF NOT EXISTS `my-proj`.`ds` OPTIONS (location = 'EU')");
    expect(
      c.createTable(c.qualified('ds', 'runs'), [
        col('id', 'bigint', { nullable: false }),
        col('at', 'timestamp'),
        col('doc', 'json'),
      ]),
    ).toBe(
      'CREATE TABLE IF NOT EXISTS `my-proj`.`ds`.`runs` (`id` INT64 NOT NULL, `at` TIMESTAMP, `doc` JSON)',
    );
    expect(c.addColumns('`my-proj`.`ds`.`runs`', [col('a', 'text'), col('b', 'decimal')])).toEqual([
      'ALTER TABLE `my-proj`.`ds`.`runs` ADD COLUMN IF NOT EXISTS `a` STRING, ADD COLUMN IF NOT EXISTS `b` NUMERIC',
    ]);
    expect(c.addColumns('`my-proj`.`ds`.`runs`', [])).toEqual([]);
    expect(c.alterColumnType('`my-proj`.`ds`.`runs`', col('amount', 'double'))).toBe(
      'ALTER TABLE `my-proj`.`ds`.`runs` ALTER COLUMN `amount` SET DATA TYPE FLOAT64',
    );
    expect(c.deleteAll('`my-proj`.`ds`.`runs`')).toBe('DELETE FROM `my-proj`.`ds`.`runs` WHERE TRUE');
    expect(c.systemTables('ds')[0]).toBe(
      'CREATE TABLE IF NOT EXISTS `my-proj`.`ds`.`_ferry_loads` (load_id STRING NOT NULL, schema_name STRING, status INT64 NOT NULL, inserted_at TIMESTAMP NOT NULL, schema_version_hash STRING)',
    );
  });

  it('renumbers parameters across a script and leaves quoted text alone', () => {
    expect(renumberParams("SELECT @p1, '@p1', `@p2` FROM t WHERE x = @p2", 7)).toBe(
      "SELECT @p8, '@p1', `@p2` FROM t WHERE x = @p9",
    );
    expect(
      buildScript([{ sql: 'A @p1 @p2', params: ['a', 'b'] }, 'B', { sql: 'C @p1', params: [3] }]),
    ).toEqual({ sql: 'A @p1 @p2;\nB;\nC @p3;', params: { p1: 'a', p2: 'b', p3: 3 } });
    expect(dollarToNamed("SELECT $1, '$2' WHERE a = $2")).toEqual({
      sql: "SELECT @p1, '$2' WHERE a = @p2",
      found: true,
    });
  });
});

describe('load jobs', () => {
  it('job ids are derived from dataset, load id and file, within BigQuery limits', () => {
    expect(loadJobId('github', '1711374420129001', 'issues__labels.0000a')).toBe(
      'ferry_github_1711374420129001_issues__labels_0000a',
    );
    expect(loadJobId('ds', '1', 'x'.repeat(2000)).length).toBe(1024);
    expect(loadJobId('ds', '1', 'a.b')).toBe(loadJobId('ds', '1', 'a.b'));
  });

  it('appends NDJSON or Parquet into an existing staging table, refuses CSV', () => {
    expect(loadJobConfiguration({ format: 'jsonl' })).toEqual({
      sourceFormat: 'NEWLINE_DELIMITED_JSON',
      writeDisposition: 'WRITE_APPEND',
      createDisposition: 'CREATE_NEVER',
      ignoreUnknownValues: false,
      maxBadRecords: 0,
    });
    expect(loadJobConfiguration({ format: 'parquet' }).sourceFormat).toBe('PARQUET');
    expect(() => loadJobConfiguration({ format: 'csv' })).toThrow(/jsonl or parquet/);
  });

  it('capabilities: NDJSON preferred, no transactional DDL, 300-character identifiers, 4 parallel jobs', () => {
    expect(BIGQUERY_CAPABILITIES).toMatchObject({
      preferredFileFormat: 'jsonl',
      supportedFileFormats: ['jsonl', 'parquet'],
      supportsTransactionalDdl: false,
      maxIdentifierLength: 300,
      identifierCase: 'lower',
      supportsAlterColumnType: false,
      maxParallelLoadJobs: 4,
    });
  });
});

describe('package plan', () => {
  const runs = table(
    'runs',
    [
      col('id', 'bigint', { nullable: false, primaryKey: true }),
      col('status', 'bigint'),
      col('new_col', 'text'),
      col('_ferry_load_id', 'text'),
      col('_ferry_id', 'text'),
    ],
    { writeDisposition: 'merge', mergeStrategy: 'upsert', resource: 'runs' },
  );
  const steps = table(
    'runs__steps',
    [
      col('name', 'text'),
      col('_ferry_root_id', 'text'),
      col('_ferry_parent_id', 'text'),
      col('_ferry_id', 'text'),
    ],
    { parent: 'runs' },
  );
  const events = table('events', [col('id', 'bigint'), col('amount', 'double'), col('_ferry_id', 'text')], {
    resource: 'events',
  });
  const schema: StoredSchema = {
    name: 'github',
    version: 3,
    versionHash: 'h3',
    engineVersion: 1,
    tables: { runs, runs__steps: steps, events },
  };
  const job = (t: string, n: string) => ({
    jobId: `${t}.${n}`,
    table: t,
    path: `/tmp/${t}.${n}.0.jsonl`,
    format: 'jsonl' as const,
    columns: [],
    rows: 10,
  });
  const plan: LoadPackagePlan = {
    loadId: '1711374420129001',
    schema,
    tables: [
      {
        table: 'runs',
        root: 'runs',
        writeDisposition: 'merge',
        mergeStrategy: 'upsert',
        jobs: [job('runs', '00000'), job('runs', '00001')],
      },
      {
        table: 'runs__steps',
        root: 'runs',
        writeDisposition: 'merge',
        mergeStrategy: 'upsert',
        jobs: [job('runs__steps', '00000')],
      },
      { table: 'events', root: 'events', writeDisposition: 'replace', jobs: [job('events', '00000')] },
    ],
    replaceChains: [{ root: 'events', tables: ['events'] }],
    state: { version: 4, pipelineName: 'gh', sources: {}, lastLoadId: '1711374420129001' },
    events: { jobStarted: () => undefined, jobCompleted: () => undefined },
  };
  const existing: Record<string, TableSchema> = {
    runs: table('runs', [
      col('id', 'bigint'),
      col('status', 'bigint'),
      col('_ferry_load_id', 'text'),
      col('_ferry_id', 'text'),
    ]),
    events: table('events', [col('id', 'bigint'), col('amount', 'bigint'), col('_ferry_id', 'text')]),
  };
  const built = planPackage(plan, {
    compiler: c,
    dataset: 'github',
    stagingDataset: 'github_staging',
    existing,
    now: '2024-03-25T13:47:00.000Z',
  });

  it('DDL first: staging dataset, new tables and columns, INT64 widening, per-package staging tables', () => {
    expect(built.ddl).toEqual([
      "CREATE SCHEMA IF NOT EXISTS `my-proj`.`github_staging` OPTIONS (location = 'EU')",
      'ALTER TABLE `my-proj`.`github`.`runs` ADD COLUMN IF NOT EXISTS `new_col` STRING',
      'CREATE TABLE IF NOT EXISTS `my-proj`.`github`.`runs__steps` (`name` STRING, `_ferry_root_id` STRING, `_ferry_parent_id` STRING, `_ferry_id` STRING)',
      'ALTER TABLE `my-proj`.`github`.`events` ALTER COLUMN `amount` SET DATA TYPE FLOAT64',
      'CREATE TABLE IF NOT EXISTS `my-proj`.`github_staging`.`runs__1711374420129001` (`id` INT64, `status` INT64, `new_col` STRING, `_ferry_load_id` STRING, `_ferry_id` STRING)',
      'CREATE TABLE IF NOT EXISTS `my-proj`.`github_staging`.`runs__steps__1711374420129001` (`name` STRING, `_ferry_root_id` STRING, `_ferry_parent_id` STRING, `_ferry_id` STRING)',
      'CREATE TABLE IF NOT EXISTS `my-proj`.`github_staging`.`events__1711374420129001` (`id` INT64, `amount` FLOAT64, `_ferry_id` STRING)',
    ]);
  });

  it('one load job per file into the staging table, with deterministic ids', () => {
    expect(built.loads.map((l) => [l.jobId, `${l.dataset}.${l.table}`, l.job.path])).toEqual([
      [
        'ferry_github_1711374420129001_runs_00000',
        'github_staging.runs__1711374420129001',
        '/tmp/runs.00000.0.jsonl',
      ],
      [
        'ferry_github_1711374420129001_runs_00001',
        'github_staging.runs__1711374420129001',
        '/tmp/runs.00001.0.jsonl',
      ],
      [
        'ferry_github_1711374420129001_runs__steps_00000',
        'github_staging.runs__steps__1711374420129001',
        '/tmp/runs__steps.00000.0.jsonl',
      ],
      [
        'ferry_github_1711374420129001_events_00000',
        'github_staging.events__1711374420129001',
        '/tmp/events.00000.0.jsonl',
      ],
    ]);
    expect(built.scriptJobId).toBe('ferry_github_1711374420129001_commit');
  });

  it('one transaction script: replace, append, MERGE with children, schema version, state, marker', () => {
    expect(built.script.sql.split('\n')).toEqual([
      'BEGIN TRANSACTION;',
      ...[
        ['runs', 'runs__1711374420129001', '20'],
        ['runs__steps', 'runs__steps__1711374420129001', '10'],
        ['events', 'events__1711374420129001', '10'],
      ].map(
        ([table, staging, rows]) =>
          `ASSERT (SELECT COUNT(*) FROM \`my-proj\`.\`github_staging\`.\`${staging}\`) = ${rows} AS 'ferry_staging_check: staging table of \\'${table}\\' does not hold the package\\'s ${rows} rows';`,
      ),
      'DELETE FROM `my-proj`.`github`.`events` WHERE TRUE;',
      'INSERT INTO `my-proj`.`github`.`events` (`id`, `amount`, `_ferry_id`) SELECT `id`, `amount`, `_ferry_id` FROM `my-proj`.`github_staging`.`events__1711374420129001`;',
      'DELETE FROM `my-proj`.`github`.`runs__steps` AS c WHERE c.`_ferry_root_id` IN (SELECT t.`_ferry_id` FROM `my-proj`.`github`.`runs` AS t WHERE EXISTS (SELECT 1 FROM `my-proj`.`github_staging`.`runs__1711374420129001` AS s WHERE s.`id` = t.`id`));',
      'MERGE INTO `my-proj`.`github`.`runs` AS t USING (SELECT `id`, `status`, `new_col`, `_ferry_load_id`, `_ferry_id` FROM (SELECT *, ROW_NUMBER() OVER (PARTITION BY `id` ORDER BY `_ferry_id` DESC) AS _ferry_rn FROM `my-proj`.`github_staging`.`runs__1711374420129001`) d WHERE d._ferry_rn = 1) AS s ON s.`id` = t.`id` ' +
        'WHEN MATCHED THEN UPDATE SET `status` = s.`status`, `new_col` = s.`new_col`, `_ferry_load_id` = s.`_ferry_load_id`, `_ferry_id` = s.`_ferry_id` ' +
        'WHEN NOT MATCHED THEN INSERT (`id`, `status`, `new_col`, `_ferry_load_id`, `_ferry_id`) VALUES (s.`id`, s.`status`, s.`new_col`, s.`_ferry_load_id`, s.`_ferry_id`);',
      'INSERT INTO `my-proj`.`github`.`runs__steps` (`name`, `_ferry_root_id`, `_ferry_parent_id`, `_ferry_id`) SELECT `name`, `_ferry_root_id`, `_ferry_parent_id`, `_ferry_id` FROM `my-proj`.`github_staging`.`runs__steps__1711374420129001` WHERE `_ferry_root_id` IN (SELECT `_ferry_id` FROM `my-proj`.`github`.`runs`);',
      'INSERT INTO `my-proj`.`github`.`_ferry_version` (version, engine_version, inserted_at, schema_name, version_hash, schema) SELECT @p1, @p2, CAST(@p3 AS TIMESTAMP), @p4, @p5, @p6 FROM (SELECT 1 AS one) AS x WHERE NOT EXISTS (SELECT 1 FROM `my-proj`.`github`.`_ferry_version` AS v WHERE v.version_hash = @p5);',
      'INSERT INTO `my-proj`.`github`.`_ferry_pipeline_state` (version, engine_version, pipeline_name, state, created_at, version_hash, _ferry_load_id) VALUES (@p7, @p8, @p9, @p10, CAST(@p11 AS TIMESTAMP), @p12, @p13);',
      'INSERT INTO `my-proj`.`github`.`_ferry_loads` (load_id, schema_name, status, inserted_at, schema_version_hash) VALUES (@p14, @p15, 0, CAST(@p16 AS TIMESTAMP), @p17);',
      'COMMIT TRANSACTION;',
    ]);
    expect(built.script.params).toMatchObject({
      p1: 3,
      p4: 'github',
      p5: 'h3',
      p9: 'gh',
      p13: '1711374420129001',
      p14: '1711374420129001',
      p15: 'github',
      p17: 'h3',
    });
    expect(JSON.parse(String(built.script.params.p10))).toMatchObject({ version: 4, pipelineName: 'gh' });
  });

  it('drops the staging tables after the commit', () => {
    expect(built.cleanup).toEqual([
      'DROP TABLE IF EXISTS `my-proj`.`github_staging`.`runs__1711374420129001`',
      'DROP TABLE IF EXISTS `my-proj`.`github_staging`.`runs__steps__1711374420129001`',
      'DROP TABLE IF EXISTS `my-proj`.`github_staging`.`events__1711374420129001`',
    ]);
  });

  it('refuses a widening BigQuery cannot do in place (DATE → TIMESTAMP), naming the column', () => {
    const s2: StoredSchema = {
      ...schema,
      tables: { events: table('events', [col('day', 'timestamp')], { resource: 'events' }) },
    };
    const p2: LoadPackagePlan = {
      ...plan,
      schema: s2,
      tables: [{ table: 'events', root: 'events', writeDisposition: 'append', jobs: [] }],
      replaceChains: [],
    };
    expect(() =>
      planPackage(p2, {
        compiler: c,
        dataset: 'github',
        stagingDataset: 'github_staging',
        existing: { events: table('events', [col('day', 'date')]) },
        now: 'x',
      }),
    ).toThrow(/column 'events.day' from date to timestamp/);
  });
});

describe('credentials', () => {
  const key = {
    type: 'service_account',
    client_email: 'ferry@p.iam.gserviceaccount.com',
    private_key: '-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n',
    project_id: 'key-proj',
  };

  it('inline JSON or an object; project from the key, location default US', () => {
    const s = resolveBigQuerySettings({ credentials: JSON.stringify(key) }, {});
    expect(s).toMatchObject({ projectId: 'key-proj', location: 'US', credentialsSource: 'inline' });
    expect(resolveBigQuerySettings({ projectId: 'p', credentials: key, location: 'EU' }, {}).location).toBe(
      'EU',
    );
  });

  it('from the environment: BIGQUERY_PROJECT, BIGQUERY_CREDENTIALS, BIGQUERY_LOCATION', () => {
    const s = resolveBigQuerySettings(
      {},
      {
        BIGQUERY_PROJECT: 'env-proj',
        BIGQUERY_CREDENTIALS: JSON.stringify(key),
        BIGQUERY_LOCATION: 'asia-northeast1',
      },
    );
    expect(s).toMatchObject({
      projectId: 'env-proj',
      location: 'asia-northeast1',
      credentialsSource: 'BIGQUERY_CREDENTIALS',
    });
  });

  it('errors name the source, say what to do and never echo the key', () => {
    const bad = { ...key, type: 'authorized_user' };
    const error = (() => {
      try {
        parseServiceAccount(JSON.stringify(bad), 'destination.credentials');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(error?.message).toMatch(
      /destination.credentials are not a service-account key.*GOOGLE_APPLICATION_CREDENTIALS/,
    );
    expect(error?.message).not.toContain('secret');
    expect(() => parseServiceAccount('/nonexistent/key.json', 'destination.credentials')).toThrow(
      /cannot read the service-account file '\/nonexistent\/key.json' \(ENOENT\)/,
    );
    expect(() => parseServiceAccount('{not json', 'BIGQUERY_CREDENTIALS')).toThrow(
      /BIGQUERY_CREDENTIALS are not valid JSON/,
    );
    expect(() => resolveBigQuerySettings({}, {})).toThrow(
      /set destination.projectId \(or BIGQUERY_PROJECT\)/,
    );
  });
});
