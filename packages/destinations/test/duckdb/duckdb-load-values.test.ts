import { mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pipeline, resource, source, type Destination, type FileFormat } from '@ferry/core';
import { duckdb } from '@ferry/destinations/duckdb';

const dir = await mkdtemp(path.join(tmpdir(), 'ferry-duckdb-values-'));
afterAll(() => rm(dir, { recursive: true, force: true }));

/** DuckDB, loading loader files of the given format (core writes JSONL and CSV). */
function duckdbWith(format: FileFormat, file: string): Destination {
  const base = duckdb({ path: file });
  return { ...base, capabilities: { ...base.capabilities, preferredFileFormat: format } };
}

const TRICKY_TEXT = [
  'a,"b" c',
  '',
  'line1\nline2\r\nline3\r',
  'back\\slash \\N \\"',
  'é ü 🦆 ✓ 中文',
  '#not a comment',
  'NULL',
  ' padded ',
  '"',
  '""',
  ',',
  // Longer than DuckDB's default 2 MB line.
  `${'y'.repeat(3_000_000)}\n"end"`,
];

/** Row i of the tricky table: every type, NULLs, values past JS and CSV edge cases. */
function tricky(i: number): Record<string, unknown> {
  const text = i < TRICKY_TEXT.length ? TRICKY_TEXT[i] : i % 7 === 0 ? null : `row ${i}\n"quoted", ${i}`;
  return {
    id: 9007199254740993n + BigInt(i),
    big: i === 0 ? -9223372036854775808n : i === 1 ? 9223372036854775807n : i % 5 === 0 ? null : i,
    at: i % 9 === 0 ? null : `2023-05-27 21:05:16.${String(100000 + i).padStart(6, '0')}+05:30`,
    day: i % 4 === 0 ? null : '2024-02-29',
    amount: i % 3 === 0 ? null : `12345678901234567890.${String(i).padStart(9, '0')}`,
    ratio: i === 0 ? 5e-324 : i === 1 ? 1e21 : i % 6 === 0 ? null : i / 10,
    flag: i % 8 === 0 ? null : i % 2 === 0,
    text,
    payload:
      i === 0 ? { big: 12345678901234567890n, s: 'x\n"y"\\', u: '🦆' } : i % 2 ? [i, { k: 'v' }] : null,
    // A column only the later rows have: the loader files change layout mid-table.
    ...(i >= 3 ? { late: `late ${i}` } : {}),
  };
}

function expected(i: number): Record<string, unknown> {
  const r = tricky(i);
  const at = r.at as string | null;
  return {
    id: String(r.id),
    big: r.big === null ? null : String(r.big),
    at:
      at === null
        ? null
        : new Date(`${at.slice(0, 10)}T${at.slice(11, 19)}+05:30`).toISOString().slice(0, 19) +
          `.${at.slice(20, 26)}Z`,
    day: r.day,
    amount: r.amount,
    ratio: r.ratio,
    flag: r.flag,
    text: r.text,
    payload:
      i === 0
        ? '{"big":12345678901234567890,"s":"x\\n\\"y\\"\\\\","u":"🦆"}'
        : i % 2
          ? `[${i},{"k":"v"}]`
          : null,
    late: r.late ?? null,
  };
}

describe.each(['jsonl', 'csv'] as const)('duckdb loads %s loader files exactly', (format) => {
  it('every value round-trips: bigints, microseconds, json, decimals, quotes, newlines, unicode, "" vs NULL', async () => {
    // Enough rows for DuckDB to split the file between threads (quoted newlines across its chunks).
    const n = 60_000;
    const p = pipeline({
      name: `values_${format}`,
      dataset: 'v',
      destination: duckdbWith(format, path.join(dir, `${format}.duckdb`)),
      dataDir: path.join(dir, `data-${format}`),
    });
    const items = resource(
      {
        name: 'items',
        columns: {
          payload: { dataType: 'json' },
          amount: { dataType: 'decimal', precision: 38, scale: 9 },
          day: { dataType: 'date' },
        },
      },
      function* () {
        for (let i = 0; i < n; i += 5000)
          yield Array.from({ length: Math.min(5000, n - i) }, (_, k) => tricky(i + k));
      },
    );
    await p.extract(source({ name: 'src', resources: [items] }));
    await p.normalize();
    const pkg = (await readdir(path.join(dir, `data-${format}`, `values_${format}`, 'normalized')))[0]!;
    const files = await readdir(
      path.join(dir, `data-${format}`, `values_${format}`, 'normalized', pkg, 'new_jobs'),
    );
    // The layout change leaves more than one file for the table: they load together.
    expect(files.filter((f) => f.startsWith('items.') && f.endsWith(`.${format}`)).length).toBeGreaterThan(1);
    const info = await p.load();
    expect(info.rowCounts).toEqual({ items: n });
    await p.close();

    const ds = p.dataset();
    try {
      const rows = await ds.sql(
        `SELECT CAST(id AS VARCHAR) AS id, CAST(big AS VARCHAR) AS big,
                strftime("at", '%Y-%m-%dT%H:%M:%S.%fZ') AS "at", CAST(day AS VARCHAR) AS day,
                CAST(amount AS VARCHAR) AS amount, ratio, flag, "text", CAST(payload AS VARCHAR) AS payload, late
         FROM v.items ORDER BY id`,
      );
      expect(rows.length).toBe(n);
      for (let i = 0; i < n; i++) {
        const row = { ...rows[i] };
        expect(row, `row ${i}`).toEqual(expected(i));
      }
      const [types] = await ds.sql(
        `SELECT typeof(id) AS id, typeof("at") AS "at", typeof(payload) AS payload, typeof(amount) AS amount
         FROM v.items LIMIT 1`,
      );
      expect(types).toEqual({
        id: 'BIGINT',
        at: 'TIMESTAMP WITH TIME ZONE',
        payload: 'JSON',
        amount: 'DECIMAL(38,9)',
      });
    } finally {
      await ds.close();
    }
  }, 120_000);
});
