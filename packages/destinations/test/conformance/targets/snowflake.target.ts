import type { SnowflakeConfig } from '@ferry/destinations';
import {
  startSnowflakeServer,
  type SnowflakeLocalServer,
} from '../../support/snowflake-server/snowflake-server.ts';
import type { ConformanceTarget } from './types.ts';

// snowflake-sdk probes cloud metadata addresses when it loads unless this is set first.
process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';

let server: SnowflakeLocalServer | undefined;

/**
 * `snowflake-local`: the real snowflake-sdk against the local Snowflake server (DuckDB behind the
 * protocol), one server per test file; each case uses its own dataset. The crash cases run child
 * processes that reach the same server over HTTP.
 */
const local: ConformanceTarget = {
  name: 'snowflake-local',
  async start() {
    server = await startSnowflakeServer();
  },
  async stop() {
    await server?.close();
    server = undefined;
  },
  async setup() {
    if (!server) throw new Error('snowflake-local: the server was not started (start() runs before setup())');
    const config: SnowflakeConfig = {
      type: 'snowflake',
      account: 'ferry-local',
      username: 'conformance',
      password: 'local',
      database: 'FERRY',
      accessUrl: server.url,
    };
    return { config, teardown: async () => undefined };
  },
};

/** Live Snowflake settings from the environment, or undefined when not all are set. */
export function liveConfig(): SnowflakeConfig | undefined {
  const env = process.env;
  if (
    !env.SNOWFLAKE_ACCOUNT ||
    !env.SNOWFLAKE_USER ||
    !env.SNOWFLAKE_DATABASE ||
    !(env.SNOWFLAKE_PASSWORD || env.SNOWFLAKE_PRIVATE_KEY)
  )
    return undefined;
  return {
    type: 'snowflake',
    account: env.SNOWFLAKE_ACCOUNT,
    username: env.SNOWFLAKE_USER,
    database: env.SNOWFLAKE_DATABASE,
    ...(env.SNOWFLAKE_PASSWORD ? { password: env.SNOWFLAKE_PASSWORD } : {}),
    ...(env.SNOWFLAKE_PRIVATE_KEY ? { privateKey: env.SNOWFLAKE_PRIVATE_KEY } : {}),
    ...(env.SNOWFLAKE_WAREHOUSE ? { warehouse: env.SNOWFLAKE_WAREHOUSE } : {}),
    ...(env.SNOWFLAKE_ROLE ? { role: env.SNOWFLAKE_ROLE } : {}),
  };
}

const live = liveConfig();

/**
 * `snowflake`: a real account, only when SNOWFLAKE_ACCOUNT, SNOWFLAKE_USER, SNOWFLAKE_DATABASE and
 * SNOWFLAKE_PASSWORD (or SNOWFLAKE_PRIVATE_KEY: PEM text or a path) are set; SNOWFLAKE_WAREHOUSE and
 * SNOWFLAKE_ROLE are optional. Every case uses its own dataset (schema), dropped afterwards.
 */
const liveTarget: ConformanceTarget | undefined = live && {
  name: 'snowflake',
  async setup() {
    return { config: live, teardown: async () => undefined };
  },
};

/** The targets this file contributes. */
export const targets: ConformanceTarget[] = liveTarget ? [local, liveTarget] : [local];
