/**
 * Query parameter parsing with every syntax real clients send (API reference §4): JSON arrays
 * (`[1, 2]`, `["a","b"]`), Python lists (`['a','b']`), bare lists (`[a,b]`), comma-separated strings and
 * repeated keys.
 */

/** All values of `key`, with list syntaxes expanded. Empty when absent. */
export function listParam(params: URLSearchParams, key: string): string[] {
  const out: string[] = [];
  for (const raw of params.getAll(key)) out.push(...splitList(raw));
  return out;
}

/** Expand one parameter value that may hold a list in any observed syntax. */
export function splitList(raw: string): string[] {
  const text = raw.trim();
  if (text === '') return [];
  const inner = text.startsWith('[') && text.endsWith(']') ? text.slice(1, -1) : text;
  return inner
    .split(',')
    .map((part) =>
      part
        .trim()
        .replace(/^["']|["']$/g, '')
        .trim(),
    )
    .filter((part) => part !== '');
}

/** A single value, or undefined. */
export function oneParam(params: URLSearchParams, key: string): string | undefined {
  const v = params.get(key);
  return v === null ? undefined : v;
}
