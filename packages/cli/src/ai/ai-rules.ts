/** Agents `ferry ai init` sets up. */
export const AI_AGENTS = ['claude', 'cursor', 'codex'] as const;

/** One of {@link AI_AGENTS}. */
export type AiAgent = (typeof AI_AGENTS)[number];

/** Start and end lines of the block Ferry owns inside a Markdown file (the rest is the user's). */
export const MD_BEGIN = '<!-- ferry:begin (written by `ferry ai init`; edit outside this block) -->';
/** End of the Markdown block. */
export const MD_END = '<!-- ferry:end -->';
/** Start of the block Ferry owns in `.gitignore` and TOML files. */
export const HASH_BEGIN = '# ferry:begin (written by `ferry ai init`; edit outside this block)';
/** End of the `#`-comment block. */
export const HASH_END = '# ferry:end';

/**
 * Ferry's conventions for a coding agent, the same for every agent (each gets it in its own file format):
 * one team file per pipeline, secrets only from the environment or a `secrets_file`, validate before run,
 * check loads with queries, and the MCP tools that do each of these without reading a secret.
 */
export const RULES_MARKDOWN = `# Ferry pipelines

This project loads data with Ferry (a TypeScript ELT framework, like dlt).
The \`ferry\` MCP server (\`ferry mcp\`) is registered for you: prefer its tools to reading files by hand.

## Conventions
- **One team file per pipeline**: a YAML file with \`pipeline:\`, \`source:\`, \`destination:\` and optionally
  \`transform:\`. Get the schema from the \`team_file_schema\` tool (or \`ferry schema\`); unknown keys are errors.
- **Secrets never go in YAML.** Write \`\${VAR}\` (\`\${VAR:-default}\` for non-secrets) and let the user export the
  variable or put it in the file's \`secrets_file\` (\`.env\` or YAML, git-ignored). Never read, print, copy or
  commit a secrets file, \`.env\` or \`.ferry/\`; ask the user to set a missing variable instead.
- **\`check_credentials\`** tells you which \`\${VAR}\`s a team file needs, which are set and whether the source and
  destination accept them. It never shows a value, and neither should you.
- **Validate before you run**: \`validate_team_file\` (or \`ferry validate <file>\`) reports every problem with
  file, line and field path. Fix them all, then \`ferry run <file>\`.
- **Check what landed with queries**: \`list_tables\`, \`table_schema\`, \`sample_rows\` and \`query\` (one read-only
  SELECT, row-capped) — or \`ferry query <pipeline> "select …"\` and \`ferry pipeline info <pipeline>\`.
- \`.ferry/\` is the local working folder (state, packages): never edit or commit it.
- Running a pipeline or a dbt Cloud job changes data: do it only when the user asks.
`;
