import { describe, expect, it } from 'vitest';
import { parseRetryAfter, retryDelayMs } from './dbt-cloud-backoff.ts';

describe('Retry-After and backoff', () => {
  it('parses seconds and HTTP dates; zero, negative, junk and missing mean "no hint"', () => {
    expect(parseRetryAfter('2')).toBe(2000);
    expect(parseRetryAfter('0.25')).toBe(250);
    expect(parseRetryAfter('0')).toBeUndefined();
    expect(parseRetryAfter('-3')).toBeUndefined();
    expect(parseRetryAfter('soon')).toBeUndefined();
    expect(parseRetryAfter(null)).toBeUndefined();
    expect(parseRetryAfter('')).toBeUndefined();
    const now = Date.UTC(2026, 10, 23, 12, 0, 0);
    expect(parseRetryAfter('Mon, 23 Nov 2026 12:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Mon, 23 Nov 2026 11:00:00 GMT', now)).toBeUndefined();
  });

  it('uses the hint (capped), else exponential backoff with equal jitter (capped)', () => {
    const o = { baseDelayMs: 100, maxDelayMs: 1_000 };
    expect(retryDelayMs(1, 500, o)).toBe(500);
    expect(retryDelayMs(1, 60_000, o)).toBe(1_000);
    expect(retryDelayMs(1, undefined, o, () => 0)).toBe(50);
    expect(retryDelayMs(1, undefined, o, () => 1)).toBe(100);
    expect(retryDelayMs(3, undefined, o, () => 1)).toBe(400);
    expect(retryDelayMs(10, undefined, o, () => 1)).toBe(1_000);
    expect(retryDelayMs(10, undefined, o, () => 0)).toBe(500);
  });
});
