import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { ConfigError } from '@ferry/core';
import type { DbtCloudId } from './client/dbt-cloud-client.ts';

/**
 * Settings shared by the source and the orchestration helpers. Resolved from, in order of precedence:
 * explicit arguments, the environment (`DBT_CLOUD__API_TOKEN`, `DBT_CLOUD__ACCOUNT_ID`, `DBT_CLOUD__JOB_ID`,
 * `DBT_CLOUD__RUN_ID`, `DBT_CLOUD__HOST`, `DBT_CLOUD__BASE_URL`, `DBT_CLOUD__CAUSE`, `DBT_CLOUD__GIT_SHA`,
 * `DBT_CLOUD__GIT_BRANCH`, `DBT_CLOUD__SCHEMA_OVERRIDE` — dlt's names), then a YAML file's `dbt_cloud:`
 * section (snake_case keys, the same names without the prefix).
 */
export interface DbtCloudSettings {
  /** Access URL host (`ab123.us1.dbt.com`). */
  host?: string;
  /** Scheme + host root, for proxies and the emulator. */
  baseUrl?: string;
  /** Account id. */
  accountId?: DbtCloudId;
  /** API token (secret). */
  apiToken?: string;
  /** Job to trigger. */
  jobId?: DbtCloudId;
  /** Run to watch. */
  runId?: DbtCloudId;
  /** Trigger cause. */
  cause?: string;
  /** Commit to run. */
  gitSha?: string;
  /** Branch to run. */
  gitBranch?: string;
  /** Schema override. */
  schemaOverride?: string;
}

const KEYS: Record<keyof DbtCloudSettings, string> = {
  host: 'host',
  baseUrl: 'base_url',
  accountId: 'account_id',
  apiToken: 'api_token',
  jobId: 'job_id',
  runId: 'run_id',
  cause: 'cause',
  gitSha: 'git_sha',
  gitBranch: 'git_branch',
  schemaOverride: 'schema_override',
};

/** Where {@link resolveDbtCloudSettings} looks besides the arguments. */
export interface DbtCloudSettingsSources {
  /** Environment. Default `process.env`. */
  env?: Record<string, string | undefined>;
  /** YAML file path with a `dbt_cloud:` section. Default: none. */
  yamlPath?: string;
  /** YAML text (instead of a file), same shape. Default: none. */
  yamlText?: string;
}

function readYaml(sources: DbtCloudSettingsSources): Record<string, unknown> {
  let text = sources.yamlText;
  const file = sources.yamlPath;
  if (text === undefined && file !== undefined) {
    try {
      text = readFileSync(file, 'utf8');
    } catch (cause) {
      throw new ConfigError(`cannot read dbt Cloud settings file ${file}: ${(cause as Error).message}`, {
        file,
        cause,
      });
    }
  }
  if (text === undefined) return {};
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw new ConfigError(
      `dbt Cloud settings ${file ?? '(YAML text)'} is not valid YAML: ${(cause as Error).message}`,
      { file, cause },
    );
  }
  const section = doc && typeof doc === 'object' ? (doc as Record<string, unknown>)['dbt_cloud'] : undefined;
  if (section === undefined || section === null) return {};
  if (typeof section !== 'object')
    throw new ConfigError(`'dbt_cloud' in ${file ?? 'the YAML'} must be a mapping`, {
      file,
      path: 'dbt_cloud',
    });
  return section as Record<string, unknown>;
}

/**
 * Merge arguments, environment and YAML into one settings object (arguments win, then the environment,
 * then YAML). Values that are absent everywhere stay undefined; callers check what they need.
 */
export function resolveDbtCloudSettings(
  args: DbtCloudSettings = {},
  sources: DbtCloudSettingsSources = {},
): DbtCloudSettings {
  const env = sources.env ?? process.env;
  const yaml = readYaml(sources);
  const out: DbtCloudSettings = {};
  for (const [key, snake] of Object.entries(KEYS) as [keyof DbtCloudSettings, string][]) {
    const fromArgs = args[key];
    const fromEnv = env[`DBT_CLOUD__${snake.toUpperCase()}`];
    const fromYaml = yaml[snake];
    const value =
      fromArgs ??
      (fromEnv !== undefined && fromEnv !== '' ? fromEnv : undefined) ??
      (fromYaml === null ? undefined : fromYaml);
    if (value === undefined) continue;
    if (typeof value === 'object') {
      throw new ConfigError(`dbt_cloud.${snake} must be a scalar, got ${JSON.stringify(value)}`, {
        file: sources.yamlPath,
        path: `dbt_cloud.${snake}`,
      });
    }
    (out as Record<string, unknown>)[key] = typeof value === 'string' ? value.trim() : value;
  }
  return out;
}

/** Require a setting, or throw a ConfigError naming the argument and the environment variable. */
export function requireSetting<K extends keyof DbtCloudSettings>(
  settings: DbtCloudSettings,
  key: K,
): NonNullable<DbtCloudSettings[K]> {
  const v = settings[key];
  if (v === undefined || v === null || v === '') {
    throw new ConfigError(
      `dbt Cloud setting '${key}' is missing: pass it as an argument, set DBT_CLOUD__${KEYS[key].toUpperCase()}, or add dbt_cloud.${KEYS[key]} to the YAML.`,
      { path: `dbt_cloud.${KEYS[key]}` },
    );
  }
  return v as NonNullable<DbtCloudSettings[K]>;
}
