import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { csvWriter, jsonlWriter } from './writers.ts';

const dir = await mkdtemp(path.join(tmpdir(), 'ferry-writers-'));
afterAll(() => rm(dir, { recursive: true, force: true }));
const columns = [
  { name: 'id', dataType: 'bigint' as const, nullable: false },
  { name: 'name', dataType: 'text' as const, nullable: true },
  { name: 'at', dataType: 'timestamp' as const, nullable: true },
  { name: 'payload', dataType: 'json' as const, nullable: true },
];

describe('loader file writers', () => {
  it('csv: NULL is empty, the empty string is "", quotes/newlines quoted, bigint exact, json as text', async () => {
    const file = path.join(dir, 'a.csv');
    const w = await csvWriter(file, columns);
    await w.write([12345678901234567890n, 'say "hi",\nbye', '2024-01-01T00:00:00.000001Z', { a: [1, 2n] }]);
    await w.write([1, '', null, null]);
    await w.close();
    expect(await readFile(file, 'utf8')).toBe(
      'id,name,at,payload\n12345678901234567890,"say ""hi"",\nbye",2024-01-01T00:00:00.000001Z,"{""a"":[1,2]}"\n1,"",,\n',
    );
  });

  it('jsonl: one object per row, nulls omitted, bigint exact', async () => {
    const file = path.join(dir, 'a.jsonl');
    const w = await jsonlWriter(file, columns);
    await w.write([12345678901234567890n, 'x', null, { a: 1 }]);
    await w.close();
    expect(await readFile(file, 'utf8')).toBe('{"id":12345678901234567890,"name":"x","payload":{"a":1}}\n');
  });
});
