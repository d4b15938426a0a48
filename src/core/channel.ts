/**
 * How a `register()` call reaches the load it belongs to. Each load puts a scope per module in a
 * table private to this module; `register()` finds its scope from its caller's stack frames: the
 * entry module's URL, or (for a folder plugin) any module inside the plugin's folder. A stack
 * capture per call is far cheaper than AsyncLocalStorage around every import, whose promise hooks
 * slowed whole loads measurably on Node 20. Every plugin reaches this very module: the module
 * hooks resolve `'plugd'` to the host's copy from anywhere (see hooks.ts). The table is not on
 * `globalThis`, so plugin code cannot add, remove or re-attribute another file's registrations.
 */
import { pathToFileURL } from 'node:url';
import { NoLoadInProgressError } from './errors.js';
import type { Registration } from './registration.js';

/** The load of one module: receives the registrations its code makes. */
export interface LoadScope {
  /** Receives one raw registration; throws for an invalid one made on time. */
  register(raw: unknown): void;
}

/** The table of scopes of the loads in progress (and of settled modules, to tell late calls). */
export interface Channel {
  /** Scopes of entry modules, by module URL (with its generation query, if any). */
  readonly entries: Map<string, LoadScope>;
  /** Scopes of folder plugins, by the URL of their folder (ending in `/`). */
  readonly folders: Map<string, LoadScope>;
  /**
   * The scope of the newest version of each entry module, by its URL without query: for a caller
   * whose frame names a path, not a URL (a CommonJS module, or a test runner's module VM, which
   * names files without their query).
   */
  readonly newest: Map<string, LoadScope>;
}

const table: Channel = Object.freeze({
  entries: new Map<string, LoadScope>(), folders: new Map<string, LoadScope>(), newest: new Map<string, LoadScope>(),
});

/** The table of scopes. */
export function channel(): Channel {
  return table;
}

/**
 * Registers a plugin with the registry that is loading the calling module (containerd's
 * `plugin.Register`). Call it at the top level of a plugin module (or of a module inside a folder
 * plugin). Throws an {@link InvalidRegistrationError} for an invalid registration and a
 * {@link NoLoadInProgressError} when plugd is not loading the calling module.
 */
export function register<Instance, Config = unknown>(registration: Registration<Instance, Config>): void {
  const ch = channel();
  // The caller is almost always the module's top level, the first frame: a short capture finds
  // it (a stack capture per call is most of register()'s cost); a deeper one looks further.
  let files = callerFiles(NEAR);
  let scope = findScope(ch, files);
  if (scope === undefined && files.length >= NEAR) scope = findScope(ch, (files = callerFiles(FAR)));
  if (scope === undefined) {
    throw new NoLoadInProgressError(`register() was called from ${files[0] ?? 'unknown code'}, which plugd is not loading; ` +
      'register() may only be called by a plugin module while plugd imports it (use Registry.load() to load a plugin directory)');
  }
  scope.register(registration);
}

/** How many frames a first look at register()'s callers takes, and a second one. */
const NEAR = 4;
const FAR = 64;

/** The scope of the innermost caller that belongs to a load: an entry, else a folder plugin. */
function findScope(ch: Channel, files: readonly string[]): LoadScope | undefined {
  for (const file of files) {
    const isUrl = file.startsWith('file:');
    const url = isUrl ? file : file.startsWith('/') ? pathToFileURL(file).href : undefined;
    if (url === undefined) continue;
    const entry = isUrl ? ch.entries.get(url) : ch.newest.get(url);
    if (entry !== undefined) return entry;
    const query = url.indexOf('?');
    const path = query === -1 ? url : url.slice(0, query);
    for (let slash = path.lastIndexOf('/'); slash > 'file://'.length; slash = path.lastIndexOf('/', slash - 1)) {
      const folder = ch.folders.get(path.slice(0, slash + 1));
      if (folder !== undefined) return folder;
    }
  }
  return undefined;
}

/** The file names (URLs or paths) of register()'s callers, innermost first. */
function callerFiles(depth: number): string[] {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved only to be put back as it was
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = depth;
    Error.prepareStackTrace = (_, frames) => frames;
    const holder: { stack?: unknown } = {};
    Error.captureStackTrace(holder, register);
    const frames = holder.stack as NodeJS.CallSite[];
    const files: string[] = [];
    for (const frame of frames) {
      const name = frame.getFileName();
      if (name !== undefined && name !== null) files.push(name);
    }
    return files;
  } finally {
    Error.prepareStackTrace = prepare;
    Error.stackTraceLimit = limit;
  }
}
