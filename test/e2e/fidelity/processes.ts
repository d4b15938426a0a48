/**
 * The real child processes the fidelity suite compares: the plain-Node baseline driver,
 * `plugd check --init --json`, and a `plugd serve --watch` daemon. Each gets its environment
 * explicitly (Jest hands tests a copy of process.env): where to append observations, the run's
 * label, and --enable-source-maps (so source maps show in stack traces, as in production).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { BIN } from '../../support/cli.js';
import { REPO, type Layout } from './layout.js';

const BASELINE = join(REPO, 'test/e2e/fidelity/baseline');

/** What a finished process gave. */
export interface Exit {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** One pino log line of the daemon. */
export type LogLine = Record<string, unknown> & { msg: string; level: number };

/** The observations file of the run labelled `label`. */
export const outFile = (layout: Layout, label: string): string => join(layout.out, `${label}.jsonl`);

function envFor(layout: Layout, label: string): NodeJS.ProcessEnv {
  const nodeOptions = [process.env.NODE_OPTIONS, '--enable-source-maps'].filter((o) => o !== undefined && o !== '').join(' ');
  return { ...process.env, NODE_OPTIONS: nodeOptions, NO_COLOR: '1', PLUGD_FIDELITY_OUT: outFile(layout, label), PLUGD_FIDELITY_LABEL: label };
}

function run(args: readonly string[], layout: Layout, label: string, timeoutMs = 30_000): Promise<Exit> {
  if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "npm run build" first`);
  return new Promise((done) => {
    const child = spawn(process.execPath, args, { cwd: layout.tmp, env: envFor(layout, label), stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => { stdout += d.toString(); });
    child.stderr.on('data', (d: Buffer) => { stderr += d.toString(); });
    const timer = setTimeout(() => { stderr += `\n[killed after ${timeoutMs} ms]`; child.kill('SIGKILL'); }, timeoutMs);
    child.on('close', (code) => { clearTimeout(timer); done({ code, stdout, stderr }); });
  });
}

/** Plain Node: the driver imports `entries` of the plugin dir with 'plugd' mapped to the recording stub. */
export function runBaseline(layout: Layout, entries: readonly string[], label: string): Promise<Exit> {
  return run(['--import', join(BASELINE, 'register.mjs'), join(BASELINE, 'driver.mjs'), layout.plugins, ...entries], layout, label);
}

/** `plugd check <plugins> --init --json`. */
export function runCheck(layout: Layout, label: string): Promise<Exit> {
  return run([BIN, 'check', layout.plugins, '--init', '--json'], layout, label);
}

/** A running `plugd serve --watch` on the layout's plugin directory. */
export class Daemon {
  readonly child: ChildProcess;
  /** Every JSON log line so far. */
  readonly lines: LogLine[] = [];
  #stderr = '';
  #lastLineAt = performance.now();
  readonly #exited: Promise<number | null>;

  constructor(layout: Layout, label: string) {
    if (!existsSync(BIN)) throw new Error(`${BIN} is missing: run "npm run build" first`);
    const args = [BIN, 'serve', '--watch', '--plugins', layout.plugins, '--root', layout.daemonRoot, '--state', layout.daemonState];
    this.child = spawn(process.execPath, args, { cwd: layout.tmp, env: envFor(layout, label), stdio: ['ignore', 'pipe', 'pipe'] });
    let buffer = '';
    this.child.stdout?.on('data', (d: Buffer) => {
      buffer += d.toString();
      let nl: number;
      while ((nl = buffer.indexOf('\n')) !== -1) {
        const text = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        try {
          this.lines.push(JSON.parse(text) as LogLine);
          this.#lastLineAt = performance.now();
        } catch {
          // not a log line
        }
      }
    });
    this.child.stderr?.on('data', (d: Buffer) => { this.#stderr += d.toString(); });
    this.#exited = new Promise((r) => { this.child.on('exit', (code) => { r(code); }); });
  }

  stderr(): string {
    return this.#stderr;
  }

  /** True once every test holds on some line from index `from` on; false when `timeoutMs` passed first (or the daemon exited). */
  async waitFor(tests: readonly ((line: LogLine) => boolean)[], from: number, timeoutMs: number): Promise<boolean> {
    const deadline = performance.now() + timeoutMs;
    for (;;) {
      const seen = this.lines.slice(from);
      if (tests.every((t) => seen.some(t))) return true;
      if (performance.now() > deadline || this.child.exitCode !== null) return false;
      await sleep(10);
    }
  }

  /** Waits until no log line has come for `quietMs` (at most `maxMs`): lets stray reloads show. */
  async settle(quietMs: number, maxMs = 3_000): Promise<void> {
    const deadline = performance.now() + maxMs;
    while (performance.now() - this.#lastLineAt < quietMs && performance.now() < deadline) await sleep(20);
  }

  /** SIGTERM, then SIGKILL if it has not exited within 5 s. */
  async stop(): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return;
    this.child.kill('SIGTERM');
    const timer = setTimeout(() => { this.child.kill('SIGKILL'); }, 5_000);
    await this.#exited;
    clearTimeout(timer);
  }
}

/** The line whose `msg` is `text` and whose fields include `fields`. */
export const msg = (text: string, fields: Record<string, unknown> = {}) => (line: LogLine): boolean =>
  line.msg === text && Object.entries(fields).every(([k, v]) => line[k] === v);

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
