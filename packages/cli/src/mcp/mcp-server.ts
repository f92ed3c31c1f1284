import { readFile } from 'node:fs/promises';
import { McpServer } from '@modelcontextprotocol/sdk/server/mcp.js';
import { z } from 'zod';
import { parseDuration } from '../config/duration.ts';
import type { Redactor } from '../config/redactor.ts';
import { SOURCE_TYPES } from '../sources/source-registry.ts';
import { describeError, UsageError } from '../commands/context.ts';
import { runTeamFile } from '../commands/run.ts';
import { teamJsonSchemaText } from '../commands/schema.ts';
import { validateFiles } from '../commands/validate.ts';
import { loadDbtCloud, NO_SETTINGS_SOURCES } from '../engine/dbt-cloud-module.ts';
import { describeRun } from '../transform/dbt-cloud-transform.ts';
import { toId } from '../config/zod-helpers.ts';
import { boundResult, toPlainJson } from './mcp-bound.ts';
import { checkCredentials } from './check-credentials.ts';
import {
  insideRoot,
  resolvePipeline,
  rootTeamFiles,
  shown,
  type FerryMcpOptions,
  type McpCall,
} from './mcp-context.ts';
import { boundedQuery, describeTable, listTables, pipelineSummary, withDataset } from './mcp-data.ts';
import { redactDeep, rootRedactor } from './mcp-secrets.ts';
import { pipelineResources, sourceTypeResources } from './source-resources.ts';

/** Version the server reports in `initialize` (the CLI's). */
export const FERRY_MCP_VERSION = '0.1.0';

/** Defaults of {@link FerryMcpOptions} other than `root` and `env`. */
export const MCP_DEFAULTS = {
  allowWrites: false,
  maxResultBytes: 100_000,
  queryTimeoutMs: 30_000,
  maxQueryRows: 500,
  checkTimeoutMs: 15_000,
} as const;

const pipelineArg = z
  .string()
  .min(1)
  .max(500)
  .describe('Pipeline name (pipeline.name of a team file in the folder) or a team file path inside it.');

const loose = <T extends z.ZodRawShape>(shape: T) => z.looseObject(shape);

type ToolResult = {
  content: { type: 'text'; text: string }[];
  structuredContent?: Record<string, unknown>;
  isError?: boolean;
};

/**
 * The Ferry MCP server (not yet connected): tools over the team files in `options.root` and the datasets
 * their pipelines loaded. Every result and error passes through one redactor (every value from `${VAR}`
 * or a secrets file, and secret-named environment variables) and is capped at `maxResultBytes`. The
 * write tools exist only with `allowWrites`.
 */
