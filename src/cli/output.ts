/**
 * Human output for the CLI: plain aligned tables (like `ctr plugins ls`), coloured only on a TTY
 * and never when NO_COLOR is set. Text a plugin supplies (file names, thrown messages) is shown
 * with its control characters escaped, so it cannot move the cursor, clear the screen or fake a
 * line of the report; JSON output is left exact.
 */
import { styleText } from 'node:util';
import { CONTROL_CHARACTERS } from '../util/render.js';

const NAMED: Readonly<Record<string, string>> = { '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/**
 * `text` with every control character (C0, DEL, C1) shown as a visible escape: `\n`, `\r`, `\t`,
 * else `\xHH` (so ESC is `\x1b`). Everything else, backslashes included, is left as it is.
 */
export function escapeControl(text: string): string {
  return text.replace(CONTROL_CHARACTERS, (c) => NAMED[c] ?? `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/** Colours a status word when `colour` is on. */
export function paint(text: string, colour: boolean): string {
  if (!colour) return text;
  const style = text === 'ok' || text === 'loaded' ? 'green'
    : text === 'failed' ? 'red'
      : text === 'skipped' || text === 'unresolved' || text === 'disabled' ? 'yellow' : undefined;
  return style === undefined ? text : styleText(style, text);
}

/** True when output to `stream` should be coloured. */
export function wantsColour(stream: NodeJS.WriteStream): boolean {
  return stream.isTTY && process.env.NO_COLOR === undefined;
}

/**
 * Lays out `rows` under `header` in columns two spaces apart; `paintColumn` is coloured. Every
 * cell is shown through {@link escapeControl}.
 */
export function table(header: readonly string[], plain: readonly string[][], colour: boolean, paintColumn = -1): string {
  const rows = plain.map((r) => r.map(escapeControl));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[], body: boolean): string => cells
    .map((cell, i) => {
      const padded = i === cells.length - 1 ? cell : cell.padEnd(widths[i] ?? 0);
      return body && i === paintColumn ? padded.replace(cell, paint(cell, colour)) : padded;
    })
    .join('  ')
    .trimEnd();
  return [line(header, false), ...rows.map((r) => line(r, true))].join('\n') + '\n';
}
