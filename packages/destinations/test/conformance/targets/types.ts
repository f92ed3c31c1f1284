import type { DestinationConfig } from '@ferry/destinations';

/** One destination under conformance test. */
export interface ConformanceTarget {
  /** Name used in DESTINATIONS (e.g. `duckdb`). */
  name: string;
  /** Prepare a fresh place to load into; `teardown` removes it (also on failure). */
  setup(testName: string): Promise<{ config: DestinationConfig; teardown(): Promise<void> }>;
  /** Per-file startup (e.g. a container); called once before the first setup. */
  start?(): Promise<void>;
  /** Per-file shutdown. */
  stop?(): Promise<void>;
}
