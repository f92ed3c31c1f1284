import { ConfigError } from '@ferry/core';

/** One problem in a team file, located by line and field. */
export interface ConfigProblem {
  /** The file (as given on the command line). */
  file: string;
  /** 1-based line, when the field (or its nearest parent) is in the file. */
  line?: number;
  /** 1-based column. */
  col?: number;
  /** Field path, e.g. `destination.type` or `source.resources[1]`. */
  path: string;
  /** What is wrong and what to do. Never contains a secret value. */
  message: string;
}

/** Render one problem as `file:line:col: field: message` (the form editors and CI annotate). */
export function formatProblem(p: ConfigProblem): string {
  const where =
    p.line === undefined ? p.file : `${p.file}:${p.line}${p.col === undefined ? '' : `:${p.col}`}`;
  return `${where}: ${p.path}: ${p.message}`;
}

/**
 * A team file is invalid. The message lists every problem with file, line and field; `problems` has
 * them structured. Exit code 2.
 */
export class TeamConfigError extends ConfigError {
  /** Every problem found (the first one also fills `context.line` / `context.path`). */
  readonly problems: ConfigProblem[];

  constructor(problems: ConfigProblem[], issues?: unknown[]) {
    const first = problems[0];
    const message =
      problems.length === 1 && first !== undefined
        ? formatProblem(first)
        : `${first?.file ?? 'config'}: ${problems.length} problems\n${problems.map((p) => `  ${formatProblem(p)}`).join('\n')}`;
    super(message, {
      ...(first?.file === undefined ? {} : { file: first.file }),
      ...(first?.path === undefined ? {} : { path: first.path }),
      ...(first?.line === undefined ? {} : { line: first.line }),
      ...(issues === undefined ? {} : { issues }),
    });
    this.problems = problems;
  }
}
