/**
 * Turns file events into *stable* changes of plugin units. chokidar throttles `change` to one per
 * 50 ms per path with no trailing event, and fires on half-written files, so an event only
 * starts polling the unit's stat (size, mtime, inode, mode, owner of each of its files) every few ms; the unit
 * is reported once it has been quiet for the stability window. After a reload the daemon asks for
 * a re-check, which keeps polling a little longer: chokidar may send nothing for the last write.
 *
 * chokidar watches each plugin entry and each folder plugin, not the plugin directory itself:
 * a watched directory is re-read, with an `lstat` of every entry, on every event inside it, which
 * at thousands of plugins cost more than the rest of a reload. New names
 * in the directory come from one plain `fs.watch` of it, and are then handed to chokidar. (On
 * Linux that watch also reports writes to the top-level files: both sources only start polling,
 * so a change reported twice is still one reload.)
 */
import { existsSync, lstatSync, readdirSync, statSync, watch as watchDir, type FSWatcher as DirWatcher, type Stats } from 'node:fs';
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

/** The defaults: a 15 ms window is long enough never to import a half-written file, and short enough for a save to go live in tens of milliseconds. */
export const DEFAULT_TIMING: WatchTiming = { quietMs: 15, pollMs: 2, lingerMs: 300 };

/** How often a unit is polled while only lingering: a write with no event is rare, and slower to matter. */
const LINGER_POLL_MS = 10;

/** Watches a plugin directory and reports units that changed and then stayed quiet. */
export class UnitWatcher {
  readonly #dir: string;
  readonly #timing: WatchTiming;
  readonly #onStable: (unit: string, firstEventAt: number) => void;
  /** The units being polled: each one's next poll, and how to wake it early. */
  readonly #polling = new Map<string, { timer: NodeJS.Timeout | undefined; wake: (at: number) => void }>();
  /** The top-level names chokidar watches. */
  readonly #watched = new Set<string>();
  #watcher: FSWatcher | undefined;
  #names: DirWatcher | undefined;
  #closed = false;

  constructor(dir: string, timing: WatchTiming, onStable: (unit: string, firstEventAt: number) => void) {
    this.#dir = dir;
    this.#timing = timing;
    this.#onStable = onStable;
  }

