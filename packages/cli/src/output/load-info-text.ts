import type { LoadInfo } from '@ferry/core';
import { formatDuration } from '../config/duration.ts';

/** Load info for people: destination, packages, rows per table, schema changes, timings, transform. */
export function formatLoadInfo(info: LoadInfo): string {
  const lines: string[] = [];
  lines.push(`Pipeline ${info.pipelineName} → ${info.destination}, dataset ${info.dataset}`);
  if (info.empty && info.loadIds.length === 0) lines.push('  nothing new to load');
  else lines.push(`  ${info.loadIds.length} load package(s): ${info.loadIds.join(', ')}`);
  const tables = Object.entries(info.rowCounts).sort(([a], [b]) => a.localeCompare(b));
  if (tables.length > 0) {
    const width = Math.max(...tables.map(([t]) => t.length));
    lines.push('  rows loaded:');
    for (const [table, rows] of tables)
      lines.push(`    ${table.padEnd(width)}  ${rows.toLocaleString('en-US').padStart(10)}`);
  }
  const newTables = info.schemaChanges.filter((c) => c.newTable).length;
  const newColumns = info.schemaChanges.reduce(
    (n, c) => n + (c.newTable ? 0 : Object.keys(c.newColumns).length),
    0,
  );
  if (newTables + newColumns > 0)
    lines.push(`  schema v${info.schemaVersion}: ${newTables} new table(s), ${newColumns} new column(s)`);
  const t = info.timings;
  const stages = (['sync', 'extract', 'normalize', 'load'] as const)
    .filter((s) => t[s] !== undefined)
    .map((s) => `${s} ${formatDuration(t[s] ?? 0)}`);
  lines.push(`  time: ${[...stages, `total ${formatDuration(t.total)}`].join(' · ')}`);
  const dbt = info.extras['dbtCloud'] as Record<string, unknown> | undefined;
  if (dbt !== undefined) {
    const run = dbt['runId'] === undefined ? '' : ` run ${String(dbt['runId'])}`;
    const err = typeof dbt['error'] === 'string' ? `: ${dbt['error']}` : '';
    lines.push(`  dbt Cloud job ${String(dbt['jobId'])}${run}: ${String(dbt['outcome'])}${err}`);
  }
  return lines.join('\n');
}
