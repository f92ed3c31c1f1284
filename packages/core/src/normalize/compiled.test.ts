/**
 * The generated fast path against the generic normalizer: the same records through a normalizer with code
 * generation and one without must give the same rows (keys in the same order, same values, same tables,
 * in the same emit order), the same outcome per record (kept, discarded, or the same error) and the same
 * schema after every record. The records are generated from a seed: nested objects and lists, lists of
 * scalars and of lists, nulls and missing keys, type changes, new keys mid-stream, keys out of order,
 * every dbt Cloud datetime form, `__proto__`/`constructor`/`toString` keys, contracts, hints, limits.
 */
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { NamingConvention } from '../schema/naming.ts';
import { Schema } from '../schema/schema.ts';
import type { SchemaContract, StoredSchema, TableSchema } from '../schema/types.ts';
import { NO_LIMITS, type NormalizeLimits } from './limits.ts';
import { deepDiff } from '../../test/deep-diff.ts';
import { RowNormalizer, type CodegenStats, type ResourceTableInfo } from './relational.ts';

/** mulberry32: a small seeded PRNG, so every run sees the same records. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function info(overrides: Partial<ResourceTableInfo> = {}): ResourceTableInfo {
  return {
    resource: 'runs',
    table: 'runs',
    writeDisposition: 'append',
    primaryKey: [],
    mergeKey: [],
    columns: {},
    maxTableNesting: 1000,
    ...overrides,
  };
}

/** One record's outcome, comparable across the two normalizers. */
interface Outcome {
  kept?: boolean;
  error?: string;
  rows: { table: string; keys: string[]; row: Record<string, unknown>; plain: boolean }[];
  changeCount: number;
}

interface Side {
  outcomes: Outcome[];
  schema: Schema;
  stats: CodegenStats;
}

function normalizeAll(
  codegen: boolean,
  records: readonly Record<string, unknown>[],
  opts: {
    info: ResourceTableInfo;
    stored?: StoredSchema;
    limits?: NormalizeLimits;
    widen?: boolean;
    /** A second resource interleaved with the first (every third record). */
    other?: ResourceTableInfo;
  },
): Side {
  const schema = new Schema('src', opts.stored);
  const naming = new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' });
  const normalizer = new RowNormalizer(schema, naming, {
    loadId: '1763900000.000001',
    codegen,
    widen: opts.widen ?? true,
    limits: opts.limits ?? NO_LIMITS,
  });
  const outcomes: Outcome[] = [];
  records.forEach((record, i) => {
    const rows: Outcome['rows'] = [];
    const emit = (table: TableSchema, row: Record<string, unknown>): void => {
      // The emitted table is the live one of this normalizer's schema.
      expect(schema.tables.get(table.name)).toBe(table);
      rows.push({
        table: table.name,
        keys: Object.keys(row),
        row,
        plain: Object.getPrototypeOf(row) === Object.prototype,
      });
    };
    const which = opts.other !== undefined && i % 3 === 2 ? opts.other : opts.info;
    const outcome: Outcome = { rows, changeCount: 0 };
    try {
      outcome.kept = normalizer.normalize(which, record, `r${i}`, emit);
    } catch (error) {
      outcome.error = `${(error as Error).name}: ${(error as Error).message}`;
      // A record that failed emits nothing that counts.
      rows.length = 0;
    }
    outcome.changeCount = schema.changeCount;
    outcomes.push(outcome);
  });
  return { outcomes, schema, stats: normalizer.codegenStats };
}

/** Runs both normalizers and asserts they agree on everything; returns the generated side's stats. */
function expectSame(
  records: readonly Record<string, unknown>[],
  opts: Parameters<typeof normalizeAll>[2],
): { generic: Side; compiled: Side } {
  const generic = normalizeAll(false, records, opts);
  const compiled = normalizeAll(true, records, opts);
  expect(generic.stats.hits).toBe(0);
  if (process.env.SHOW_STATS) console.log(JSON.stringify(compiled.stats));
  for (let i = 0; i < records.length; i++) {
    // Per record, naming it, so a failure shows the first record that differs and how.
    const diff = deepDiff(compiled.outcomes[i], generic.outcomes[i], `record ${i}`);
    expect(diff, JSON.stringify(records[i], bigintText)).toEqual([]);
  }
  // Own keys in order, prototypes, and values by Object.is. (Not toStrictEqual: vitest compares the
  // `constructor` property of two objects as their class, and a column may be named `constructor`.)
  expect(deepDiff(compiled.schema.toStored(), generic.schema.toStored(), 'schema')).toEqual([]);
  return { generic, compiled };
}

