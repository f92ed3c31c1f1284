export { main, type CliIO } from './cli.ts';
export { EXIT, EXIT_CODE_HELP, type ExitCode } from './exit-codes.ts';
export {
  loadTeamConfig,
  parseTeamConfig,
  type TeamConfig,
  type DbtCloudTransformConfig,
  type LoadTeamConfigOptions,
  type VariableUse,
} from './config/load-team-config.ts';
export { TeamConfigError, formatProblem, type ConfigProblem } from './config/team-config-error.ts';
export { teamConfigSchema, teamJsonSchema, type TeamConfigYaml } from './config/team-schema.ts';
export { destinationSchema, toDestinationConfig } from './config/destination-schema.ts';
export { parseDuration } from './config/duration.ts';
export { Redactor } from './config/redactor.ts';
export { SOURCE_TYPES } from './sources/source-registry.ts';
export { defineSourceType, type SourceType, type DbtCloudConnection } from './sources/source-type.ts';
export { runTeamFile, type TeamRunResult, type RunOptions } from './commands/run.ts';
export { runAll, type RunAllResult } from './commands/run-all.ts';
export { validateFiles, type ValidateResult } from './commands/validate.ts';
export { teamJsonSchemaText } from './commands/schema.ts';
export { DEMO_YAML } from './commands/demo.ts';
export { createFerryMcpServer, MCP_DEFAULTS } from './mcp/mcp-server.ts';
export type { FerryMcpOptions } from './mcp/mcp-context.ts';
export { aiInit, AI_AGENTS, type AiAgent, type AiInitFile, type AiInitOptions } from './ai/ai-init.ts';