export function createFerryMcpServer(options: FerryMcpOptions): McpServer {
  const server = new McpServer(
    { name: 'ferry', title: 'Ferry', version: FERRY_MCP_VERSION },
    {
      capabilities: { tools: {}, resources: {} },
      instructions:
        'Ferry loads data from APIs into warehouses; one YAML team file per pipeline. Validate a team file ' +
        '(validate_team_file) before running it; check which ${VAR}s it needs with check_credentials ' +
        '(values are never shown: ask the user to export them or put them in the secrets_file); inspect ' +
        'what landed with list_tables, table_schema, sample_rows and query (read-only).',
    },
  );

  const newCall = async (): Promise<McpCall> => {
    const redactors: Redactor[] = [await rootRedactor(await rootTeamFiles(options), options.env)];
    return {
      options,
      redact: (text) => redactors.reduce((t, r) => r.redact(t), text),
      track: (r) => void redactors.push(r),
    };
  };

  const respond = (call: McpCall, value: unknown): ToolResult => {
    const redacted = redactDeep(toPlainJson(value), call) as Record<string, unknown>;
    const bounded = boundResult(redacted, options.maxResultBytes);
    const text = JSON.stringify(bounded);
    if (bounded['error'] !== undefined && bounded['truncated'] === true)
      return { content: [{ type: 'text', text }], isError: true };
    return { content: [{ type: 'text', text }], structuredContent: bounded };
  };

  const fail = (call: McpCall | undefined, error: unknown, tool: string): ToolResult => {
    const message = describeError(error, (t) => (call === undefined ? '(error withheld)' : call.redact(t)));
    options.log(`ferry mcp: ${tool}: ${message}`);
    const code = (error as { code?: unknown }).code;
    return {
      content: [
        { type: 'text', text: `${typeof code === 'string' ? `${code}: ` : ''}${message}`.slice(0, 8_000) },
      ],
      isError: true,
    };
  };

  const tool = <I extends z.ZodRawShape, O extends z.ZodRawShape>(
    name: string,
    config: { title: string; description: string; input: I; output: O; readOnly: boolean },
    fn: (args: z.infer<z.ZodObject<I>>, call: McpCall) => Promise<unknown>,
  ): void => {
    server.registerTool(
      name,
      {
        title: config.title,
        description: config.description,
        inputSchema: config.input,
        outputSchema: loose(config.output),
        annotations: {
          readOnlyHint: config.readOnly,
          destructiveHint: false,
          openWorldHint: !config.readOnly,
        },
      },
      // the SDK's callback type is generic over the shape; the wrapper keeps each tool's args typed
      (async (args: z.infer<z.ZodObject<I>>): Promise<ToolResult> => {
        let call: McpCall | undefined;
        try {
          call = await newCall();
          return respond(call, await fn(args, call));
        } catch (error) {
          return fail(call, error, name);
        }
      }) as never,
    );
  };

  const problem = z.object({
    file: z.string(),
    line: z.number().optional(),
    col: z.number().optional(),
    path: z.string(),
    message: z.string(),
  });

  tool(
    'list_pipelines',
    {
      title: 'List pipelines',
      description:
        'Every team file (*.yaml) in the folder: its pipeline name, source and destination types and dataset, or how many problems keep it from validating.',
      input: {},
      output: { root: z.string(), pipelines: z.array(z.looseObject({ file: z.string(), ok: z.boolean() })) },
      readOnly: true,
    },
    async () => {
      const files = await rootTeamFiles(options);
      const results = await validateFiles(
        files.map((f) => shown(options, f)),
        { env: options.env, cwd: options.root },
      );
      return {
        root: options.root,
        pipelines: results.map((r) =>
          r.config === undefined
            ? { file: r.file, ok: false, problems: r.problems.length }
            : {
                file: r.file,
                ok: true,
                pipeline: r.config.pipeline.name,
                source: r.config.source.type,
                destination: r.config.destination.type,
                ...(r.config.pipeline.dataset === undefined ? {} : { dataset: r.config.pipeline.dataset }),
                transform: r.config.transform.dbtCloud === undefined ? null : 'dbt_cloud',
              },
        ),
      };
    },
  );

  tool(
    'validate_team_file',
    {
      title: 'Validate team files',
      description:
        'The problems `ferry validate` reports (YAML syntax, unknown or mistyped fields, unset ${VAR}s), each with file, line, column and field path. Connects nowhere. Without `file`, every team file in the folder.',
      input: {
        file: z
          .string()
          .min(1)
          .max(500)
          .optional()
          .describe('Team file path inside the folder. Default: all.'),
      },
      output: {
        ok: z.boolean(),
        results: z.array(z.looseObject({ file: z.string(), ok: z.boolean(), problems: z.array(problem) })),
      },
      readOnly: true,
    },
    async ({ file }) => {
      const files =
        file === undefined
          ? (await rootTeamFiles(options)).map((f) => shown(options, f))
          : [shown(options, insideRoot(options, file))];
      const results = await validateFiles(files, { env: options.env, cwd: options.root });
      return {
        ok: results.every((r) => r.ok),
        results: results.map((r) => ({
          file: r.file,
          ok: r.ok,
          problems: r.problems,
          ...(r.config === undefined
            ? {}
            : {
                pipeline: r.config.pipeline.name,
                source: r.config.source.type,
                destination: r.config.destination.type,
                variables: r.config.variables,
              }),
        })),
      };
    },
  );

  tool(
    'team_file_schema',
    {
      title: 'Team file JSON Schema',
      description:
        'The JSON Schema (draft 2020-12) of team files, generated from the schema that validates them (`ferry schema`). Also the resource ferry://schema/team-file.json.',
      input: {},
      output: { schema: z.record(z.string(), z.unknown()) },
      readOnly: true,
    },
    async () => ({ schema: JSON.parse(teamJsonSchemaText()) as unknown }),
  );

  tool(
    'list_source_resources',
    {
      title: 'List source resources',
      description:
        "What a source can load: each resource's table, endpoint, API version and paginator. With `pipeline`, the resources of that team file's source (selected or not, write disposition, primary key, cursor); nothing is fetched.",
      input: {
        pipeline: pipelineArg.optional(),
        source_type: z
          .string()
          .max(100)
          .optional()
          .describe(`A source type (${Object.keys(SOURCE_TYPES).join(', ')}) when no pipeline is given.`),
      },
      output: { sourceType: z.string(), resources: z.array(z.looseObject({ name: z.string() })) },
      readOnly: true,
    },
    async ({ pipeline, source_type }, call) => {
      if (pipeline !== undefined) {
        const cfg = await resolvePipeline(call, pipeline);
        return {
          sourceType: cfg.source.type,
          pipeline: cfg.pipeline.name,
          resources: await pipelineResources(cfg),
        };
      }
      if (source_type === undefined)
        throw new UsageError(`give pipeline or source_type (one of ${Object.keys(SOURCE_TYPES).join(', ')})`);
      return { sourceType: source_type, resources: await sourceTypeResources(source_type) };
    },
  );

  tool(
    'check_credentials',
    {
      title: 'Check credentials',
      description:
        'Which ${VAR}s a team file needs, which are set (environment or secrets_file) and which are missing — names only, never a value — then one cheap authenticated call to the source and the destination each.',
      input: { pipeline: pipelineArg },
      output: {
        file: z.string(),
        variables: z.array(z.looseObject({ variable: z.string(), status: z.string() })),
        missing: z.array(z.string()),
        checks: z.array(z.looseObject({ target: z.string(), status: z.string() })),
      },
      readOnly: true,
    },
    async ({ pipeline }, call) => {
      let abs: string;
      if (/\.ya?ml$/i.test(pipeline)) abs = insideRoot(options, pipeline);
      else abs = insideRoot(options, (await resolvePipeline(call, pipeline)).file);
      return checkCredentials(abs, call);
    },
  );

  tool(
    'pipeline_info',
    {
      title: 'Pipeline info',
      description:
        'Where a pipeline loads (destination, dataset, local folder), its tables with row counts, the last loads, the stored schema version and the incremental state. Read-only.',
      input: { pipeline: pipelineArg },
      output: {
        pipeline: z.string(),
        dataset: z.string(),
        tables: z.array(z.looseObject({ name: z.string() })),
      },
      readOnly: true,
    },
    async ({ pipeline }, call) => {
      const cfg = await resolvePipeline(call, pipeline);
      return withDataset(cfg, (ds) => pipelineSummary(cfg, ds));
    },
  );

  tool(
    'list_tables',
    {
      title: 'List tables',
      description:
        "The tables a pipeline loaded: parent of each child table, resource, write disposition, column and row counts. Ferry's _ferry_* tables with include_system.",
      input: {
        pipeline: pipelineArg,
        include_system: z
          .boolean()
          .optional()
          .describe('Also list _ferry_* bookkeeping tables. Default false.'),
      },
      output: { dataset: z.string(), tables: z.array(z.looseObject({ name: z.string() })) },
      readOnly: true,
    },
    async ({ pipeline, include_system }, call) => {
      const cfg = await resolvePipeline(call, pipeline);
      return withDataset(cfg, async (ds) => ({
        pipeline: cfg.pipeline.name,
        dataset: ds.name,
        tables: await listTables(ds, include_system === true),
      }));
    },
  );

  tool(
    'table_schema',
    {
      title: 'Table schema',
      description:
        'Columns of one table (portable type, nullable, primary/merge key, source field path), its parent and its child tables.',
      input: { pipeline: pipelineArg, table: z.string().min(1).max(300) },
      output: {
        table: z.string(),
        columns: z.array(z.looseObject({ name: z.string(), dataType: z.string() })),
      },
      readOnly: true,
    },
    async ({ pipeline, table }, call) => {
      const cfg = await resolvePipeline(call, pipeline);
      return withDataset(cfg, (ds) => describeTable(ds, table));
    },
  );

  tool(
    'sample_rows',
    {
      title: 'Sample rows',
      description:
        'A bounded page of rows of one table (default 10, at most 100), optionally some columns only.',
      input: {
        pipeline: pipelineArg,
        table: z.string().min(1).max(300),
        limit: z.number().int().min(1).max(100).optional().describe('Rows. Default 10, at most 100.'),
        offset: z.number().int().min(0).optional().describe('Rows to skip. Default 0.'),
        columns: z
          .array(z.string().max(300))
          .max(200)
          .optional()
          .describe('Only these columns. Default all.'),
      },
      output: { table: z.string(), rows: z.array(z.record(z.string(), z.unknown())) },
      readOnly: true,
    },
    async ({ pipeline, table, limit, offset, columns }, call) => {
      const cfg = await resolvePipeline(call, pipeline);
      return withDataset(cfg, async (ds) => {
        const n = limit ?? 10;
        let rel = ds.table(table).limit(n + 1);
        if (offset !== undefined && offset > 0) rel = rel.offset(offset);
        if (columns !== undefined && columns.length > 0) rel = rel.select(...columns);
        const rows = await rel.toArray();
        return { table, offset: offset ?? 0, rows: rows.slice(0, n), more: rows.length > n };
      });
    },
  );

  tool(
    'query',
    {
      title: 'Read-only SQL',
      description: `One read-only SELECT/WITH statement on a pipeline's dataset, the same path as \`ferry query\` (DDL, DML and multiple statements refused). Tables are qualified by the dataset (see list_tables). $1, $2 … bind params. At most ${options.maxQueryRows} rows; cancelled after ${options.queryTimeoutMs} ms.`,
      input: {
        pipeline: pipelineArg,
        sql: z.string().min(1).max(100_000),
        params: z
          .array(z.union([z.string(), z.number(), z.boolean(), z.null()]))
          .max(100)
          .optional()
          .describe('Values for $1, $2 …'),
        max_rows: z
          .number()
          .int()
          .min(1)
          .max(options.maxQueryRows)
          .optional()
          .describe(
            `Row cap. Default ${Math.min(100, options.maxQueryRows)}, at most ${options.maxQueryRows}.`,
          ),
      },
      output: { rows: z.array(z.record(z.string(), z.unknown())), more: z.boolean() },
      readOnly: true,
    },
    async ({ pipeline, sql, params, max_rows }, call) => {
      const cfg = await resolvePipeline(call, pipeline);
      return withDataset(cfg, async (ds) => {
        const r = await boundedQuery(ds, sql, params ?? [], {
          maxRows: max_rows ?? Math.min(100, options.maxQueryRows),
          timeoutMs: options.queryTimeoutMs,
        });
        return { dataset: ds.name, rows: r.rows, rowCount: r.rows.length, more: r.more };
      });
    },
  );

  if (options.allowWrites) {
    tool(
      'run_pipeline',
      {
        title: 'Run a pipeline',
        description:
          'Run a team pipeline like `ferry run`: extract, normalize, load, then the dbt Cloud transform unless skip_transform. Returns the outcome, rows and the load info.',
        input: {
          pipeline: pipelineArg,
          skip_transform: z.boolean().optional().describe('Do not run transform.dbt_cloud. Default false.'),
        },
        output: { status: z.string(), exitCode: z.number(), rows: z.number() },
        readOnly: false,
      },
      async ({ pipeline, skip_transform }, call) => {
        const cfg = await resolvePipeline(call, pipeline);
        const lines: string[] = [];
        const sink = { write: (s: string) => void lines.push(s) };
        const result = await runTeamFile(
          cfg.file,
          { stdout: sink, stderr: sink, env: options.env, cwd: options.root, format: 'json' },
          { skipTransform: skip_transform === true },
        );
        const events = lines
          .join('')
          .split('\n')
          .filter((l) => l.startsWith('{'))
          .map((l) => JSON.parse(l) as Record<string, unknown>);
        const info = events.find((e) => e['event'] === 'load_info')?.['info'];
        return { ...result, ...(info === undefined ? {} : { loadInfo: info }) };
      },
    );

    tool(
      'dbt_cloud_trigger_job',
      {
        title: 'Trigger a dbt Cloud job',
        description:
          'Trigger a dbt Cloud job with the connection of a team file (its transform.dbt_cloud, else its dbt_cloud source). job_id defaults to transform.dbt_cloud.job_id. With wait, waits for the outcome (bounded by timeout).',
        input: {
          pipeline: pipelineArg,
          job_id: z.union([z.number().int().positive(), z.string().regex(/^\d+$/)]).optional(),
          wait: z.boolean().optional().describe('Wait for the run to finish. Default false.'),
          timeout: z
            .string()
            .max(20)
            .optional()
            .describe('With wait: give up after this long, e.g. 10m. Default 10m.'),
          cause: z.string().max(255).optional(),
        },
        output: { outcome: z.string() },
        readOnly: false,
      },
      async ({ pipeline, job_id, wait, timeout, cause }, call) => {
        const cfg = await resolvePipeline(call, pipeline);
        const connection =
          cfg.transform.dbtCloud?.connection ?? cfg.source.sourceType.dbtCloudConnection?.(cfg.source.config);
        if (connection === undefined)
          throw new UsageError(`${cfg.file} has neither a dbt_cloud source nor transform.dbt_cloud`);
        const jobId = job_id ?? cfg.transform.dbtCloud?.jobId;
        if (jobId === undefined)
          throw new UsageError(`give job_id: ${cfg.file} has no transform.dbt_cloud.job_id`);
        const timeoutMs = timeout === undefined ? 10 * 60_000 : parseDuration(timeout);
        if (timeoutMs === undefined)
          throw new UsageError(`timeout '${timeout}': expected a duration like 10m`);
        const mod = await loadDbtCloud();
        try {
          const run = await mod.runDbtCloudJob({
            credentials: { ...connection },
            settingsSources: NO_SETTINGS_SOURCES,
            jobId: toId(String(jobId)),
            waitForOutcome: wait === true,
            timeoutMs,
            trigger: { cause: cause ?? `Triggered by ferry mcp (${cfg.pipeline.name})` },
          });
          const d = describeRun(run);
          return {
            jobId: String(jobId),
            ...d.fields,
            outcome: wait === true ? (d.outcome ?? 'success') : 'triggered',
          };
        } catch (error) {
          const d = describeRun(error);
          if (d.fields.runId === undefined) throw error;
          return {
            jobId: String(jobId),
            ...d.fields,
            outcome: d.outcome ?? 'error',
            error: describeError(error, (t) => call.redact(t)),
          };
        }
      },
    );
  }

  registerResources(server);
  return server;
}

