import { readFile } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import type { DestinationConfig } from '@ferry/destinations';
import {
  isMap,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
  type Document,
  type Node,
  type Pair,
  type YAMLMap,
} from 'yaml';
import { z } from 'zod';
import { SOURCE_TYPES } from '../sources/source-registry.ts';
import type { DbtCloudConnection, SourceType } from '../sources/source-type.ts';
import { toDbtCloudConnection } from '../sources/dbt-cloud-source-type.ts';
import { toDestinationConfig } from './destination-schema.ts';
import { parseDuration } from './duration.ts';
import { expandString, formatPath, interpolateDocument, type FieldPath } from './interpolate.ts';
import { REDACTED, Redactor, SECRET_FIELD_NAMES } from './redactor.ts';
import { readSecretsFile } from './secrets-file.ts';
import { TeamConfigError, type ConfigProblem } from './team-config-error.ts';
import { teamConfigSchema, type TeamConfigYaml } from './team-schema.ts';
import { toId, toInt } from './zod-helpers.ts';

/** `transform.dbt_cloud`, resolved: connection filled in from the source when not given. */
export interface DbtCloudTransformConfig {
  /** Where dbt Cloud is. */
  connection: DbtCloudConnection;
  /** Job to trigger. */
  jobId: number | string;
  /** Wait for the outcome. Default true. */
  wait: boolean;
  /** Deadline for waiting, ms. Default 30 minutes. */
  timeoutMs: number;
  /** Cancel the run when the deadline passes. Default false. */
  cancelOnTimeout: boolean;
  /** Poll interval, ms, when given. */
  pollIntervalMs?: number;
  /** Cause text for the run. */
  cause: string;
  /** Skip when the load brought no rows. Default false. */
  skipIfEmpty: boolean;
}

/** Where a `${VAR}` was resolved from (for `ferry validate`; values are never kept here). */
export interface VariableUse {
  /** Field path. */
  path: string;
  /** Variable name. */
  variable: string;
  /** `env`, `secrets_file` or `default` (the `:-` fallback). */
  from: 'env' | 'secrets_file' | 'default';
}

/**
 * What a command uses of a team file. `all` (the default, `run` and `validate`): everything is resolved
 * and validated. `destination` (`ferry query`, `pipeline info`, `pipeline show`): only `pipeline:`,
 * `secrets_file:` and `destination:` must resolve and validate; the source's and the transform's
 * variables need not be set (no dbt Cloud token is needed to read the warehouse), their blocks are not
 * validated, and `transform` comes back empty.
 */
export type TeamConfigScope = 'all' | 'destination';

/** A field whose value came (wholly or partly) from `${VAR}`: its text with every such value as `***`. */
export interface MaskedField {
  /** Field path into the YAML. */
  path: FieldPath;
  /** The value as written with each interpolated part shown as `***` (`postgres://u:***@db/w`). */
  text: string;
}

/** A loaded, validated team file mapped to the engine's option objects. */
export interface TeamConfig {
  /** The file as given (used in messages). */
  file: string;
  /** Pipeline options. */
  pipeline: {
    name: string;
    dataset?: string;
    dataDir: string;
    loadRetries?: number;
    normalizeWorkers?: number;
  };
  /** The source block: its registered type and its validated YAML. */
  source: { type: string; sourceType: SourceType; config: unknown };
  /** The destination config for `createDestination`. */
  destination: DestinationConfig;
  /** Post-load steps. */
  transform: { dbtCloud?: DbtCloudTransformConfig };
  /** The validated YAML (snake_case), secrets included: print only through `redactor`. */
  yaml: TeamConfigYaml;
  /** Knows every secret value of this file. */
  redactor: Redactor;
  /** Which variables were used and where they came from. */
  variables: VariableUse[];
  /** Fields holding a value from the environment or a secrets file, masked (for `validate --print`). */
  masked: MaskedField[];
  /** What was resolved: see {@link TeamConfigScope}. With `destination`, `source.config` is unvalidated. */
  scope: TeamConfigScope;
}

/** Options of {@link loadTeamConfig}. */
export interface LoadTeamConfigOptions {
  /** Variables; default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Working directory for relative paths in messages; default `process.cwd()`. */
  cwd?: string;
  /** Also register every secret of the file here (the command's redactor, for errors that escape). */
  redactor?: Redactor;
  /** What the command uses. Default `all`; see {@link TeamConfigScope}. */
  scope?: TeamConfigScope;
}

