import { stripVTControlCharacters } from 'node:util';
import type { TextSink } from './reporter.ts';

/**
 * C0 and C1 control characters except tab and newline, DEL, and the Unicode bidirectional overrides
 * and isolates (which reorder what a terminal shows: "Trojan Source").
 */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text for a terminal: ANSI escape sequences (colours, cursor moves, OSC titles and hyperlinks) and
 * other control characters removed, so an API message, a record or a table name cannot rewrite the
 * screen, hide a line or fake a prompt. Tabs and newlines stay (messages span lines); a carriage
 * return goes (it would let a value overwrite the start of its own line).
 */
export function terminalText(text: string): string {
  return stripVTControlCharacters(text).replace(CONTROL, '');
}

/**
 * One table cell or label for a terminal: like {@link terminalText}, with newlines and tabs shown as
 * `\n` and `\t` so a value cannot break the table's rows and columns.
 */
export function terminalCell(text: string): string {
  return terminalText(text.replaceAll('\r', '\\r').replaceAll('\n', '\\n').replaceAll('\t', '\\t'));
}

/**
 * A sink that passes every chunk through {@link terminalText}: for human output, where Ferry itself
 * writes no escape sequences (progress bars draw on their own stream), so anything there came from
 * outside.
 */
export function terminalSink(sink: TextSink): TextSink {
  return {
    write: (chunk: string) => sink.write(terminalText(chunk)),
    ...(sink.isTTY === undefined ? {} : { isTTY: sink.isTTY }),
  };
}
