export { DbtCloudClient, resolveRootUrl } from './client/dbt-cloud-client.ts';
export type {
  DbtCloudApiVersion,
  DbtCloudClientOptions,
  DbtCloudEnvelope,
  DbtCloudId,
  DbtCloudPageStats,
  DbtCloudPaginateOptions,
  DbtCloudQueryValue,
  DbtCloudRequestEvent,
  DbtCloudRequestOptions,
  DbtCloudSafeTriggerOptions,
  DbtCloudTriggerEvent,
  DbtCloudTriggerOptions,
  DbtCloudWaitEvent,
} from './client/dbt-cloud-client.ts';
export {
  DbtCloudApiError,
  DbtCloudRunCancelledError,
  DbtCloudRunFailedError,
  DbtCloudRunTimeoutError,
  LOG_TAIL_LINES,
} from './client/dbt-cloud-errors.ts';
export type { DbtCloudFailedStep } from './client/dbt-cloud-errors.ts';
export { parseRetryAfter, retryDelayMs } from './client/dbt-cloud-backoff.ts';
export { resolveDbtCloudSettings, requireSetting } from './config.ts';
export type { DbtCloudSettings, DbtCloudSettingsSources } from './config.ts';
export {
  createDbtCloudClient,
  getDbtCloudRunStatus,
  runDbtCloudJob,
  TERMINAL_STATUSES,
} from './orchestration.ts';
export type {
  DbtCloudConnectionOptions,
  DbtCloudPollOptions,
  DbtCloudRunOutcome,
  GetDbtCloudRunStatusOptions,
  RunDbtCloudJobOptions,
} from './orchestration.ts';
export { dbtCloudSource, DBT_CLOUD_RESOURCES, DEFAULT_DBT_CLOUD_RESOURCES } from './source.ts';
export type {
  DbtCloudResourceName,
  DbtCloudRunsState,
  DbtCloudSource,
  DbtCloudSourceOptions,
} from './source.ts';
export {
  DBT_CLOUD_READ_PERMISSIONS,
  DbtCloudAccessTracker,
  forbiddenOutcome,
  probeDbtCloudAccess,
} from './access.ts';
export type { DbtCloudAccessProbe, DbtCloudForbiddenResource } from './access.ts';
export { parseRunResults, summarizeRunResults } from './artifacts/run-results.ts';
export type { ParsedRunResults, RunResultRow } from './artifacts/run-results.ts';
export { parseManifest } from './artifacts/manifest.ts';
export type { ModelRow, ParsedManifest } from './artifacts/manifest.ts';
export { normalizeDbtDatetime, parseDbtDatetime } from './util/dbt-cloud-datetime.ts';
export { parseJsonExact, stringifyJsonExact } from './util/dbt-cloud-json.ts';
