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

/** SQL with comments, string literals and quoted identifiers blanked out (keywords stay where they were). */
function stripLiterals(sql: string): string {
  let out = '';
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i]!;
    const next = sql[i + 1];
    if (c === '-' && next === '-') {
      const end = sql.indexOf('\n', i);
      i = end === -1 ? sql.length : end;
      out += ' ';
    } else if (c === '/' && next === '*') {
      const end = sql.indexOf('*/', i + 2);
      i = end === -1 ? sql.length : end + 1;
      out += ' ';
    } else if (c === "'" || c === '"' || c === '`') {
      let j = i + 1;
      for (; j < sql.length; j++) {
        if (sql[j] === c) {
          if (sql[j + 1] === c) j++;
          else break;
        }
      }
      i = j;
      out += c === "'" ? "''" : '"x"';
    } else if (c === '$' && /[A-Za-z_$]/.test(next ?? '') && /^\$[A-Za-z_]*\$/.test(sql.slice(i))) {
      const tag = /^\$[A-Za-z_]*\$/.exec(sql.slice(i))![0];
      const end = sql.indexOf(tag, i + tag.length);
      i = end === -1 ? sql.length : end + tag.length - 1;
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
