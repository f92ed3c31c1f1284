import { FerryError } from '../errors.ts';

/** Statements a read-only query may start with. */
const ALLOWED_FIRST = new Set([
  'select',
  'with',
  'values',
  'table',
  'show',
  'describe',
  'explain',
  'summarize',
  'from',
]);
/** Words that change data, schema or the session, refused anywhere outside strings and quoted names. */
const FORBIDDEN = new Set([
  'drop',
  'delete',
  'insert',
  'update',
  'create',
  'alter',
  'copy',
  'attach',
  'detach',
  'truncate',
  'merge',
  'grant',
  'revoke',
  'call',
  'set',
  'pragma',
  'install',
  'load',
  'vacuum',
  'export',
  'import',
  'checkpoint',
  'begin',
  'commit',
  'rollback',
  'lock',
  'execute',
  'prepare',
  'deallocate',
  'listen',
  'notify',
  'cluster',
  'reindex',
]);

/** A refused query: says which word or construct and why. */
export class ReadOnlySqlError extends FerryError {
  constructor(message: string) {
    super('SQL_NOT_READ_ONLY', message);
  }
}

/** Characters that continue an identifier (Postgres and DuckDB allow `$` after the first character). */
const IDENT_CHAR = /[A-Za-z0-9_$\u0080-\uffff]/;

/**
 * End (index of the closing quote) of a quoted token opened at `start`, read one way: with the quote
 * doubled as its escape (standard SQL), or also with backslash escapes (Postgres `E''`, BigQuery and
 * Snowflake strings, MySQL). -1 when it never closes.
 */
function quotedEnd(sql: string, start: number, quote: string, backslash: boolean): number {
  for (let j = start + 1; j < sql.length; j++) {
    const c = sql[j];
    if (backslash && c === '\\') j++;
    else if (c === quote) {
      if (sql[j + 1] === quote) j++;
      else return j;
    }
  }
  return -1;
}

/**
 * SQL with comments, string literals and quoted identifiers blanked out (keywords stay where they were).
 * Where dialects read the same text differently (a backslash before a quote, a nested block comment), the
 * text is refused rather than guessed: this guard is a first line that gives a clear message; the
 * destination's own read-only path is what makes a query read-only.
 */
function stripLiterals(sql: string): string {
  let out = '';
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    const next = sql[i + 1];
    const prev = i > 0 ? sql[i - 1]! : ' ';
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
      out += ' ';
    } else if (c === '#') {
      // BigQuery and MySQL read `#` as a line comment, Postgres as an operator: a comment could hide a quote.
      throw new ReadOnlySqlError("'#' is refused (a comment in some dialects, an operator in others)");
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      const body = sql.slice(i + 2, end === -1 ? sql.length : end);
      if (body.includes('/*'))
        throw new ReadOnlySqlError('nested block comments are refused (dialects disagree on where they end)');
      if (end === -1) throw new ReadOnlySqlError('a block comment is not closed');
      i = end + 1;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      const standard = quotedEnd(sql, i, c, false);
      const escaped = quotedEnd(sql, i, c, true);
      if (standard !== escaped)
        throw new ReadOnlySqlError(
          `a quoted string or name with a backslash before a quote is refused (dialects read it differently): ${sql.slice(i, i + 40)}`,
        );
      if (standard === -1) throw new ReadOnlySqlError(`a quote is not closed: ${sql.slice(i, i + 40)}`);
      i = standard;
      out += c === "'" ? "''" : '"x"';
    } else if (
      c === '$' &&
      !IDENT_CHAR.test(prev) &&
      /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.test(sql.slice(i, i + 80))
    ) {
      // A dollar-quoted string: `$$…$$` or `$tag$…$tag$` (not `$1`, not the `$` inside an identifier `x$y$`).
      const tag = /^\$([A-Za-z_\u0080-\uffff][A-Za-z0-9_\u0080-\uffff]*)?\$/.exec(sql.slice(i, i + 80))![0];
      const end = sql.indexOf(tag, i + tag.length);
      if (end === -1) throw new ReadOnlySqlError(`a dollar-quoted string is not closed: ${tag}`);
      i = end + tag.length - 1;
      out += "''";
    } else out += c;
  }
  return out;
}

/**
 * Refuse anything but one read-only query: DDL, DML, session changes and multiple statements are
 * rejected before they reach the destination (which also runs queries read-only where it can).
 */
export function assertReadOnlySql(sql: string): void {
  const bare = stripLiterals(sql).trim().replace(/;\s*$/, '');
  if (bare.length === 0) throw new ReadOnlySqlError('the query is empty');
  if (bare.includes(';'))
    throw new ReadOnlySqlError('only one statement is allowed (found a ";" between statements)');
  const words = bare.toLowerCase().match(/[a-z_]+/g) ?? [];
  const first = words[0] ?? '';
  if (!ALLOWED_FIRST.has(first))
    throw new ReadOnlySqlError(
      `only read-only queries are allowed; '${first.toUpperCase()}' is not (start with SELECT or WITH)`,
    );
  for (const w of words) {
    if (FORBIDDEN.has(w))
      throw new ReadOnlySqlError(`only read-only queries are allowed; '${w.toUpperCase()}' is refused`);
  }
}
