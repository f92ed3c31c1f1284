import { createPrivateKey } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import {
  ConfigError,
  DestinationError,
  defineCapabilities,
  type ConnectOptions,
  type Destination,
  type DestinationCapabilities,
} from '@ferry/core';
import type { ConnectionOptions } from 'snowflake-sdk';
import type { SnowflakeConfig } from '../config.ts';
import type { SnowflakeClient } from './snowflake-client.ts';

export { SnowflakeSqlCompiler, type StagedFile } from './snowflake-sql.ts';
export type { SnowflakeClient } from './snowflake-client.ts';

/**
 * Snowflake capabilities: DDL auto-commits (so it runs before the load transaction), JSONL through
 * `PUT` + `COPY INTO … MATCH_BY_COLUMN_NAME`, 255-character identifiers. `identifierCase` stays `lower`:
 * the engine keeps its lower-case names (as on every other destination, so a pipeline moves between
 * destinations unchanged) and the compiler folds them to Snowflake's upper case, always quoted.
 */
export const SNOWFLAKE_CAPABILITIES: DestinationCapabilities = defineCapabilities({
  preferredFileFormat: 'jsonl',
  supportedFileFormats: ['jsonl'],
  supportsTransactionalDdl: false,
  maxIdentifierLength: 255,
  identifierCase: 'lower',
  fileMaxRows: 1_000_000,
  fileMaxBytes: 256 * 1024 * 1024,
  // Documented: a VARCHAR or VARIANT value holds at most 16 MB.
  maxValueBytes: 16 * 1024 * 1024,
});

/** A PEM key inline, or a path to one. */
async function readPrivateKey(value: string): Promise<string> {
  if (value.includes('-----BEGIN')) return value;
  try {
    return await readFile(value, 'utf8');
  } catch (error) {
    throw new ConfigError(
      `snowflake privateKey: cannot read the key file '${value}' (${(error as NodeJS.ErrnoException).code ?? 'error'}); give a PEM text or a readable path`,
      { cause: error },
    );
  }
}

/** SDK connection options from Ferry's config; password or key pair, never both logged. */
async function connectionOptions(config: Omit<SnowflakeConfig, 'type'>): Promise<ConnectionOptions> {
  if (!config.account) throw new ConfigError('snowflake: account is required (e.g. myorg-myaccount)');
  if (!config.username) throw new ConfigError('snowflake: username is required');
  if (!config.database)
    throw new ConfigError('snowflake: database is required (the dataset is a schema inside it)');
  if (!config.password && !config.privateKey)
    throw new ConfigError('snowflake: give a password or a privateKey (PEM text or path) for key-pair auth');
  const options: ConnectionOptions = {
    account: config.account,
    username: config.username,
    database: config.database,
    application: 'Ferry',
    ...(config.warehouse ? { warehouse: config.warehouse } : {}),
    ...(config.role ? { role: config.role } : {}),
    ...(config.accessUrl ? { accessUrl: config.accessUrl } : {}),
  };
  if (config.privateKey) {
    options.authenticator = 'SNOWFLAKE_JWT';
    const pem = await readPrivateKey(config.privateKey);
    // An encrypted key is decrypted here (the SDK takes a passphrase only with a key path).
    options.privateKey = config.privateKeyPass
      ? createPrivateKey({ key: pem, passphrase: config.privateKeyPass })
          .export({ format: 'pem', type: 'pkcs8' })
          .toString()
      : pem;
  } else {
    options.password = config.password!;
  }
  return options;
}

/**
 * Snowflake through `snowflake-sdk` (loaded on first connect). A package: DDL first (auto-commits), `PUT` of
 * each loader file to a table stage under the load id, then `BEGIN`, `COPY INTO … MATCH_BY_COLUMN_NAME`
 * (result rows checked), merge/replace SQL, state and `_ferry_loads` rows, `COMMIT`, then the staged files
 * are removed. The pipeline lease runs on a second session.
 */
export function snowflake(config: Omit<SnowflakeConfig, 'type'> & { type?: 'snowflake' }): Destination {
  return {
    type: 'snowflake',
    capabilities: SNOWFLAKE_CAPABILITIES,
    describe: () =>
      `snowflake://${config.username}@${config.account}/${config.database}${config.warehouse ? `?warehouse=${config.warehouse}` : ''}`,
    async connect(options: ConnectOptions): Promise<SnowflakeClient> {
      const sdkOptions = await connectionOptions(config);
      // snowflake-sdk probes cloud metadata addresses (169.254.169.254, GCP, AWS STS) when it loads unless
      // this is set first; Ferry never needs platform detection, and tests must not leave loopback.
      process.env.SNOWFLAKE_DISABLE_PLATFORM_DETECTION ??= 'true';
      const sdk = (await import('snowflake-sdk')).default;
      const { SnowflakeClient } = await import('./snowflake-client.ts');
      // Ferry reports every error itself; the SDK's own console log is off unless asked for (its messages are secret-masked).
      sdk.configure({ logLevel: (process.env.FERRY_SNOWFLAKE_LOG_LEVEL as 'ERROR' | undefined) ?? 'OFF' });
      const open = async () => {
        const connection = sdk.createConnection(sdkOptions);
        try {
          // connectAsync() resolves even when the login fails (the error only reaches a callback): use connect().
          await new Promise<void>((resolve, reject) =>
            connection.connect((err) => (err ? reject(err) : resolve())),
          );
        } catch (error) {
          const message = (error as Error).message ?? String(error);
          throw new DestinationError(
            `snowflake: cannot log in to account '${config.account}' as '${config.username}': ${message}. Check the account identifier, user and credentials.`,
            {
              transient: false,
              cause: error,
            },
          );
        }
        return connection;
      };
      return new SnowflakeClient(await open(), options.dataset, {
        account: config.account,
        database: config.database,
        username: config.username,
        pipelineName: options.pipelineName,
        // The pipeline lease gets a session of its own (opened only when a run takes the lease).
        openSession: open,
      });
    },
  };
}
