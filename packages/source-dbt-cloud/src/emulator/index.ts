export { startEmulator, EmulatorRequestLog } from './emulator-server.ts';
export type {
  DbtCloudEmulator,
  EmulatorOptions,
  EmulatorPermissionSet,
  EmulatorRequest,
} from './emulator-server.ts';
export { EmulatorFaults } from './emulator-faults.ts';
export type { EmulatorFault } from './emulator-faults.ts';
export { EmulatorStore, STATUS_HUMANIZED } from './emulator-store.ts';
export type { EmulatorFixtureOptions, EmuRun, EmuJob, EmuProject, RunStatus } from './emulator-store.ts';
export {
  buildRunResults,
  buildManifest,
  buildSources,
  artifactPaths,
  commandWrites,
  resolveStep,
} from './emulator-artifacts.ts';
