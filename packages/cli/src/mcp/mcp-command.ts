import { resolve } from 'node:path';
import { StdioServerTransport } from '@modelcontextprotocol/sdk/server/stdio.js';
import { parseDuration } from '../config/duration.ts';
import { UsageError, type CommandContext } from '../commands/context.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import type { FerryMcpOptions } from './mcp-context.ts';
import { createFerryMcpServer, MCP_DEFAULTS } from './mcp-server.ts';

/** Flags of `ferry mcp`. */
export interface McpCommandFlags {
  /** Folder of team files. Default `$FERRY_CONFIG_DIR`, else the working directory. */
  dir?: string;
  /** List the write tools (`run_pipeline`, `dbt_cloud_trigger_job`). Default false. */
  allowWrites?: boolean;
  /** Cap on one tool result in bytes. Default 100000. */
  maxResultBytes?: string;
  /** `query` timeout, a duration. Default 30s. */
  queryTimeout?: string;
  /** `query` row cap. Default 500. */
  maxRows?: string;
  /** `check_credentials` per-probe timeout, a duration. Default 15s. */
  checkTimeout?: string;
}

function positive(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`${flag} '${text}': expected a positive integer`);
  return n;
}

function duration(flag: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const ms = parseDuration(text);
  if (ms === undefined || ms <= 0) throw new UsageError(`${flag} '${text}': expected a duration like 30s`);
  return ms;
}

/** Resolve `ferry mcp` flags into server options (exported for in-process tests). */
export function mcpOptions(
  flags: McpCommandFlags,
  ctx: Pick<CommandContext, 'env' | 'cwd' | 'stderr'>,
): FerryMcpOptions {
  return {
    root: resolve(ctx.cwd, flags.dir ?? ctx.env['FERRY_CONFIG_DIR'] ?? '.'),
    env: ctx.env,
    allowWrites: flags.allowWrites === true,
    maxResultBytes: positive('--max-result-bytes', flags.maxResultBytes, MCP_DEFAULTS.maxResultBytes),
    queryTimeoutMs: duration('--query-timeout', flags.queryTimeout, MCP_DEFAULTS.queryTimeoutMs),
    maxQueryRows: positive('--max-rows', flags.maxRows, MCP_DEFAULTS.maxQueryRows),
    checkTimeoutMs: duration('--check-timeout', flags.checkTimeout, MCP_DEFAULTS.checkTimeoutMs),
    log: (line) => void ctx.stderr.write(`${line}\n`),
  };
}

/**
 * `ferry mcp`: serve the Model Context Protocol over stdio (JSON-RPC on stdin/stdout) until the client
 * closes stdin. stdout belongs to the protocol, so `console.log` is sent to stderr while serving.
 */
export async function mcpCommand(flags: McpCommandFlags, ctx: CommandContext): Promise<ExitCode> {
  const options = mcpOptions(flags, ctx);
  const server = createFerryMcpServer(options);
  console.log = console.error;
  console.info = console.error;
  const transport = new StdioServerTransport();
  await server.connect(transport);
  const closed = new Promise<void>((res) => {
    server.server.onclose = () => res();
    process.stdin.once('end', () => res());
  });
  options.log(
    `ferry mcp: serving ${options.root} over stdio${options.allowWrites ? ' (write tools enabled)' : ''}`,
  );
  await closed;
  await server.close().catch(() => undefined);
  return EXIT.ok;
}
