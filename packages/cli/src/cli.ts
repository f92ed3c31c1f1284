import { Command, CommanderError, Option } from 'commander';
import { EXIT, EXIT_CODE_HELP } from './exit-codes.ts';
import { Redactor } from './config/redactor.ts';
import type { TextSink } from './output/reporter.ts';
import { terminalSink } from './output/terminal-text.ts';
import { describeError, exitCodeFor, resolveFormat, type CommandContext } from './commands/context.ts';
import { runTeamFile } from './commands/run.ts';
import { runAll } from './commands/run-all.ts';
import { validateCommand } from './commands/validate.ts';
import { schemaCommand } from './commands/schema.ts';
import {
  pipelineDropCommand,
  pipelineDropPendingCommand,
  pipelineInfoCommand,
  pipelineShowCommand,
  pipelineSyncCommand,
  type PipelineTarget,
} from './commands/pipeline.ts';
import { emulatorCommand, runJobCommand, runStatusCommand } from './commands/dbt-cloud.ts';
import { demoCommand } from './commands/demo.ts';
import { queryCommand, type QueryFormat } from './commands/query.ts';
import { pipelineTypesCommand } from './commands/types.ts';
import { mcpCommand, type McpCommandFlags } from './mcp/mcp-command.ts';
import { aiInitCommand, AI_AGENTS, type AiAgent } from './ai/ai-init.ts';

