import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseManifest } from './manifest.ts';
import { parseRunResults, summarizeRunResults } from './run-results.ts';

// The peer case ships real artifacts and a README table of figures computed with a plain JSON reader.
// The table is the oracle: it is parsed here, not copied, so the test follows the README.
const DIR = join(import.meta.dirname, '../../../../../shared/peer-cases/dbt-artifacts');

interface Expected {
  folder: string;
  results: number;
  byStatus: Record<string, number>;
  sumExecutionTime: number;
  longestId: string;
  longestStatus: string;
  longestSeconds: number;
  models: number;
  tests: number;
  sources: number;
}

function expectedFigures(): Expected[] {
  const readme = readFileSync(join(DIR, 'README.md'), 'utf8');
  const rows = readme.split('\n').filter((l) => l.startsWith('| `dbt-'));
  return rows.map((line) => {
    const cells = line
      .split('|')
      .slice(1, -1)
      .map((c) => c.trim());
    const [folder, , , , results, byStatus, sum, longest, models, tests, sources] = cells;
    const lm = /^`(.+)` \((\w+), ([\d.]+) s\)$/.exec(longest!);
    return {
      folder: folder!.replace(/`/g, ''),
      results: Number(results),
      byStatus: Object.fromEntries(
        byStatus!.split(',').map((p) => {
          const [k, v] = p.trim().split(' ');
          return [k!, Number(v)];
        }),
      ),
      sumExecutionTime: Number(sum),
      longestId: lm![1]!,
      longestStatus: lm![2]!,
      longestSeconds: Number(lm![3]),
      models: Number(models),
      tests: Number(tests),
      sources: Number(sources),
    };
  });
}

describe('artifact parsers on real dbt artifacts', () => {
  const expected = expectedFigures();

  it('reads both peer-case folders from the README', () => {
    expect(expected.map((e) => e.folder).sort()).toEqual(
      readdirSync(DIR)
        .filter((d) => d.startsWith('dbt-'))
        .sort(),
    );
  });

  for (const e of expected) {
    it(`run_results.json of ${e.folder} matches the README figures`, () => {
      const parsed = parseRunResults(
        JSON.parse(readFileSync(join(DIR, e.folder, 'run_results.json'), 'utf8')),
      );
      const s = summarizeRunResults(parsed.rows);
      expect(s.results).toBe(e.results);
      expect(s.byStatus).toEqual(e.byStatus);
      expect(s.totalExecutionTime.toFixed(3)).toBe(e.sumExecutionTime.toFixed(3));
      expect(s.longest?.unique_id).toBe(e.longestId);
      expect(s.longest?.status).toBe(e.longestStatus);
      expect(s.longest?.execution_time?.toFixed(3)).toBe(e.longestSeconds.toFixed(3));
      for (const row of parsed.rows) {
        expect(row.unique_id).toMatch(/^[a-z_]+\./);
        expect(row.thread_id).toMatch(/^Thread-/);
        expect(row.adapter_response).toBeTypeOf('object');
        expect(row.execute_completed_at ?? '').toMatch(/^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z)?$/);
      }
    });

    it(`manifest.json of ${e.folder} matches the README figures`, () => {
      const parsed = parseManifest(JSON.parse(readFileSync(join(DIR, e.folder, 'manifest.json'), 'utf8')));
      expect(parsed.models).toHaveLength(e.models);
      expect(parsed.nodeCounts['test'] ?? 0).toBe(e.tests);
      expect(parsed.sourceCount).toBe(e.sources);
      for (const m of parsed.models) {
        expect(m.unique_id.startsWith('model.')).toBe(true);
        expect(m.materialized).toBeTypeOf('string');
      }
    });
  }

  it('keeps unknown keys and never fails on odd input', () => {
    const parsed = parseRunResults({
      metadata: { invocation_id: 'x', brand_new: 1 },
      results: [
        { unique_id: 'model.p.a', status: 'success', execution_time: 1.5, overload_results: [1], timing: [] },
        'junk',
        null,
      ],
    });
    expect(parsed.rows).toHaveLength(1);
    expect(parsed.rows[0]!.extra).toEqual({ overload_results: [1] });
    expect(parseRunResults(null).rows).toEqual([]);
    expect(
      parseManifest({ nodes: { 'model.p.a': { resource_type: 'model', future_key: { a: 1 } } } }).models[0]!
        .extra,
    ).toEqual({ future_key: { a: 1 } });
  });
});
