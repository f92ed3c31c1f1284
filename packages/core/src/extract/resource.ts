import type { ColumnHint, MergeStrategy, SchemaContract, WriteDisposition } from '../schema/types.ts';

/** A record as a source yields it: a plain JSON-like object. */
export type DataItem = Record<string, unknown>;

/** What a resource function may yield: one record or a page of records. */
export type Yielded = DataItem | readonly DataItem[];

/** Incremental loading on a cursor field (dlt's `incremental`). */
export interface IncrementalOptions {
  /** Field holding the cursor; dotted path for nested fields (`trigger.created_at`). */
  cursorPath: string;
  /** Cursor value for the very first run. Default: no lower bound. */
  initialValue?: unknown;
  /** Stop below/above this value (a backfill window); state is not advanced when set. */
  endValue?: unknown;
  /**
   * Order in which the source yields rows. With `asc`, the first row past `endValue` ends the resource;
   * with `desc`, the first row below the start ends it (no more pages fetched). Default: unordered.
   */
  rowOrder?: 'asc' | 'desc';
  /**
   * Re-read a margin below the last value: a number (subtracted for numeric cursors) or milliseconds
   * for timestamp cursors. Overlap is absorbed by merge; boundary dedup is off when set. Default 0.
   */
  lookback?: number;
  /** What to do with a row without a cursor value. Default `raise` (a {@link DataError} naming the row). */
  onCursorValueMissing?: 'raise' | 'include' | 'exclude';
  /** Fields identifying a row for boundary dedup. Default: the resource's primary key, else the whole row. */
  primaryKey?: string | string[];
  /** Most boundary keys to remember (rows sharing the last cursor value). Default 1,000. */
  maxBoundaryKeys?: number;
}

/** The cursor values a resource function sees, to push the filter down into its API calls. */
export interface IncrementalCursor {
  /** Configured initial value. */
  readonly initialValue: unknown;
  /** Last committed value (undefined on the first run). */
  readonly lastValue: unknown;
  /** Where this run starts: last value minus lookback, else the initial value. */
  readonly startValue: unknown;
  /** Configured end value, if any. */
  readonly endValue: unknown;
}

/** Passed to every resource function. */
export interface ResourceContext {
  /** The incremental cursor, when the resource has one. */
  readonly incremental: IncrementalCursor | undefined;
  /**
   * Resource-scoped state, persisted with the load that commits it (e.g. ids still in flight).
   * Mutate it freely; it must stay JSON-serializable.
   */
  readonly state: Record<string, unknown>;
  /** Aborted when the run is cancelled. */
  readonly signal: AbortSignal;
}

/** A root resource function: yields records or pages. */
export type ResourceFunction = (ctx: ResourceContext) => AsyncIterable<Yielded> | Iterable<Yielded>;

/** A dependent resource function: called once per parent record. */
export type TransformerFunction = (
  parentItem: DataItem,
  ctx: ResourceContext,
) => AsyncIterable<Yielded> | Iterable<Yielded>;

/** Options shared by resources and transformers. */
export interface ResourceOptions {
  /** Resource name; also the root table name (normalized). */
  name: string;
  /** Table name when it differs from the resource name. */
  tableName?: string;
  /** How rows are written. Default `append`. */
  writeDisposition?: WriteDisposition;
  /** Strategy for `merge`. Default `delete-insert`. */
  mergeStrategy?: MergeStrategy;
  /** Primary key field(s) (source names). Required for `merge` unless `mergeKey` is given. */
  primaryKey?: string | string[];
  /** Merge key field(s): delete-insert deletes every target row matching a staged merge key. */
  mergeKey?: string | string[];
  /** Column hints by source field name (nested paths joined with `__`). */
  columns?: Record<string, ColumnHint>;
  /** Depth past which nested objects and lists stay json. Default: the source's, else 1000. */
  maxTableNesting?: number;
  /** Schema contract; overrides the source's. Default `evolve`. */
  schemaContract?: SchemaContract;
  /** Incremental cursor. */
  incremental?: IncrementalOptions;
  /** Load this resource's rows. Default true; false for a parent that only feeds transformers. */
  selected?: boolean;
}

/** A declared resource. Create with {@link resource} or {@link transformer}. */
export interface Resource {
  /** Discriminator. */
  readonly kind: 'resource';
  /** Options as declared. */
  readonly options: Readonly<ResourceOptions>;
  /** Root function (undefined for transformers). */
  readonly fn: ResourceFunction | undefined;
  /** Transformer function and its parent (undefined for root resources). */
  readonly transform: { parent: Resource; fn: TransformerFunction; concurrency: number } | undefined;
  /** The resource's name. */
  readonly name: string;
}

/** Declare a root resource. */
export function resource(options: ResourceOptions, fn: ResourceFunction): Resource {
  validateOptions(options);
  return { kind: 'resource', options, fn, transform: undefined, name: options.name };
}

/**
 * Declare a dependent resource: `fn` runs once per record of `parent` (one child request per parent
 * row), up to `concurrency` at a time (default 1, so output order follows the parent).
 */
export function transformer(
  options: ResourceOptions & { parent: Resource; concurrency?: number },
  fn: TransformerFunction,
): Resource {
  validateOptions(options);
  const { parent, concurrency = 1, ...rest } = options;
  return {
    kind: 'resource',
    options: rest,
    fn: undefined,
    transform: { parent, fn, concurrency },
    name: rest.name,
  };
}

/** Options of a source. */
export interface SourceOptions {
  /** Source name; also the schema name. */
  name: string;
  /** The source's resources. Transformers' parents are run once even when several depend on them. */
  resources: Resource[];
  /** Default depth past which nested data stays json. Default 1000. */
  maxTableNesting?: number;
  /** Default contract for all resources. Default `evolve`. */
  schemaContract?: SchemaContract;
}

/** A declared source: a named group of resources sharing one schema. */
export interface Source {
  /** Discriminator. */
  readonly kind: 'source';
  /** Source (and schema) name. */
  readonly name: string;
  /** Resources, in declaration order. */
  readonly resources: readonly Resource[];
  /** Options as declared. */
  readonly options: Readonly<SourceOptions>;
  /** A copy of this source with only the named resources (and the parents they need). */
  withResources(names: readonly string[]): Source;
}

/** Declare a source. */
export function source(options: SourceOptions): Source {
  const names = new Set<string>();
  for (const r of options.resources) {
    if (names.has(r.name))
      throw new TypeError(`source '${options.name}': resource '${r.name}' is declared twice`);
    names.add(r.name);
  }
  const make = (resources: Resource[]): Source => ({
    kind: 'source',
    name: options.name,
    resources,
    options: { ...options, resources },
    withResources(selected) {
      const unknown = selected.filter((n) => !names.has(n));
      if (unknown.length > 0) {
        throw new TypeError(
          `source '${options.name}' has no resource ${unknown.map((n) => `'${n}'`).join(', ')}; it has: ${[...names].join(', ')}`,
        );
      }
      return make(options.resources.filter((r) => selected.includes(r.name)));
    },
  });
  return make(options.resources);
}

function validateOptions(options: ResourceOptions): void {
  if (!options.name || typeof options.name !== 'string') throw new TypeError('a resource needs a name');
  if (options.writeDisposition === 'merge' && !options.primaryKey && !options.mergeKey) {
    throw new TypeError(`resource '${options.name}': merge needs a primaryKey or a mergeKey`);
  }
}
