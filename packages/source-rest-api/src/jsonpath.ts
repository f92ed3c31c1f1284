import { JSONPath } from 'jsonpath-plus';

/**
 * Values at a JSONPath, dlt style: `data.items`, `$.data.items`, `items[-1:].id` all work. Script filters
 * (`?(...)`) are refused: paths come from YAML and are never evaluated as code.
 */
export function findValues(path: string, json: unknown): unknown[] {
  if (json === null || json === undefined || typeof json !== 'object') return path === '$' ? [json] : [];
  return JSONPath({ path, json: json as object, wrap: true, eval: false }) as unknown[];
}

/** The first value at a JSONPath, or undefined. */
export function findValue(path: string, json: unknown): unknown {
  return findValues(path, json)[0];
}

/** Set a value at a dotted path (`page.number`) in a JSON body, creating objects on the way. */
export function setAtPath(target: Record<string, unknown>, dotted: string, value: unknown): void {
  const keys = dotted.split('.');
  let node: Record<string, unknown> = target;
  for (const key of keys.slice(0, -1)) {
    const next = node[key];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  node[keys[keys.length - 1]!] = value;
}