/** A `## Heading` section of a Markdown file (to the next heading of the same level). */
export function markdownSection(markdown: string, heading: string): string | undefined {
  const lines = markdown.split('\n');
  let inFence = false;
  let start = -1;
  let end = lines.length;
  for (const [i, line] of lines.entries()) {
    if (/^(```|~~~)/.test(line)) inFence = !inFence;
    if (inFence) continue;
    if (start < 0 && new RegExp(`^##\\s+${heading}\\s*$`, 'i').test(line)) start = i;
    else if (start >= 0 && /^##?\s/.test(line)) {
      end = i;
      break;
    }
  }
  return start < 0 ? undefined : `${lines.slice(start, end).join('\n').trim()}\n`;
}

/** The CLI package's README (shipped with the package, next to `src/` and `dist/`). */
async function cliReadme(): Promise<string> {
  return readFile(new URL('../../README.md', import.meta.url), 'utf8').catch(() => '');
}

function registerResources(server: McpServer): void {
  server.registerResource(
    'team-file-schema',
    'ferry://schema/team-file.json',
    {
      title: 'Team file JSON Schema',
      description: 'JSON Schema of Ferry team files (`ferry schema`).',
      mimeType: 'application/schema+json',
    },
    async (uri) => ({
      contents: [{ uri: uri.href, mimeType: 'application/schema+json', text: teamJsonSchemaText() }],
    }),
  );
  const section = (name: string, uri: string, title: string, heading: string, fallback: () => string) =>
    server.registerResource(
      name,
      uri,
      { title, description: `README: ${heading}`, mimeType: 'text/markdown' },
      async (u) => ({
        contents: [
          {
            uri: u.href,
            mimeType: 'text/markdown',
            text: markdownSection(await cliReadme(), heading) ?? fallback(),
          },
        ],
      }),
    );
  section(
    'team-files',
    'ferry://docs/team-files',
    'Team files',
    'Team file',
    () => '# Team file\n\nSee `ferry schema`.\n',
  );
  section(
    'sources',
    'ferry://docs/sources',
    'Sources',
    'Sources',
    () =>
      `## Sources\n\n${Object.keys(SOURCE_TYPES)
        .map((t) => `- \`${t}\``)
        .join('\n')}\n`,
  );
}
