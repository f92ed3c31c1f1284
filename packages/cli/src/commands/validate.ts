import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { loadTeamConfig, type TeamConfig, type TeamConfigScope } from '../config/load-team-config.ts';
import { REDACTED, SECRET_FIELD_NAMES } from '../config/redactor.ts';
import { TeamConfigError, type ConfigProblem } from '../config/team-config-error.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import { terminalText } from '../output/terminal-text.ts';
import { describeError, type CommandContext } from './context.ts';
import { listTeamFiles } from './run-all.ts';

/** Result of validating one file. */
export interface ValidateResult {
  /** The file. */
  file: string;
  /** True when valid. */
  ok: boolean;
  /** The problems, when invalid. */
  problems: ConfigProblem[];
  /** The config, when valid. */
  config?: TeamConfig;
}

/** Validate files and folders of team files (folders: every `*.yaml` / `*.yml` in them). */
export async function validateFiles(
  paths: readonly string[],
  ctx: Pick<CommandContext, 'env' | 'cwd' | 'redactor'>,
  scope: TeamConfigScope = 'all',
): Promise<ValidateResult[]> {
  const files: string[] = [];
  for (const p of paths) {
    const s = await stat(resolve(ctx.cwd, p)).catch(() => undefined);
    if (s?.isDirectory() === true) files.push(...(await listTeamFiles(resolve(ctx.cwd, p))));
    else files.push(p);
  }
  const results: ValidateResult[] = [];
  for (const file of files) {
    try {
      const config = await loadTeamConfig(file, {
        env: ctx.env,
        cwd: ctx.cwd,
        scope,
        ...(ctx.redactor === undefined ? {} : { redactor: ctx.redactor }),
      });
      results.push({ file, ok: true, problems: [], config });
    } catch (error) {
      const problems =
        error instanceof TeamConfigError
          ? error.problems
          : [{ file, path: '(file)', message: describeError(error) }];
      results.push({ file, ok: false, problems });
    }
  }
  return results;
}

/**
 * The validated YAML with every secret shown as `***`: every value that came from the environment or
 * the secrets file (by provenance, whatever its field or variable is called; only its interpolated part,
 * so `postgres://u:***@db/w` stays readable), fields named like secrets, and any known secret value.
 */
export function redactedYaml(config: TeamConfig): string {
  const copy = structuredClone(config.yaml) as unknown;
  for (const m of config.masked) setAt(copy, m.path, m.text);
  const mask = (value: unknown, key: string | undefined): unknown => {
    if (key !== undefined && SECRET_FIELD_NAMES.has(key) && value !== undefined && value !== null) {
      return typeof value === 'object' ? mask(value, undefined) : REDACTED;
    }
    if (Array.isArray(value)) return value.map((v) => mask(v, undefined));
    if (value !== null && typeof value === 'object') {
      return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, mask(v, k)]));
    }
    return value;
  };
  return config.redactor.redact(stringify(mask(copy, undefined)));
}

/** Replace the value at `path` when it exists (a field the schema dropped is left alone). */
function setAt(root: unknown, path: readonly (string | number)[], value: unknown): void {
  let node = root;
  for (const [i, part] of path.entries()) {
    if (node === null || typeof node !== 'object' || !Object.hasOwn(node, part)) return;
    if (i === path.length - 1) (node as Record<string | number, unknown>)[part] = value;
    else node = (node as Record<string | number, unknown>)[part];
  }
}

/**
 * `ferry validate <files or dirs…>`: check every team file without connecting anywhere. Prints each
 * problem as `file:line:col: field: message`; with `--print`, the resolved config with secrets redacted.
 * Exit 0 when all are valid, 2 otherwise.
 */
export async function validateCommand(
  paths: readonly string[],
  ctx: CommandContext,
  options: { print?: boolean } = {},
): Promise<ExitCode> {
  const results = await validateFiles(paths, ctx);
  for (const r of results) {
    if (ctx.format === 'json') {
      const line: Record<string, unknown> = {
        ts: new Date().toISOString(),
        level: r.ok ? 'info' : 'error',
        event: 'validate',
        file: r.file,
        ok: r.ok,
      };
      if (!r.ok) line['problems'] = r.problems;
      if (r.config !== undefined) {
        line['pipeline'] = r.config.pipeline.name;
        line['source'] = r.config.source.type;
        line['destination'] = r.config.destination.type;
        line['variables'] = r.config.variables;
      }
      ctx.stdout.write(`${JSON.stringify(line)}\n`);
      continue;
    }
    if (r.config !== undefined) {
      const c = r.config;
      ctx.stdout.write(
        `ok  ${r.file}: pipeline ${c.pipeline.name}, ${c.source.type} → ${c.destination.type}${c.transform.dbtCloud ? ' → dbt Cloud job' : ''}\n`,
      );
      if (options.print === true) ctx.stdout.write(`${indent(redactedYaml(c))}\n`);
    } else {
      ctx.stdout.write(`bad ${r.file}\n`);
      for (const p of r.problems) {
        // messages quote values from the file: no escape sequence of theirs reaches the terminal
        ctx.stderr.write(
          `  ${p.file}${p.line === undefined ? '' : `:${p.line}`}${p.col === undefined ? '' : `:${p.col}`}: ${p.path}: ${terminalText(p.message)}\n`,
        );
      }
    }
  }
  return results.every((r) => r.ok) ? EXIT.ok : EXIT.usage;
}

function indent(text: string): string {
  return text
    .trimEnd()
    .split('\n')
    .map((l) => `    ${l}`)
    .join('\n');
}