/**
 * Problems listed in one error: 100. A file with 40,000 unknown keys gets the first hundred and a count
 * of the rest (a wall of 40,000 lines helps nobody, and locating each costs time).
 */
export const MAX_REPORTED_PROBLEMS = 100;

/** Top-level sections a `destination`-scoped command resolves. */
const DESTINATION_SCOPE: ReadonlySet<string> = new Set(['pipeline', 'secrets_file', 'destination']);

/**
 * Fields that name things rather than hold secrets: printed on every log line by design and visible at
 * the destination anyway. A `${VAR}` value used only here is not redacted (a team that writes
 * `name: ${TEAM}` still reads its pipeline's name in the logs); anywhere else it is.
 */
const IDENTITY_FIELDS: ReadonlySet<string> = new Set([
  'pipeline.name',
  'pipeline.dataset',
  'pipeline.data_dir',
  'source.type',
  'destination.type',
]);

let destinationScopeSchema: z.ZodType | undefined;

/** The team schema with `source:` and `transform:` left unchecked (only the source type is read). */
function schemaFor(scope: TeamConfigScope): z.ZodType {
  if (scope === 'all') return teamConfigSchema;
  destinationScopeSchema ??= teamConfigSchema.extend({
    source: z.looseObject({ type: z.string() }),
    transform: z.unknown().optional(),
  });
  return destinationScopeSchema;
}

/**
 * Read, interpolate and validate a team YAML file. Every problem (YAML syntax, missing `${VAR}`, wrong
 * type, unknown destination, unknown field) is collected and thrown as one {@link TeamConfigError}
 * naming file, line and field path. Secret values never appear in the error.
 */
