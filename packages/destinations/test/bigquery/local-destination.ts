import { OAuth2Client } from 'google-auth-library';
import type { Destination } from '@ferry/core';
import { bigquery } from '@ferry/destinations/bigquery';
import type { LocalBigQueryServer } from '../support/bigquery-server/bigquery-server.ts';

/** A fake access token: the local server accepts any, and nothing asks Google for one. */
function authClient(): OAuth2Client {
  const client = new OAuth2Client();
  client.setCredentials({ access_token: 'local-test-token', expiry_date: Date.now() + 3600e3 });
  return client;
}

/** The BigQuery destination on the local test server, through an explicit auth client. Location default `US`. */
export function localBigQuery(server: LocalBigQueryServer, location = 'US'): Destination {
  return bigquery({
    projectId: server.projectId,
    apiEndpoint: server.url,
    location,
    authClient: authClient(),
  });
}
