/**
 * The daemon's side of its watchdog (the thread is watchdog-thread.ts): a beat stored into a
 * shared cell every 100 ms, and the plugins of each file posted now and then so that the watchdog
 * can name them. A debugger attached to the daemon (`--inspect`) pauses it on purpose, so then
 * there is no watchdog.
 */
import { url as inspectorUrl } from 'node:inspector';
import type { WatchdogData } from './watchdog-thread.js';
import { builtFile } from '../util/built.js';

/** A running watchdog. */
export interface Watchdog {
  /** Tells the watchdog which plugins each file (relative path) registered. */
  plugins(byFile: Readonly<Record<string, readonly string[]>>): void;
  /** Stops it (at shutdown: closing plugins may take their time). */
  stop(): Promise<void>;
}

/** How often the main thread beats. */
const BEAT_MS = 100;

/**
 * Starts the watchdog: the process is killed (after a fatal log line and the socket's removal)
 * when its main thread goes `limitMs` without a beat. Undefined under a debugger, and when running
 * from sources (no compiled thread module).
 */
export function startWatchdog(options: Omit<WatchdogData, 'beat'>): Watchdog | undefined {
  if (inspectorUrl() !== undefined || import.meta.url.endsWith('.ts')) return undefined;
  const { Worker } = process.getBuiltinModule('node:worker_threads');
  const beat = new BigInt64Array(new SharedArrayBuffer(8));
  Atomics.store(beat, 0, BigInt(Date.now()));
  const data: WatchdogData = { ...options, beat };
  const worker = new Worker(builtFile('daemon/watchdog-thread.js'), { workerData: data });
  worker.unref();
  const timer = setInterval(() => { Atomics.store(beat, 0, BigInt(Date.now())); }, BEAT_MS);
  timer.unref();
  return {
    plugins: (byFile) => { worker.postMessage({ plugins: byFile }); },
    stop: async () => {
      clearInterval(timer);
      await worker.terminate();
    },
  };
}
