/**
 * Ferry's error hierarchy. Every error carries a stable `code` for programs, a `context` record for logs,
 * and a message that says what to do next. Secrets never belong in any of them: callers redact first.
 */
export class FerryError extends Error {
  /** Stable machine-readable code, e.g. `CONFIG_INVALID`. */
  readonly code: string;
  /** Structured context for logs (never secrets). */
  readonly context: Record<string, unknown>;

  constructor(
    code: string,
    message: string,
    options: { context?: Record<string, unknown>; cause?: unknown } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = new.target.name;
    this.code = code;
    this.context = options.context ?? {};
  }
}

/** A configuration problem: names the file, the YAML path and carries the zod issues when there are any. */
export class ConfigError extends FerryError {
  constructor(
    message: string,
    options: { file?: string; path?: string; line?: number; issues?: unknown[]; cause?: unknown } = {},
  ) {
    super('CONFIG_INVALID', message, { context: { ...options }, cause: options.cause });
  }
}

/** A schema contract (freeze / discard) refused a table, column or data type. */
export class SchemaContractError extends FerryError {
  /** Table the contract applies to. */
  readonly table: string;
  /** Column, when the violation is about a column or a data type. */
  readonly column: string | undefined;

  constructor(
    message: string,
    options: { table: string; column?: string; contract: string; mode: string; resource?: string },
  ) {
    super('SCHEMA_CONTRACT', message, { context: options });
    this.table = options.table;
    this.column = options.column;
  }
}

/** Bad input from a source: not an object, a missing cursor value, an unparseable line. */
export class DataError extends FerryError {
  constructor(message: string, context: Record<string, unknown> = {}, cause?: unknown) {
    super('DATA_INVALID', message, { context, cause });
  }
}

/**
 * A destination failed. `sql` is the statement (parameters are never included) and `transient` says
 * whether the engine may retry the package (connection reset, backend terminated, throttling).
 */
export class DestinationError extends FerryError {
  /** The SQL statement that failed, if any (never with parameter values). */
  readonly sql: string | undefined;
  /** True when retrying can succeed (network, killed backend, rate limit). Default false. */
  readonly transient: boolean;
  /**
   * True when the package itself cannot load, so retrying it can never succeed (a data exception, a
   * constraint, a program limit such as too many columns). The engine then moves the package aside
   * instead of loading it first on every later run. Default false: an unclassified error keeps the
   * package pending.
   */
  readonly terminal: boolean;

  constructor(
    message: string,
    options: {
      sql?: string;
      transient?: boolean;
      terminal?: boolean;
      cause?: unknown;
      context?: Record<string, unknown>;
    } = {},
  ) {
    super('DESTINATION_FAILED', message, {
      context: { ...options.context, sql: options.sql },
      cause: options.cause,
    });
    this.sql = options.sql;
    this.transient = options.transient ?? false;
    this.terminal = !this.transient && (options.terminal ?? false);
  }
}

/** A pipeline step failed; wraps the cause with the step and load id. */
export class PipelineStepError extends FerryError {
  /** `extract`, `normalize` or `load`. */
  readonly step: 'extract' | 'normalize' | 'load';
  /** The package being processed, if any. */
  readonly loadId: string | undefined;

  constructor(
    step: 'extract' | 'normalize' | 'load',
    message: string,
    options: { loadId?: string; cause?: unknown; context?: Record<string, unknown> } = {},
  ) {
    super('PIPELINE_STEP_FAILED', message, {
      context: { step, loadId: options.loadId, ...options.context },
      cause: options.cause,
    });
    this.step = step;
    this.loadId = options.loadId;
  }
}

/**
 * A load package failed in a way retrying cannot fix. It was moved aside to `failedDir` (kept for
 * inspection, listed by `ferry pipeline info`), its state was not committed, and the next run extracts
 * again from the last committed state. Code `PACKAGE_FAILED`.
 */
export class PackageFailedError extends FerryError {
  /** The package that failed. */
  readonly loadId: string;
  /** Where the package (and any later pending package) now lies. */
  readonly failedDir: string;

  /** The step that failed: `normalize` (a data error) or `load` (a terminal destination error). */
  readonly step: 'normalize' | 'load';

  constructor(
    message: string,
    options: {
      loadId: string;
      failedDir: string;
      movedAside: string[];
      step: 'normalize' | 'load';
      cause?: unknown;
    },
  ) {
    super('PACKAGE_FAILED', message, {
      context: {
        step: options.step,
        loadId: options.loadId,
        failedDir: options.failedDir,
        movedAside: options.movedAside,
      },
      cause: options.cause,
    });
    this.loadId = options.loadId;
    this.failedDir = options.failedDir;
    this.step = options.step;
  }
}

/** The plan cannot be carried out by this destination (e.g. merge on a destination without merge). */
export class UnsupportedError extends FerryError {
  constructor(message: string, context: Record<string, unknown> = {}) {
    super('UNSUPPORTED', message, { context });
  }
}
