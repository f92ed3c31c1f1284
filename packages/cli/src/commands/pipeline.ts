import { stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import type { Destination, DestinationClient, Pipeline } from '@ferry/core';
import { createDestination } from '@ferry/destinations';
import { loadTeamConfig, type TeamConfig, type TeamConfigScope } from '../config/load-team-config.ts';
import { teamPipeline } from '../engine/core-module.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { jsonReplacer } from '../output/reporter.ts';
import { UsageError, describeError, teamLoadOptions, type CommandContext } from './context.ts';
import { validateFiles } from './validate.ts';

/** How `ferry pipeline <op> <name>` finds the team file. */
export interface PipelineTarget {
  /** A team YAML file (wins over the name lookup). */
  config?: string;
  /** Folder searched for a team file whose `pipeline.name` is the name. Default `$FERRY_CONFIG_DIR`, else `.`. */
  dir?: string;
}

/**
 * Resolve `<name>` to a team config: a path to a YAML file, or the `pipeline.name` of a file in the
 * config folder. The destination and dataset come from that file, so nothing local is needed. `scope`
 * says what the command uses: `destination` for commands that only read the destination (`query`,
 * `pipeline info`, `pipeline show`: no source secrets needed); default `all`.
 */
export async function resolveTeam(
  name: string,
  target: PipelineTarget,
  ctx: CommandContext,
  scope: TeamConfigScope = 'all',
): Promise<TeamConfig> {
  if (target.config !== undefined) return loadTeamConfig(target.config, teamLoadOptions(ctx, scope));
  if (
    /\.ya?ml$/i.test(name) &&
    (await stat(resolve(ctx.cwd, name)).catch(() => undefined))?.isFile() === true
  ) {
    return loadTeamConfig(name, teamLoadOptions(ctx, scope));
  }
  const dir = target.dir ?? ctx.env['FERRY_CONFIG_DIR'] ?? '.';
  const results = await validateFiles([dir], ctx, scope).catch(() => []);
  const match = results.find((r) => r.config?.pipeline.name === name);
  if (match?.config !== undefined) return match.config;
  const broken = results.filter((r) => !r.ok).map((r) => r.file);
  throw new UsageError(
    `no team file with pipeline.name '${name}' in ${dir}${broken.length > 0 ? ` (invalid files skipped: ${broken.join(', ')})` : ''}; pass --config <file.yaml> or --dir <folder>`,
  );
}

async function withClient<T>(
  cfg: TeamConfig,
  fn: (client: DestinationClient, dataset: string, destination: Destination, p: Pipeline) => Promise<T>,
): Promise<T> {
  const destination = await createDestination(cfg.destination);
  const p = await teamPipeline(cfg, {}, destination);
  try {
    const client = await p.connect();
    return await fn(client, p.destinationDataset, destination, p);
  } finally {
    await p.close();
  }
}

/** What `ferry pipeline info` reports. */
export interface PipelineInfo {
  pipeline: string;
  dataset: string;
  destination: string;
  tables: { name: string; columns: number; rows: number | null; system: boolean }[];
  lastLoads: Record<string, unknown>[];
  state: unknown;
  schema: { name: string; version?: unknown; tables: number } | undefined;
  localDir: string;
  /** Packages moved aside after a failure retrying cannot fix (kept in `<localDir>/failed/`), oldest first. */
  failedPackages: { loadId: string; failedAt: string; error: string; dir: string; movedWith?: string }[];
}

/** Gather tables, row counts, the last loads, the stored state and schema of a pipeline's dataset. */
export async function pipelineInfo(cfg: TeamConfig, options: { loads?: number } = {}): Promise<PipelineInfo> {
  return withClient(cfg, async (client, dataset, destination, p) => {
    const tables = await client.introspect();
    const reader = client.reader;
    const out: PipelineInfo['tables'] = [];
    for (const [name, table] of Object.entries(tables).sort(([a], [b]) => a.localeCompare(b))) {
      let rows: number | null = null;
      if (reader !== undefined) {
        const r = await reader
          .query(`SELECT COUNT(*) AS n FROM ${reader.qualifiedTable(name)}`)
          .catch(() => undefined);
        const n = r?.[0]?.['n'];
        rows = n === undefined || n === null ? null : Number(n);
      }
      out.push({
        name,
        columns: Object.keys(table.columns ?? {}).length,
        rows,
        system: name.startsWith('_ferry_'),
      });
    }
    let lastLoads: Record<string, unknown>[] = [];
    const loads = tables['_ferry_loads'];
    if (reader !== undefined && loads !== undefined) {
      const order =
        'load_id' in (loads.columns ?? {}) ? ` ORDER BY ${reader.quoteIdentifier('load_id')} DESC` : '';
      lastLoads = await reader
        .query(`SELECT * FROM ${reader.qualifiedTable('_ferry_loads')}${order} LIMIT ${options.loads ?? 5}`)
        .catch(() => []);
    }
    const state = await client
      .getStoredState(cfg.pipeline.name)
      .catch((e: unknown) => ({ error: describeError(e) }));
    const schemaName =
      (await cfg.source.sourceType.create(cfg.source.config).catch(() => undefined))?.name ?? cfg.source.type;
    const schema = await client.getStoredSchema(schemaName).catch(() => undefined);
    return {
      pipeline: cfg.pipeline.name,
      dataset,
      destination: destination.describe(),
      tables: out,
      lastLoads,
      state,
      schema:
        schema === undefined
          ? undefined
          : {
              name: String((schema as { name?: unknown }).name ?? ''),
              version: (schema as { version?: unknown }).version,
              tables: Object.keys((schema as { tables?: object }).tables ?? {}).length,
            },
      localDir: join(cfg.pipeline.dataDir, cfg.pipeline.name),
      failedPackages: (await p.failedPackages()).map((f) => ({
        loadId: f.loadId,
        failedAt: f.failedAt,
        error: f.error,
        dir: f.dir,
        ...(f.movedWith === undefined ? {} : { movedWith: f.movedWith }),
      })),
    };
  });
}

/** `ferry pipeline info <name>`. */
export async function pipelineInfoCommand(
  name: string,
  target: PipelineTarget,
  ctx: CommandContext,
  options: { json?: boolean } = {},
): Promise<ExitCode> {
  const cfg = await resolveTeam(name, target, ctx, 'destination');
  const info = await pipelineInfo(cfg);
  if (ctx.format === 'json' || options.json === true) {
    ctx.stdout.write(
      `${cfg.redactor.redact(JSON.stringify({ ts: new Date().toISOString(), level: 'info', event: 'pipeline_info', ...info }, jsonReplacer))}\n`,
    );
    return EXIT.ok;
  }
  const lines = [
    `Pipeline ${info.pipeline}: dataset ${info.dataset} at ${info.destination}`,
    `  local folder: ${info.localDir}`,
  ];
  const width = Math.max(5, ...info.tables.map((t) => t.name.length));
  lines.push('', `  ${'TABLE'.padEnd(width)}  ${'ROWS'.padStart(10)}  COLUMNS`);
  for (const t of info.tables.filter((x) => !x.system)) {
    lines.push(
      `  ${t.name.padEnd(width)}  ${(t.rows === null ? 'n/a' : t.rows.toLocaleString('en-US')).padStart(10)}  ${t.columns}`,
    );
  }
  const system = info.tables.filter((x) => x.system);
  if (system.length > 0)
    lines.push(`  (system: ${system.map((t) => `${t.name} ${t.rows ?? 'n/a'}`).join(', ')})`);
  if (info.tables.length === 0) lines.push('  (no tables yet: run the pipeline first)');
  if (info.lastLoads.length > 0) {
    lines.push('', '  last loads:');
    for (const l of info.lastLoads) lines.push(`    ${JSON.stringify(l, jsonReplacer)}`);
  }
  if (info.schema !== undefined)
    lines.push(
      '',
      `  schema ${info.schema.name} v${String(info.schema.version)}: ${info.schema.tables} table(s)`,
    );
  if (info.failedPackages.length > 0) {
    lines.push('', '  failed packages (moved aside, never loaded; delete the folder when done with it):');
    for (const f of info.failedPackages)
      lines.push(
        `    ${f.loadId}  ${f.failedAt}  ${f.movedWith === undefined ? f.error : `moved with ${f.movedWith}`}`,
        `      ${f.dir}`,
      );
  }
  lines.push(
    '',
    '  state:',
    ...JSON.stringify(info.state ?? null, jsonReplacer, 2)
      .split('\n')
      .map((l) => `    ${l}`),
  );
  ctx.stdout.write(`${cfg.redactor.redact(lines.join('\n'))}\n`);
  return EXIT.ok;
}

/**
 * `ferry pipeline show <name>`: serve the dashboard on 127.0.0.1 (a free port unless `--port`), print its
 * URL, and keep serving until SIGINT/SIGTERM (or `options.until` resolves, for tests).
 */
export async function pipelineShowCommand(
  name: string,
  target: PipelineTarget,
  ctx: CommandContext,
  options: { port?: number; until?: Promise<void>; queryTimeoutMs?: number } = {},
): Promise<ExitCode> {
  const cfg = await resolveTeam(name, target, ctx, 'destination');
  const p = await teamPipeline(cfg);
  const { startDashboard } = await import('@ferry/dashboard');
  const dashboard = await startDashboard({
    pipeline: p,
    port: options.port ?? 0,
    ...(options.queryTimeoutMs === undefined ? {} : { queryTimeoutMs: options.queryTimeoutMs }),
  });
  // JSON logs get shipped to log stores: they carry the origin only; the token is for whoever started it.
  if (ctx.format === 'json') {
    ctx.stdout.write(
      `${JSON.stringify({ ts: new Date().toISOString(), level: 'info', event: 'dashboard', url: dashboard.origin, pipeline: cfg.pipeline.name })}\n`,
    );
    ctx.stderr.write(`Ferry dashboard (open with its access token): ${dashboard.url}\n`);
  } else ctx.stdout.write(`Ferry dashboard for ${cfg.pipeline.name}: ${dashboard.url}  (Ctrl-C to stop)\n`);
  await (options.until ??
    new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    }));
  await dashboard.close();
  return EXIT.ok;
}

