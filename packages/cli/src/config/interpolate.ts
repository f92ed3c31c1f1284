import { isMap, isScalar, isSeq, type Document, type Node } from 'yaml';

/** A path into the YAML document: mapping keys and sequence indexes. */
export type FieldPath = (string | number)[];

/** Where a `${VAR}` reference could not be resolved. */
export interface UnresolvedVariable {
  /** Field holding the reference. */
  path: FieldPath;
  /** The scalar node (for its line). */
  node: Node;
  /** Variable name. */
  variable: string;
}

/** A value substituted for a `${VAR}` reference. */
export interface ResolvedVariable {
  /** Field holding the reference. */
  path: FieldPath;
  /** Variable name. */
  variable: string;
  /** The substituted value (a secret, possibly: never print it). */
  value: string;
  /** The scalar as written, before substitution (`postgres://u:${PGPASS}@db/w`). */
  original: string;
}

/** Resolves a variable name to its value, or undefined when it is not set anywhere. */
export type VariableLookup = (name: string) => string | undefined;

const REFERENCE = /\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}/g;

/**
 * Replace `${NAME}` (and `${NAME:-default}`) in every string scalar of a parsed YAML document, in place,
 * so node ranges (and so line numbers) stay valid for later error messages. `$${` writes a literal `${`.
 * Mapping keys are left alone. Returns what was resolved and what was not; unresolved references stay
 * in the text untouched.
 */
export function interpolateDocument(
  doc: Document,
  lookup: VariableLookup,
): { resolved: ResolvedVariable[]; unresolved: UnresolvedVariable[] } {
  const resolved: ResolvedVariable[] = [];
  const unresolved: UnresolvedVariable[] = [];
  const walk = (node: unknown, path: FieldPath): void => {
    if (isMap(node)) {
      for (const pair of node.items) {
        const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
        walk(pair.value, [...path, key]);
      }
    } else if (isSeq(node)) {
      node.items.forEach((item, i) => walk(item, [...path, i]));
    } else if (isScalar(node) && typeof node.value === 'string' && node.value.includes('$')) {
      const original = node.value;
      const { text, used, missing } = expandString(original, lookup);
      for (const variable of missing) unresolved.push({ path, node, variable });
      for (const [variable, value] of used) resolved.push({ path, variable, value, original });
      if (missing.length === 0) node.value = text;
    }
  };
  walk(doc.contents, []);
  return { resolved, unresolved };
}

/** `source.resources[2]` style rendering of a field path. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out === '' ? '(document)' : out;
}

/**
 * Expand `${NAME}`, `${NAME:-default}` and `$${` in one string. Returns the text, the variables used with
 * their values, and the names that could not be resolved (left as written in the text).
 */
export function expandString(
  input: string,
  lookup: VariableLookup,
): { text: string; used: [string, string][]; missing: string[] } {
  const used: [string, string][] = [];
  const missing: string[] = [];
  const text = input.replace(REFERENCE, (match, name: string | undefined, fallback: string | undefined) => {
    if (name === undefined) return '${';
    const value = lookup(name) ?? fallback;
    if (value === undefined) {
      missing.push(name);
      return match;
    }
    used.push([name, value]);
    return value;
  });
  return { text, used, missing };
}
