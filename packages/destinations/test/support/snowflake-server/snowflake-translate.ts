/**
 * The small, explicit translation from the Snowflake SQL that Ferry's compiler emits to DuckDB SQL, for
 * the local Snowflake server. Every rule is listed here (README.md repeats them); anything else passes
 * through unchanged, so a statement DuckDB does not understand fails loudly instead of being faked.
 *
 * 1. Unquoted identifiers fold to upper case (Snowflake's rule), so result column names read `ID`, `N`.
 *    Quoted identifiers and string literals are never touched.
 * 2. Binds `:1` → `$1` (DuckDB's positional form).
 * 3. Types: `NUMBER(p,s)` → `DECIMAL(p,s)`, `NUMBER` → `DECIMAL(38,0)`, `FLOAT` → `DOUBLE`,
 *    `TIMESTAMP_TZ[(n)]` → `TIMESTAMPTZ`, `VARIANT` → `JSON`; `TRANSIENT TABLE` → `TABLE`.
 * 4. `INFORMATION_SCHEMA.COLUMNS` → a view that reports Snowflake's type names (NUMBER, FLOAT, TEXT,
 *    TIMESTAMP_TZ, VARIANT, …) with `NUMERIC_PRECISION`/`NUMERIC_SCALE`.
 * 5. `PUT` and `COPY INTO … FROM @stage` are parsed here and executed by the server (see there).
 */

/** A piece of SQL text: code, a quoted identifier, a string literal or a comment. */
interface Piece {
  kind: 'code' | 'ident' | 'string' | 'comment';
  text: string;
}

/** Split SQL into pieces so rewrites only ever touch code. */
export function tokenize(sql: string): Piece[] {
  const out: Piece[] = [];
  let code = '';
  let i = 0;
  const flush = () => {
    if (code) out.push({ kind: 'code', text: code });
    code = '';
  };
  while (i < sql.length) {
    const c = sql[i]!;
    if (c === "'") {
      flush();
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '\\') j += 2;
        else if (sql[j] === "'" && sql[j + 1] === "'") j += 2;
        else if (sql[j] === "'") break;
        else j++;
      }
      out.push({ kind: 'string', text: sql.slice(i, j + 1) });
      i = j + 1;
    } else if (c === '"') {
      flush();
      let j = i + 1;
      while (j < sql.length) {
        if (sql[j] === '"' && sql[j + 1] === '"') j += 2;
        else if (sql[j] === '"') break;
        else j++;
      }
      out.push({ kind: 'ident', text: sql.slice(i, j + 1) });
      i = j + 1;
    } else if (c === '-' && sql[i + 1] === '-') {
      flush();
      const end = sql.indexOf('\n', i);
      const j = end === -1 ? sql.length : end;
      out.push({ kind: 'comment', text: sql.slice(i, j) });
      i = j;
    } else if (c === '/' && sql[i + 1] === '*') {
      flush();
      const end = sql.indexOf('*/', i + 2);
      const j = end === -1 ? sql.length : end + 2;
      out.push({ kind: 'comment', text: sql.slice(i, j) });
      i = j;
    } else {
      code += c;
      i++;
    }
  }
  flush();
  return out;
}

/** The value of a Snowflake string literal. */
export function unquoteString(literal: string): string {
  return literal.slice(1, -1).replace(/''/g, "'").replace(/\\(.)/g, '$1');
}

/** An identifier's name: quoted ones exactly, unquoted ones folded to upper case. */
export function identName(text: string): string {
  return text.startsWith('"') ? text.slice(1, -1).replaceAll('""', '"') : text.toUpperCase();
}

/** Name of the schema holding the INFORMATION_SCHEMA emulation. */
export const EMULATION_SCHEMA = '_SF_EMUL';

