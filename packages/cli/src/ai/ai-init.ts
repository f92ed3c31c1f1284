import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { parse as parseToml, stringify as stringifyToml } from 'smol-toml';
import { isScalar, parseDocument } from 'yaml';
import { UsageError, type CommandContext } from '../commands/context.ts';
import { listTeamFiles } from '../commands/run-all.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import {
  AI_AGENTS,
  HASH_BEGIN,
  HASH_END,
  MD_BEGIN,
  MD_END,
  RULES_MARKDOWN,
  type AiAgent,
} from './ai-rules.ts';

export { AI_AGENTS, type AiAgent } from './ai-rules.ts';

/** What happened to one file. */
export interface AiInitFile {
  /** Path relative to the project folder. */
  path: string;
  /** `created`, `updated` (Ferry's part changed or was added), `unchanged`, or `refused` (needs `--force`). */
  action: 'created' | 'updated' | 'unchanged' | 'refused';
  /** Why, for `refused` (and what `--force` would do). */
  reason?: string;
}

/** Options of {@link aiInit}. */
export interface AiInitOptions {
  /** Which agent. */
  agent: AiAgent;
  /** Project folder. Default the working directory. */
  dir?: string;
  /** Write over content Ferry did not write. Default false. */
  force?: boolean;
}

/** The MCP server entry every agent gets: `ferry mcp`, started in the project folder. */
export const MCP_ENTRY = { command: 'ferry', args: ['mcp'] } as const;

/** Ignore lines: the working folder, and the usual secrets files. Team files' own `secrets_file`s are added. */
const IGNORE_LINES = [
  '.ferry/',
  '.env',
  '.env.*',
  '*.secrets.env',
  '*.secrets.yaml',
  'secrets.env',
  'secrets.yaml',
];

interface Plan {
  path: string;
  /** The file's new text, from the old text (undefined when missing); throw Refusal to refuse. */
  next(old: string | undefined, force: boolean): string;
}

class Refusal extends Error {}

/** Replace (or append) the text between `begin` and `end` lines; `undefined` when the file has no block. */
function replaceBlock(text: string, begin: string, end: string, body: string): string | undefined {
  const start = text.indexOf(begin);
  if (start < 0) return undefined;
  const stop = text.indexOf(end, start);
  if (stop < 0) return undefined;
  return `${text.slice(0, start)}${begin}\n${body}${end}${text.slice(stop + end.length)}`;
}

function block(begin: string, end: string, body: string): string {
  return `${begin}\n${body}${end}\n`;
}

/** A Markdown file with a Ferry block: created whole, or the block replaced; a foreign file needs --force. */
function markdownPlan(path: string, header: string, body: string): Plan {
  return {
    path,
    next(old, force) {
      if (old === undefined) return `${header}${block(MD_BEGIN, MD_END, body)}`;
      const replaced = replaceBlock(old, MD_BEGIN, MD_END, body);
      if (replaced !== undefined) return replaced;
      if (!force)
        throw new Refusal(
          `${path} exists and was not written by ferry; re-run with --force to append Ferry's rules block (your text is kept)`,
        );
      return `${old.replace(/\n*$/, '\n\n')}${block(MD_BEGIN, MD_END, body)}`;
    },
  };
}

/** A JSON file of `{"mcpServers": {...}}`: the `ferry` entry added; a different `ferry` entry needs --force. */
function mcpJsonPlan(path: string, entry: Record<string, unknown>): Plan {
  return {
    path,
    next(old, force) {
      if (old === undefined) return `${JSON.stringify({ mcpServers: { ferry: entry } }, null, 2)}\n`;
      let data: unknown;
      try {
        data = JSON.parse(old);
      } catch (error) {
        throw new Refusal(`${path} is not valid JSON (${(error as Error).message}); fix it by hand first`);
      }
      if (data === null || typeof data !== 'object' || Array.isArray(data))
        throw new Refusal(`${path} is not a JSON object; fix it by hand first`);
      const obj = data as Record<string, unknown>;
      const servers = (obj['mcpServers'] ?? {}) as Record<string, unknown>;
      if (typeof servers !== 'object' || servers === null || Array.isArray(servers))
        throw new Refusal(`${path}: mcpServers is not an object; fix it by hand first`);
      const current = servers['ferry'];
      if (current !== undefined && JSON.stringify(current) === JSON.stringify(entry)) return old;
      if (current !== undefined && !force)
        throw new Refusal(
          `${path} already has an mcpServers.ferry entry that ferry did not write; re-run with --force to replace it`,
        );
      return `${JSON.stringify({ ...obj, mcpServers: { ...servers, ferry: entry } }, null, 2)}\n`;
    },
  };
}