/** Where `main` reads and writes; defaults are the process's. */
export interface CliIO {
  stdout?: TextSink;
  stderr?: TextSink;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

const VERSION = '0.1.0';

/**
 * Run the `ferry` command line with `argv` (without `node` and the script) and return the exit code
 * (see {@link EXIT}). Never calls `process.exit`: `bin.ts` does, so this is testable in-process.
 */
export async function main(argv: readonly string[], io: CliIO = {}): Promise<number> {
  // Ferry writes no escape sequences of its own to these (bars draw on process.stderr directly), so on a
  // terminal anything escaping there came from outside: an API message, a record, a table name.
  const stdout = terminalSafe(io.stdout ?? process.stdout);
  const stderr = terminalSafe(io.stderr ?? process.stderr);
  const env = io.env ?? process.env;
  const cwd = io.cwd ?? process.cwd();
  // Learns every secret of every team file a command loads (by provenance): an error that escapes a
  // command is redacted with it below.
  const redactor = new Redactor();
  let exitCode: number = EXIT.ok;
  let format: 'json' | 'pretty' = resolveFormat(env['FERRY_LOG_FORMAT'], stdout);
  const ctx = (): CommandContext => ({ stdout, stderr, env, cwd, format, redactor });

  const program = new Command('ferry')
    .description('Ferry: load data from APIs into warehouses, one YAML file per team.')
    .version(VERSION)
    .addOption(
      new Option('--log-format <format>', 'auto: bars on a terminal, JSON lines otherwise')
        .choices(['auto', 'json', 'pretty'])
        .default(env['FERRY_LOG_FORMAT'] ?? 'auto'),
    )
    .addHelpText(
      'after',
      `\n${EXIT_CODE_HELP}\n\nEnvironment: FERRY_DATA_DIR (local working folder, default ./.ferry), FERRY_LOG_FORMAT, FERRY_CONFIG_DIR (pipeline commands).`,
    )
    .showHelpAfterError('(run ferry --help for usage)')
    .exitOverride()
    .configureOutput({ writeOut: (s) => void stdout.write(s), writeErr: (s) => void stderr.write(s) });
  program.hook('preAction', (_cmd, action) => {
    format = resolveFormat(String(action.optsWithGlobals()['logFormat'] ?? 'auto'), stdout);
  });

  program
    .command('run')
    .description('Run a team pipeline: extract, normalize, load, then the optional dbt Cloud transform')
    .argument('[file]', 'team YAML file')
    .option(
      '--all <dir>',
      'run every *.yaml in <dir>, each team in its own process; summary table at the end',
    )
    .option('--concurrency <n>', 'teams at once with --all', '1')
    .option('--skip-transform', 'do not run the transform step')
    .option('--json', 'also print the load info as JSON (terminal mode)')
    .action(
      async (
        file: string | undefined,
        opts: { all?: string; concurrency: string; skipTransform?: boolean; json?: boolean },
      ) => {
        if (opts.all !== undefined) {
          if (file !== undefined) throw usage('give either a file or --all <dir>, not both');
          const concurrency = Number(opts.concurrency);
          if (!Number.isInteger(concurrency) || concurrency < 1)
            throw usage(`--concurrency '${opts.concurrency}': expected a positive integer`);
          exitCode = (
            await runAll(opts.all, ctx(), { concurrency, skipTransform: opts.skipTransform === true })
          ).exitCode;
          return;
        }
        if (file === undefined)
          throw usage('missing team file: ferry run <file.yaml> (or ferry run --all <dir>)');
        exitCode = (
          await runTeamFile(file, ctx(), {
            skipTransform: opts.skipTransform === true,
            json: opts.json === true,
          })
        ).exitCode;
      },
    );

  program
    .command('validate')
    .description('Check team files (syntax, types, secrets) without connecting anywhere')
    .argument('<paths...>', 'team YAML files or folders of them')
    .option('--print', 'print the resolved config, secrets redacted')
    .action(async (paths: string[], opts: { print?: boolean }) => {
      exitCode = await validateCommand(paths, ctx(), { print: opts.print === true });
    });

  program
    .command('schema')
    .description('Print the JSON Schema of team files (for editor completion and validation)')
    .option('--out <file>', 'write it to a file instead of stdout')
    .action(async (opts: { out?: string }) => {
      exitCode = await schemaCommand(ctx(), opts.out === undefined ? {} : { out: opts.out });
    });

  program
    .command('query')
    .description("Run one read-only SQL query on a pipeline's dataset (DDL/DML refused)")
    .argument('<name>', 'pipeline name (looked up in --dir) or a team YAML file')
    .argument('<sql>', 'one SELECT/WITH statement; $1, $2 … bind --param values')
    .addOption(
      new Option('--format <format>', 'table on a terminal, json otherwise').choices([
        'table',
        'json',
        'csv',
      ]),
    )
    .option('--param <value...>', 'positional parameters for $1, $2 …')
    .option('--timeout <seconds>', 'cancel the query after this many seconds (default 300)')
    .option('--config <file>', 'the team file of this pipeline')
    .option('--dir <dir>', 'folder of team files to search by pipeline name (default $FERRY_CONFIG_DIR or .)')
    .addHelpText(
      'after',
      `
Read-only, enforced by the destination, not by reading the text: Postgres runs the statement as a cursor's
query through the extended protocol inside BEGIN READ ONLY (rolled back, statement_timeout set); DuckDB and
the filesystem open read-only with file access off and let only one SELECT through DuckDB's own parser;
BigQuery dry-runs it and runs it only when its statementType is SELECT; Snowflake sets
MULTI_STATEMENT_COUNT=1. Use credentials of a read-only role all the same: docs/read-only-roles.md.`,
    )
    .action(
      async (
        name: string,
        sql: string,
        opts: { format?: QueryFormat; param?: string[]; config?: string; dir?: string; timeout?: string },
      ) => {
        exitCode = await queryCommand(name, sql, target(opts), ctx(), {
          ...(opts.format === undefined ? {} : { format: opts.format }),
          ...(opts.param === undefined ? {} : { params: opts.param }),
          ...(opts.timeout === undefined ? {} : { timeoutSeconds: opts.timeout }),
        });
      },
    );

  const pipeline = program
    .command('pipeline')
    .description('Inspect and manage a pipeline at its destination');
  const targetOptions = (cmd: Command): Command =>
    cmd
      .argument('<name>', 'pipeline name (looked up in --dir) or a team YAML file')
      .option('--config <file>', 'the team file of this pipeline')
      .option(
        '--dir <dir>',
        'folder of team files to search by pipeline name (default $FERRY_CONFIG_DIR or .)',
      );
  const target = (opts: { config?: string; dir?: string }): PipelineTarget => ({
    ...(opts.config === undefined ? {} : { config: opts.config }),
    ...(opts.dir === undefined ? {} : { dir: opts.dir }),
  });
  targetOptions(pipeline.command('info').description('Tables, row counts, last loads, schema and state'))
    .option('--json', 'JSON output')
    .action(async (name: string, opts: { config?: string; dir?: string; json?: boolean }) => {
      exitCode = await pipelineInfoCommand(name, target(opts), ctx(), { json: opts.json === true });
    });
  targetOptions(
    pipeline
      .command('show')
      .description('Web dashboard on 127.0.0.1: overview, schema, data, SQL, dbt Cloud charts'),
  )
    .option('--port <port>', 'port (default: a free one)')
    .option('--query-timeout <seconds>', 'cancel a dashboard query after this many seconds (default 30)')
    .action(
      async (name: string, opts: { config?: string; dir?: string; port?: string; queryTimeout?: string }) => {
        const port = opts.port === undefined ? undefined : Number(opts.port);
        if (port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535))
          throw usage(`--port '${opts.port}': expected 0–65535`);
        const timeout = opts.queryTimeout === undefined ? undefined : Number(opts.queryTimeout);
        if (timeout !== undefined && !(Number.isFinite(timeout) && timeout > 0))
          throw usage(`--query-timeout '${opts.queryTimeout}': expected a positive number of seconds`);
        exitCode = await pipelineShowCommand(name, target(opts), ctx(), {
          ...(port === undefined ? {} : { port }),
          ...(timeout === undefined ? {} : { queryTimeoutMs: Math.round(timeout * 1000) }),
        });
      },
    );
  targetOptions(
    pipeline.command('drop').description('Drop the dataset at the destination and the local working folder'),
  )
    .option('--yes', 'confirm')
    .action(async (name: string, opts: { config?: string; dir?: string; yes?: boolean }) => {
      exitCode = await pipelineDropCommand(name, target(opts), ctx(), { yes: opts.yes === true });
    });
  targetOptions(
    pipeline.command('sync').description('Wipe local state and restore it from the destination'),
  ).action(async (name: string, opts: { config?: string; dir?: string }) => {
    exitCode = await pipelineSyncCommand(name, target(opts), ctx());
  });
  targetOptions(
    pipeline.command('drop-pending').description('Delete local packages that were never loaded'),
  ).action(async (name: string, opts: { config?: string; dir?: string }) => {
    exitCode = await pipelineDropPendingCommand(name, target(opts), ctx());
  });
  targetOptions(
    pipeline
      .command('types')
      .description(
        'Write the kysely DB interface of the dataset from its stored schema (typed dataset.kysely())',
      ),
  )
    .option('--out <file>', 'write to this file instead of stdout')
    .option('--interface <name>', 'name of the database interface (default DB)')
    .action(
      async (name: string, opts: { config?: string; dir?: string; out?: string; interface?: string }) => {
        exitCode = await pipelineTypesCommand(name, target(opts), ctx(), {
          ...(opts.out === undefined ? {} : { out: opts.out }),
          ...(opts.interface === undefined ? {} : { interfaceName: opts.interface }),
        });
      },
    );