/** Rule 1–4 on the code pieces of a statement. */
export function translateSql(sql: string): string {
  return tokenize(sql)
    .map((p) => {
      if (p.kind !== 'code') return p.text;
      let t = p.text.replace(/[A-Za-z_][A-Za-z0-9_$]*/g, (w) => w.toUpperCase());
      t = t.replace(/(?<![:\w]):(\d+)/g, '$$$1');
      t = t.replace(/\bNUMBER\s*\(\s*(\d+)\s*,\s*(\d+)\s*\)/g, 'DECIMAL($1, $2)');
      t = t.replace(/\bNUMBER\s*\(\s*(\d+)\s*\)/g, 'DECIMAL($1, 0)');
      t = t.replace(/\bNUMBER\b/g, 'DECIMAL(38, 0)');
      t = t.replace(/\bFLOAT\b/g, 'DOUBLE');
      t = t.replace(/\bTIMESTAMP_TZ\s*(\(\s*\d+\s*\))?/g, 'TIMESTAMPTZ');
      t = t.replace(/\bVARIANT\b/g, 'JSON');
      t = t.replace(/\bTRANSIENT\s+TABLE\b/g, 'TABLE');
      t = t.replace(/\bINFORMATION_SCHEMA\s*\.\s*COLUMNS\b/g, `"${EMULATION_SCHEMA}"."COLUMNS"`);
      return t;
    })
    .join('');
}

/** The view behind rule 4 (created once when the server starts). */
export const EMULATION_DDL = [
  `CREATE SCHEMA IF NOT EXISTS "${EMULATION_SCHEMA}"`,
  `CREATE OR REPLACE VIEW "${EMULATION_SCHEMA}"."COLUMNS" AS SELECT
     table_catalog AS "TABLE_CATALOG", table_schema AS "TABLE_SCHEMA", table_name AS "TABLE_NAME",
     column_name AS "COLUMN_NAME", ordinal_position AS "ORDINAL_POSITION", is_nullable AS "IS_NULLABLE",
     CASE
       WHEN data_type LIKE 'DECIMAL%' OR data_type IN ('BIGINT', 'INTEGER', 'HUGEINT', 'SMALLINT', 'TINYINT') THEN 'NUMBER'
       WHEN data_type IN ('DOUBLE', 'FLOAT', 'REAL') THEN 'FLOAT'
       WHEN data_type = 'VARCHAR' THEN 'TEXT'
       WHEN data_type = 'TIMESTAMP WITH TIME ZONE' THEN 'TIMESTAMP_TZ'
       WHEN data_type = 'TIMESTAMP' THEN 'TIMESTAMP_NTZ'
       WHEN data_type = 'JSON' THEN 'VARIANT'
       ELSE data_type
     END AS "DATA_TYPE",
     CASE WHEN data_type LIKE 'DECIMAL%' OR data_type IN ('BIGINT', 'INTEGER', 'HUGEINT', 'SMALLINT', 'TINYINT') THEN numeric_precision END AS "NUMERIC_PRECISION",
     CASE WHEN data_type LIKE 'DECIMAL%' OR data_type IN ('BIGINT', 'INTEGER', 'HUGEINT', 'SMALLINT', 'TINYINT') THEN numeric_scale END AS "NUMERIC_SCALE"
   FROM information_schema.columns WHERE table_schema <> '${EMULATION_SCHEMA}'`,
];

/** First keyword(s) of a statement, upper case, comments skipped. */
export function statementKind(sql: string): string {
  const code = tokenize(sql)
    .filter((p) => p.kind !== 'comment')
    .map((p) => p.text)
    .join('')
    .trim();
  const m = /^([A-Za-z]+)(?:\s+([A-Za-z]+))?/.exec(code);
  return m ? `${m[1]!.toUpperCase()}${m[2] ? ` ${m[2].toUpperCase()}` : ''}` : '';
}

/** A stage reference: `@"DS"."%RUNS"/123/` → names and path. */
export interface StageRef {
  /** Stage name parts (quoted parts exact, unquoted folded), e.g. `['DS', '%RUNS']`. */
  parts: string[];
  /** Path inside the stage, without leading/trailing slashes. */
  path: string;
}

