import type {
  BigQueryConfig,
  DestinationConfig,
  DuckDbConfig,
  FilesystemConfig,
  PostgresConfig,
  SnowflakeConfig,
} from '@ferry/destinations';
import { z } from 'zod';
import { boolLike, defined, intLike, nonEmpty, toBool, toInt } from './zod-helpers.ts';

/** `destination:` for DuckDB. */
export const duckdbDestinationSchema = z
  .strictObject({
    type: z.literal('duckdb'),
    path: nonEmpty
      .optional()
      .describe('Database file. Default `<pipeline name>.duckdb` in the working directory.'),
    memory_limit: nonEmpty
      .optional()
      .describe('DuckDB memory limit, e.g. 1GB (spills to disk past it). Default 256MB.'),
  })
  .describe('DuckDB: one local database file.');

/** `destination:` for Postgres. */
export const postgresDestinationSchema = z
  .strictObject({
    type: z.literal('postgres'),
    credentials: z
      .union([
        nonEmpty.describe('A connection string: postgres://user:password@host:5432/database'),
        z.strictObject({
          host: nonEmpty.optional(),
          port: intLike.optional(),
          user: nonEmpty.optional(),
          password: z.string().optional(),
          database: nonEmpty.optional(),
          ssl: boolLike.optional(),
        }),
      ])
      .optional()
      .describe(
        'Connection string or fields. Default from DATABASE_URL / PG* variables. Use ${VAR}, never inline.',
      ),
    connect_timeout_ms: intLike.optional().describe('Connection timeout in ms. Default 15000.'),
  })
  .describe('Postgres.');

/** `destination:` for BigQuery. */
export const bigqueryDestinationSchema = z
  .strictObject({
    type: z.literal('bigquery'),
    project_id: nonEmpty
      .optional()
      .describe("GCP project id. Default: $BIGQUERY_PROJECT or the key file's project."),
    access_token: nonEmpty
      .optional()
      .describe('A short-lived OAuth access token instead of a key. Use ${VAR}.'),
    location: nonEmpty.optional().describe('Dataset location. Default US.'),
    credentials: z
      .union([nonEmpty, z.record(z.string(), z.unknown())])
      .optional()
      .describe(
        'Service-account JSON: a file path or the JSON text. Default: application default credentials.',
      ),
    api_endpoint: nonEmpty.optional().describe('API endpoint override (local test servers).'),
  })
  .describe('Google BigQuery.');

/** `destination:` for Snowflake. */
export const snowflakeDestinationSchema = z
  .strictObject({
    type: z.literal('snowflake'),
    account: nonEmpty.describe('Account identifier (org-account).'),
    username: nonEmpty,
    password: z.string().optional().describe('Password, unless private_key is given. Use ${VAR}.'),
    private_key: nonEmpty.optional().describe('PEM private key or a path to it (key-pair auth). Use ${VAR}.'),
    private_key_pass: nonEmpty.optional().describe('Passphrase of an encrypted private key. Use ${VAR}.'),
    warehouse: nonEmpty.optional(),
    database: nonEmpty.describe('Database that holds the dataset schema.'),
    role: nonEmpty.optional(),
    access_url: nonEmpty.optional().describe('Access URL override (local test servers).'),
  })
  .describe('Snowflake.');

/** `destination:` for files on local disk or S3. */
export const filesystemDestinationSchema = z
  .strictObject({
    type: z.literal('filesystem'),
    bucket_url: nonEmpty.describe('file:///abs/path, a plain path, or s3://bucket/prefix.'),
    format: z.enum(['parquet', 'jsonl']).optional().describe('File format. Default parquet.'),
    compression: z.enum(['gzip', 'none']).optional().describe('Gzip JSONL files. Default none.'),
    layout: nonEmpty.optional().describe('Default {table_name}/{load_id}.{file_id}.{ext}.'),
    merge_fallback: z
      .enum(['refuse', 'append'])
      .optional()
      .describe('Files cannot be merged: refuse (default) or append the rows.'),
    s3: z
      .strictObject({
        endpoint: nonEmpty.optional(),
        region: nonEmpty.optional(),
        force_path_style: boolLike.optional(),
        access_key_id: nonEmpty.optional(),
        secret_access_key: nonEmpty.optional(),
        session_token: nonEmpty.optional(),
      })
      .optional()
      .describe('S3-compatible store settings. Default: the AWS SDK credential chain.'),
  })
  .describe('Files (Parquet or JSONL) on local disk or S3.');