  const dbt = program
    .command('dbt-cloud')
    .description('dbt Cloud jobs and the bundled API emulator (token from $DBT_CLOUD_API_TOKEN or --config)');
  const connOptions = (cmd: Command): Command =>
    cmd
      .option('--config <file>', 'take the connection from this team file')
      .option('--host <host>', 'access URL host, e.g. ab123.us1.dbt.com (default $DBT_CLOUD_HOST)')
      .option('--base-url <url>', 'base URL instead of host (default $DBT_CLOUD_BASE_URL)')
      .option('--account-id <id>', 'account id (default $DBT_CLOUD_ACCOUNT_ID)');
  connOptions(dbt.command('run-job').description('Trigger a job run'))
    .requiredOption('--job-id <id>', 'job to run')
    .option('--wait', 'wait for the outcome (exit 3 if it fails)')
    .option('--timeout <duration>', 'with --wait: give up after this long, e.g. 30m', '30m')
    .option('--poll-interval <duration>', 'with --wait: time between status checks (default 10s)')
    .option('--cause <text>', 'cause shown in dbt Cloud')
    .action(
      async (opts: {
        jobId: string;
        wait?: boolean;
        timeout?: string;
        pollInterval?: string;
        cause?: string;
        config?: string;
        host?: string;
        baseUrl?: string;
        accountId?: string;
      }) => {
        exitCode = await runJobCommand(opts, ctx());
      },
    );
  connOptions(dbt.command('run-status').description("Show (or wait for) a run's status"))
    .requiredOption('--run-id <id>', 'run to check')
    .option('--wait', 'wait until it finishes (exit 3 if it failed)')
    .option('--timeout <duration>', 'with --wait: give up after this long', '30m')
    .option('--poll-interval <duration>', 'with --wait: time between status checks (default 10s)')
    .action(
      async (opts: {
        runId: string;
        wait?: boolean;
        timeout?: string;
        pollInterval?: string;
        config?: string;
        host?: string;
        baseUrl?: string;
        accountId?: string;
      }) => {
        exitCode = await runStatusCommand(opts, ctx());
      },
    );
  dbt
    .command('emulator')
    .description('Serve the bundled dbt Cloud API emulator until Ctrl-C / SIGTERM')
    .option('--port <port>', 'port (0 picks a free one)', '8080')
    .option('--host <address>', 'address to bind (0.0.0.0 inside a container)', '127.0.0.1')
    .option('--runs <n>', 'runs in the generated fixture (default 250)')
    .option('--seed <n>', 'fixture seed (default 1)')
    .option('--latency-ms <ms>', 'latency added to every response')
    .action(
      async (opts: { port: string; host: string; runs?: string; seed?: string; latencyMs?: string }) => {
        exitCode = await emulatorCommand(opts, ctx());
      },
    );

