/**
 * What plugd's module hooks know, as plain data with pure rules: the same code runs in-thread
 * (`module.registerHooks`) and in Node 20's hooks thread (`module.register`).
 *
 * Node's ESM cache keys a module by its URL and never evicts it, so a module evaluates again only
 * under a new URL. plugd gives such a module a *generation* query (`file:///dir/a.js?plugd=3`),
 * as Vite and dynohot do; every module without a generation keeps the URL plain Node gives it.
 * The resolve rule:
 *   - `'plugd'` resolves to the host's own module, from any importer;
 *   - anything else resolves as Node resolves it, and then gets its file's generation, if it has one;
 *   - an import edge between two plugin modules (outside `node_modules`) is kept, so a reload can
 *     walk from a changed file to the modules that import it.
 */

import { readFileSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { foreignWriteBits } from './file-mode.js';
import { sha256 } from '../util/sha256.js';

/** The query key that carries a module's generation. */
const KEY = 'plugd';
const GENERATION = /([?&])plugd=\d+(&|$)/;

/** A change to the state, applied alike in every thread that resolves modules. */
export type StateUpdate =
  /** Every module file of the plugin directory `dir` (a URL ending in `/`) evaluates again at `generation`. */
  | { readonly kind: 'dir'; readonly dir: string; readonly generation: number }
  /** The module files `files` (URLs without query) evaluate again at `generation`. */
  | { readonly kind: 'files'; readonly files: readonly string[]; readonly generation: number }
  /** Modules of `dir` must have these sha256 digests (relative POSIX path -> hex); `null` lifts the lock. */
  | { readonly kind: 'lock'; readonly dir: string; readonly files: Readonly<Record<string, string>> | null }
  /**
   * The packages and outside files that the modules of `dir` load must not be writable by others
   * or owned by another user than one of `owners` (the directory's own files are checked before
   * the load). `owners: null` lifts the check.
   */
  | { readonly kind: 'owners'; readonly dir: string; readonly owners: readonly number[] | null };

/** Why an import of a file inside a checked plugin directory must not run: its real path left the directory (a symlink). */
export interface PathRefusal {
  readonly code: 'E_PLUGIN_PATH';
  /** The path asked for, relative to the plugin directory. */
  readonly file: string;
  readonly reason: 'outside';
  /** Where it really is. */
  readonly target: string;
}

/** Why a package or outside file that a plugin loads must not run, as plain data (it may cross threads). */
export interface PermissionRefusal {
  readonly code: 'E_PLUGIN_PERMISSIONS';
  /** Its absolute path. */
  readonly file: string;
  readonly mode: number;
  readonly owner: number;
  readonly expectedOwner: readonly number[];
  /** The write bits that let another user change it. */
  readonly writable: number;
}

/** Why a module of a locked directory must not run: what the load hook throws, as plain data (it may cross threads). */
export interface LockRefusal {
  readonly code: 'E_INTEGRITY';
  readonly file: string;
  readonly reason: 'mismatch' | 'unlisted';
  readonly expected?: string;
  readonly actual: string;
}

/** The result of a resolve step, as Node's hooks return it. */
export interface Resolved {
  url: string;
  format?: string | null | undefined;
  shortCircuit?: boolean;
  importAttributes?: Record<string, string>;
}

/** The result of a load step, as Node's hooks return it. */
export interface Loaded {
  format?: string | null | undefined;
  source?: string | ArrayBuffer | ArrayBufferView | null | undefined;
  shortCircuit?: boolean;
}

/** The resolver state of one thread. */
export class LoaderState {
  /** Plugin directories (URLs ending in `/`), with the generation all their modules have at least. */
  readonly #dirs = new Map<string, number>();
  /** Module files (URLs without query) with a generation of their own. */
  readonly #files = new Map<string, number>();
  /** Importer -> the plugin modules it imports (URLs without query). */
  readonly #imports = new Map<string, Set<string>>();
  /** The generation at which each importer's edges were recorded: a new version starts afresh. */
  readonly #edgesAt = new Map<string, number>();
  /** Locked plugin directories (URLs ending in `/`) and the digests their modules must have. */
  readonly #locks = new Map<string, Readonly<Record<string, string>>>();
  /** Plugin directories whose modules' packages are checked, and the owners those may have. */
  readonly #owners = new Map<string, readonly number[]>();
  /** Modules loaded on behalf of a plugin directory (outside it, or in a `node_modules` of it): the directory. */
  readonly #loadedFor = new Map<string, string>();
  /** Those of them whose permissions passed (checked once each). */
  readonly #permitted = new Set<string>();

  /** @param plugd The URL of the host's own plugd module, which `'plugd'` resolves to. */
  constructor(readonly plugd: string) {}

  /** Applies `update`. */
  apply(update: StateUpdate): void {
    if (update.kind === 'dir') this.#dirs.set(update.dir, update.generation);
    else if (update.kind === 'files') for (const file of update.files) this.#files.set(file, update.generation);
    else if (update.kind === 'owners') {
      if (update.owners === null) this.#owners.delete(update.dir);
      else this.#owners.set(update.dir, update.owners);
    } else if (update.files === null) this.#locks.delete(update.dir);
    else this.#locks.set(update.dir, update.files);
  }

  /** True while some directory is locked: only then has a load hook anything to check. */
  get locked(): boolean {
    return this.#locks.size > 0;
  }

  /**
   * The load step of both hooks: throws (an Error carrying the refusal's fields, which survive a
   * thread hop) when the module `url` with the bytes `source` must not run (see {@link lockRefusal}).
   */
  checkLoaded(url: string, source: Loaded['source']): void {
    refuse(this.lockRefusal(url, source));
  }

  /**
   * The permission rule for what plugins load beyond their directory's own files: a package module
   * or an outside file that a module of a checked directory imports must not be writable by group
   * or others, nor owned by a user other than the allowed ones. Checked on the file Node resolved
   * (its real path), as it is resolved for a plugin (so no load hook is needed for it). Returns
   * why not, or undefined.
   */
  permissionRefusal(url: string): PermissionRefusal | undefined {
    if (this.#owners.size === 0 || !url.startsWith('file:')) return undefined;
    const plain = stripQuery(withoutGeneration(url));
    const dir = this.#loadedFor.get(plain);
    const owners = dir === undefined ? undefined : this.#owners.get(dir);
    if (owners === undefined || this.#permitted.has(plain)) return undefined;
    const file = fileURLToPath(plain);
    const info = statSync(file, { throwIfNoEntry: false });
    if (info === undefined) return undefined; // gone: Node's own load says so
    const writable = foreignWriteBits(info);
    if (writable === 0 && owners.includes(info.uid)) {
      this.#permitted.add(plain);
      return undefined;
    }
    return { code: 'E_PLUGIN_PERMISSIONS', file, mode: info.mode & 0o7777, owner: info.uid, expectedOwner: owners, writable };
  }

  /**
   * The load rule: the bytes `source` about to be evaluated for `url` must be the ones the lock of
   * their directory lists. Hashing the very bytes Node evaluates leaves no gap between check and
   * run. Returns why not, or undefined. (`source` is absent for CommonJS on older Node: the file is
   * then read here, and checked, but Node reads it again itself.)
   */
  lockRefusal(url: string, source: Loaded['source']): LockRefusal | undefined {
    if (this.#locks.size === 0 || !url.startsWith('file:')) return undefined;
    const plain = stripQuery(withoutGeneration(url));
    for (const [dir, files] of this.#locks) {
      if (!plain.startsWith(dir)) continue;
      const file = decodeURIComponent(plain.slice(dir.length));
      // What the lock lists: dot entries and the directory's own node_modules aside.
      if (file.startsWith('node_modules/') || file.split('/').some((part) => part.startsWith('.'))) return undefined;
      const actual = sourceDigest(source ?? readFileSync(fileURLToPath(plain)));
      const expected = Object.hasOwn(files, file) ? files[file] : undefined;
      if (expected === actual) return undefined;
      return { code: 'E_INTEGRITY', file, reason: expected === undefined ? 'unlisted' : 'mismatch', ...(expected === undefined ? {} : { expected }), actual };
    }
    return undefined;
  }

  /** The generation of the module file `url` (without query): 0 when it never had to evaluate again. */
  generation(url: string): number {
    const own = this.#files.get(url) ?? 0;
    const dir = this.#dirOf(url);
    return dir === undefined ? own : Math.max(own, this.#dirs.get(dir) ?? 0);
  }

  /** `url` (a module file, without plugd's query) as it must be imported now: with its generation, if any. */
  versioned(url: string): string {
    const generation = this.generation(withoutGeneration(url));
    if (generation === 0) return url;
    return `${url}${url.includes('?') ? '&' : '?'}${KEY}=${generation}`;
  }

  /**
   * One resolve step: `'plugd'` to the host; anything else as `next` resolves it, with its
   * generation; the edge recorded when both ends are plugin modules.
   */
  resolve<R extends Resolved>(specifier: string, parentURL: string | undefined, next: () => R): R | Resolved {
    if (specifier === 'plugd') return { url: this.plugd, format: 'module', shortCircuit: true };
    const result = next();
    const { url } = result;
    if (!url.startsWith('file:')) return result;
    const base = withoutGeneration(url);
    const plain = stripQuery(base);
    refuse(this.#escaped(specifier, parentURL, plain));
    if (parentURL?.startsWith('file:') === true) {
      if (!plain.includes('/node_modules/')) this.#edge(parentURL, plain);
      this.#markLoadedFor(parentURL, plain);
      refuse(this.permissionRefusal(plain));
    }
    if (this.generation(plain) === 0) return url === base ? result : { ...result, url: base };
    return { ...result, url: this.versioned(base) };
  }

  /**
   * Every plugin module that imports one of `files` (URLs without query), directly or through
   * other plugin modules, the files themselves included: what must evaluate again when they change.
   */
  importersOf(files: Iterable<string>): Set<string> {
    const importedBy = new Map<string, string[]>();
    for (const [from, tos] of this.#imports) {
      for (const to of tos) {
        const list = importedBy.get(to);
        if (list === undefined) importedBy.set(to, [from]);
        else list.push(from);
      }
    }
    const found = new Set(files);
    for (const file of found) for (const from of importedBy.get(file) ?? []) found.add(from);
    return found;
  }

  /** The module files `from` imports (URLs without query), as last recorded. */
  importsOf(from: string): readonly string[] {
    return [...this.#imports.get(from) ?? []];
  }

  /**
   * The path rule, as Node resolves: a file asked for inside a checked plugin directory (an entry,
   * or a relative import) whose real path `resolved` lies outside it went through a symlink out of
   * the directory. The admission refused such links before the load; this refuses one swapped in
   * since. (Packages, asked for by name, may live anywhere.)
   */
  #escaped(specifier: string, parentURL: string | undefined, resolved: string): PathRefusal | undefined {
    if (this.#owners.size === 0 || this.#dirOf(resolved) !== undefined) return undefined;
    if (!/^(?:\.{1,2}\/|\/|file:)/.test(specifier)) return undefined;
    let asked: string;
    try {
      asked = stripQuery(withoutGeneration(new URL(specifier, parentURL ?? 'file:///').href));
    } catch {
      return undefined;
    }
    const dir = this.#dirOf(asked);
    if (dir === undefined || !this.#owners.has(dir)) return undefined;
    return { code: 'E_PLUGIN_PATH', file: decodeURIComponent(asked.slice(dir.length)), reason: 'outside', target: fileURLToPath(resolved) };
  }

  /** Notes the plugin directory `child` is loaded for, when it lies beyond that directory's own files. */
  #markLoadedFor(parentURL: string, child: string): void {
    if (this.#owners.size === 0) return;
    const parent = stripQuery(withoutGeneration(parentURL));
    const dir = this.#loadedFor.get(parent) ?? this.#ownDirOf(parent);
    if (dir === undefined || this.#dirOf(child) !== undefined || this.#loadedFor.has(child)) return;
    this.#loadedFor.set(child, dir);
  }

  /** The plugin directory `url` lies in, `node_modules` below it included. */
  #ownDirOf(url: string): string | undefined {
    for (const dir of this.#dirs.keys()) if (url.startsWith(dir)) return dir;
    return undefined;
  }

  /** Records that `parentURL` imports `child`, when the parent is a plugin module (inside a plugin directory, or imported by one). */
  #edge(parentURL: string, child: string): void {
    const parent = stripQuery(withoutGeneration(parentURL));
    if (!this.#imports.has(parent) && this.#dirOf(parent) === undefined) return;
    const at = generationIn(parentURL);
    let edges = this.#imports.get(parent);
    if (edges === undefined || this.#edgesAt.get(parent) !== at) {
      edges = new Set();
      this.#imports.set(parent, edges);
      this.#edgesAt.set(parent, at);
    }
    edges.add(child);
    if (!this.#imports.has(child)) this.#imports.set(child, new Set());
  }

  /** The plugin directory `url` lies in (not inside a `node_modules` below it), if any. */
  #dirOf(url: string): string | undefined {
    for (const dir of this.#dirs.keys()) {
      if (url.startsWith(dir) && !url.includes('/node_modules/', dir.length - 1)) return dir;
    }
    return undefined;
  }
}

/** `url` without plugd's generation query (other query parameters kept). */
export function withoutGeneration(url: string): string {
  if (!url.includes(`${KEY}=`)) return url;
  return url.replace(GENERATION, (_, lead: string, tail: string) => (tail === '&' ? lead : '')).replace(/[?&]$/, '');
}

/** The generation in `url`'s query, or 0. */
export function generationIn(url: string): number {
  const match = GENERATION.exec(url);
  return match === null ? 0 : Number(/\d+/.exec(match[0])?.[0] ?? 0);
}

/** Throws `refusal` (as an Error carrying its fields, which survive a thread hop), if there is one. */
function refuse(refusal: LockRefusal | PermissionRefusal | PathRefusal | undefined): void {
  if (refusal !== undefined) throw Object.assign(new Error(`${refusal.file}: ${refusal.code}`), refusal);
}

/** The SHA-256 of a load step's source, whatever form Node gives it in. */
function sourceDigest(bytes: string | ArrayBuffer | ArrayBufferView): string {
  return sha256(typeof bytes === 'string' ? bytes
    : bytes instanceof ArrayBuffer ? new Uint8Array(bytes) : new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength));
}

function stripQuery(url: string): string {
  const q = url.indexOf('?');
  return q === -1 ? url : url.slice(0, q);
}