/** Every destination schema by `type`: adding a destination is one entry here and one in the mapper. */
export const DESTINATION_SCHEMAS = {
  duckdb: duckdbDestinationSchema,
  postgres: postgresDestinationSchema,
  bigquery: bigqueryDestinationSchema,
  snowflake: snowflakeDestinationSchema,
  filesystem: filesystemDestinationSchema,
} as const;

/** `destination:` — the `type` alone picks the destination; each type has its own fields. */
export const destinationSchema = z.discriminatedUnion('type', [
  duckdbDestinationSchema,
  postgresDestinationSchema,
  bigqueryDestinationSchema,
  snowflakeDestinationSchema,
  filesystemDestinationSchema,
]);

/** The validated YAML `destination:` block. */
export type DestinationYaml = z.output<typeof destinationSchema>;

/** Map the snake_case YAML block to the `@ferry/destinations` config object. */
export function toDestinationConfig(yaml: DestinationYaml): DestinationConfig {
  switch (yaml.type) {
    case 'duckdb': {
      const out: DuckDbConfig = { type: 'duckdb' };
      if (yaml.path !== undefined) out.path = yaml.path;
      if (yaml.memory_limit !== undefined) out.memoryLimit = yaml.memory_limit;
      return out;
    }
    case 'postgres': {
      const out: PostgresConfig = { type: 'postgres' };
      const c = yaml.credentials;
      if (typeof c === 'string') out.credentials = c;
      else if (c !== undefined) {
        out.credentials = defined({
          host: c.host,
          port: c.port === undefined ? undefined : toInt(c.port),
          user: c.user,
          password: c.password,
          database: c.database,
          ssl: c.ssl === undefined ? undefined : toBool(c.ssl),
        });
      }
      if (yaml.connect_timeout_ms !== undefined) out.connectTimeoutMs = toInt(yaml.connect_timeout_ms);
      return out;
    }
    case 'bigquery':
      return defined<BigQueryConfig>({
        type: 'bigquery',
        projectId: yaml.project_id,
        location: yaml.location,
        credentials: yaml.credentials,
        apiEndpoint: yaml.api_endpoint,
        accessToken: yaml.access_token,
      });
    case 'snowflake':
      return defined<SnowflakeConfig>({
        type: 'snowflake',
        account: yaml.account,
        username: yaml.username,
        password: yaml.password,
        privateKey: yaml.private_key,
        privateKeyPass: yaml.private_key_pass,
        warehouse: yaml.warehouse,
        database: yaml.database,
        role: yaml.role,
        accessUrl: yaml.access_url,
      });
    case 'filesystem': {
      const out = defined<FilesystemConfig>({
        type: 'filesystem',
        bucketUrl: yaml.bucket_url,
        format: yaml.format,
        compression: yaml.compression,
        layout: yaml.layout,
        mergeFallback: yaml.merge_fallback,
      });
      if (yaml.s3 !== undefined) {
        out.s3 = defined({
          endpoint: yaml.s3.endpoint,
          region: yaml.s3.region,
          forcePathStyle:
            yaml.s3.force_path_style === undefined ? undefined : toBool(yaml.s3.force_path_style),
          accessKeyId: yaml.s3.access_key_id,
          secretAccessKey: yaml.s3.secret_access_key,
          sessionToken: yaml.s3.session_token,
        });
      }
      return out;
    }
  }
}
