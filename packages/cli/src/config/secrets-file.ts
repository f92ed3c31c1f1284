import { readFile } from 'node:fs/promises';
import { extname } from 'node:path';
import { parseEnv } from 'node:util';
import { parse as parseYaml } from 'yaml';

/**
 * Read a secrets file into a name → value map. `.yaml`, `.yml` and `.json` files are a flat YAML
 * mapping (`DBT_CLOUD_API_TOKEN: abc`); anything else is read as a dotenv file (`KEY=value` lines,
 * `#` comments, quotes), which is what `kubectl create secret --from-env-file` and Docker secrets give.
 * Throws a plain Error on an unreadable or malformed file; the caller turns it into a ConfigError.
 */
export async function readSecretsFile(path: string): Promise<Map<string, string>> {
  const text = await readFile(path, 'utf8');
  const ext = extname(path).toLowerCase();
  const out = new Map<string, string>();
  if (ext === '.yaml' || ext === '.yml' || ext === '.json') {
    const data: unknown = parseYaml(text);
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
