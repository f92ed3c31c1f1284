import { describe, expect, it } from 'vitest';
import { DataError } from '../errors.ts';
import { IncrementalTracker } from './incremental.ts';

const rows = (values: unknown[]) => values.map((v, i) => ({ id: i, at: v }));

describe('IncrementalTracker', () => {
  it('first run: keeps everything, remembers the max and the keys at the max', () => {
    const t = new IncrementalTracker('r', { cursorPath: 'at' }, undefined, ['id']);
    const verdicts = rows([
      '2024-01-01 00:00:00+00:00',
      '2024-01-02T00:00:00Z',
      '2024-01-02T00:00:00.000000+00:00',
    ]).map((r) => t.process(r));
    expect(verdicts).toEqual(['keep', 'keep', 'keep']);
    const state = t.newState()!;
    expect(state.lastValue).toBe('2024-01-02T00:00:00Z');
    expect(state.boundaryHashes).toHaveLength(2); // two rows share the max (different forms, same instant)
  });

  it('next run: skips rows below the last value and boundary rows already seen', () => {
    const first = new IncrementalTracker('r', { cursorPath: 'at' }, undefined, ['id']);
    for (const r of [
      { id: 1, at: 5 },
      { id: 2, at: 7 },
    ])
      first.process(r);
    const t = new IncrementalTracker('r', { cursorPath: 'at' }, first.newState(), ['id']);
    expect(t.cursor.startValue).toBe(7);
    expect(
      [
        { id: 1, at: 5 },
        { id: 2, at: 7 },
        { id: 3, at: 7 },
        { id: 4, at: 9 },
      ].map((r) => t.process(r)),
    ).toEqual(['skip', 'skip', 'keep', 'keep']);
    expect(t.newState()).toMatchObject({ lastValue: 9 });
  });

  it('lookback re-reads a margin (timestamps in milliseconds) and turns boundary dedup off', () => {
    const t = new IncrementalTracker(
      'r',
      { cursorPath: 'at', lookback: 60_000 },
      { lastValue: '2024-01-01T00:10:00.123456Z', boundaryHashes: ['x'] },
      [],
    );
    expect(t.cursor.startValue).toBe('2024-01-01T00:09:00.123456Z');
    expect(t.process({ at: '2024-01-01 00:09:30+00:00' })).toBe('keep');
    expect(t.process({ at: '2024-01-01 00:08:59+00:00' })).toBe('skip');
  });

  it('row order ends the resource early; end value makes a backfill window that stores nothing', () => {
    const asc = new IncrementalTracker(
      'r',
      { cursorPath: 'at', endValue: 10, rowOrder: 'asc' },
      undefined,
      [],
    );
    expect([5, 9, 10].map((v) => asc.process({ at: v }))).toEqual(['keep', 'keep', 'stop']);
    expect(asc.newState()).toBeUndefined();
    const desc = new IncrementalTracker('r', { cursorPath: 'at', rowOrder: 'desc' }, { lastValue: 5 }, []);
    expect([9, 6, 4].map((v) => desc.process({ at: v }))).toEqual(['keep', 'keep', 'stop']);
  });

  it('missing cursor: raise names the resource and item; include/exclude as configured', () => {
    const t = new IncrementalTracker('runs', { cursorPath: 'a.b' }, undefined, []);
    expect(t.process({ a: { b: 1 } })).toBe('keep');
    expect(() => t.process({ a: {} })).toThrow(DataError);
    expect(() => t.process({})).toThrow(/resource 'runs': item 2 has no value at cursor path 'a.b'/);
    expect(
      new IncrementalTracker(
        'r',
        { cursorPath: 'x', onCursorValueMissing: 'include' },
        undefined,
        [],
      ).process({}),
    ).toBe('keep');
    expect(
      new IncrementalTracker(
        'r',
        { cursorPath: 'x', onCursorValueMissing: 'exclude' },
        undefined,
        [],
      ).process({}),
    ).toBe('skip');
  });

  it('boundary keys are capped so state does not grow with the data', () => {
    const t = new IncrementalTracker('r', { cursorPath: 'at', maxBoundaryKeys: 10 }, undefined, ['id']);
    for (let i = 0; i < 1000; i++) t.process({ id: i, at: 1 });
    const state = t.newState()!;
    expect(state.boundaryHashes).toHaveLength(10);
    expect(state.boundaryOverflow).toBe(true);
  });
});
