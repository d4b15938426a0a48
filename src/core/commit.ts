/**
 * The commit rule, one implementation for the library and the daemon: modules are committed in
 * sorted file order, a plugin name belongs to the first file that registers it (whatever the
 * timing of the imports), and a module is all or nothing - one clash and none of its plugins stay.
 */
import { DuplicatePluginError } from './errors.js';
import type { PluginRecord } from './record.js';
import type { ValidRegistration } from './registration.js';

const NONE: readonly DuplicatePluginError[] = Object.freeze([]);

/** Which file owns each plugin name, as modules are committed one by one in sorted file order. */
export class Owners {
  readonly #files = new Map<string, string>();

  /** @param owned Names already owned (name -> the owner's file, as reports name it). */
  constructor(owned: Iterable<readonly [string, string]> = []) {
    for (const [name, file] of owned) this.#files.set(name, file);
  }

  /** The duplicates that committing `registrations` of `file` would make (the common case, none, allocates nothing). */
  clashes(file: string, registrations: readonly ValidRegistration[]): readonly DuplicatePluginError[] {
    if (!registrations.some((r) => this.#files.has(r.name))) return NONE;
    return registrations.flatMap((r) => {
      const owner = this.#files.get(r.name);
      return owner === undefined ? [] : [new DuplicatePluginError(file, r.name, owner)];
    });
  }

  /** Commits `registrations` of `file` (of the plugin directory `dir`): their names are its own from now on. */
  take(file: string, dir: string, registrations: readonly ValidRegistration[]): PluginRecord[] {
    return registrations.map((r) => {
      this.#files.set(r.name, file);
      return { name: r.name, type: r.type, id: r.id, requires: r.requires, file, dir, registration: r };
    });
  }
}
