import type { PipelineEvent } from '@ferry/core';

/** Log levels of JSON-lines output. */
export type Level = 'debug' | 'info' | 'warn' | 'error';

/**
 * Where a command reports progress and results. Two implementations: JSON lines for containers and
 * pipes ({@link JsonLinesReporter}), progress bars for terminals (`TtyReporter`).
 */
export interface Reporter {
  /** A pipeline progress event from the engine, for the pipeline `pipeline`. */
  pipelineEvent(pipeline: string, event: PipelineEvent): void;
  /** A CLI lifecycle event (`run_start`, `load_info`, `transform_end`, `summary`, ...). */
  emit(event: string, fields?: Record<string, unknown>, level?: Level): void;
  /** A free-text line for people (shown on terminals; a `message` event in JSON mode). */
  message(text: string, level?: Level): void;
  /** Stop bars and flush. Idempotent. */
  close(): void;
}

/** Which output to use: `auto` picks `pretty` when stdout is a terminal, else `json`. */
export type LogFormat = 'auto' | 'json' | 'pretty';

/** A sink for text output (process.stdout / a test buffer). */
export interface TextSink {
  write(chunk: string): unknown;
  isTTY?: boolean;
}

/**
 * One JSON object per line: `{"ts":"…","level":"info","event":"extract","pipeline":"…",…}`. Every line is
 * passed through `redact` so a secret that slipped into an error message never reaches the log.
 */
export class JsonLinesReporter implements Reporter {
  readonly #out: TextSink;
  readonly #redact: (text: string) => string;
  readonly #base: Record<string, unknown>;

  constructor(
    out: TextSink,
    options: { redact?: (text: string) => string; base?: Record<string, unknown> } = {},
  ) {
    this.#out = out;
    this.#redact = options.redact ?? ((t) => t);
    this.#base = options.base ?? {};
  }

  /** @inheritdoc */
  pipelineEvent(pipeline: string, event: PipelineEvent): void {
    const { type, ...rest } = event;
    const level: Level = type === 'warning' || type === 'retry' ? 'warn' : 'info';
    this.emit(type, { pipeline, ...rest }, level);
  }

  /** @inheritdoc */
  emit(event: string, fields: Record<string, unknown> = {}, level: Level = 'info'): void {
    const line = JSON.stringify(
      { ts: new Date().toISOString(), level, event, ...this.#base, ...fields },
      jsonReplacer,
    );
    this.#out.write(`${this.#redact(line)}\n`);
  }

  /** @inheritdoc */
  message(text: string, level: Level = 'info'): void {
    this.emit('message', { message: text }, level);
  }

  /** @inheritdoc */
  close(): void {}
}

/** JSON.stringify replacer: bigints as numbers when safe, else strings; errors as name + message. */
export function jsonReplacer(_key: string, value: unknown): unknown {
  if (typeof value === 'bigint')
    return Number.isSafeInteger(Number(value)) ? Number(value) : value.toString();
  if (value instanceof Error) return { name: value.name, message: value.message };
  return value;
}
