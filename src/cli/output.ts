/**
 * Human output for the CLI: plain aligned tables (like `ctr plugins ls`), coloured only on a TTY
 * and never when NO_COLOR is set.
 */
import { styleText } from 'node:util';
import { hasControlCharacter } from '../util/render.js';

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

/** Lays out `rows` under `header` in columns two spaces apart; `paintColumn` is coloured. */
export function table(header: readonly string[], rows: readonly string[][], colour: boolean, paintColumn = -1): string {
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

/**
 * A file name as a table shows it: as it is, or JSON-escaped (in quotes) when it holds a control
 * character, so that a name with a newline cannot forge a line of output.
 */
export function printable(name: string): string {
  return hasControlCharacter(name) ? JSON.stringify(name) : name;
}
