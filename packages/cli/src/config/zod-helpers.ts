import { z } from 'zod';
import { DURATION_PATTERN } from './duration.ts';

/**
 * An integer written as a number or as digits (a `${VAR}` always interpolates to text). Ids past 2^53
 * stay exact because they are kept as text and converted with {@link toId}.
 */
export const intLike = z.union([
  z.number().int().nonnegative(),
  z.string().regex(/^\d+$/, 'expected an integer'),
]);

/** `true`/`false` as a boolean or as text (for values from the environment). */
export const boolLike = z.union([z.boolean(), z.enum(['true', 'false'])]);

/** A duration: `30m`, `1h30m`, `45s`, `500ms`, or a number of seconds. */
export const durationLike = z.union([
  z.number().nonnegative(),
  z.string().regex(DURATION_PATTERN, "expected a duration like '30m', '90s' or '1h30m'"),
  z.string().regex(/^\d+(?:\.\d+)?$/),
]);

/** A non-empty string. */
export const nonEmpty = z.string().min(1, 'must not be empty');

/** An integer-like value as a number when it is a safe integer, else as its exact digit string. */
export function toId(value: string | number): number | string {
  const n = typeof value === 'number' ? value : Number(value);
  return Number.isSafeInteger(n) ? n : String(value);
}

/** An integer-like value as a number (ports, limits, counts: always small). */
export function toInt(value: string | number): number {
  return typeof value === 'number' ? value : Number(value);
}

/** A boolean-like value as a boolean. */
export function toBool(value: boolean | 'true' | 'false'): boolean {
  return value === true || value === 'true';
}

/** Drop keys whose value is undefined (`exactOptionalPropertyTypes`-friendly objects, cleaner logs). */
export function defined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
