import { userInfo } from 'node:os';
import type { ClientConfig } from 'pg';
import type { PostgresConfig } from '../config.ts';

/** Connection settings resolved from a {@link PostgresConfig} and the environment. */
export interface PostgresSettings {
  /** What `pg.Client` receives (may carry the password: never log it). */
  readonly clientConfig: ClientConfig;
  /** `postgres://user@host:port/db`: the connection without secrets, for `describe()` and errors. */
  readonly display: string;
  /** Texts to scrub from any message: the password (raw and URL-encoded) and the whole connection string. */
  readonly secrets: readonly string[];
}

/**
 * Resolve where to connect. Order: `credentials` (a connection string, or fields whose gaps pg fills from
 * `PG*`), else `DATABASE_URL`, else libpq's `PGHOST`/`PGPORT`/`PGUSER`/`PGPASSWORD`/`PGDATABASE` — the
 * same variables `psql` reads, so a shell that reaches the database with `psql` reaches it with Ferry.
 */
export function resolvePostgresSettings(
  config: Omit<PostgresConfig, 'type'>,
  env: NodeJS.ProcessEnv = process.env,
): PostgresSettings {
  const base: ClientConfig = {
    connectionTimeoutMillis: config.connectTimeoutMs ?? 15_000,
    application_name: 'ferry',
    // Timestamps render and parse in UTC whatever the server's default zone is.
    options: '-c TimeZone=UTC',
  };
  const credentials = config.credentials ?? env.DATABASE_URL;
  if (typeof credentials === 'string' && credentials.length > 0) {
    const parsed = parseUrl(credentials, env);
    // pg falls back to PGPASSWORD when the URL has no password.
    const secrets = [credentials, ...[...parsed.passwords, env.PGPASSWORD].flatMap(passwordForms)];
    return { clientConfig: { ...base, connectionString: credentials }, display: parsed.display, secrets };
  }
  const fields = typeof credentials === 'object' ? credentials : {};
  const user = fields.user ?? env.PGUSER ?? safeUser();
  const host = fields.host ?? env.PGHOST ?? 'localhost';
  const port = fields.port ?? (env.PGPORT ? Number(env.PGPORT) : 5432);
  const database = fields.database ?? env.PGDATABASE ?? user;
  const password = fields.password ?? env.PGPASSWORD;
  const clientConfig: ClientConfig = { ...base, user, host, port, database };
  if (password !== undefined) clientConfig.password = password;
  if (fields.ssl !== undefined) clientConfig.ssl = fields.ssl;
  return {
    clientConfig,
    display: `postgres://${user}@${host}:${port}/${database}`,
    secrets: passwordForms(password),
  };
}

/** Replace every secret in a text by `***`. */
export function redact(text: string, secrets: readonly string[]): string {
  let out = text;
  // Longest first, so the connection string goes before the password inside it.
  for (const s of [...secrets].sort((a, b) => b.length - a.length))
    if (s.length > 0) out = out.replaceAll(s, '***');
  return out;
}

function passwordForms(password: string | undefined): string[] {
  if (!password) return [];
  const forms = new Set([password, encodeURIComponent(password)]);
  return [...forms];
}

function safeUser(): string {
  try {
    return userInfo().username;
  } catch {
    return 'postgres';
  }
}

function parseUrl(text: string, env: NodeJS.ProcessEnv): { display: string; passwords: string[] } {
  try {
    const url = new URL(text);
    // The raw (still encoded) password may differ from the decoded one; scrub both.
    const passwords = url.password ? [url.password, decodeURIComponent(url.password)] : [];
    const user = url.username ? decodeURIComponent(url.username) : (env.PGUSER ?? safeUser());
    const host = url.hostname || url.searchParams.get('host') || env.PGHOST || 'localhost';
    const port = url.port || env.PGPORT || '5432';
    const database = decodeURIComponent(url.pathname.replace(/^\//, '')) || env.PGDATABASE || user;
    return { display: `postgres://${user}@${host}:${port}/${database}`, passwords };
  } catch {
    // Not a URL (a libpq keyword string): show nothing of it rather than risk showing a password.
    const keyword = /password\s*=\s*('(?:[^'\\]|\\.)*'|\S+)/.exec(text)?.[1];
    return {
      display: 'postgres://(connection string)',
      passwords: keyword ? [keyword, keyword.replace(/^'|'$/g, '')] : [],
    };
  }
}
