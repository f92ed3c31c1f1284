/**
 * The BigQuery → DuckDB translation of the local server: small and explicit on purpose. It covers the
 * GoogleSQL the Ferry compiler emits (and the simple queries tests write), not GoogleSQL at large.
 *
 * | BigQuery                                   | DuckDB                                              |
 * |--------------------------------------------|-----------------------------------------------------|
 * | `` `p`.`ds`.`t` ``, `` `p.ds.t` ``          | `"p"."ds"."t"` (the project is an attached catalog) |
 * | `'…'`, `"…"` with backslash escapes         | `'…'`                                               |
 * | `@name`, `?` parameters                     | inlined, typed literals                             |
 * | INT64, FLOAT64, STRING, BOOL               | BIGINT, DOUBLE, VARCHAR, BOOLEAN                    |
 * | TIMESTAMP                                  | TIMESTAMPTZ (BigQuery timestamps are UTC instants)  |
 * | NUMERIC, BIGNUMERIC(p, s)                  | DECIMAL(38, 9), DECIMAL(min(p, 38), s)              |
 * | `… OPTIONS (…)` on CREATE SCHEMA/TABLE      | dropped                                             |
 * | `p.ds.INFORMATION_SCHEMA.COLUMNS`/`TABLES`  | `information_schema.*` of that schema, BQ type names |
 * | `ASSERT expr AS 'text'`                    | `SELECT CASE WHEN expr IS TRUE THEN 1 ELSE error('text') END` |
 * | NUMERIC(P, S) / BIGNUMERIC(P, S) outside BigQuery's bounds | refused, as BigQuery does    |
 * | BEGIN/COMMIT/ROLLBACK TRANSACTION, MERGE, DELETE … AS t, ADD COLUMN IF NOT EXISTS, SET DATA TYPE | unchanged |
 */

/** A query parameter as the REST API sends it. */
export interface ApiParam {
  name?: string;
  parameterType?: { type?: string };
  parameterValue?: { value?: unknown } | null;
}

const SEGMENTS = /`((?:[^`\\]|\\.)*)`|'((?:[^'\\]|\\.)*)'|"((?:[^"\\]|\\.)*)"|(--[^\n]*)/g;

/** Split a script into statements on `;` outside quotes and comments. */
export function splitStatements(script: string): string[] {
  const out: string[] = [];
  let start = 0;
  let i = 0;
  while (i < script.length) {
    const ch = script[i]!;
    if (ch === '`' || ch === "'" || ch === '"') {
      i++;
      while (i < script.length && script[i] !== ch) i += script[i] === '\\' ? 2 : 1;
      i++;
    } else if (ch === '-' && script[i + 1] === '-') {
      while (i < script.length && script[i] !== '\n') i++;
    } else if (ch === ';') {
      out.push(script.slice(start, i));
      start = ++i;
    } else i++;
  }
  out.push(script.slice(start));
  return out.map((s) => s.trim()).filter((s) => s.length > 0);
}

function unescapeBq(text: string): string {
  return text.replace(/\\(.)/g, (_, c: string) => ({ n: '\n', r: '\r', t: '\t' })[c] ?? c);
}

/** A DuckDB string literal. */
export function duckLiteral(text: string): string {
  return `'${text.replaceAll("'", "''")}'`;
}

function dqIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

/**
 * BigQuery's parameterized decimal rules (https://cloud.google.com/bigquery/docs/reference/standard-sql/data-types#parameterized_decimal_type):
 * NUMERIC(P, S) needs 0 <= S <= 9 and max(1, S) <= P <= S + 29; BIGNUMERIC(P, S) needs 0 <= S <= 38 and
 * max(1, S) <= P <= S + 38. Anything else is an invalid type, as the service says.
 */
function checkDecimal(kind: 'NUMERIC' | 'BIGNUMERIC', p: number, s: number): void {
  const maxScale = kind === 'NUMERIC' ? 9 : 38;
  const maxInteger = kind === 'NUMERIC' ? 29 : 38;
  if (s > maxScale || p < Math.max(1, s) || p > s + maxInteger)
    throw new Error(
      `Invalid ${kind} type: ${kind}(${p}, ${s}); precision must be between max(1, scale) and scale + ${maxInteger}, scale at most ${maxScale}`,
    );
}

const TYPE_WORDS: [RegExp, (m: RegExpExecArray | string[]) => string][] = [
  [
    /\bBIGNUMERIC\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/gi,
    (m) => {
      checkDecimal('BIGNUMERIC', Number(m[1]), Number(m[2] ?? 0));
      return `DECIMAL(${Math.min(Number(m[1]), 38)}, ${Math.min(Number(m[2] ?? 0), 37)})`;
    },
  ],
  [/\bBIGNUMERIC\b/gi, () => 'DECIMAL(38, 9)'],
  [
    /\bNUMERIC\s*\(\s*(\d+)\s*(?:,\s*(\d+)\s*)?\)/gi,
    (m) => {
      checkDecimal('NUMERIC', Number(m[1]), Number(m[2] ?? 0));
      return `DECIMAL(${m[1]}, ${m[2] ?? 0})`;
    },
  ],
  [/\bNUMERIC\b/gi, () => 'DECIMAL(38, 9)'],
  [/\bINT64\b/gi, () => 'BIGINT'],
  [/\bFLOAT64\b/gi, () => 'DOUBLE'],
  [/\bSTRING\b/gi, () => 'VARCHAR'],
  [/\bBOOL\b/gi, () => 'BOOLEAN'],
  [/\bTIMESTAMP\b/gi, () => 'TIMESTAMPTZ'],
];

