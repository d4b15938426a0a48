/**
 * Progress of a long load on a terminal: one line redrawn in place on stderr (at most every
 * 100 ms), wiped when the load is done. Nothing at all when stderr is not a TTY, so logs and
 * pipes stay clean.
 */

/** What progress is written to: a stream that may be a TTY. */
export interface ProgressStream {
  readonly isTTY?: boolean;
  write(text: string): boolean;
}

/** A progress line for `what`: call `tick(done, total)` as work settles and `done()` at the end. */
export function progress(stream: ProgressStream, what: string, everyMs = 100): { tick(done: number, total: number): void; done(): void } {
  if (stream.isTTY !== true) return { tick: () => undefined, done: () => undefined };
  let last = 0;
  let drawn = false;
  return {
    tick: (done, total) => {
      const now = Date.now();
      if (now - last < everyMs && done < total) return;
      last = now;
      drawn = true;
      stream.write(`\r\u001b[2K${what}: ${done}/${total} (${Math.floor((done * 100) / Math.max(total, 1))}%)`);
    },
    done: () => {
      if (drawn) stream.write('\r\u001b[2K');
    },
  };
}