export async function loadTeamConfig(file: string, options: LoadTeamConfigOptions = {}): Promise<TeamConfig> {
  const env = options.env ?? process.env;
  const abs = resolve(options.cwd ?? process.cwd(), file);
  let text: string;
  try {
    text = await readFile(abs, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    throw new TeamConfigError([
      {
        file,
        path: '(file)',
        message:
          code === 'ENOENT'
            ? 'file not found; check the path'
            : `cannot read the file (${code ?? String(error)})`,
      },
    ]);
  }
  return parseTeamConfig(text, file, {
    env,
    baseDir: dirname(abs),
    ...(options.redactor === undefined ? {} : { redactor: options.redactor }),
    ...(options.scope === undefined ? {} : { scope: options.scope }),
  });
}

/** Like {@link loadTeamConfig} for YAML text already in memory; `baseDir` resolves `secrets_file`. */
export async function parseTeamConfig(
  text: string,
  file: string,
  options: {
    env?: NodeJS.ProcessEnv;
    baseDir?: string;
    redactor?: Redactor;
    scope?: TeamConfigScope;
  } = {},
): Promise<TeamConfig> {
  const env = options.env ?? process.env;
  const baseDir = options.baseDir ?? process.cwd();
  const scope = options.scope ?? 'all';
  const inScope = (path: FieldPath): boolean => scope === 'all' || DESTINATION_SCOPE.has(String(path[0]));
  const lineCounter = new LineCounter();
  // The parser's own unique-key check compares each key with every earlier one (quadratic: 20k keys
  // took seconds); duplicateKeys() below does it with one Set per mapping.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: false });
  const at = (node: Node | null | undefined): { line?: number; col?: number } => {
    const offset = node?.range?.[0];
    if (offset === undefined) return {};
    const pos = lineCounter.linePos(offset);
    return { line: pos.line, col: pos.col };
  };

  const syntax = doc.errors.length > 0 ? [] : duplicateKeys(doc.contents);
  if (syntax.length > 0) {
    throw new TeamConfigError(
      syntax.slice(0, 3).map(({ key, first }) => ({
        file,
        ...at(key),
        path: '(yaml)',
        message: `Map keys must be unique; '${String(isScalar(key) ? key.value : key)}' is repeated (first at line ${at(first).line ?? '?'})`,
      })),
    );
  }
  if (doc.errors.length > 0) {
    // one syntax error cascades into dozens: report the first few, with a hint for the classic trap
    const lines = text.split('\n');
    throw new TeamConfigError(
      doc.errors.slice(0, 3).map((e) => {
        const pos = lineCounter.linePos(e.pos[0]);
        const source = lines[pos.line - 1] ?? '';
        const hint = /[{[][^}\]]*\$\{/.test(source) ? '; inside { } or [ ] quote references: "${VAR}"' : '';
        return {
          file,
          line: pos.line,
          col: pos.col,
          path: '(yaml)',
          message: `${firstLine(e.message)}${hint}`,
        };
      }),
    );
  }
  if (!isMap(doc.contents)) {
    throw new TeamConfigError([
      {
        file,
        ...at(doc.contents),
        path: '(document)',
        message: 'expected a mapping with pipeline:, source: and destination:',
      },
    ]);
  }

  const problems: ConfigProblem[] = [];
  const redactor = new Redactor(options.redactor);

  // secrets_file first: its path may use ${VAR} from the environment only.
  const secrets = new Map<string, string>();
  let secretsFileName: string | undefined;
  const secretsNode = doc.get('secrets_file', true) as Node | undefined;
  if (isScalar(secretsNode) && typeof secretsNode.value === 'string') {
    const { text: path, missing } = expandString(secretsNode.value, (n) => env[n]);
    if (missing.length > 0) {
      problems.push({
        file,
        ...at(secretsNode),
        path: 'secrets_file',
        message: `environment variable ${missing.join(', ')} is not set`,
      });
    } else {
      secretsFileName = path;
      try {
        for (const [k, v] of await readSecretsFile(resolve(baseDir, path))) secrets.set(k, v);
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code;
        problems.push({
          file,
          ...at(secretsNode),
          path: 'secrets_file',
          message:
            code === 'ENOENT'
              ? `secrets file ${path} not found`
              : `cannot read secrets file ${path}: ${(error as Error).message}`,
        });
      }
    }
  }
  for (const value of secrets.values()) redactor.add(value);

  const from = new Map<string, VariableUse['from']>();
  const { resolved, unresolved } = interpolateDocument(doc, (name) => {
    const fromEnv = env[name];
    if (fromEnv !== undefined) {
      from.set(name, 'env');
      return fromEnv;
    }
    const fromFile = secrets.get(name);
    if (fromFile !== undefined) from.set(name, 'secrets_file');
    return fromFile;
  });
  const missingPaths = new Set<string>();
  for (const u of unresolved) {
    const path = formatPath(u.path);
    missingPaths.add(path);
    if (!inScope(u.path)) continue;
    const where =
      secretsFileName === undefined
        ? 'export it or add it to a secrets_file'
        : `export it or add it to ${secretsFileName}`;
    problems.push({ file, ...at(u.node), path, message: `variable \${${u.variable}} is not set; ${where}` });
  }
  const variables: VariableUse[] = resolved.map((r) => ({
    path: formatPath(r.path),
    variable: r.variable,
    from: from.get(r.variable) ?? 'default',
  }));
  // Secrets by provenance, not by name: whatever came from the environment or the secrets file is
  // redacted everywhere (DB_PWD is as secret as DB_PASSWORD), except values used only to name things.
  const provenance = (name: string): VariableUse['from'] => from.get(name) ?? 'default';
  const masked = new Map<string, MaskedField>();
  for (const r of resolved) {
    const where = formatPath(r.path);
    if (provenance(r.variable) === 'default' || IDENTITY_FIELDS.has(where)) continue;
    redactor.add(r.value);
    if (!masked.has(where)) {
      const text = expandString(r.original, (n) => (provenance(n) === 'default' ? undefined : REDACTED)).text;
      masked.set(where, { path: r.path, text });
    }
  }

  const data: unknown = doc.toJS({ maxAliasCount: 100 });
  collectInlineSecrets(data, [], redactor, missingPaths);
  const parsed = schemaFor(scope).safeParse(data);
  if (!parsed.success) {
    const shown = (path: readonly PropertyKey[]): string | undefined => {
      const m = masked.get(formatPath(path));
      if (m !== undefined) return m.text;
      return isSecretField(path as FieldPath) ? REDACTED : undefined;
    };
    let unreported = 0;
    for (const issue of parsed.error.issues) {
      for (const problem of issueProblems(issue, data, shown, MAX_REPORTED_PROBLEMS - problems.length)) {
        // a field whose ${VAR} is not set was reported as such; its type errors would only repeat it
        if (underAny(problem.fieldPath, missingPaths)) continue;
        if (problems.length >= MAX_REPORTED_PROBLEMS) {
          unreported++;
          continue;
        }
        const node = locate(doc, problem.fieldPath, problem.atKey === true);
        problems.push({
          file,
          ...at(node),
          path: formatPath(problem.fieldPath),
          message: redactor.redact(problem.message),
        });
      }
    }
    if (unreported > 0)
      problems.push({
        file,
        path: '(document)',
        message: `${unreported} more problem(s) not listed; fix the ${MAX_REPORTED_PROBLEMS} above first`,
      });
  }
  if (problems.length > 0 || !parsed.success) {
    // a secret can still reach a message through a value written inline where a secrets file holds it
    throw new TeamConfigError(
      sortProblems(problems).map((p) => ({ ...p, message: redactor.redact(p.message) })),
      parsed.success ? undefined : parsed.error.issues.map(stripInput),
    );
  }

  const yaml = parsed.data as TeamConfigYaml;
  const sourceType = SOURCE_TYPES[yaml.source.type];
  if (sourceType === undefined)
    throw new TeamConfigError([
      {
        file,
        ...at(locate(doc, ['source', 'type'])),
        path: 'source.type',
        message: `unknown source type '${redactor.redact(yaml.source.type)}'; use one of ${Object.keys(SOURCE_TYPES).join(', ')}`,
      },
    ]);
  const transform: TeamConfig['transform'] = {};
  const dbt = scope === 'all' ? yaml.transform?.dbt_cloud : undefined;
  if (dbt !== undefined) {
    const fromSource = sourceType.dbtCloudConnection?.(yaml.source);
    const merged = {
      host: dbt.host ?? (dbt.base_url === undefined ? fromSource?.host : undefined),
      base_url: dbt.base_url ?? (dbt.host === undefined ? fromSource?.baseUrl : undefined),
      account_id: dbt.account_id ?? fromSource?.accountId,
      api_token: dbt.api_token ?? fromSource?.apiToken,
    };
    const missing = (['account_id', 'api_token'] as const).filter((k) => merged[k] === undefined);
    if (merged.host === undefined && merged.base_url === undefined) missing.unshift('host' as never);
    if (missing.length > 0) {
      throw new TeamConfigError([
        {
          file,
          ...at(locate(doc, ['transform', 'dbt_cloud'])),
          path: 'transform.dbt_cloud',
          message: `missing ${missing.join(', ')}: the source is not dbt_cloud, so give the connection here (host or base_url, account_id, api_token)`,
        },
      ]);
    }
    transform.dbtCloud = {
      connection: toDbtCloudConnection({
        host: merged.host,
        base_url: merged.base_url,
        account_id: merged.account_id as string | number,
        api_token: merged.api_token as string,
      }),
      jobId: toId(dbt.job_id),
      wait: dbt.wait,
      timeoutMs: parseDuration(dbt.timeout) ?? 30 * 60_000,
      cancelOnTimeout: dbt.cancel_on_timeout,
      ...(dbt.poll_interval === undefined
        ? {}
        : { pollIntervalMs: parseDuration(dbt.poll_interval) ?? 10_000 }),
      cause: dbt.cause ?? `Triggered by ferry pipeline ${yaml.pipeline.name}`,
      skipIfEmpty: dbt.skip_if_empty,
    };
  }

  const p = yaml.pipeline;
  const dataDir =
    p.data_dir === undefined ? (env['FERRY_DATA_DIR'] ?? './.ferry') : resolve(baseDir, p.data_dir);
  return {
    file,
    pipeline: {
      name: p.name,
      ...(p.dataset === undefined ? {} : { dataset: p.dataset }),
      dataDir,
      ...(p.load_retries === undefined ? {} : { loadRetries: toInt(p.load_retries) }),
      ...(p.normalize_workers === undefined ? {} : { normalizeWorkers: toInt(p.normalize_workers) }),
    },
    source: { type: yaml.source.type, sourceType, config: yaml.source },
    destination: toDestinationConfig(yaml.destination),
    transform,
    yaml,
    redactor,
    variables,
    masked: [...masked.values()],
    scope,
  };
}

/** True when `path` is one of `paths` (formatted) or lies below one. */
function underAny(path: readonly PropertyKey[], paths: ReadonlySet<string>): boolean {
  if (paths.size === 0) return false;
  for (let i = 1; i <= path.length; i++) if (paths.has(formatPath(path.slice(0, i)))) return true;
  return false;
}

/** Every repeated key of every mapping, with the first occurrence: one Set per mapping (linear). */
function duplicateKeys(root: unknown): { key: Node; first: Node }[] {
  const out: { key: Node; first: Node }[] = [];
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const node = stack.pop();
    if (isMap(node)) {
      const seen = new Map<string, Node>();
      for (const pair of node.items) {
        const name = keyName(pair);
        const first = seen.get(name);
        if (first !== undefined) out.push({ key: pair.key as Node, first });
        else seen.set(name, pair.key as Node);
        stack.push(pair.value);
      }
    } else if (isSeq(node)) {
      for (const item of node.items) stack.push(item);
    }
  }
  return out.sort((a, b) => (a.key.range?.[0] ?? 0) - (b.key.range?.[0] ?? 0));
}

function keyName(pair: Pair): string {
  return isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
}

/** Pairs of a mapping by key, built once per mapping (locating thousands of problems stays linear). */
const keyIndexes = new WeakMap<YAMLMap, Map<string, Pair>>();

function keyIndex(map: YAMLMap): Map<string, Pair> {
  let index = keyIndexes.get(map);
  if (index === undefined) {
    index = new Map();
    for (const pair of map.items as Pair[]) {
      const name = keyName(pair);
      if (!index.has(name)) index.set(name, pair);
    }
    keyIndexes.set(map, index);
  }
  return index;
}

/** True when the last named segment of a path is a secret field (`api_token`, `password`, ...). */
function isSecretField(path: FieldPath): boolean {
  return path.some((p) => typeof p === 'string' && SECRET_FIELD_NAMES.has(p));
}

/** Register inline values of secret fields (someone wrote a token into the file: still never print it). */
function collectInlineSecrets(
  value: unknown,
  path: FieldPath,
  redactor: Redactor,
  unresolved: ReadonlySet<string>,
): void {
  if (typeof value === 'string') {
    // a `${VAR}` left unset is a reference, not a secret: the message naming it must stay readable
    if (isSecretField(path) && !unresolved.has(formatPath(path))) redactor.add(value);
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => collectInlineSecrets(v, [...path, i], redactor, unresolved));
  } else if (value !== null && typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) collectInlineSecrets(v, [...path, k], redactor, unresolved);
  }
}