function tomlString(s: string): string {
  return JSON.stringify(s);
}

/** Codex's `.codex/config.toml`: a `[mcp_servers.ferry]` table in a Ferry block; a foreign one needs --force. */
function codexTomlPlan(path: string): Plan {
  const body = `[mcp_servers.ferry]\ncommand = ${tomlString(MCP_ENTRY.command)}\nargs = [${MCP_ENTRY.args.map(tomlString).join(', ')}]\n`;
  return {
    path,
    next(old, force) {
      if (old === undefined) return block(HASH_BEGIN, HASH_END, body);
      const replaced = replaceBlock(old, HASH_BEGIN, HASH_END, body);
      if (replaced !== undefined) return replaced;
      let data: Record<string, unknown>;
      try {
        data = parseToml(old) as Record<string, unknown>;
      } catch (error) {
        throw new Refusal(
          `${path} is not valid TOML (${firstLine((error as Error).message)}); fix it by hand first`,
        );
      }
      const existing = (data['mcp_servers'] as Record<string, unknown> | undefined)?.['ferry'];
      if (existing !== undefined) {
        if (!force)
          throw new Refusal(
            `${path} already has [mcp_servers.ferry] that ferry did not write; re-run with --force to replace it (the file is rewritten; its comments are lost)`,
          );
        const servers = { ...(data['mcp_servers'] as Record<string, unknown>) };
        delete servers['ferry'];
        const rest = stringifyToml({ ...data, mcp_servers: servers });
        return `${rest.replace(/\n*$/, '\n\n')}${block(HASH_BEGIN, HASH_END, body)}`;
      }
      const next = `${old.replace(/\n*$/, '\n\n')}${block(HASH_BEGIN, HASH_END, body)}`;
      parseToml(next);
      return next;
    },
  };
}

/** `.gitignore`: the missing ignore lines, in a Ferry block (lines the user already has are not repeated). */
function gitignorePlan(path: string, lines: readonly string[]): Plan {
  return {
    path,
    next(old) {
      const outside = (old === undefined ? '' : stripBlock(old, HASH_BEGIN, HASH_END))
        .split('\n')
        .map((l) => l.trim());
      const wanted = lines.filter((l) => !outside.includes(l));
      const body = wanted.length === 0 ? '' : `${wanted.join('\n')}\n`;
      if (old === undefined) return block(HASH_BEGIN, HASH_END, body);
      const replaced = replaceBlock(old, HASH_BEGIN, HASH_END, body);
      if (replaced !== undefined) return replaced;
      if (wanted.length === 0) return old;
      return `${old.replace(/\n*$/, old.trim() === '' ? '' : '\n\n')}${block(HASH_BEGIN, HASH_END, body)}`;
    },
  };
}

function stripBlock(text: string, begin: string, end: string): string {
  const start = text.indexOf(begin);
  const stop = start < 0 ? -1 : text.indexOf(end, start);
  return start < 0 || stop < 0 ? text : `${text.slice(0, start)}${text.slice(stop + end.length)}`;
}

function firstLine(text: string): string {
  return text.split('\n')[0] ?? text;
}

/** The `secrets_file` of every team file in `dir` (and `$FERRY_CONFIG_DIR`), relative to the project. */
async function teamSecretsFiles(project: string, dirs: readonly string[]): Promise<string[]> {
  const out: string[] = [];
  for (const dir of dirs) {
    for (const file of await listTeamFiles(dir).catch(() => [])) {
      const text = await readFile(file, 'utf8').catch(() => '');
      const doc = parseDocument(text, { prettyErrors: false });
      const node = doc.contents === null ? undefined : doc.get('secrets_file', true);
      if (!isScalar(node) || typeof node.value !== 'string' || node.value.includes('${')) continue;
      const rel = relative(project, resolve(dirname(file), node.value))
        .split('\\')
        .join('/');
      if (rel !== '' && !rel.startsWith('..') && !out.includes(`/${rel}`)) out.push(`/${rel}`);
    }
  }
  return out.sort();
}

