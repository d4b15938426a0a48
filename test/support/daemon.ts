/** Drives a real `plugd serve` child process: its JSON log lines, its socket, its signals. */
import { afterEach } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { BIN } from './cli.js';

/** One pino log line. */
export type LogLine = Record<string, unknown> & { msg: string; level: number };

/** A running daemon under test. */
export interface DaemonProcess {
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly lines: LogLine[];
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the first line (already logged or to come) that satisfies `test`. */
  waitFor(test: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code once the process exited. */
  exited(): Promise<number | null>;
}

/** Starts `node <BIN> serve ...args` in `cwd`. */
export function serve(args: readonly string[], cwd = process.cwd()): DaemonProcess {
  // Jest hands tests a copy of process.env: pass it on explicitly.
  const child = spawn(process.execPath, [BIN, 'serve', ...args], { cwd, env: { ...process.env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: LogLine[] = [];
  const waiters: { test: (l: LogLine) => boolean; resolve: (l: LogLine) => void }[] = [];
  let buffer = '';
  let err = '';
  child.stdout?.on('data', (d: Buffer) => {
    buffer += d.toString();
    let nl: number;
    while ((nl = buffer.indexOf('\n')) !== -1) {
      const text = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      let line: LogLine;
      try {
        line = JSON.parse(text) as LogLine;
      } catch {
        continue;
      }
      lines.push(line);
      for (const w of [...waiters]) {
        if (w.test(line)) {
          waiters.splice(waiters.indexOf(w), 1);
          w.resolve(line);
        }
      }
    }
  });
  child.stderr?.on('data', (d: Buffer) => { err += d.toString(); });
  const exit = new Promise<number | null>((resolve) => { child.on('exit', (code) => { resolve(code); }); });
  return {
    child,
    lines,
    stderr: () => err,
    exited: () => exit,
    waitFor: (test, timeoutMs = 15_000) => {
      const found = lines.find(test);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          reject(new Error(`no such log line within ${timeoutMs} ms; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${err}`));
        }, timeoutMs);
        waiters.push({ test, resolve: (l) => { clearTimeout(timer); resolve(l); } });
        void exit.then(() => {
          clearTimeout(timer);
          reject(new Error(`the daemon exited before such a line; got:\n${lines.map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${err}`));
        });
      });
    },
  };
}

/** The line whose `msg` is `msg` (and whose fields include `fields`). */
export const msg = (text: string, fields: Record<string, unknown> = {}) => (line: LogLine): boolean =>
  line.msg === text && Object.entries(fields).every(([k, v]) => line[k] === v);

/**
 * `serve` for one test file: every daemon it starts that is still running after a test is killed
 * (SIGKILL) and waited for, so that no test leaves a daemon behind.
 */
export function daemonsPerTest(): (args: readonly string[], cwd?: string) => DaemonProcess {
  const running: DaemonProcess[] = [];
  afterEach(async () => {
    for (const d of running.splice(0)) {
      if (d.child.exitCode === null && d.child.signalCode === null) {
        d.child.kill('SIGKILL');
        await d.exited();
      }
    }
  });
  return (args, cwd) => {
    const d = serve(args, cwd);
    running.push(d);
    return d;
  };
}
