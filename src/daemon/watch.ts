/**
 * Turns file events into *stable* changes of plugin units. chokidar throttles `change` to one per
 * 50 ms per path with no trailing event, and fires on half-written files (NOTES), so an event only
 * starts polling the unit's stat (size, mtime, inode of each of its files) every few ms; the unit
 * is reported once it has been quiet for the stability window. After a reload the daemon asks for
 * a re-check, which keeps polling a little longer: chokidar may send nothing for the last write.
 */
import { readdirSync, statSync } from 'node:fs';
import { join, relative, sep } from 'node:path';
import { watch, type FSWatcher } from 'chokidar';

/** Timing of the stability check. */
export interface WatchTiming {
  /** How long a unit's files must stay unchanged before it is reloaded (the stability window). */
  readonly quietMs: number;
  /** How often a changing unit's files are polled. */
  readonly pollMs: number;
  /** How long a unit is still polled after a reload, for a last write with no event. */
  readonly lingerMs: number;
}

/** The defaults: a 20 ms window keeps save-to-live near 25-30 ms while never taking a burst's middle. */
export const DEFAULT_TIMING: WatchTiming = { quietMs: 20, pollMs: 4, lingerMs: 300 };

/** Watches a plugin directory and reports units that changed and then stayed quiet. */
export class UnitWatcher {
  readonly #dir: string;
  readonly #timing: WatchTiming;
  readonly #onStable: (unit: string, firstEventAt: number) => void;
  readonly #polling = new Map<string, NodeJS.Timeout>();
  #watcher: FSWatcher | undefined;
  #closed = false;

  constructor(dir: string, timing: WatchTiming, onStable: (unit: string, firstEventAt: number) => void) {
    this.#dir = dir;
    this.#timing = timing;
    this.#onStable = onStable;
  }

  /** Starts watching; resolves once chokidar has scanned the directory. */
  async start(): Promise<void> {
    const watcher = (this.#watcher = watch(this.#dir, {
      ignoreInitial: true,
      ignored: (path) => {
        const rel = relative(this.#dir, path);
        return rel !== '' && rel.split(sep).some((part) => part.startsWith('.') || part === 'node_modules');
      },
    }));
    watcher.on('all', (_event, path) => {
      const unit = this.unitOf(path);
      if (unit !== undefined) this.settle(unit, performance.now());
    });
    await new Promise<void>((resolve) => { watcher.once('ready', () => { resolve(); }); });
  }

  /** The unit a path belongs to, or undefined when it is no plugin's (a top-level non-module file). */
  unitOf(path: string): string | undefined {
    const rel = relative(this.#dir, path);
    if (rel === '' || rel.startsWith('..')) return undefined;
    const parts = rel.split(sep);
    const first = parts[0] ?? '';
    if (parts.length === 1 && first === 'plugd.lock') return first; // the daemon retries refused files
    if (parts.length === 1 && !first.endsWith('.js') && !first.endsWith('.mjs')) {
      // A top-level folder appearing or going (addDir/unlinkDir) is a folder plugin's event.
      try {
        if (!statSync(path).isDirectory()) return undefined;
      } catch {
        return first.includes('.') ? undefined : first;
      }
    }
    return first;
  }

  /** Polls `unit` until it has been quiet for the stability window, then reports it. */
  settle(unit: string, firstEventAt: number, from = this.snapshot(unit), linger = 0): void {
    if (this.#closed || this.#polling.has(unit)) return;
    let last = from;
    let quietSince = performance.now();
    let changedSince = linger === 0;
    let since = firstEventAt;
    const poll = (): void => {
      const now = performance.now();
      const current = this.snapshot(unit);
      if (current !== last) {
        // A change seen while lingering (no event came for it): its latency counts from now.
        if (!changedSince) since = now;
        last = current;
        quietSince = now;
        changedSince = true;
      }
      const window = changedSince ? this.#timing.quietMs : linger;
      if (now - quietSince >= window) {
        this.#polling.delete(unit);
        if (changedSince) this.#onStable(unit, since);
        return;
      }
      this.#polling.set(unit, setTimeout(poll, this.#timing.pollMs));
    };
    this.#polling.set(unit, setTimeout(poll, this.#timing.pollMs));
  }

  /**
   * After a reload of `unit` from files as they were at `seen`: reports it again if they changed
   * meanwhile, and keeps watching it for a while (a last write may come with no event).
   */
  recheck(unit: string, seen: string): void {
    if (this.snapshot(unit) !== seen) this.settle(unit, performance.now(), seen);
    else this.settle(unit, performance.now(), seen, this.#timing.lingerMs);
  }

  /** The size, mtime and inode of every file of `unit`, as one comparable string. */
  snapshot(unit: string): string {
    const path = join(this.#dir, unit);
    try {
      const info = statSync(path);
      if (!info.isDirectory()) return `${info.size}:${info.mtimeMs}:${info.ino}`;
      const parts: string[] = [];
      for (const entry of readdirSync(path, { recursive: true, withFileTypes: true })) {
        if (!entry.isFile()) continue;
        const file = join(entry.parentPath, entry.name);
        if (relative(path, file).split(sep).some((p) => p.startsWith('.') || p === 'node_modules')) continue;
        const s = statSync(file);
        parts.push(`${file}:${s.size}:${s.mtimeMs}:${s.ino}`);
      }
      return parts.sort().join('|');
    } catch {
      return 'gone';
    }
  }

  /** Stops watching and polling. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const timer of this.#polling.values()) clearTimeout(timer);
    this.#polling.clear();
    await this.#watcher?.close();
  }
}