  /** Starts watching; resolves once chokidar has looked at every plugin. */
  async start(): Promise<void> {
    // Names first, then the listing: nothing created in between is missed.
    this.#names = watchDir(this.#dir, (_event, name) => { this.#named(name); });
    this.#names.on('error', () => undefined); // the directory itself went away: nothing left to watch
    const initial = readdirSync(this.#dir).filter((name) => this.#worthWatching(name));
    for (const name of initial) this.#watched.add(name);
    const watcher = (this.#watcher = watch(initial.map((name) => join(this.#dir, name)), {
      ignoreInitial: true,
      ignored: (path) => {
        const rel = relative(this.#dir, path);
        return rel !== '' && rel.split(sep).some((part) => part.startsWith('.') || part === 'node_modules');
      },
    }));
    watcher.on('all', (event, path) => {
      const rel = relative(this.#dir, path);
      if ((event === 'unlink' || event === 'unlinkDir') && !rel.includes(sep)) {
        // chokidar reports an unlink ~100 ms late (its atomic-save window): the name may be back.
        if (existsSync(path)) watcher.add(path);
        else this.#watched.delete(rel);
      }
      const unit = this.unitOf(path);
      if (unit !== undefined) this.settle(unit, performance.now());
    });
    // chokidar is ready once it has looked at every path it was given (never, when given none).
    if (initial.length > 0) await new Promise<void>((resolve) => { watcher.once('ready', () => { resolve(); }); });
  }

  /** The top-level names being watched (plugins, folders that may hold their modules, the lock). */
  names(): string[] {
    return [...this.#watched];
  }

  /** A top-level name changed (`null`: the platform did not say which): watch it if new, and settle its unit. */
  #named(name: string | Buffer | null): void {
    if (this.#closed) return;
    if (name === null) {
      // The platform did not say which: look for new names (chokidar sees changes to known ones).
      let names: string[] = [];
      try {
        names = readdirSync(this.#dir);
      } catch {
        return; // the directory itself is gone
      }
      for (const each of names) if (!this.#watched.has(each)) this.#named(each);
      return;
    }
    const text = name.toString();
    if (!this.#worthWatching(text)) return;
    const path = join(this.#dir, text);
    // Only existing paths: chokidar watches a missing one through its parent (re-reads again).
    if (!this.#watched.has(text) && existsSync(path)) {
      this.#watched.add(text);
      this.#watcher?.add(path);
    }
    const unit = this.unitOf(path);
    if (unit !== undefined) this.settle(unit, performance.now());
  }

  /** True for a top-level name that a plugin may be or import (or the lock): not a dot-name, not node_modules. */
  #worthWatching(name: string): boolean {
    return !name.startsWith('.') && name !== 'node_modules';
  }

  /**
   * The unit a path belongs to: its top-level name in the plugin directory (a plugin file, a folder
   * plugin, a folder or file that plugins import, the lock), or undefined outside the directory.
   */
  unitOf(path: string): string | undefined {
    const rel = relative(this.#dir, path);
    if (rel === '' || rel.startsWith('..')) return undefined;
    return rel.split(sep)[0];
  }

  /**
   * Polls `unit` until it has been quiet for the stability window, then reports it. While only
   * lingering (after a reload, no change seen yet) it polls less often; an event wakes it.
   */
  settle(unit: string, firstEventAt: number, from?: string, linger = 0): void {
    if (this.#closed) return;
    const polling = this.#polling.get(unit);
    if (polling !== undefined) {
      polling.wake(firstEventAt);
      return;
    }
    let last = from ?? this.snapshot(unit);
    let quietSince = performance.now();
    let changedSince = linger === 0;
    let since = firstEventAt;
    let woken = false;
    const state = { timer: undefined as NodeJS.Timeout | undefined, wake: (at: number): void => {
      if (changedSince) return;
      // An event while lingering: the change it announces counts from the event, polled at full rate.
      since = at;
      woken = true;
      clearTimeout(state.timer);
      state.timer = setTimeout(poll, this.#timing.pollMs);
    } };
    const poll = (): void => {
      const now = performance.now();
      const current = this.snapshot(unit);
      if (current !== last) {
        // A change seen while lingering with no event for it: its latency counts from now.
        if (!changedSince && !woken) since = now;
        last = current;
        quietSince = now;
        changedSince = true;
      } else if (!changedSince) {
        woken = false; // the event that woke it changed nothing (a late one, for the last reload)
      }
      const window = changedSince ? this.#timing.quietMs : linger;
      if (now - quietSince >= window) {
        this.#polling.delete(unit);
        if (changedSince) this.#onStable(unit, since);
        return;
      }
      state.timer = setTimeout(poll, changedSince ? this.#timing.pollMs : LINGER_POLL_MS);
    };
    state.timer = setTimeout(poll, changedSince ? this.#timing.pollMs : LINGER_POLL_MS);
    this.#polling.set(unit, state);
  }

  /**
   * After a reload of `unit` from files as they were at `seen`: reports it again if they changed
   * meanwhile, and keeps watching it for a while (a last write may come with no event).
   */
  recheck(unit: string, seen: string): void {
    if (this.snapshot(unit) !== seen) this.settle(unit, performance.now(), seen);
    else this.settle(unit, performance.now(), seen, this.#timing.lingerMs);
  }

  /** The size, mtime, inode, mode and owner of every file of `unit`, as one comparable string. */
  snapshot(unit: string): string {
    const files = this.signatures(unit);
    if (files === undefined) return 'gone';
    return [...files].map(([file, sig]) => `${file}:${sig}`).join('|');
  }

  /**
   * The size, mtime, inode, mode and owner of every file of `unit` (absolute path -> signature, sorted by
   * path; dot entries and `node_modules` aside), or undefined when it is gone.
   */
  signatures(unit: string): Map<string, string> | undefined {
    const path = join(this.#dir, unit);
    try {
      const info = statOrLink(path);
      if (!info.isDirectory()) return new Map([[path, signature(info)]]);
      const files: [string, string][] = [];
      for (const entry of readdirSync(path, { recursive: true, withFileTypes: true })) {
        // (Not only regular files: a FIFO or a dangling link put in place of one is a change too.)
        if (entry.isDirectory()) continue;
        const file = join(entry.parentPath, entry.name);
        if (relative(path, file).split(sep).some((p) => p.startsWith('.') || p === 'node_modules')) continue;
        files.push([file, signature(statOrLink(file))]);
      }
      return new Map(files.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    } catch {
      return undefined;
    }
  }

  /** Stops watching and polling. */
  async close(): Promise<void> {
    this.#closed = true;
    for (const { timer } of this.#polling.values()) clearTimeout(timer);
    this.#polling.clear();
    this.#names?.close();
    await this.#watcher?.close();
  }
}

/**
 * What a change of a file changes: its size, mtime and inode, and its mode and owner (a chmod or
 * chown changes what the permission checks say, with the same bytes).
 */
function signature(info: Stats): string {
  return `${info.size}:${info.mtimeMs}:${info.ino}:${info.mode}:${info.uid}:${info.gid}`;
}

/** The stat of `path` through links, or of the link itself when it dangles or loops; throws when gone. */
function statOrLink(path: string): Stats {
  try {
    return statSync(path);
  } catch {
    return lstatSync(path);
  }
}
