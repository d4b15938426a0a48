/**
 * How a `register()` call reaches the load it belongs to - from any copy of plugd. Each load puts
 * a scope per module on a versioned table on `globalThis`; `register()` finds its scope from its
 * caller's stack frames: the entry module's URL, or (for a folder plugin) any module inside the
 * plugin's folder. A stack capture per call is far cheaper than AsyncLocalStorage around every
 * import, whose promise hooks cost 1.15-1.3x the whole load on Node 20.
 */
import { pathToFileURL } from 'node:url';
import { NoLoadInProgressError } from './errors.js';
import type { Registration } from './registration.js';

/** The load of one module: receives the registrations its code makes. */
export interface LoadScope {
  /** Receives one raw registration; throws for an invalid one made on time. */
  register(raw: unknown): void;
  /**
   * Set when the entry module's every `'plugd'` import was bound to this scope (a rewritten
   * module, see {@link registerFor}): its calls no longer look the scope up, so the load may drop
   * it from the channel once the module settled - a late call still reaches it, reported late.
   */
  bound?: boolean;
}

/** The process-wide table of scopes, shared by every copy of plugd that speaks this protocol. */
export interface Channel {
  readonly protocol: number;
  /** Scopes of entry modules, by module URL. */
  readonly entries: Map<string, LoadScope>;
  /** Scopes of folder plugins, by the URL of their folder (ending in `/`). */
  readonly folders: Map<string, LoadScope>;
}

const PROTOCOL = 2;
const KEY = Symbol.for('plugd.channel');

/** The process-wide channel, installed by the first copy of plugd to need it. */
export function channel(): Channel {
  const holder = globalThis as { [KEY]?: Channel };
  let ch = holder[KEY];
  if (ch === undefined) {
    ch = Object.freeze({ protocol: PROTOCOL, entries: new Map<string, LoadScope>(), folders: new Map<string, LoadScope>() });
    Object.defineProperty(holder, KEY, { value: ch, enumerable: false, configurable: false, writable: false });
  }
  if (ch.protocol !== PROTOCOL) {
    throw new NoLoadInProgressError(`this copy of plugd speaks registration protocol ${PROTOCOL} but the host ` +
      `loading plugins speaks ${String(ch.protocol)}; install a plugd version compatible with the host's`);
  }
  return ch;
}

/**
 * Registers a plugin with the registry that is loading the calling module (containerd's
 * `plugin.Register`). Call it at the top level of a plugin module (or of a module inside a folder
 * plugin). Throws an {@link InvalidRegistrationError} for an invalid registration and a
 * {@link NoLoadInProgressError} when plugd is not loading the calling module.
 */
export function register<Instance, Config = unknown>(registration: Registration<Instance, Config>): void {
  const ch = channel();
  const files = callerFiles();
  const scope = findScope(ch, files);
  if (scope === undefined) {
    throw new NoLoadInProgressError(`register() was called from ${files[0] ?? 'unknown code'}, which plugd is not loading; ` +
      'register() may only be called by a plugin module while plugd imports it (use Registry.load() to load a plugin directory)');
  }
  scope.register(registration);
}

/**
 * A `register()` bound to the module at `url`, made while that module evaluates (staged modules
 * get theirs from the rewrite of their `'plugd'` import): attribution without looking at the
 * stack. With `complete` (every `'plugd'` import of the module was rewritten, so none of its calls
 * can come through the stack), its load may forget the module once settled: a late call still
 * reaches its scope, and is reported late.
 */
export function registerFor(url: string, complete = false): typeof register {
  const ch = channel();
  const scope = findScope(ch, [url]);
  if (scope === undefined) {
    return () => { throw new NoLoadInProgressError(`register() was called from ${url}, which plugd is not loading`); };
  }
  if (complete && ch.entries.get(url) === scope) scope.bound = true;
  return (registration) => { scope.register(registration); };
}

/** The scope of the innermost caller that belongs to a load: an entry, else a folder plugin. */
function findScope(ch: Channel, files: readonly string[]): LoadScope | undefined {
  for (const file of files) {
    const url = file.startsWith('file:') ? file : file.startsWith('/') ? pathToFileURL(file).href : undefined;
    if (url === undefined) continue;
    const entry = ch.entries.get(url);
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
function callerFiles(): string[] {
  // eslint-disable-next-line @typescript-eslint/unbound-method -- saved only to be put back as it was
  const prepare = Error.prepareStackTrace;
  const limit = Error.stackTraceLimit;
  try {
    Error.stackTraceLimit = 64;
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