const bigintText = (_k: string, v: unknown): unknown => (typeof v === 'bigint' ? `${v}n` : v);

/** The four datetime forms of the dbt Cloud API, plus other forms a source may send. */
function timestamp(rnd: () => number, form: number): unknown {
  const ms = Date.UTC(2024, 0, 1) + Math.floor(rnd() * 3e10);
  const iso = new Date(ms).toISOString(); // 2024-03-04T05:06:07.890Z
  const date = iso.slice(0, 10);
  const time = iso.slice(11, 19);
  const micros = String(Math.floor(rnd() * 1e6)).padStart(6, '0');
  switch (form) {
    case 0:
      return `${date} ${time}.${micros}+00:00`;
    case 1:
      return `${date}T${time}.${micros}+00:00`;
    case 2:
      return `${date}T${time}.${micros}Z`;
    case 3:
      return `${date} ${time}+00:00`;
    case 4:
      return `${date}T${time}+05:30`;
    case 5:
      return new Date(ms);
    case 6:
      return date;
    default:
      return `${date}T${time}.${micros}000Z`; // nine fraction digits
  }
}

/** Keys that must be data like any other (issue 15, item 7). */
const HOSTILE_KEYS = [
  '__proto__',
  'constructor',
  'toString',
  'hasOwnProperty',
  'valueOf',
  '__defineGetter__',
];

/** A record as JSON.parse makes it (own `__proto__` data properties), from plain JS values. */
function viaJson(value: unknown): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

/**
 * Generated dbt-Cloud-run-like records. Mostly one shape (so the fast path engages), with every kind of
 * deviation at a few percent, new keys from `newKeysAt` on, and type changes of one field mid-stream.
 */
function generate(n: number, seed: number, newKeysAt = Math.floor(n / 2)): Record<string, unknown>[] {
  const rnd = prng(seed);
  const maybe = (p: number, v: () => unknown): unknown => (rnd() < p ? null : v());
  const out: Record<string, unknown>[] = [];
  for (let i = 0; i < n; i++) {
    const r: Record<string, unknown> = {
      id: 70403104190000 + i,
      account_id: 70403103999999,
      status: rnd() < 0.9 ? 10 : 20,
      in_progress: rnd() < 0.05,
      created_at: timestamp(rnd, i % 4),
      finished_at: maybe(0.1, () => timestamp(rnd, (i + 1) % 4)),
      duration: rnd() < 0.95 ? Math.round(rnd() * 6000) / 10 : Math.round(rnd() * 100),
      git_sha: maybe(0.3, () => (i * 2654435761).toString(16)),
      trigger: maybe(0.05, () => ({
        id: 900000000 + i,
        cause: rnd() < 0.5 ? 'Scheduled' : 'Triggered via API',
        schema_override: null,
        deep: { a: { b: { c: i % 7 } } },
      })),
      run_steps: maybe(0.05, () =>
        Array.from({ length: Math.floor(rnd() * 4) }, (_, k) => ({
          index: k + 1,
          name: rnd() < 0.02 ? null : `dbt step ${k}`,
          status: 10,
          logs: Array.from({ length: Math.floor(rnd() * 3) }, (_, m) => ({ line: m, text: `l${m}` })),
          tags: rnd() < 0.5 ? ['a', 'b'] : [],
        })),
      ),
      matrix: rnd() < 0.9 ? [[1, 2], [3]] : [],
      labels: rnd() < 0.8 ? ['x', 'y', null] : null,
      meta: {},
    };
    // Deviations, each a few percent of the records.
    const d = rnd();
    if (d < 0.02)
      r.status = 'ten'; // a value its column cannot hold → variant column
    else if (d < 0.04)
      r.duration = `${r.duration as number}`; // numeric text into a double: coerced
    else if (d < 0.05) r.in_progress = 'TRUE';
    else if (d < 0.06)
      r.id = BigInt(r.id as number) * 1000n; // past 2^53
    else if (d < 0.07) r.created_at = timestamp(rnd, 4 + Math.floor(rnd() * 4));
    else if (d < 0.08)
      r.trigger = 'manual'; // a scalar where an object was
    else if (d < 0.09)
      r.run_steps = { index: 1 }; // an object where a list was
    else if (d < 0.1)
      r.meta = { added: true }; // a key inside an object that was always empty
    else if (d < 0.11) r.matrix = [['deep', ['deeper']], 5];
    else if (d < 0.12) r.labels = [1, 'two', { three: 3 }, [4]];
    else if (d < 0.13) r[HOSTILE_KEYS[Math.floor(rnd() * HOSTILE_KEYS.length)]!] = { nested: i, s: 'v' };
    else if (d < 0.14) {
      // the same keys in another order
      const keys = Object.keys(r).reverse();
      const copy: Record<string, unknown> = {};
      for (const k of keys) copy[k] = r[k];
      out.push(copy);
      continue;
    } else if (d < 0.15) r.extra_undefined = undefined;
    if (i >= newKeysAt) {
      r.new_text = `n${i}`;
      if (i % 5 === 0) r.new_sometimes = { x: i };
    }
    if (i >= newKeysAt + 50) r.duration = i % 2 === 0 ? 'slow' : 1.5; // a type change that sticks
    if (i % 17 === 0) {
      // hostile keys at the top, nested, and in list items, through JSON.parse as a source yields them
      out.push(
        viaJson({
          ...r,
          created_at: String(r.created_at),
          id: Number(r.id),
          ['__proto__']: { polluted: true },
          constructor: 'c',
          trigger: { ...(r.trigger as object), ['__proto__']: 1, toString: 'ts' },
          run_steps: [{ constructor: { name: 'x' }, ['__proto__']: [1, 2] }],
        }),
      );
      continue;
    }
    out.push(r);
  }
  return out;
}

