import { DataError } from '../errors.ts';
import type { IncrementalState } from '../destination/destination.ts';
import { parseTimestamp } from '../schema/infer.ts';
import { shortHash } from '../util/hash.ts';
import { stableStringify } from '../util/json.ts';
import type { DataItem, IncrementalCursor, IncrementalOptions } from './resource.ts';

/** Default cap of remembered boundary keys: the state row must not grow with the data (dlt #2580). */
export const DEFAULT_MAX_BOUNDARY_KEYS = 1000;

/** What to do with one item. */
export type IncrementalVerdict = 'keep' | 'skip' | 'stop';

type Comparable =
  { kind: 'number'; n: number | bigint } | { kind: 'time'; t: string } | { kind: 'text'; s: string };

function toComparable(value: unknown): Comparable | undefined {
  if (value === null || value === undefined) return undefined;
  if (typeof value === 'number' || typeof value === 'bigint') return { kind: 'number', n: value };
  if (value instanceof Date) return { kind: 'time', t: parseTimestamp(value.toISOString())! };
  if (typeof value === 'string') {
    const t = parseTimestamp(value);
    return t === undefined ? { kind: 'text', s: value } : { kind: 'time', t };
  }
  return { kind: 'text', s: String(value) };
}

function compare(a: Comparable, b: Comparable): number {
  if (a.kind === 'number' && b.kind === 'number') return a.n < b.n ? -1 : a.n > b.n ? 1 : 0;
  const x = a.kind === 'time' ? a.t : a.kind === 'text' ? a.s : String(a.n);
  const y = b.kind === 'time' ? b.t : b.kind === 'text' ? b.s : String(b.n);
  return x < y ? -1 : x > y ? 1 : 0;
}

/** Canonical timestamp minus `ms` milliseconds, keeping the microsecond digits. */
function minusMillis(canonical: string, ms: number): string {
  const micros = canonical.slice(20, 26);
  const date = new Date(Date.parse(`${canonical.slice(0, 19)}Z`) + Number(micros.slice(0, 3)) - ms);
  return `${date.toISOString().slice(0, 23)}${micros.slice(3)}Z`;
}

/** Read a dotted path from an item. */
export function readPath(item: DataItem, dotted: string): unknown {
  if (!dotted.includes('.')) return item[dotted];
  let current: unknown = item;
  for (const part of dotted.split('.')) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/**
 * Tracks one resource's incremental cursor during an extract: filters rows below the start (and
 * already-seen boundary rows), stops ordered sources early, and computes the new state.
 */
export class IncrementalTracker {
  /** What the resource function sees. */
  readonly cursor: IncrementalCursor;
  private readonly options: IncrementalOptions;
  private readonly resource: string;
  private readonly keyFields: string[];
  private readonly start: Comparable | undefined;
  private readonly end: Comparable | undefined;
  private readonly last: Comparable | undefined;
  private readonly dedupBoundary: boolean;
  private readonly seenBoundary: Set<string>;
  private readonly maxKeys: number;
  private max: { value: unknown; cmp: Comparable } | undefined;
  private maxKeysSet = new Set<string>();
  private overflow = false;
  private index = 0;

  constructor(
    resource: string,
    options: IncrementalOptions,
    stored: IncrementalState | undefined,
    primaryKey: string[],
  ) {
    this.resource = resource;
    this.options = options;
    this.keyFields = options.primaryKey
      ? Array.isArray(options.primaryKey)
        ? options.primaryKey
        : [options.primaryKey]
      : primaryKey;
    this.maxKeys = options.maxBoundaryKeys ?? DEFAULT_MAX_BOUNDARY_KEYS;
    const lastValue = stored?.lastValue;
    this.last = toComparable(lastValue);
    let startValue: unknown = lastValue ?? options.initialValue;
    const lookback = options.lookback ?? 0;
    if (lastValue !== undefined && lookback > 0) {
      const c = toComparable(lastValue)!;
      if (c.kind === 'time') startValue = minusMillis(c.t, lookback);
      else if (c.kind === 'number')
        startValue = typeof c.n === 'bigint' ? c.n - BigInt(lookback) : c.n - lookback;
    }
    this.start = toComparable(startValue);
    this.end = toComparable(options.endValue);
    this.dedupBoundary = lookback === 0 && options.endValue === undefined && lastValue !== undefined;
    this.seenBoundary = new Set(this.dedupBoundary ? (stored?.boundaryHashes ?? []) : []);
    if (this.last && lastValue !== undefined) {
      this.max = { value: lastValue, cmp: this.last };
      if (this.dedupBoundary) for (const h of stored?.boundaryHashes ?? []) this.maxKeysSet.add(h);
      this.overflow = stored?.boundaryOverflow ?? false;
    }
    this.cursor = Object.freeze({
      initialValue: options.initialValue,
      lastValue,
      startValue,
      endValue: options.endValue,
    });
  }

  private keyHash(item: DataItem): string {
    const key = this.keyFields.length > 0 ? this.keyFields.map((f) => readPath(item, f)) : item;
    return shortHash(stableStringify(key), 16);
  }

  /** Decide about one item (in the order the source yields them). */
  process(item: DataItem): IncrementalVerdict {
    const position = this.index++;
    const raw = readPath(item, this.options.cursorPath);
    const value = toComparable(raw);
    if (value === undefined) {
      const mode = this.options.onCursorValueMissing ?? 'raise';
      if (mode === 'include') return 'keep';
      if (mode === 'exclude') return 'skip';
      throw new DataError(
        `resource '${this.resource}': item ${position} has no value at cursor path '${this.options.cursorPath}'. ` +
          `Fix the source, or set incremental.onCursorValueMissing to 'include' or 'exclude'.`,
        { resource: this.resource, cursorPath: this.options.cursorPath, item: position },
      );
    }
    if (this.end && compare(value, this.end) >= 0) return this.options.rowOrder === 'asc' ? 'stop' : 'skip';
    if (this.start) {
      const c = compare(value, this.start);
      if (c < 0) return this.options.rowOrder === 'desc' ? 'stop' : 'skip';
    }
    if (this.dedupBoundary && this.last && compare(value, this.last) === 0) {
      if (this.seenBoundary.has(this.keyHash(item))) return 'skip';
    }
    this.track(raw, value, item);
    return 'keep';
  }

  private track(raw: unknown, value: Comparable, item: DataItem): void {
    const c = this.max ? compare(value, this.max.cmp) : 1;
    if (c > 0) {
      this.max = { value: raw, cmp: value };
      this.maxKeysSet = new Set();
      this.overflow = false;
    }
    if (c >= 0) {
      if (this.maxKeysSet.size < this.maxKeys) this.maxKeysSet.add(this.keyHash(item));
      else this.overflow = true;
    }
  }

  /** State to store after this extract, or undefined when it must not persist (a backfill window). */
  newState(): IncrementalState | undefined {
    if (this.options.endValue !== undefined) return undefined;
    const state: IncrementalState = { initialValue: this.options.initialValue, lastValue: this.max?.value };
    if (this.max) {
      state.boundaryHashes = [...this.maxKeysSet];
      if (this.overflow) state.boundaryOverflow = true;
    }
    return state;
  }
}
