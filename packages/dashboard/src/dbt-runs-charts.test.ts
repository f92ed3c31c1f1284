import { describe, expect, it } from 'vitest';
import { dayRange, durationsPerJob, percentile, runsPerDay } from './dbt-runs-charts.ts';

describe('percentile', () => {
  it('interpolates between closest ranks like percentile_cont', () => {
    expect(percentile([], 0.5)).toBeNull();
    expect(percentile([7], 0.95)).toBe(7);
    expect(percentile([1, 2, 3, 4], 0.5)).toBe(2.5);
    expect(percentile([10, 1, 5], 0.5)).toBe(5);
    expect(percentile([0, 10], 0.95)).toBeCloseTo(9.5);
    expect(
      percentile(
        Array.from({ length: 101 }, (_, i) => i),
        0.95,
      ),
    ).toBe(95);
  });
});

describe('dayRange', () => {
  it('lists every day, across month ends', () => {
    expect(dayRange('2026-02-27', '2026-03-02')).toEqual([
      '2026-02-27',
      '2026-02-28',
      '2026-03-01',
      '2026-03-02',
    ]);
    expect(dayRange('2026-01-01', '2026-01-01')).toEqual(['2026-01-01']);
  });
});

describe('runsPerDay', () => {
  it('stacks statuses per day, fills missing days with zero, merges in-progress codes', () => {
    const out = runsPerDay([
      { day: new Date('2026-08-01T00:00:00Z'), status: 10, n: 3n },
      { day: '2026-08-01', status: 20, n: 1 },
      { day: '2026-08-03', status: 10, n: 2 },
      { day: '2026-08-03', status: 1, n: 1 },
      { day: '2026-08-03', status: 3, n: 2 },
      { day: null, status: 10, n: 9 },
    ]);
    expect(out.days).toEqual(['2026-08-01', '2026-08-02', '2026-08-03']);
    expect(out.series).toEqual([
      { status: 'Success', counts: [3, 0, 2] },
      { status: 'Error', counts: [1, 0, 0] },
      { status: 'In progress', counts: [0, 0, 3] },
    ]);
  });
});

describe('durationsPerJob', () => {
  it('computes p50/p95 of finished − started per job per finish day, names from the jobs table', () => {
    const at = (s: string) => new Date(`2026-08-01T${s}Z`);
    const rows = [
      { job_id: 1, created_at: at('00:00:00'), started_at: at('00:00:10'), finished_at: at('00:01:10') }, // 60 s
      { job_id: 1, created_at: at('01:00:00'), started_at: at('01:00:00'), finished_at: at('01:02:00') }, // 120 s
      { job_id: 1, created_at: at('02:00:00'), started_at: null, finished_at: at('02:00:30') }, // never started: 30 s from created
      {
        job_id: 2n,
        created_at: at('03:00:00'),
        started_at: at('03:00:00'),
        finished_at: '2026-08-02 03:00:05',
      },
      { job_id: 2n, created_at: at('03:00:00'), started_at: at('03:00:00'), finished_at: null },
    ];
    const out = durationsPerJob(rows, new Map([['1', '<b>nightly</b>']]));
    expect(out.days).toEqual(['2026-08-01', '2026-08-02']);
    expect(out.jobs).toEqual([
      { jobId: '1', name: '<b>nightly</b>', runs: 3, p50: [60, null], p95: [114, null] },
      { jobId: '2', name: 'job 2', runs: 1, p50: [null, 86405], p95: [null, 86405] },
    ]);
  });

  it('tells jobs with the same name apart', () => {
    const r = (job: number) => ({
      job_id: job,
      created_at: null,
      started_at: '2026-08-01T00:00:00Z',
      finished_at: '2026-08-01T00:00:01Z',
    });
    const out = durationsPerJob(
      [r(1), r(2)],
      new Map([
        ['1', 'Nightly'],
        ['2', 'Nightly'],
      ]),
    );
    expect(out.jobs.map((j) => j.name).sort()).toEqual(['Nightly (1)', 'Nightly (2)']);
  });
});