/** The same shape every time (no deviations): the fast path must take nearly all of it. */
function steady(n: number): Record<string, unknown>[] {
  return Array.from({ length: n }, (_, i) => ({
    id: i,
    name: `n${i}`,
    at: `2024-01-0${(i % 9) + 1} 10:00:00.123456+00:00`,
    ok: i % 2 === 0,
    score: i / 3,
    nested: { a: i, b: { c: `c${i}` } },
    items: [
      { k: 1, sub: [{ z: 'a' }] },
      { k: 2, sub: [] },
    ],
    tags: ['a', 'b'],
    nothing: null,
  }));
}

describe('compiled normalizer: same output as the generic one', () => {
  it('a steady stream: identical rows, and the generated function takes nearly every record', () => {
    const { compiled } = expectSame(steady(2000), { info: info() });
    expect(compiled.stats.compiles).toBe(1);
    expect(compiled.stats.hits).toBeGreaterThan(1980);
    expect(compiled.stats.misses).toBe(0);
  });

  for (const seed of [1, 2, 3]) {
    it(`generated records (seed ${seed}): nested lists, nulls, type changes, new keys mid-stream, hostile keys`, () => {
      const { compiled } = expectSame(generate(2000, seed), { info: info() });
      // The fast path took most records, and the schema changes sent it back to the generic path.
      expect(compiled.stats.hits).toBeGreaterThan(700);
      expect(compiled.stats.compiles).toBeGreaterThan(1);
      expect(compiled.stats.misses).toBeGreaterThan(0);
    });
  }

  it('wide records (300 fields, dispatched in chunks): lists and objects past field 128, deviations', () => {
    const rnd = prng(21);
    const records = Array.from({ length: 800 }, (_, i) => {
      const r: Record<string, unknown> = {};
      for (let k = 0; k < 300; k++) {
        const t = k % 6;
        r[`f${k}`] =
          rnd() < 0.1
            ? null
            : t === 0
              ? `t${k}`
              : t === 1
                ? i * k
                : t === 2
                  ? i / 3
                  : t === 3
                    ? i % 2 === 0
                    : t === 4
                      ? timestamp(rnd, k % 4)
                      : k % 120 === 11
                        ? [{ k, sub: [k] }]
                        : `u${i}`;
      }
      r.f200 = { a: i, b: { c: `x${i}` } };
      if (rnd() < 0.05) r[rnd() < 0.5 ? 'f1' : 'f133'] = 'different'; // variants past the first chunk too
      if (i > 400 && rnd() < 0.02) r[`late${i % 3}`] = i;
      return r;
    });
    const { compiled } = expectSame(records, { info: info() });
    expect(compiled.stats.hits).toBeGreaterThan(500);
  });

  it('`__proto__`, `constructor` and `toString` keys are columns like any other, on both paths', () => {
    const records = Array.from({ length: 40 }, (_, i) =>
      viaJson({
        ['__proto__']: { a: i },
        constructor: `c${i}`,
        toString: i,
        list: [{ ['__proto__']: i, valueOf: 'v' }],
      }),
    );
    const { compiled } = expectSame(records, { info: info() });
    expect(compiled.stats.hits).toBeGreaterThan(20);
    const row = compiled.outcomes[39]!.rows[0]!.row;
    expect(row).toMatchObject({ _protoxx__a: 39, constructor: 'c39', to_string: 39 });
    expect(Object.getPrototypeOf(row)).toBe(Object.prototype);
    expect(compiled.outcomes[39]!.rows[1]!.row).toMatchObject({ _protoxx: 39, value_of: 'v' });
  });

  it('merge tables: child rows carry the root id; a record without its primary key fails the same way', () => {
    const records = generate(1500, 7).map((r, i) => (i % 97 === 50 ? { ...r, id: null } : r));
    const { compiled } = expectSame(records, {
      info: info({ writeDisposition: 'merge', primaryKey: ['id'], mergeKey: ['account_id'] }),
    });
    expect(compiled.stats.hits).toBeGreaterThan(500);
    expect(compiled.outcomes.some((o) => o.error?.includes("no value for primary key 'id'"))).toBe(true);
    const child = compiled.outcomes.find((o) => o.rows.length > 1)!.rows[1]!;
    expect(child.keys).toContain('_ferry_root_id');
  });

  it('hints (json, forced text) and a nesting limit', () => {
    const { compiled } = expectSame(generate(1500, 8), {
      info: info({
        maxTableNesting: 2,
        columns: {
          trigger: { dataType: 'json' },
          status: { dataType: 'text' },
          git_sha: { dataType: 'text' },
        },
      }),
    });
    expect(compiled.stats.hits).toBeGreaterThan(500);
    expect(compiled.schema.table('runs')?.columns.trigger?.dataType).toBe('json');
  });

  it('no widening (variants instead), and two resources interleaved', () => {
    const other = info({ resource: 'jobs', table: 'jobs' });
    const { compiled } = expectSame(generate(1500, 9), { info: info(), widen: false, other });
    expect(compiled.stats.hits).toBeGreaterThan(300);
    expect(compiled.schema.table('jobs')).toBeDefined();
  });

  for (const mode of ['freeze', 'discard_row', 'discard_value'] as const) {
    it(`a stored schema under contract '${mode}': refusals and discards are the generic path's`, () => {
      // The first records settle the tables; then the contract applies to everything new.
      const first = normalizeAll(false, generate(300, 10, 10_000), { info: info() });
      const stored = first.schema.toStored();
      const contract: SchemaContract = { columns: mode, data_type: mode, tables: mode };
      const { compiled } = expectSame(generate(1500, 11, 200), {
        info: info({ schemaContract: contract }),
        stored,
      });
      // Records up to 200 fit the stored schema (most take the fast path); later ones have a new key.
      expect(compiled.stats.hits).toBeGreaterThan(150);
      const outcomes = compiled.outcomes;
      if (mode === 'freeze') expect(outcomes.some((o) => o.error?.includes("'freeze'"))).toBe(true);
      if (mode === 'discard_row') expect(outcomes.some((o) => o.kept === false)).toBe(true);
    });
  }

  it('destination limits: columns past the limit go to the overflow column on both paths', () => {
    const limits: NormalizeLimits = { ...NO_LIMITS, destination: 'tiny', maxColumnsPerTable: 20 };
    const { compiled } = expectSame(generate(1500, 12, 300), { info: info(), limits });
    expect(compiled.schema.table('runs')?.columns._ferry_overflow?.dataType).toBe('json');
    expect(compiled.stats.hits).toBeGreaterThan(0);
  });

  it('codegen: false never generates code', () => {
    const side = normalizeAll(false, steady(100), { info: info() });
    expect(side.stats).toEqual({ enabled: false, compiles: 0, hits: 0, misses: 0, generic: 0 });
  });

  it('where `new Function` is forbidden, the normalizer stays on the generic path and gives the same rows', () => {
    const script = `
      import { NamingConvention, RowNormalizer, Schema } from ${JSON.stringify(path.resolve(import.meta.dirname, '../index.ts'))};
      const n = new RowNormalizer(new Schema('s'), new NamingConvention({ maxIdentifierLength: 63, identifierCase: 'lower' }), { loadId: 'L', codegen: true });
      const info = { resource: 'r', table: 'r', writeDisposition: 'append', primaryKey: [], mergeKey: [], columns: {}, maxTableNesting: 1000 };
      let rows = 0;
      for (let i = 0; i < 100; i++) n.normalize(info, { id: i, l: [i] }, 'r' + i, () => rows++);
      console.log(JSON.stringify({ rows, stats: n.codegenStats }));
    `;
    const out = spawnSync(
      process.execPath,
      [
        '--disallow-code-generation-from-strings',
        '--conditions=@ferry/source',
        '--input-type=module',
        '-e',
        script,
      ],
      { encoding: 'utf8' },
    );
    expect(out.stderr).toBe('');
    const result = JSON.parse(out.stdout) as { rows: number; stats: CodegenStats };
    expect(result.rows).toBe(200);
    expect(result.stats.enabled).toBe(false);
    expect(result.stats.hits).toBe(0);
  });
});
