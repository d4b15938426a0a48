/**
 * The daemon's watchdog thread (see watchdog.ts). The main thread stores the time into a shared
 * cell every 100 ms; when the cell is older than the limit, the main thread's event loop is blocked
 * (plugin code in a busy loop: no timeout, signal handler or control request can run there). This
 * thread then pauses it through the inspector to read where it is stuck, writes one fatal log line
 * naming the plugin file and line, removes the control socket, and kills the process, so that a
 * supervisor (systemd, Kubernetes) restarts a daemon that would otherwise be alive but deaf.
 */
import { lstatSync, unlinkSync, writeSync } from 'node:fs';
import { Session } from 'node:inspector';
import { workerData, parentPort } from 'node:worker_threads';
import { fileURLToPath } from 'node:url';

/** What the main thread hands to the watchdog. */
export interface WatchdogData {
  /** The shared cell: the main thread's last `Date.now()`. */
  readonly beat: BigInt64Array;
  /** How long the main thread may go without a beat, in milliseconds. */
  readonly limitMs: number;
  /** The plugin directory (absolute, real), to find the plugin file on the stack. */
  readonly pluginDir: string;
  /** The control socket to remove. */
  readonly socket: string;
}

const data = workerData as WatchdogData;
/** The plugins of each file (relative path -> names), as the main thread last posted them. */
let plugins: Readonly<Record<string, readonly string[]>> = {};
parentPort?.on('message', (message: { plugins: Record<string, string[]> }) => { plugins = message.plugins; });

const timer = setInterval(() => {
  const blockedMs = Date.now() - Number(Atomics.load(data.beat, 0));
  if (blockedMs <= data.limitMs) return;
  clearInterval(timer);
  void whereStuck().then((place) => { die(place, blockedMs); }, () => { die(undefined, blockedMs); });
}, 100);

/** Pauses the main thread and returns the first frame of its stack in the plugin directory. */
function whereStuck(): Promise<{ file: string; line: number; column: number } | undefined> {
  const session = new Session();
  session.connectToMainThread();
  const scripts = new Map<string, string>();
  return new Promise((resolve) => {
    setTimeout(() => { resolve(undefined); }, 2_000).unref();
    session.on('Debugger.scriptParsed', ({ params }: { params: { scriptId: string; url: string } }) => { scripts.set(params.scriptId, params.url); });
    session.on('Debugger.paused', ({ params }: { params: { callFrames: { location: { scriptId: string; lineNumber: number; columnNumber: number } }[] } }) => {
      const prefix = `${data.pluginDir}/`;
      for (const { location } of params.callFrames) {
        const url = scripts.get(location.scriptId) ?? '';
        const path = url.startsWith('file:') ? fileURLToPath(url.replace(/\?.*$/, '')) : '';
        if (path.startsWith(prefix)) {
          resolve({ file: path.slice(prefix.length), line: location.lineNumber + 1, column: location.columnNumber + 1 });
          return;
        }
      }
      resolve(undefined);
    });
    session.post('Debugger.enable', () => { session.post('Debugger.pause'); });
  });
}

/** Logs why, removes the control socket (only if it is a socket) and kills the process. */
function die(place: { file: string; line: number; column: number } | undefined, blockedMs: number): never {
  const unit = place === undefined ? undefined : place.file.split('/')[0];
  const owners = unit === undefined ? [] : Object.entries(plugins).filter(([f]) => f.split('/')[0] === unit).flatMap(([, names]) => names);
  const line = {
    level: 60, time: new Date().toISOString(), pid: process.pid, blockedMs, plugins: owners,
    ...(place === undefined ? {} : { file: place.file, line: place.line, column: place.column }),
    msg: 'a plugin blocked the event loop: the daemon cannot answer or close anything; exiting so a supervisor restarts it',
  };
  writeSync(1, `${JSON.stringify(line)}\n`);
  try {
    if (lstatSync(data.socket).isSocket()) unlinkSync(data.socket);
  } catch {
    // gone already
  }
  process.kill(process.pid, 'SIGKILL');
  throw new Error('unreachable');
}
