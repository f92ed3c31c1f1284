import { describe, expect, it } from 'vitest';
import { ConfigError } from '@ferry/core';
import { DEFAULT_LAYOUT, FilesystemLayout } from './filesystem-layout.ts';

// 2024-03-25T13:47:05.123456Z as a load id (microseconds since the epoch)
const LOAD_ID = '1711374425123456';
const values = { tableName: 'runs', loadId: LOAD_ID, fileId: '00001', ext: 'parquet', schemaName: 'dbt' };

describe('FilesystemLayout', () => {
  it('renders the default layout', () => {
    expect(new FilesystemLayout().render(values)).toBe(`runs/${LOAD_ID}.00001.parquet`);
    expect(new FilesystemLayout(DEFAULT_LAYOUT).tableFolder('runs')).toBe('runs/');
  });

  it('fills date placeholders from the load id, so a retry renders the same key', () => {
    const layout = new FilesystemLayout(
      '{schema_name}/{table_name}/{YYYY}/{MM}/{DD}/{curr_date}_{timestamp}_{load_id}.{file_id}.{ext}',
    );
    expect(layout.render(values)).toBe(`dbt/runs/2024/03/25/2024-03-25_1711374425_${LOAD_ID}.00001.parquet`);
    expect(layout.render(values)).toBe(layout.render({ ...values }));
    expect(layout.tableFolder('runs')).toBeUndefined();
  });

  it('refuses unknown placeholders, naming them and the known ones', () => {
    expect(() => new FilesystemLayout('{table_name}/{load_id}.{file_id}.{hour}.{ext}')).toThrow(ConfigError);
    expect(() => new FilesystemLayout('{table_name}/{load_id}.{file_id}.{hour}.{ext}')).toThrow(
      /unknown placeholder \{hour\}.*\{table_name\}/,
    );
  });

  it('refuses layouts that would make keys collide or escape the dataset', () => {
    expect(() => new FilesystemLayout('{table_name}/{load_id}.{ext}')).toThrow(/lacks \{file_id\}/);
    expect(() => new FilesystemLayout('data/{file_id}.{ext}')).toThrow(/lacks \{table_name\}, \{load_id\}/);
    expect(() => new FilesystemLayout('../{table_name}/{load_id}.{file_id}.{ext}')).toThrow(/relative path/);
    expect(() => new FilesystemLayout('{table_name}/{load_id}.{file_id}.{ext')).toThrow(/unbalanced brace/);
  });

  it('refuses to write a table into a system folder', () => {
    expect(() => new FilesystemLayout().render({ ...values, tableName: '_ferry_loads' })).toThrow(
      /system folder/,
    );
  });
});
