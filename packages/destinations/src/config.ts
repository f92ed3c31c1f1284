/**
 * Destination configuration: one shape per `type`. The CLI validates YAML into these; library users
 * pass them to {@link createDestination}. Secrets (passwords, keys) are read here and never logged.
 */

/** DuckDB, the embedded default: one database file. */
export interface DuckDbConfig {
  type: 'duckdb';
  /** Database file. Default `ferry.duckdb` in the working directory; `:memory:` for tests. */
  path?: string;
  /** DuckDB's memory limit (it spills to disk past it), e.g. `1GB`. Default `$FERRY_DUCKDB_MEMORY_LIMIT` or 256MB. */
  memoryLimit?: string;
}

/** Postgres: a connection string or fields. */
export interface PostgresConfig {
  type: 'postgres';
  /** `postgres://user:pass@host:5432/db` or fields. Default from `DATABASE_URL` / `PG*` variables. */
  credentials?:
    | string
    | { host?: string; port?: number; user?: string; password?: string; database?: string; ssl?: boolean };
  /** Connection timeout in ms. Default 15,000. */
  connectTimeoutMs?: number;
}

/** BigQuery through `@google-cloud/bigquery`. */
export interface BigQueryConfig {
  type: 'bigquery';
  /** GCP project id. Default: `BIGQUERY_PROJECT`, else the service-account key's project. */
  projectId?: string;
  /** Dataset location. Default `US`. */
  location?: string;
  /** Service-account JSON: a path or the inline JSON text. Default: application default credentials. */
  credentials?: string | Record<string, unknown>;
  /** API endpoint override (tests point it at a local server). */
  apiEndpoint?: string;
  /** Prebuilt auth client (tests); wins over `credentials`. */
  authClient?: unknown;
  /** A plain OAuth access token (short-lived; or `BIGQUERY_ACCESS_TOKEN`). Wins over `credentials`. */
  accessToken?: string;
}

/** Snowflake through `snowflake-sdk`. */
export interface SnowflakeConfig {
  type: 'snowflake';
  /** Account identifier (`org-account`). */
  account: string;
  /** Login name. */
  username: string;
  /** Password, unless key-pair auth is used. */
  password?: string;
  /** PEM private key (key-pair auth) or a path to it. */
  privateKey?: string;
  /** Passphrase of an encrypted private key. */
  privateKeyPass?: string;
  /** Warehouse. */
  warehouse?: string;
  /** Database that holds the dataset schema. */
  database: string;
  /** Role. */
  role?: string;
  /** Access URL override (tests: `http://127.0.0.1:PORT`). */
  accessUrl?: string;
}

/** Files on local disk, S3, Google Cloud Storage or Azure Blob Storage, in Parquet or JSONL. */
export interface FilesystemConfig {
  type: 'filesystem';
  /**
   * `file:///abs/path`, a plain path, `s3://bucket/prefix`, `gs://bucket/prefix`, `az://container/prefix` or
   * `abfss://container@account.dfs.core.windows.net/prefix`.
   */
  bucketUrl: string;
  /** File format. Default `parquet`. */
  format?: 'parquet' | 'jsonl';
  /** Gzip JSONL files. Default false. */
  compression?: 'gzip' | 'none';
  /** Layout with placeholders. Default `{table_name}/{load_id}.{file_id}.{ext}`. */
  layout?: string;
  /**
   * Files cannot be merged. `refuse` (default): a merge resource is an error before anything runs;
   * `append`: its rows are appended (you de-duplicate when reading).
   */
  mergeFallback?: 'refuse' | 'append';
  /** S3 settings (endpoint, region, path style, credentials) for S3-compatible stores. */
  s3?: {
    endpoint?: string;
    region?: string;
    forcePathStyle?: boolean;
    accessKeyId?: string;
    secretAccessKey?: string;
    sessionToken?: string;
  };
  /**
   * Azure Blob Storage settings for `az://` and `abfss://` URLs. One of `connectionString`, `accountKey` or
   * `sasToken` is needed; each falls back to its `AZURE_STORAGE_*` variable (see `AzureStore.create`).
   */
  azure?: {
    /** Storage account (`az://` URLs; `abfss://` ones carry it). Default `AZURE_STORAGE_ACCOUNT_NAME`. */
    accountName?: string;
    /** Shared key of the account. Default `AZURE_STORAGE_ACCOUNT_KEY` (or `AZURE_STORAGE_KEY`). */
    accountKey?: string;
    /** A SAS token (with or without the leading `?`). Default `AZURE_STORAGE_SAS_TOKEN`. */
    sasToken?: string;
    /** A full connection string (wins over the rest). Default `AZURE_STORAGE_CONNECTION_STRING`. */
    connectionString?: string;
    /** Blob endpoint override, e.g. Azurite's `http://127.0.0.1:10000/devstoreaccount1`. */
    endpoint?: string;
  };
  /**
   * Google Cloud Storage settings for `gs://` URLs. Without `credentials` or `keyFilename` the client uses
   * Application Default Credentials (`GOOGLE_APPLICATION_CREDENTIALS`, gcloud, the metadata server).
   */
  gcs?: {
    /** Project (only for messages and quota; objects need none). Default from the credentials. */
    projectId?: string;
    /** A service-account key as JSON text (e.g. from a secret). */
    credentials?: string;
    /** Path of a service-account key file. */
    keyFilename?: string;
    /** API endpoint override (tests: `http://127.0.0.1:PORT`); a custom endpoint is called without auth. */
    apiEndpoint?: string;
  };
}

/** Any destination config; the `type` alone picks the destination. */
export type DestinationConfig =
  DuckDbConfig | PostgresConfig | BigQueryConfig | SnowflakeConfig | FilesystemConfig;

/** The destination types Ferry ships. */
export const DESTINATION_TYPES = ['duckdb', 'postgres', 'bigquery', 'snowflake', 'filesystem'] as const;
