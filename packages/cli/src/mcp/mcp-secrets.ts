import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { isScalar, parseDocument } from 'yaml';
import { expandString, formatPath, interpolateDocument } from '../config/interpolate.ts';
import { Redactor } from '../config/redactor.ts';
import { readSecretsFile } from '../config/secrets-file.ts';

/** Environment variable names that hold a secret even when no team file names them. */
const SECRET_NAME = /TOKEN|SECRET|PASSW|PRIVATE|KEY|CREDENTIAL|DSN|DATABASE_URL|_URL$/i;

/** One `${VAR}` a team file needs: where, and whether it resolves. Never its value. */
export interface VariableStatus {
  /** Variable name. */
  variable: string;
  /** Field paths that reference it, e.g. `source.api_token`. */
  paths: string[];
  /** `set` (environment or secrets file), `default` (`${VAR:-x}` fallback used) or `missing`. */
  status: 'set' | 'default' | 'missing';
  /** Where the value comes from when set. */
  from?: 'env' | 'secrets_file';
}

/** What {@link scanTeamFile} finds in a team file. */
export interface TeamFileScan {
  /** Every `${VAR}` the file references (the `secrets_file` path included). */
  variables: VariableStatus[];
  /** The `secrets_file` as written, when there is one. */
  secretsFile?: string;
  /** Why the secrets file could not be read, when it could not. */
  secretsFileProblem?: string;
  /** Every value that came from the environment or the secrets file (to redact; never print). */
  values: string[];
}

/**
 * Find every `${VAR}` a team file references and where each would come from (environment first, then
 * its `secrets_file`), without validating the file. Provenance, not field names, decides what is a
 * secret here: every value taken from `${VAR}` or a secrets file is returned in `values` for redaction.
 */
export async function scanTeamFile(absFile: string, env: NodeJS.ProcessEnv): Promise<TeamFileScan> {
  const text = await readFile(absFile, 'utf8');
  const doc = parseDocument(text, { prettyErrors: false });
  const values: string[] = [];
  const refs = new Map<string, { paths: string[]; missing: boolean }>();
  const note = (variable: string, path: string, missing: boolean): void => {
    const r = refs.get(variable) ?? { paths: [], missing: false };
    if (!r.paths.includes(path)) r.paths.push(path);
    r.missing ||= missing;
    refs.set(variable, r);
  };
  const secrets = new Map<string, string>();
  const out: TeamFileScan = { variables: [], values };
  const secretsNode = doc.contents === null ? undefined : doc.get('secrets_file', true);
  if (isScalar(secretsNode) && typeof secretsNode.value === 'string') {
    out.secretsFile = secretsNode.value;
    const { text: path, used, missing } = expandString(secretsNode.value, (n) => env[n]);
    for (const [name, value] of used) {
      note(name, 'secrets_file', false);
      values.push(value);
    }
    for (const name of missing) note(name, 'secrets_file', true);
    if (missing.length === 0) {
      try {
        for (const [k, v] of await readSecretsFile(resolve(dirname(absFile), path))) {
          secrets.set(k, v);
          values.push(v);
        }
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        out.secretsFileProblem =
          code === 'ENOENT' ? `secrets file ${path} not found` : `cannot read secrets file ${path}`;
      }
    }
  }
  const { resolved, unresolved } = interpolateDocument(doc, (name) => env[name] ?? secrets.get(name));
  for (const r of resolved) {
    const path = formatPath(r.path);
    if (path !== 'secrets_file') note(r.variable, path, false);
    values.push(r.value);
  }
  for (const u of unresolved) {
    const path = formatPath(u.path);
    if (path !== 'secrets_file') note(u.variable, path, true);
  }
  out.variables = [...refs.entries()]
    .map(([variable, r]): VariableStatus => {
      if (env[variable] !== undefined) return { variable, paths: r.paths, status: 'set', from: 'env' };
      if (secrets.has(variable)) return { variable, paths: r.paths, status: 'set', from: 'secrets_file' };
      return { variable, paths: r.paths, status: r.missing ? 'missing' : 'default' };
    })
    .sort((a, b) => a.variable.localeCompare(b.variable));
  return out;
}

/**
 * A redactor for everything the MCP server returns: every value any team file under the root takes from
 * `${VAR}` or a secrets file, and every environment variable whose name looks like a secret (a token
 * the server holds for `dbt_cloud_trigger_job`, say). Built afresh per call, so edited files count.
 */
export async function rootRedactor(absFiles: readonly string[], env: NodeJS.ProcessEnv): Promise<Redactor> {
  const redactor = new Redactor();
  for (const [name, value] of Object.entries(env)) if (SECRET_NAME.test(name)) redactor.add(value);
  for (const file of absFiles) {
    const scan = await scanTeamFile(file, env).catch(() => undefined);
    for (const v of scan?.values ?? []) redactor.add(v);
  }
  return redactor;
}

/** Deep copy of a JSON-like value with every string (keys included) passed through the redactor. */
export function redactDeep(value: unknown, redactor: Pick<Redactor, 'redact'>): unknown {
  if (typeof value === 'string') return redactor.redact(value);
  if (Array.isArray(value)) return value.map((v) => redactDeep(v, redactor));
  if (value !== null && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value).map(([k, v]) => [redactor.redact(k), redactDeep(v, redactor)]),
    );
  return value;
}
