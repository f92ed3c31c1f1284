import { describe, expect, it } from 'vitest';
import { formatDuration, parseDuration } from './duration.ts';

describe('parseDuration', () => {
  it('reads units, combinations and plain seconds', () => {
    expect(parseDuration('30m')).toBe(1_800_000);
    expect(parseDuration('1h30m')).toBe(5_400_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('1.5s')).toBe(1_500);
    expect(parseDuration('2d')).toBe(172_800_000);
    expect(parseDuration(90)).toBe(90_000);
    expect(parseDuration('45')).toBe(45_000);
  });
  it('refuses anything else', () => {
    expect(parseDuration('soon')).toBeUndefined();
    expect(parseDuration('10 m')).toBeUndefined();
    expect(parseDuration(-1)).toBeUndefined();
  });
  it('formats for people', () => {
    expect(formatDuration(850)).toBe('850ms');
    expect(formatDuration(12_345)).toBe('12.3s');
    expect(formatDuration(245_000)).toBe('4m05s');
  });
});