/** Read a stage reference starting at `@` in `text` (up to the first whitespace outside quotes). */
export function readStageRef(text: string, at: number): { ref: StageRef; end: number } {
  if (text[at] !== '@') throw new Error(`expected a stage reference (@…) at: ${text.slice(at, at + 40)}`);
  let i = at + 1;
  const parts: string[] = [];
  let current = '';
  let path = '';
  let inPath = false;
  while (i < text.length && !/\s/.test(text[i]!)) {
    const c = text[i]!;
    if (!inPath && c === '"') {
      let j = i + 1;
      while (j < text.length && !(text[j] === '"' && text[j + 1] !== '"')) j += text[j] === '"' ? 2 : 1;
      current += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    if (!inPath && c === '.') {
      parts.push(identName(current));
      current = '';
    } else if (!inPath && c === '/') {
      inPath = true;
    } else if (inPath) {
      path += c;
    } else {
      current += c;
    }
    i++;
  }
  if (current)
    parts.push(
      current.startsWith('"')
        ? identName(current)
        : current.startsWith('%') || current.startsWith('~')
          ? current.toUpperCase()
          : identName(current),
    );
  return { ref: { parts, path: path.replace(/^\/+|\/+$/g, '') }, end: i };
}

/** A parsed `PUT 'file://…' @stage/path/ …`. */
export interface PutCommand {
  /** Local file the client will upload. */
  localPath: string;
  /** Target stage and folder. */
  stage: StageRef;
  /** `OVERWRITE = TRUE` given. */
  overwrite: boolean;
}

/** Parse a PUT statement. */
export function parsePut(sql: string): PutCommand {
  const m = /^\s*PUT\s+('(?:[^'\\]|\\.|'')*'|\S+)\s+/i.exec(sql);
  if (!m) throw new Error(`cannot parse PUT: ${sql}`);
  const raw = m[1]!.startsWith("'") ? unquoteString(m[1]!) : m[1]!;
  if (!raw.startsWith('file://')) throw new Error(`PUT needs a file:// source: ${raw}`);
  const { ref, end } = readStageRef(sql, m[0].length);
  return {
    localPath: raw.slice('file://'.length),
    stage: ref,
    overwrite: /\bOVERWRITE\s*=\s*TRUE\b/i.test(sql.slice(end)),
  };
}

/** A parsed `COPY INTO <table> FROM @stage FILES = (…) FILE_FORMAT = (…) MATCH_BY_COLUMN_NAME = …`. */
export interface CopyCommand {
  /** Target schema and table (folded). */
  schema: string;
  table: string;
  /** Source stage. */
  stage: StageRef;
  /** Files named in FILES, or undefined for every file under the stage path. */
  files: string[] | undefined;
  /** FILE_FORMAT TYPE. */
  fileType: string;
  /** MATCH_BY_COLUMN_NAME value (NONE when absent). */
  matchByColumnName: string;
}

/** Parse a COPY INTO statement. */
export function parseCopy(sql: string): CopyCommand {
  const m =
    /^\s*COPY\s+INTO\s+((?:"(?:[^"]|"")*"|[A-Za-z_][\w$]*)(?:\s*\.\s*(?:"(?:[^"]|"")*"|[A-Za-z_][\w$]*))*)\s+FROM\s+/i.exec(
      sql,
    );
  if (!m)
    throw new Error(
      `cannot parse COPY INTO (the local server supports COPY INTO <table> FROM @<stage>): ${sql.slice(0, 200)}`,
    );
  const names = tokenize(m[1]!)
    .flatMap((p) =>
      p.kind === 'ident'
        ? [p.text]
        : p.text
            .split('.')
            .map((s) => s.trim())
            .filter(Boolean),
    )
    .map(identName);
  const table = names.at(-1)!;
  const schema = names.at(-2) ?? 'PUBLIC';
  const { ref, end } = readStageRef(sql, m[0].length);
  const rest = sql.slice(end);
  const filesMatch = /\bFILES\s*=\s*\(([^)]*)\)/i.exec(rest);
  const files = filesMatch
    ? [...filesMatch[1]!.matchAll(/'(?:[^'\\]|\\.|'')*'/g)].map((f) => unquoteString(f[0]))
    : undefined;
  const typeMatch = /\bFILE_FORMAT\s*=\s*\([^)]*\bTYPE\s*=\s*'?(\w+)'?/i.exec(rest);
  const matchBy = /\bMATCH_BY_COLUMN_NAME\s*=\s*(\w+)/i.exec(rest);
  return {
    schema,
    table,
    stage: ref,
    files,
    fileType: (typeMatch?.[1] ?? 'CSV').toUpperCase(),
    matchByColumnName: (matchBy?.[1] ?? 'NONE').toUpperCase(),
  };
}
