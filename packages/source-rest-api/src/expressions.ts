import { ConfigError, DataError, type DataItem } from '@ferry/core';
import jsonata from 'jsonata';
import type { ProcessingStep } from './config.ts';

/** A compiled processing step: returns the record to keep (maybe changed) or undefined to drop it. */
export type RecordStep = (record: DataItem) => Promise<DataItem | undefined>;

/**
 * Compile `processing_steps` into functions. Expressions are JSONata (https://jsonata.org), a declarative
 * query language interpreted over the record: it reads fields, compares, calls its own string/number
 * functions, and cannot reach JavaScript, the file system or the network, so YAML text is never run as
 * code. `filter` keeps a record when the result is `true`; `map` replaces the record with the result,
 * which must be an object.
 */
export function compileSteps(steps: readonly ProcessingStep[], resource: string): RecordStep[] {
  return steps.map((step, i) => {
    const isFilter = 'filter' in step;
    const source = isFilter ? step.filter : step.map;
    const where = `resources.${resource}.processing_steps[${i}].${isFilter ? 'filter' : 'map'}`;
    let expr: jsonata.Expression;
    try {
      expr = jsonata(source);
    } catch (error) {
      const e = error as { message?: string; position?: number };
      throw new ConfigError(
        `${where}: '${source}' is not a valid JSONata expression: ${e.message ?? String(error)}${e.position === undefined ? '' : ` (at character ${e.position})`}`,
        { path: where, cause: error },
      );
    }
    return async (record) => {
      let out: unknown;
      try {
        out = await expr.evaluate(record);
      } catch (error) {
        throw new DataError(
          `${where}: evaluating '${source}' failed on a record: ${(error as Error).message}`,
          { resource, step: i },
          error,
        );
      }
      if (isFilter) return out === true ? record : undefined;
      if (out === undefined) return undefined;
      if (out === null || typeof out !== 'object' || Array.isArray(out))
        throw new DataError(
          `${where}: '${source}' returned ${Array.isArray(out) ? 'an array' : JSON.stringify(out)}, not an object; a map step must return the new record, e.g. $merge([$, {"x": 1}])`,
          { resource, step: i },
        );
      return out as DataItem;
    };
  });
}

/** Run records through compiled steps in order. */
export async function applySteps(steps: readonly RecordStep[], records: DataItem[]): Promise<DataItem[]> {
  if (steps.length === 0) return records;
  const out: DataItem[] = [];
  for (const r of records) {
    let cur: DataItem | undefined = r;
    for (const step of steps) {
      cur = await step(cur);
      if (cur === undefined) break;
    }
    if (cur !== undefined) out.push(cur);
  }
  return out;
}