/** The node at `path`, or the deepest existing ancestor (a missing field points at its parent). */
function locate(doc: Document, path: readonly PropertyKey[], atKey = false): Node | null | undefined {
  let node: unknown = doc.contents;
  let last: Node | null | undefined = doc.contents;
  for (const [i, part] of path.entries()) {
    if (isMap(node)) {
      const pair = keyIndex(node as YAMLMap).get(String(part));
      if (pair === undefined) return last;
      if (atKey && i === path.length - 1) return pair.key as Node;
      const value = pair.value as Node | null;
      // a key with no value (or a null) points at the key itself
      last =
        value === null || (isScalar(value) && value.value === null && value.range?.[0] === value.range?.[1])
          ? (pair.key as Node)
          : value;
      node = value;
    } else if (isSeq(node) && typeof part === 'number') {
      const item = node.items[part] as Node | undefined;
      if (item === undefined) return last;
      last = item;
      node = item;
    } else {
      return last;
    }
  }
  return last;
}

interface IssueProblem {
  fieldPath: PropertyKey[];
  /** Point at the key rather than the value (unknown fields). */
  atKey?: boolean;
  path: string;
  message: string;
}

/**
 * Turn one zod issue into located problems with a message that names the offending value and says what
 * to write instead. `shown` gives the printable form of a value that must not be printed as is (a
 * secret field, or one filled from the environment): `***`, or the text with its `${VAR}` parts masked.
 * Only the first `budget` problems are reported, so the rest get no message.
 */
