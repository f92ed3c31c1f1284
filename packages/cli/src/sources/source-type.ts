import type { Source } from '@ferry/core';
import type { z } from 'zod';

/** How to reach dbt Cloud: what the transform step and `ferry dbt-cloud` commands need. */
export interface DbtCloudConnection {
  /** Access URL host (`ab123.us1.dbt.com`); https is implied. */
  host?: string;
  /** Full base URL instead of a host (`http://127.0.0.1:8080`), for the emulator and proxies. */
  baseUrl?: string;
  /** Account id. */
  accountId: number | string;
  /** Service token (a secret). */
  apiToken: string;
}

/**
 * One kind of `source:` block. The CLI keeps a registry of these (see `source-registry.ts`): adding a
 * source type to the YAML is one entry there.
 */
export interface SourceType<Config = any> {
  /** The `type:` value. */
  readonly type: string;
  /** Schema of the whole `source:` block, including `type: z.literal(<type>)`; a strict object. */
  readonly schema: z.ZodType;
  /** Build the source from the validated block. The source's package is imported here, lazily. */
  create(config: Config): Promise<Source>;
  /** The dbt Cloud connection this source uses, so `transform.dbt_cloud` can default to it. */
  dbtCloudConnection?(config: Config): DbtCloudConnection | undefined;
  /**
   * One cheap authenticated call (`ferry mcp` check_credentials), without retries; resolves with what was
   * called, rejects with a redacted error. Default none (the check is reported as skipped).
   */
  probe?(config: Config, signal: AbortSignal): Promise<string>;
  /** Endpoint and paging of each resource, from the config alone (`list_source_resources`). Default none. */
  resourceInfo?(config: Config): SourceResourceEndpoint[];
}

/** What a source type says about one resource's endpoint, without fetching anything. */
export interface SourceResourceEndpoint {
  /** Resource name. */
  name: string;
  /** Method and path, with `{placeholders}`. */
  endpoint: string;
  /** Paginator (as configured, or `auto`). */
  paginator: string;
  /** The resource this one runs once per row of. */
  parent?: string;
}

/** Type helper: declare a source type with its config inferred from the schema. */
export function defineSourceType<S extends z.ZodType>(type: {
  type: string;
  schema: S;
  create(config: z.output<S>): Promise<Source>;
  dbtCloudConnection?(config: z.output<S>): DbtCloudConnection | undefined;
  probe?(config: z.output<S>, signal: AbortSignal): Promise<string>;
  resourceInfo?(config: z.output<S>): SourceResourceEndpoint[];
}): SourceType<z.output<S>> {
  return type;
}
