import { readFileSync } from 'node:fs';
import { ConfigError } from '@ferry/core';
import type { BigQueryConfig } from '../config.ts';

/** BigQuery settings after defaults and the environment are applied. */
export interface ResolvedBigQuerySettings {
  /** Project of the datasets and jobs. */
  projectId: string;
  /** Location of datasets and jobs. */
  location: string;
  /** Service-account key, when one was configured (else application default credentials). */
  credentials: ServiceAccountKey | undefined;
  /** Where the key came from, for messages (`inline`, a path, or an environment variable); never the key. */
  credentialsSource: string | undefined;
}

/** The fields of a service-account key file that the client needs. */
export interface ServiceAccountKey {
  /** Always `service_account`. */
  type: 'service_account';
  /** Service account e-mail. */
  client_email: string;
  /** PEM private key. */
  private_key: string;
  /** Project the key belongs to (the default project). */
  project_id?: string;
  /** Other fields of the key file, passed through. */
  [key: string]: unknown;
}

/** `BigQueryConfig` plus the extra field the destination accepts (see {@link BigQueryOptions.accessToken}). */
export type BigQueryOptions = Omit<BigQueryConfig, 'type' | 'projectId'> & {
  type?: 'bigquery';
  /** GCP project id. Default `BIGQUERY_PROJECT`, `GOOGLE_CLOUD_PROJECT`, or the key's `project_id`. */
  projectId?: string;
  /**
   * A ready OAuth2 access token (`gcloud auth print-access-token`; local test servers). Default
   * `BIGQUERY_ACCESS_TOKEN`. Unlike `authClient` it survives JSON, so child processes can use it.
   */
  accessToken?: string;
};

/**
 * Parse a service-account key given as inline JSON text, a file path or an object. Errors name the
 * source (`inline` or the path) and never include key material.
 */
export function parseServiceAccount(
  value: string | Record<string, unknown>,
  source: string,
): ServiceAccountKey {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    const text = value.trim();
    let raw = text;
    if (!text.startsWith('{')) {
      try {
        raw = readFileSync(text, 'utf8');
      } catch (error) {
        throw new ConfigError(
          `bigquery credentials: cannot read the service-account file '${text}' (${(error as NodeJS.ErrnoException).code ?? 'error'}); check the path in ${source}`,
          {
            path: source,
            cause: error,
          },
        );
      }
      source = text;
    }
    try {
      parsed = JSON.parse(raw);
    } catch {
      throw new ConfigError(
        `bigquery credentials from ${source} are not valid JSON; give a service-account key file path or its JSON text`,
        { path: source },
      );
    }
  }
  const key = parsed as Partial<ServiceAccountKey> | null;
  if (
    !key ||
    typeof key !== 'object' ||
    key.type !== 'service_account' ||
    typeof key.client_email !== 'string' ||
    typeof key.private_key !== 'string'
  ) {
    throw new ConfigError(
      `bigquery credentials from ${source} are not a service-account key (need type "service_account", client_email and private_key); ` +
        'for other credential types set GOOGLE_APPLICATION_CREDENTIALS and leave credentials unset',
      { path: source },
    );
  }
  return key as ServiceAccountKey;
}

/**
 * Apply the environment and defaults: credentials from the config, else `BIGQUERY_CREDENTIALS` (path or
 * JSON), else application default credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud, metadata);
 * project from the config, `BIGQUERY_PROJECT`, `GOOGLE_CLOUD_PROJECT` or the key; location from the
 * config, `BIGQUERY_LOCATION`, else `US`.
 */
export function resolveBigQuerySettings(
  config: BigQueryOptions,
  env: NodeJS.ProcessEnv = process.env,
): ResolvedBigQuerySettings {
  let credentials: ServiceAccountKey | undefined;
  let credentialsSource: string | undefined;
  if (config.credentials !== undefined && config.credentials !== '') {
    credentials = parseServiceAccount(config.credentials, 'destination.credentials');
    credentialsSource =
      typeof config.credentials === 'string' && !config.credentials.trim().startsWith('{')
        ? config.credentials
        : 'inline';
  } else if (env.BIGQUERY_CREDENTIALS && !config.authClient && !config.accessToken) {
    credentials = parseServiceAccount(env.BIGQUERY_CREDENTIALS, 'BIGQUERY_CREDENTIALS');
    credentialsSource = 'BIGQUERY_CREDENTIALS';
  }
  const projectId =
    config.projectId || env.BIGQUERY_PROJECT || env.GOOGLE_CLOUD_PROJECT || credentials?.project_id;
  if (!projectId) {
    throw new ConfigError('bigquery needs a project: set destination.projectId (or BIGQUERY_PROJECT)', {
      path: 'destination.projectId',
    });
  }
  return {
    projectId,
    location: config.location || env.BIGQUERY_LOCATION || 'US',
    credentials,
    credentialsSource,
  };
}