function issueProblems(
  issue: z.core.$ZodIssue,
  data: unknown,
  shown: (path: readonly PropertyKey[]) => string | undefined,
  budget: number,
): IssueProblem[] {
  const path = issue.path;
  const make = (fieldPath: PropertyKey[], message: string): IssueProblem => ({
    fieldPath,
    path: formatPath(fieldPath),
    message,
  });
  const value = valueAt(data, path);
  const got = (): string => {
    const masked = shown(path);
    if (masked !== undefined) return `'${masked}'`;
    if (typeof value === 'string') return `'${value.length > 60 ? `${value.slice(0, 60)}…` : value}'`;
    if (typeof value === 'number' || typeof value === 'boolean') return String(value);
    if (value === null) return 'null';
    return Array.isArray(value) ? 'a list' : 'a mapping';
  };
  switch (issue.code) {
    case 'unrecognized_keys': {
      // past the budget the problems are only counted: skip the did-you-mean search for them
      const known = knownKeys(data, path);
      return issue.keys.map((key, i) => ({
        ...make([...path, key], i < budget ? `unknown field '${key}'${suggest(key, known)}` : ''),
        atKey: true,
      }));
    }
    case 'invalid_union': {
      if ('note' in issue && issue.note === 'No matching discriminator') {
        const parent = String(path[path.length - 2] ?? 'value');
        const options = (issue as { options?: unknown[] }).options?.map(String) ?? [];
        const what = value === undefined ? `missing ${parent} type` : `unknown ${parent} type ${got()}`;
        return [make(path, `${what}; use one of ${options.join(', ')}`)];
      }
      const branches = issue.errors.map((e) => e.map((i) => i.message).join('; ')).filter(Boolean);
      return [
        make(path, `invalid value ${got()}: ${[...new Set(branches)].join(' | or | ') || issue.message}`),
      ];
    }
    case 'invalid_value': {
      // an enum: say which value is wrong (resources: [projects, no_such_resource]) and what is allowed
      const options = issue.values.map(String);
      const field = String([...path].reverse().find((p) => typeof p === 'string') ?? 'value');
      return [make(path, `unknown value ${got()} in ${field}; use one of ${options.join(', ')}`)];
    }
    case 'invalid_type':
      if (value === undefined) return [make(path, `required field is missing (expected ${issue.expected})`)];
      return [make(path, `${issue.message} (got ${got()})`)];
    case 'custom':
      return [make(path, issue.message)];
    default:
      return [make(path, `${issue.message} (got ${got()})`)];
  }
}

