import { writeFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { teamJsonSchema } from '../config/team-schema.ts';
import { EXIT, type ExitCode } from '../exit-codes.ts';
import type { CommandContext } from './context.ts';

/** The team JSON Schema as text (stable key order, trailing newline), as `ferry schema` prints it. */
export function teamJsonSchemaText(): string {
  return `${JSON.stringify(teamJsonSchema(), null, 2)}\n`;
}

/**
 * `ferry schema [--out file]`: the JSON Schema of team files, generated from the same zod schema that
 * validates them. Point an editor at it (`# yaml-language-server: $schema=./ferry.schema.json`).
 */
export async function schemaCommand(ctx: CommandContext, options: { out?: string } = {}): Promise<ExitCode> {
  const text = teamJsonSchemaText();
  if (options.out === undefined) ctx.stdout.write(text);
  else {
    await writeFile(resolve(ctx.cwd, options.out), text);
    ctx.stderr.write(`wrote ${options.out}\n`);
  }
  return EXIT.ok;
}
