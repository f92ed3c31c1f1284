import type { PipelineEvent } from '@ferry/core';
import cliProgress from 'cli-progress';
import { formatDuration } from '../config/duration.ts';
import type { Level, Reporter, TextSink } from './reporter.ts';
import { terminalCell, terminalText } from './terminal-text.ts';

type Bar = ReturnType<cliProgress.MultiBar['create']>;

/**
 * Progress bars on a terminal: one bar per resource while extracting (items), per table while
 * normalizing (rows) and one per load (jobs), with stage lines above them. Bars draw on stderr so that
 * stdout keeps only results (load info, tables).
 */
export class TtyReporter implements Reporter {
  readonly #out: TextSink;
  readonly #redact: (text: string) => string;
  readonly #multi: cliProgress.MultiBar;
  readonly #bars = new Map<string, Bar>();
  #closed = false;

  constructor(
    out: TextSink,
    options: { redact?: (text: string) => string; progressStream?: NodeJS.WritableStream } = {},
  ) {
    this.#out = out;
    this.#redact = options.redact ?? ((t) => t);
    this.#multi = new cliProgress.MultiBar(
      {
        stream: options.progressStream ?? process.stderr,
        format: ' {stage} {bar} {label} {counter}',
        barsize: 24,
        hideCursor: true,
        clearOnComplete: false,
        stopOnComplete: false,
        autopadding: true,
        fps: 10,
      },
      cliProgress.Presets.shades_classic,
    );
  }

  /** @inheritdoc */
  pipelineEvent(pipeline: string, event: PipelineEvent): void {
    const prefix = `${pipeline}`;
    switch (event.type) {
      case 'stage':
        if (event.status === 'end')
          this.message(
            `${prefix}: ${event.stage} done${event.ms === undefined ? '' : ` in ${formatDuration(event.ms)}`}`,
          );
        else this.message(`${prefix}: ${event.stage}…`);
        return;
      case 'extract':
        this.#counter(
          `${prefix}:extract:${event.resource}`,
          'extract  ',
          event.resource,
          event.items,
          'items',
        );
        return;
      case 'normalize':
        this.#counter(`${prefix}:normalize:${event.table}`, 'normalize', event.table, event.rows, 'rows');
        return;
      case 'load': {
        const key = `${prefix}:load:${event.loadId}`;
        let bar = this.#bars.get(key);
        if (bar === undefined) {
          bar = this.#multi.create(Math.max(event.jobsTotal, 1), 0, {
            stage: 'load     ',
            label: event.loadId,
            counter: '',
          });
          this.#bars.set(key, bar);
        }
        bar.setTotal(Math.max(event.jobsTotal, 1));
        bar.update(event.jobsDone, {
          stage: 'load     ',
          label: event.loadId,
          counter: `${event.jobsDone}/${event.jobsTotal} jobs${event.table ? ` (${terminalCell(event.table)})` : ''}`,
        });
        return;
      }
      case 'retry':
        this.message(
          `${prefix}: retry ${event.attempt} of load ${event.loadId} in ${formatDuration(event.delayMs)}: ${event.error}`,
          'warn',
        );
        return;
      case 'warning':
        this.message(`${prefix}: warning: ${event.message}`, 'warn');
        return;
    }
  }

  #counter(key: string, stage: string, label: string, value: number, unit: string): void {
    let bar = this.#bars.get(key);
    if (bar === undefined) {
      // totals are unknown while streaming: the bar fills as a spinner-like counter against a growing total
      bar = this.#multi.create(1, 0, { stage, label: terminalCell(label), counter: '' });
      this.#bars.set(key, bar);
    }
    bar.setTotal(Math.max(value, 1));
    bar.update(value, {
      stage,
      label: terminalCell(label),
      counter: `${value.toLocaleString('en-US')} ${unit}`,
    });
  }

  /** @inheritdoc */
  emit(event: string, fields: Record<string, unknown> = {}, level: Level = 'info'): void {
    if (event === 'message' && typeof fields['message'] === 'string') this.message(fields['message'], level);
  }

  /** @inheritdoc */
  message(text: string, level: Level = 'info'): void {
    // API messages, record values and names reach this text: no escape sequence gets to the terminal
    const line = terminalText(
      this.#redact(level === 'error' ? `error: ${text}` : level === 'warn' ? `${text}` : text),
    );
    if (this.#closed || this.#bars.size === 0) this.#out.write(`${line}\n`);
    else this.#multi.log(`${line}\n`);
  }

  /** @inheritdoc */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#multi.stop();
  }
}