  program
    .command('demo')
    .description('Run a real pipeline from the bundled dbt Cloud emulator into ./ferry-demo.duckdb')
    .option('--db <file>', 'DuckDB file', 'ferry-demo.duckdb')
    .option('--print-yaml', 'print the demo team file and exit')
    .action(async (opts: { db: string; printYaml?: boolean }) => {
      exitCode = await demoCommand(opts, ctx());
    });

  program
    .command('mcp')
    .description(
      'Model Context Protocol server over stdio for coding agents (tools over team files and datasets)',
    )
    .option('--dir <dir>', 'folder of team files (default $FERRY_CONFIG_DIR or .)')
    .option('--allow-writes', 'also offer run_pipeline and dbt_cloud_trigger_job')
    .option('--max-result-bytes <n>', 'cap on one tool result (default 100000)')
    .option('--max-rows <n>', 'row cap of the query tool (default 500)')
    .option('--query-timeout <duration>', 'cancel a query after this long (default 30s)')
    .option('--check-timeout <duration>', 'timeout of each check_credentials probe (default 15s)')
    .action(async (opts: McpCommandFlags) => {
      exitCode = await mcpCommand(opts, ctx());
    });

  program
    .command('ai')
    .description('Set up a coding agent for this project')
    .command('init')
    .description(
      "Write the agent's rules file, ignore secrets and .ferry/, register `ferry mcp` with the agent",
    )
    .addOption(new Option('--agent <agent>', 'which agent').choices([...AI_AGENTS]).makeOptionMandatory())
    .option('--dir <dir>', 'project folder (default .)')
    .option('--force', 'overwrite files ferry did not write')
    .action(async (opts: { agent: AiAgent; dir?: string; force?: boolean }) => {
      exitCode = await aiInitCommand(opts, ctx());
    });

  try {
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      if (
        error.code === 'commander.helpDisplayed' ||
        error.code === 'commander.version' ||
        error.code === 'commander.help'
      )
        return EXIT.ok;
      return EXIT.usage;
    }
    const message = describeError(error, (t) => redactor.redact(t));
    if (format === 'json')
      stdout.write(
        `${JSON.stringify({ ts: new Date().toISOString(), level: 'error', event: 'error', code: (error as { code?: unknown }).code ?? 'ERROR', message })}\n`,
      );
    else stderr.write(`error: ${message}\n`);
    return exitCodeFor(error);
  }
}

/** A terminal gets text without control characters (see `terminalText`); pipes and files get it as is. */
function terminalSafe(sink: TextSink): TextSink {
  return sink.isTTY === true ? terminalSink(sink) : sink;
}

function usage(message: string): Error {
  return new CommanderError(EXIT.usage, 'ferry.usage', message);
}
