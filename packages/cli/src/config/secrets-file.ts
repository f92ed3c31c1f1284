import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseEnv } from 'node:util';
import { LineCounter, parseDocument } from 'yaml';

/**
 * Read a secrets file into a name → value map. `.yaml`, `.yml` and `.json` files are a flat YAML
 * mapping (`DBT_CLOUD_API_TOKEN: abc`); anything else is read as a dotenv file (`KEY=value` lines,
 * `#` comments, quotes), which is what `kubectl create secret --from-env-file` and Docker secrets give.
 * Throws a plain Error on an unreadable or malformed file; the caller turns it into a ConfigError. A
 * syntax error is reported by line, column and kind only: the YAML parser's own message quotes the
 * broken line (and so the secret on it), which must never reach a log.
 */
export async function readSecretsFile(path: string): Promise<Map<string, string>> {
  const text = await readFile(path, 'utf8');
  const ext = extname(path).toLowerCase();
  const out = new Map<string, string>();
  if (ext === '.yaml' || ext === '.yml' || ext === '.json') {
    const lineCounter = new LineCounter();
    const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
    const broken = doc.errors[0];
    if (broken !== undefined) {
      const { line, col } = lineCounter.linePos(broken.pos[0]);
      throw new Error(
        `YAML syntax error at line ${line}, column ${col} (${broken.code.toLowerCase().replaceAll('_', ' ')}); the line is not shown because it may hold a secret`,
      );
    }
    const data: unknown = doc.toJS({ maxAliasCount: 100 });
    if (data === null || data === undefined) return out;
    if (typeof data !== 'object' || Array.isArray(data)) {
      throw new Error('a YAML secrets file must be a mapping of NAME: value');
    }
    for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
      if (value === null || value === undefined) continue;
      if (typeof value === 'object') throw new Error(`secret '${key}' must be a string, number or boolean`);
      out.set(key, String(value));
    }
    return out;
  }
  for (const [key, value] of Object.entries(parseEnv(text))) {
    if (value !== undefined) out.set(key, value);
  }
  return out;
}