function plansFor(agent: AiAgent, ignore: readonly string[]): Plan[] {
  const gitignore = gitignorePlan('.gitignore', ignore);
  switch (agent) {
    case 'claude':
      return [
        markdownPlan('CLAUDE.md', '', RULES_MARKDOWN),
        mcpJsonPlan('.mcp.json', { type: 'stdio', ...MCP_ENTRY, env: {} }),
        gitignore,
      ];
    case 'cursor':
      return [
        markdownPlan(
          '.cursor/rules/ferry.mdc',
          '---\ndescription: Ferry pipelines — team files, secrets, validate before run, check loads with queries\nglobs:\nalwaysApply: true\n---\n',
          RULES_MARKDOWN,
        ),
        mcpJsonPlan('.cursor/mcp.json', { ...MCP_ENTRY }),
        gitignore,
      ];
    case 'codex':
      return [markdownPlan('AGENTS.md', '', RULES_MARKDOWN), codexTomlPlan('.codex/config.toml'), gitignore];
  }
}

/**
 * `ferry ai init --agent claude|cursor|codex`: write the agent's rules file (CLAUDE.md,
 * `.cursor/rules/ferry.mdc`, AGENTS.md), register `ferry mcp` in its project MCP config (`.mcp.json`,
 * `.cursor/mcp.json`, `.codex/config.toml`) and git-ignore `.ferry/` and secrets files. Ferry's part of
 * each file sits in a marked block (JSON: the `mcpServers.ferry` entry), so a second run changes nothing
 * and the user's own content is kept. A file or entry Ferry did not write is left alone unless `force`.
 */
export async function aiInit(
  options: AiInitOptions,
  ctx: Pick<CommandContext, 'cwd' | 'env'>,
): Promise<AiInitFile[]> {
  if (!(AI_AGENTS as readonly string[]).includes(options.agent))
    throw new UsageError(`--agent '${options.agent}': use one of ${AI_AGENTS.join(', ')}`);
  const project = resolve(ctx.cwd, options.dir ?? '.');
  const dirs = [
    project,
    ...(ctx.env['FERRY_CONFIG_DIR'] ? [resolve(project, ctx.env['FERRY_CONFIG_DIR'])] : []),
  ];
  const ignore = [...IGNORE_LINES, ...(await teamSecretsFiles(project, dirs))];
  const results: AiInitFile[] = [];
  for (const plan of plansFor(options.agent, ignore)) {
    const abs = join(project, plan.path);
    const old = await readFile(abs, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    let next: string;
    try {
      next = plan.next(old, options.force === true);
    } catch (error) {
      if (!(error instanceof Refusal)) throw error;
      results.push({ path: plan.path, action: 'refused', reason: error.message });
      continue;
    }
    if (next === old) {
      results.push({ path: plan.path, action: 'unchanged' });
      continue;
    }
    await mkdir(dirname(abs), { recursive: true });
    await writeFile(abs, next);
    results.push({ path: plan.path, action: old === undefined ? 'created' : 'updated' });
  }
  return results;
}

/** `ferry ai init`: print what was written; exit 2 when a file was refused (re-run with --force). */
export async function aiInitCommand(options: AiInitOptions, ctx: CommandContext): Promise<ExitCode> {
  const results = await aiInit(options, ctx);
  for (const r of results) {
    if (ctx.format === 'json')
      ctx.stdout.write(
        `${JSON.stringify({ ts: new Date().toISOString(), level: r.action === 'refused' ? 'error' : 'info', event: 'ai_init', agent: options.agent, ...r })}\n`,
      );
    else if (r.action === 'refused') ctx.stderr.write(`refused  ${r.path}: ${r.reason ?? ''}\n`);
    else ctx.stdout.write(`${r.action.padEnd(9)}${r.path}\n`);
  }
  return results.some((r) => r.action === 'refused') ? EXIT.usage : EXIT.ok;
}
