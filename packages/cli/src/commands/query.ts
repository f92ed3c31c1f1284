import { stringify } from 'csv-stringify/sync';
import { ReadOnlySqlError, assertReadOnlySql } from '@ferry/core';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { jsonReplacer } from '../output/reporter.ts';
import { formatRows } from '../output/table-text.ts';
import { teamPipeline } from '../engine/core-module.ts';
import { UsageError, type CommandContext } from './context.ts';
import { resolveTeam, type PipelineTarget } from './pipeline.ts';

/** Output formats of `ferry query`: `table` on a terminal, `json` (one array) otherwise, or `csv`. */
export type QueryFormat = 'table' | 'json' | 'csv';

/** Plain JSON-able value: bigint as a string (exact), Date as ISO text. */
function plain(value: unknown): unknown {
  return JSON.parse(JSON.stringify(value, jsonReplacer)) as unknown;
}

/**
 * `ferry query <team.yaml|pipeline> "select …"`: one read-only statement against the pipeline's
 * dataset. DDL, DML and multiple statements are refused before anything connects; the destination also
 * opens read-only where it can.
 */
export async function queryCommand(
  name: string,
  sql: string,
  target: PipelineTarget,
  ctx: CommandContext,
  options: { format?: QueryFormat; params?: string[]; timeoutSeconds?: string },
): Promise<ExitCode> {
  const timeout = options.timeoutSeconds === undefined ? 300 : Number(options.timeoutSeconds);
  if (!Number.isFinite(timeout) || timeout <= 0)
    throw new UsageError(
      `ferry query: --timeout must be a positive number of seconds, not '${options.timeoutSeconds}'`,
    );
  try {
    assertReadOnlySql(sql);
  } catch (error) {
    if (error instanceof ReadOnlySqlError) throw new UsageError(`ferry query: ${error.message}`);
    throw error;
  }
  const cfg = await resolveTeam(name, target, ctx, 'destination');
  const p = await teamPipeline(cfg);
  const ds = p.dataset();
  try {
    const write = await (await ds.reader()).writeAccess?.().catch(() => undefined);
    if (write)
      ctx.stderr.write(
        `warning: these credentials can write (${write}); query with a read-only role (docs/read-only-roles.md)\n`,
      );
    const rows = await ds.sql(sql, options.params ?? [], { timeoutMs: Math.round(timeout * 1000) });
    const format = options.format ?? (ctx.stdout.isTTY === true ? 'table' : 'json');
    if (format === 'table')
      ctx.stdout.write(`${formatRows(rows)}\n(${rows.length} row${rows.length === 1 ? '' : 's'})\n`);
    else if (format === 'csv') {
      const columns = Object.keys(rows[0] ?? {});
      ctx.stdout.write(
        stringify(
          rows.map((r) =>
            columns.map((c) => {
              const v = plain(r[c]);
              return v !== null && typeof v === 'object' ? JSON.stringify(v) : v;
            }),
          ),
          { header: true, columns },
        ),
      );
    } else ctx.stdout.write(`${JSON.stringify(rows, jsonReplacer)}\n`);
    return EXIT.ok;
  } finally {
    await ds.close();
  }
}