function valueAt(data: unknown, path: readonly PropertyKey[]): unknown {
  let v: unknown = data;
  for (const p of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[p];
  }
  return v;
}

/** Keys the schema accepts at `path` (for did-you-mean hints). */
function knownKeys(data: unknown, path: readonly PropertyKey[]): string[] {
  let schema: unknown = teamConfigSchema;
  for (let i = 0; i < path.length; i++) {
    const shape = objectShape(schema, valueAt(data, path.slice(0, i)));
    schema = shape?.[String(path[i])];
    if (schema === undefined) return [];
  }
  return Object.keys(objectShape(schema, valueAt(data, path)) ?? {});
}

function objectShape(schema: unknown, value: unknown): Record<string, unknown> | undefined {
  let s = schema as
    | {
        def?: { type?: string; innerType?: unknown; options?: unknown[]; shape?: Record<string, unknown> };
        shape?: Record<string, unknown>;
      }
    | undefined;
  while (s?.def?.type === 'optional' || s?.def?.type === 'default') s = s.def.innerType as typeof s;
  if (s?.def?.type === 'object') return s.def.shape;
  if (s?.def?.type === 'union' && s.def.options) {
    const type = (value as { type?: unknown } | undefined)?.type;
    for (const option of s.def.options) {
      const shape = objectShape(option, value);
      const literal = (shape?.['type'] as { def?: { values?: unknown[] } } | undefined)?.def?.values;
      if (shape && (type === undefined || literal?.includes(type))) return shape;
    }
  }
  return undefined;
}

function suggest(key: string, known: string[]): string {
  const close = known
    .map((k) => ({ k, d: distance(key.toLowerCase(), k.toLowerCase()) }))
    .filter((x) => x.d <= Math.max(2, Math.floor(x.k.length / 3)))
    .sort((a, b) => a.d - b.d)[0];
  if (close !== undefined) return `; did you mean '${close.k}'?`;
  return known.length > 0 ? `; allowed: ${known.join(', ')}` : '';
}

function distance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const tmp = row[j] ?? 0;
      row[j] = Math.min((row[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = tmp;
    }
  }
  return row[b.length] ?? 0;
}

function sortProblems(problems: ConfigProblem[]): ConfigProblem[] {
  return [...problems].sort(
    (a, b) => (a.line ?? Infinity) - (b.line ?? Infinity) || (a.col ?? 0) - (b.col ?? 0),
  );
}

/** Zod issues without their `input` (which may be a secret). */
/** A zod issue without the input values it carries (they may be secrets), also in union branches. */
function stripInput(issue: z.core.$ZodIssue): unknown {
  const { input: _input, ...rest } = issue as z.core.$ZodIssue & { input?: unknown };
  if ('errors' in rest && Array.isArray(rest.errors))
    return { ...rest, errors: (rest.errors as z.core.$ZodIssue[][]).map((branch) => branch.map(stripInput)) };
  return rest;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}
