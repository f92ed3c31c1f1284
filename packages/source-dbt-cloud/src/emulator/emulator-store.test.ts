import { describe, expect, it } from 'vitest';
import { splitList } from './emulator-params.ts';
import { EmulatorStore } from './emulator-store.ts';
import { buildRunResults } from './emulator-artifacts.ts';

describe('emulator fixtures', () => {
  it('are identical for a seed and size, and differ across seeds', () => {
    const a = new EmulatorStore({ seed: 4, runs: 50 });
    const b = new EmulatorStore({ seed: 4, runs: 50 });
    const c = new EmulatorStore({ seed: 5, runs: 50 });
    const dump = (s: EmulatorStore) =>
      JSON.stringify(
        s.runs
          .map((r) => s.renderRun(r, new Set(['trigger', 'run_steps', 'job']), 'h'))
          .map((r) => ({
            ...r,
            duration: null,
            queued_duration: null,
            run_duration: null,
            duration_humanized: null,
            queued_duration_humanized: null,
            run_duration_humanized: null,
            run_steps: (r['run_steps'] as unknown[]).length,
          })),
      );
    expect(dump(a)).toBe(dump(b));
    expect(dump(a)).not.toBe(dump(c));
    expect(JSON.stringify(buildRunResults(a, a.runs[0]!))).toBe(
      JSON.stringify(buildRunResults(b, b.runs[0]!)),
    );
    expect(a.runs.every((r) => String(r.id).length === 14)).toBe(true);
  });

  it('mixes the production datetime forms', () => {
    const s = new EmulatorStore({ seed: 1, runs: 20 });
    const run = s.renderRun(s.runs[1]!, new Set(['job']), 'h');
    expect(run['created_at']).toMatch(/^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{6})?\+00:00$/);
    expect((run['job'] as Record<string, unknown>)['created_at']).toMatch(/T.*Z$/);
    expect(s.renderJob(s.jobs[0]!)['created_at']).toMatch(/T.*\+00:00$/);
    expect(s.renderRun(s.runs[0]!, new Set(), 'h')['created_at']).toMatch(/:\d{2}\+00:00$/); // no fraction
  });

  it('parses list parameters in every observed syntax', () => {
    expect(splitList('[1, 2, 3]')).toEqual(['1', '2', '3']);
    expect(splitList('["a","b"]')).toEqual(['a', 'b']);
    expect(splitList("['run_steps','debug_logs']")).toEqual(['run_steps', 'debug_logs']);
    expect(splitList('[environment]')).toEqual(['environment']);
    expect(splitList('trigger,job')).toEqual(['trigger', 'job']);
  });
});