/** Literal for a parameter, typed so DuckDB compares it like BigQuery would. */
export function paramLiteral(p: ApiParam | undefined, label: string): string {
  if (!p) throw new Error(`Query parameter '${label}' not found`);
  const type = (p.parameterType?.type ?? 'STRING').toUpperCase();
  const raw = p.parameterValue?.value;
  const duckType =
    (
      {
        INT64: 'BIGINT',
        FLOAT64: 'DOUBLE',
        BOOL: 'BOOLEAN',
        TIMESTAMP: 'TIMESTAMPTZ',
        DATE: 'DATE',
        NUMERIC: 'DECIMAL(38, 9)',
        BIGNUMERIC: 'DECIMAL(38, 9)',
        JSON: 'JSON',
      } as Record<string, string>
    )[type] ?? 'VARCHAR';
  if (raw === null || raw === undefined) return `CAST(NULL AS ${duckType})`;
  if (duckType === 'VARCHAR') return duckLiteral(String(raw));
  return `CAST(${duckLiteral(String(raw))} AS ${duckType})`;
}

const BQ_TYPE_CASE =
  "CASE WHEN data_type = 'BIGINT' THEN 'INT64' WHEN data_type = 'DOUBLE' THEN 'FLOAT64' WHEN data_type = 'VARCHAR' THEN 'STRING' " +
  "WHEN data_type = 'BOOLEAN' THEN 'BOOL' WHEN data_type LIKE 'TIMESTAMP%' THEN 'TIMESTAMP' WHEN data_type LIKE 'DECIMAL%' THEN replace(data_type, 'DECIMAL', 'NUMERIC') ELSE data_type END";

/**
 * Translate one BigQuery statement to DuckDB. `params` are the request's parameters: named (by name)
 * or positional (in order, for `?`).
 */
export function translateStatement(
  statement: string,
  params: ApiParam[],
  mode: 'NAMED' | 'POSITIONAL',
): string {
  let sql = statement.replace(/\s+OPTIONS\s*\((?:[^()'"]|'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*")*\)\s*$/i, '');
  let positional = 0;
  const named = new Map(params.map((p) => [p.name ?? '', p]));
  const code = (text: string) => {
    // Type names first: the parameter literals inlined next must stay as they are.
    let out = text;
    for (const [re, fn] of TYPE_WORDS) out = out.replace(re, (...m) => fn(m as unknown as string[]));
    return out.replace(/@(\w+)|\?/g, (m, name: string | undefined) => {
      if (name !== undefined) return paramLiteral(named.get(name), name);
      if (mode !== 'POSITIONAL') return m;
      return paramLiteral(params[positional++], `#${positional}`);
    });
  };
  let result = '';
  let last = 0;
  for (const m of sql.matchAll(SEGMENTS)) {
    result += code(sql.slice(last, m.index));
    if (m[1] !== undefined) result += unescapeBq(m[1]).split('.').map(dqIdent).join('.');
    else if (m[2] !== undefined || m[3] !== undefined) result += duckLiteral(unescapeBq(m[2] ?? m[3]!));
    last = m.index + m[0].length;
  }
  result += code(sql.slice(last));
  // ASSERT expr AS 'description' (https://cloud.google.com/bigquery/docs/reference/standard-sql/debugging-statements#assert):
  // the script fails with the description when the expression is not true.
  const assertion = /^\s*ASSERT\s+([\s\S]*?)(?:\s+AS\s+('(?:[^']|'')*'))?\s*$/i.exec(result);
  if (assertion)
    result = `SELECT CASE WHEN (${assertion[1]}) IS TRUE THEN 1 ELSE error(${assertion[2] ?? `'Assertion failed'`}) END AS ok`;
  sql = result.replace(
    /"([^"]+)"\."([^"]+)"\.INFORMATION_SCHEMA\.(COLUMNS|TABLES)\b/gi,
    (_, project: string, dataset: string, view: string) =>
      view.toUpperCase() === 'COLUMNS'
        ? `(SELECT table_catalog, table_schema, table_name, column_name, ordinal_position, is_nullable, ${BQ_TYPE_CASE} AS data_type FROM information_schema.columns WHERE table_catalog = ${duckLiteral(project)} AND table_schema = ${duckLiteral(dataset)})`
        : `(SELECT table_catalog, table_schema, table_name, table_type FROM information_schema.tables WHERE table_catalog = ${duckLiteral(project)} AND table_schema = ${duckLiteral(dataset)})`,
  );
  return sql;
}

/** Whether a translated statement returns rows worth reporting as the job's result. */
export function returnsRows(sql: string): boolean {
  return /^\s*(\(|SELECT\b|WITH\b|VALUES\b|FROM\b)/i.test(sql);
}
