import { FerryError, type Source } from '@ferry/core';

/** A running dbt Cloud emulator, as `startEmulator` returns it. */
export interface RunningEmulator {
  /** Base URL, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The API token the emulator accepts. */
  token: string;
  /** The emulated account id. */
  accountId: number | string;
  /** Stop the server. */
  close(): Promise<void>;
}

/** The parts of `@ferry/source-dbt-cloud` the CLI uses. */
export interface DbtCloudModule {
  /** Build the source. */
  dbtCloudSource(options: Record<string, unknown>): Source;
  /** Trigger a job run (and optionally wait for its outcome). */
  runDbtCloudJob(options: Record<string, unknown>): Promise<unknown>;
  /** Read (and optionally wait for) a run's status. */
  getDbtCloudRunStatus(options: Record<string, unknown>): Promise<unknown>;
  /** Start the bundled emulator. */
  startEmulator(options: Record<string, unknown>): Promise<RunningEmulator>;
}

const SPECIFIERS = ['@ferry/source-dbt-cloud', '@ferry/source-dbt-cloud/emulator'];
let loaded: Promise<DbtCloudModule> | undefined;

/**
 * Import `@ferry/source-dbt-cloud` lazily (only commands that need dbt Cloud pay for it) and check it
 * has what the CLI calls. The emulator may live in the `/emulator` subpath; both are merged.
 */
export function loadDbtCloud(): Promise<DbtCloudModule> {
  loaded ??= (async () => {
    const merged: Record<string, unknown> = {};
    for (const specifier of SPECIFIERS) {
      try {
        Object.assign(merged, (await import(specifier)) as Record<string, unknown>);
      } catch (error) {
        if (specifier === SPECIFIERS[0]) {
          throw new FerryError('MODULE_MISSING', `cannot load ${specifier}: ${(error as Error).message}. Run \`pnpm build\` first.`, {
            cause: error,
          });
        }
      }
    }
    for (const name of ['dbtCloudSource', 'runDbtCloudJob', 'getDbtCloudRunStatus', 'startEmulator']) {
      if (typeof merged[name] !== 'function') {
        const fallback = merged[name];
        merged[name] = () => {
          throw new FerryError('MODULE_MISSING', `@ferry/source-dbt-cloud does not export ${name}() (found ${typeof fallback}); update it`);
        };
      }
    }
    return merged as unknown as DbtCloudModule;
  })();
  return loaded;
}
