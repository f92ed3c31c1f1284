import type { DestinationConfig } from '@ferry/destinations';
import {
  startBigQueryServer,
  type LocalBigQueryServer,
} from '../../support/bigquery-server/bigquery-server.ts';
import type { ConformanceTarget } from './types.ts';

// No test may probe the GCE metadata server (google-auth-library does when it looks for credentials).
process.env.METADATA_SERVER_DETECTION ??= 'none';

let server: LocalBigQueryServer | undefined;

/**
 * `bigquery-local`: the real `@google-cloud/bigquery` client against the local REST server (DuckDB
 * behind it). The config carries a static access token instead of an auth client so that it survives
 * JSON into the crash case's child processes.
 */
const local: ConformanceTarget = {
  name: 'bigquery-local',
  async start() {
    server ??= await startBigQueryServer();
  },
  async stop() {
    await server?.close();
    server = undefined;
  },
  async setup() {
    server ??= await startBigQueryServer();
    const config = {
      type: 'bigquery',
      projectId: server.projectId,
      apiEndpoint: server.url,
      accessToken: 'local-test-token',
    } as DestinationConfig;
    return { config, teardown: async () => undefined };
  },
};

const liveProject = process.env.BIGQUERY_PROJECT;
const liveCredentials = process.env.BIGQUERY_CREDENTIALS ?? process.env.GOOGLE_APPLICATION_CREDENTIALS;

/** `bigquery`: the live service, only when `BIGQUERY_PROJECT` and credentials are set. */
const live: ConformanceTarget = {
  name: 'bigquery',
  async setup() {
    const config = {
      type: 'bigquery',
      projectId: liveProject!,
      ...(process.env.BIGQUERY_CREDENTIALS ? { credentials: process.env.BIGQUERY_CREDENTIALS } : {}),
      ...(process.env.BIGQUERY_LOCATION ? { location: process.env.BIGQUERY_LOCATION } : {}),
    } as DestinationConfig;
    return { config, teardown: async () => undefined };
  },
};

/** The targets this file adds: always the local one; the live one when credentials are present. */
export const targets: ConformanceTarget[] = liveProject && liveCredentials ? [local, live] : [local];
