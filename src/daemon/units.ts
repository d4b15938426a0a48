/**
 * The daemon's desired state, as pure data. A *unit* is one plugin of the directory: a top-level
 * file, or a folder plugin. Each keeps its last version that imported cleanly; committing all
 * units in sorted order (duplicates refused, earlier file wins) gives the plugins that should run -
 * what a fresh start on the directory as it is now would give, except that a unit whose latest
 * version failed keeps its last good one. Startup and every hot reload go through {@link decide}.
 */
import { Owners } from '../core/commit.js';
import type { DuplicatePluginError, PlugdError } from '../core/errors.js';
import type { ValidRegistration } from '../core/registration.js';
import type { PluginRecord } from '../core/record.js';
import { compareFiles, unitOf } from '../load/scan.js';

/** One version of a unit's code that imported cleanly. */
export interface Version {
  /** sha256 of the unit's bytes (see digest.ts). */
  readonly digest: string;
  /** The digest with the mode and owner of the unit's files when it was imported (see digest.ts). */
  readonly key?: string;
  /** Its registrations, valid, in call order. */
  readonly registrations: readonly ValidRegistration[];
}

/** One plugin of the directory and its versions. */
export interface Unit {
  /** The entry file, relative to the plugin directory (`a.js`, `folder/index.js`). */
  entry: string;
  /** Its last version that imported cleanly (live, or refused as a duplicate), if any. */
  good: Version | undefined;
  /**
   * The older version that stays live while `good` is refused as a duplicate (a reload refused
   * as a duplicate leaves the previous version running); `good` still takes over once its clash
   * is gone.
   */
  kept?: Version | undefined;
  /** 1 when a version first went live, +1 for each later version that went live. */
  generation: number;
  /** The key (digest, modes, owners) of the latest version tried (to skip saves that change nothing). */
  attempted: string | undefined;
  /** The errors of the latest version, when it failed to load (its last good one stays). */
  loadErrors: readonly PlugdError[];
}

/** What committing every unit in sorted order gives. */
export interface Decision {
  /** The plugins that should run, in registration order (sorted file order, then call order). */
  readonly records: PluginRecord[];
  /** The units whose good version was refused, with why (duplicates of an earlier file). */
  readonly refused: ReadonlyMap<string, readonly DuplicatePluginError[]>;
  /** The version of each unit that is live: its good one, or its kept one while that is refused. */
  readonly live: ReadonlyMap<string, Version>;
}

/** Commits the good version of every unit (keyed by unit name), or while it is refused its kept one, in sorted entry order. */
export function decide(dir: string, units: ReadonlyMap<string, Unit>): Decision {
  const owners = new Owners();
  const records: PluginRecord[] = [];
  const refused = new Map<string, readonly DuplicatePluginError[]>();
  const live = new Map<string, Version>();
  const sorted = [...units.values()].sort((a, b) => compareFiles(a.entry, b.entry));
  for (const unit of sorted) {
    let version = unit.good;
    const clashes = owners.clashes(unit.entry, version?.registrations ?? []);
    if (clashes.length > 0) {
      refused.set(unitOf(unit.entry), clashes);
      version = unit.kept;
      if (version === undefined || owners.clashes(unit.entry, version.registrations).length > 0) continue;
    }
    if (version === undefined) continue;
    live.set(unitOf(unit.entry), version);
    records.push(...owners.take(unit.entry, dir, version.registrations));
  }
  return { records, refused, live };
}

/**
 * Which plugins a change from `before` to `after` must (re)start: those added or replaced, and
 * every plugin that requires - transitively - a type whose plugins changed (a `'*'` plugin
 * requires them all). Also which running ones must stop first: those, and the removed ones.
 * One pass to index who requires what, then a walk from the changed types: a reload at 2,000
 * plugins touches a handful of them.
 */
export function affected(before: readonly PluginRecord[], after: readonly PluginRecord[]): { start: Set<string>; stop: Set<string> } {
  const old = new Map(before.map((r) => [r.name, r.registration]));
  const now = new Map(after.map((r) => [r.name, r.registration]));
  const start = new Set<string>();
  const stop = new Set<string>();
  const changed: string[] = [];
  const seen = new Set<string>();
  const changedType = (type: string): void => {
    if (!seen.has(type)) {
      seen.add(type);
      changed.push(type);
    }
  };
  for (const r of before) if (now.get(r.name) !== r.registration) { stop.add(r.name); changedType(r.type); }
  for (const r of after) if (old.get(r.name) !== r.registration) { start.add(r.name); changedType(r.type); }
  if (changed.length === 0) return { start, stop };
  const requirers = new Map<string, PluginRecord[]>();
  const stars: PluginRecord[] = [];
  for (const r of after) {
    if (r.requires.includes('*')) stars.push(r);
    else {
      for (const type of r.requires) {
        const list = requirers.get(type);
        if (list === undefined) requirers.set(type, [r]);
        else list.push(r);
      }
    }
  }
  // A dependent restarts, and its own type counts as changed for its dependents in turn.
  const restart = (r: PluginRecord): void => {
    if (start.has(r.name)) return;
    start.add(r.name);
    stop.add(r.name);
    changedType(r.type);
  };
  for (const r of stars) restart(r);
  // (for-of over an array also visits what is pushed onto it meanwhile)
  for (const type of changed) for (const r of requirers.get(type) ?? []) restart(r);
  return { start, stop };
}
