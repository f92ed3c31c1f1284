import pg from 'pg';
import { FerryError, ReadOnlySqlError, type UntrustedQueryOptions } from '@ferry/core';

/**
 * Server functions with effects a read-only transaction does not stop, or that run SQL given as text
 * (which a text check cannot see): large objects (`lo_import` persists inside `BEGIN READ ONLY`, `lo_export`
 * writes server files), server file and directory access, settings, backend signalling, replication and
 * backup control, advisory locks (they outlive the transaction), `dblink` (a second, writable connection)
 * and the functions that execute a query string (`query_to_xml`, `ts_stat`, …). A second line only: the
 * first is that the statement runs as a cursor's query, in a read-only transaction that is rolled back.
 */
const SIDE_EFFECT_FUNCTIONS =
  /(?<![A-Za-z0-9_$])("?)(lo_[a-z_]*|loread|lowrite|pg_read_file|pg_read_binary_file|pg_ls_[a-z_]*|pg_stat_file|pg_file_[a-z_]*|pg_logdir_ls|pg_terminate_backend|pg_cancel_backend|pg_signal_backend|pg_reload_conf|pg_rotate_logfile|pg_promote|pg_switch_wal|pg_create_[a-z_]*|pg_drop_replication_slot|pg_copy_[a-z_]*_replication_slot|pg_replication_[a-z_]*|pg_logical_[a-z_]*|pg_backup_[a-z_]*|pg_start_backup|pg_stop_backup|pg_wal_replay_[a-z_]*|pg_advisory_[a-z_]*|pg_try_advisory_[a-z_]*|pg_notify|set_config|dblink[a-z_]*|query_to_xml[a-z_]*|query_to_xmlschema|cursor_to_xml[a-z_]*|ts_stat|pg_import_system_collations|pg_stat_reset[a-z_]*|pg_stat_statements_reset|pg_log_backend_memory_contexts|pg_sleep_for|pg_sleep_until|txid_current|pg_current_xact_id|nextval|setval)\1(?![A-Za-z0-9_$])/i;

/**
 * Refuse text that names a Postgres function with side effects, anywhere (also inside strings and quoted
 * names: a false refusal costs a rewrite, a miss could cost the server). `U&"…"` names are refused too,
 * since their escapes could spell any of them.
 */
export function assertNoSideEffectFunctions(sql: string): void {
  const m = SIDE_EFFECT_FUNCTIONS.exec(sql);
  if (m)
    throw new ReadOnlySqlError(
      `'${m[2]}' is refused in a read-only query: it changes the server, its files or other sessions, or runs SQL given as text`,
    );
  if (/u&["']/i.test(sql))
    throw new ReadOnlySqlError(`U&'…' and U&"…" (Unicode escapes) are refused in a read-only query`);
}

/**
 * Run one untrusted statement on its own connection, so nothing it does to the session (locks, settings)
 * outlives it: `BEGIN READ ONLY`, `SET LOCAL statement_timeout` (the server cancels it even when the
 * client is gone) and `idle_in_transaction_session_timeout`, then the text as the query of a cursor
 * through the extended protocol (the server refuses a second statement, and a cursor's query can only be
 * SELECT, VALUES, TABLE or WITH … SELECT without data-modifying parts), `FETCH` up to `maxRows`, and
 * `ROLLBACK` (never COMMIT), so even an effect inside the transaction is undone.
 */
export async function postgresUntrustedQuery(
  config: pg.ClientConfig,
  sql: string,
  params: unknown[] | undefined,
  options: UntrustedQueryOptions,
): Promise<Record<string, unknown>[]> {
  assertNoSideEffectFunctions(sql);
  const timeoutMs = Math.max(1, Math.floor(options.timeoutMs));
  const client = new pg.Client({ ...config, application_name: 'ferry-query' });
  client.on('error', () => undefined);
  await client.connect();
  try {
    await client.query('BEGIN READ ONLY');
    await client.query(`SET LOCAL statement_timeout = ${timeoutMs}`);
    await client.query(`SET LOCAL idle_in_transaction_session_timeout = ${timeoutMs + 5000}`);
    await client.query(`SET LOCAL lock_timeout = ${timeoutMs}`);
    const text = sql.trim().replace(/;\s*$/, '');
    try {
      await client.query(extended(`DECLARE ferry_query NO SCROLL CURSOR FOR ${text}`, params ?? []));
    } catch (error) {
      throw refusal(error, text) ?? error;
    }
    const rows: Record<string, unknown>[] = [];
    const limit = options.maxRows ?? Number.POSITIVE_INFINITY;
    while (rows.length < limit) {
      const size = Math.min(10_000, limit - rows.length);
      const { rows: batch } = await client.query(extended(`FETCH FORWARD ${size} FROM ferry_query`, []));
      rows.push(...(batch as Record<string, unknown>[]));
      if (batch.length < size) break;
    }
    return rows;
  } catch (error) {
    if ((error as { code?: string }).code === '57014')
      throw new FerryError(
        'QUERY_TIMEOUT',
        `the query was cancelled after ${timeoutMs} ms (statement timeout)`,
        {
          cause: error,
        },
      );
    throw error;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
    await client.end().catch(() => undefined);
  }
}

/**
 * A query sent through the extended protocol (Parse/Bind/Execute) even without parameters: the server then
 * refuses a second statement in the text. (`queryMode` is pg's option; @types/pg does not list it yet.)
 */
function extended(text: string, values: unknown[]): pg.QueryConfig {
  const config: pg.QueryConfig & { queryMode: 'extended' } = { text, values, queryMode: 'extended' };
  return config;
}

/** The server's own refusals of a non-query, said as a read-only refusal (the statement never ran). */
function refusal(error: unknown, sql: string): ReadOnlySqlError | undefined {
  const e = error as { code?: string; message?: string };
  const message = e.message ?? '';
  if (/cannot insert multiple commands into a prepared statement/i.test(message))
    return new ReadOnlySqlError('only one statement is allowed (the server found more than one)');
  if (e.code === '42601' && !/^\s*(select|with|values|table|\()/i.test(sql))
    return new ReadOnlySqlError(
      `only a query (SELECT, WITH, VALUES, TABLE) is allowed: the server read it as something else (${message})`,
    );
  if (/DECLARE CURSOR must not contain data-modifying statements/i.test(message))
    return new ReadOnlySqlError('data-modifying statements are refused in a read-only query');
  return undefined;
}
