import type * as DbtCloud from '@ferry/source-dbt-cloud';
import type * as DbtCloudEmulator from '@ferry/source-dbt-cloud/emulator';

/** `@ferry/source-dbt-cloud` and its emulator, as the CLI uses them. */
export type DbtCloudModule = typeof DbtCloud & Pick<typeof DbtCloudEmulator, 'startEmulator'>;

/** A running emulator. */
export type RunningEmulator = DbtCloudEmulator.DbtCloudEmulator;

let loaded: Promise<DbtCloudModule> | undefined;

/**
 * Import `@ferry/source-dbt-cloud` lazily: `validate`, `schema` and runs of other sources never load the
 * HTTP client or the emulator.
 */
export function loadDbtCloud(): Promise<DbtCloudModule> {
  loaded ??= Promise.all([
    import('@ferry/source-dbt-cloud'),
    import('@ferry/source-dbt-cloud/emulator'),
  ]).then(([source, emulator]) => ({
    ...source,
    startEmulator: emulator.startEmulator,
  }));
  return loaded;
}

/** Settings sources that read nothing: a team file is the whole truth, `DBT_CLOUD__*` variables do not leak in. */
export const NO_SETTINGS_SOURCES = { env: {} } as const;