/** `ferry pipeline drop <name> --yes`: drop the dataset at the destination and the local working folder. */
export async function pipelineDropCommand(
  name: string,
  target: PipelineTarget,
  ctx: CommandContext,
  options: { yes?: boolean } = {},
): Promise<ExitCode> {
  const cfg = await resolveTeam(name, target, ctx);
  const p = await teamPipeline(cfg);
  const dataset = p.destinationDataset;
  if (options.yes !== true) {
    throw new UsageError(
      `this drops dataset '${dataset}' (every table, the state and the load history) at ${cfg.destination.type}; re-run with --yes to confirm`,
    );
  }
  // Under the run lock and the destination's pipeline lock; refuses a working folder Ferry did not create.
  await p.drop();
  const local = join(cfg.pipeline.dataDir, cfg.pipeline.name);
  report(
    ctx,
    'pipeline_dropped',
    { pipeline: cfg.pipeline.name, dataset, localDir: local },
    `dropped dataset ${dataset} and ${local}`,
  );
  return EXIT.ok;
}

/** `ferry pipeline sync <name>`: wipe local state and restore it from the destination. */
export async function pipelineSyncCommand(
  name: string,
  target: PipelineTarget,
  ctx: CommandContext,
): Promise<ExitCode> {
  const cfg = await resolveTeam(name, target, ctx);
  // dlt's `pipeline sync`: wipe the local working folder, then restore state and schema from the
  // destination, under the run lock and the destination's pipeline lock; a folder Ferry did not create
  // is refused (FOLDER_NOT_OWNED), never deleted.
  const source = await cfg.source.sourceType.create(cfg.source.config);
  const p = await teamPipeline(cfg);
  const result: unknown = await p.resetFromDestination([source.name]);
  report(
    ctx,
    'pipeline_synced',
    { pipeline: cfg.pipeline.name, result: cfg.redactor.redactValue(result ?? null) },
    `restored ${cfg.pipeline.name} from the destination${result === undefined ? '' : `: ${JSON.stringify(cfg.redactor.redactValue(result), jsonReplacer)}`}`,
  );
  return EXIT.ok;
}

/** `ferry pipeline drop-pending <name>`: delete local packages that were never loaded. */
export async function pipelineDropPendingCommand(
  name: string,
  target: PipelineTarget,
  ctx: CommandContext,
): Promise<ExitCode> {
  const cfg = await resolveTeam(name, target, ctx);
  const p = await teamPipeline(cfg);
  let result: unknown;
  try {
    result = await p.dropPending();
  } finally {
    await p.close();
  }
  report(
    ctx,
    'pending_dropped',
    { pipeline: cfg.pipeline.name, result: result ?? null },
    `dropped pending packages of ${cfg.pipeline.name}${result === undefined ? '' : `: ${JSON.stringify(result, jsonReplacer)}`}`,
  );
  return EXIT.ok;
}

function report(ctx: CommandContext, event: string, fields: Record<string, unknown>, text: string): void {
  if (ctx.format === 'json')
    ctx.stdout.write(
      `${JSON.stringify({ ts: new Date().toISOString(), level: 'info', event, ...fields }, jsonReplacer)}\n`,
    );
  else ctx.stdout.write(`${text}\n`);
}
