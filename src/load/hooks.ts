/**
 * Installs plugd's module hooks in this thread, once, and speaks to them. Plugin modules are
 * imported from their real files; the hooks only map `'plugd'` to this host and put a generation
 * query on the modules that must evaluate again (see loader-state.ts).
 *
 * Node >= 22.15 runs the hooks in-thread (`module.registerHooks`, synchronous: no thread hop per
 * resolve). Older Node has only `module.register`, whose hooks run in a separate thread: the same
 * rules run there (hooks-thread.ts), and this side mirrors the generations so that it can name
 * the URL of an entry without asking.
 */
import { register as registerOffThread } from 'node:module';
import type { MessagePort } from 'node:worker_threads';
import { LoaderState, type Loaded, type Resolved, type StateUpdate } from './loader-state.js';
import type { HostMessage } from './hooks-thread.js';
import { builtFile } from '../util/built.js';

/** plugd's module hooks, as the host uses them. */
export interface ModuleHooks {
  /** The URL to import the module file `url` (without query) from now: with its generation, if any. */
  versioned(url: string): string;
  /** The generation of the module file `url` (without query). */
  generation(url: string): number;
  /** Applies `update` wherever modules are resolved; resolves once it holds for the next import. */
  apply(update: StateUpdate): Promise<void>;
  /** The plugin modules that import any of `files` (URLs without query), transitively, the files included. */
  importersOf(files: readonly string[]): Promise<Set<string>>;
}

/** `module.registerHooks` (Node >= 22.15), which @types/node 20 does not declare. */
type RegisterHooks = (hooks: {
  resolve?: (specifier: string, context: { parentURL?: string }, next: (s: string, c: unknown) => Resolved) => Resolved;
  load?: (url: string, context: unknown, next: (u: string, c: unknown) => Loaded) => Loaded;
}) => unknown;

let installed: ModuleHooks | undefined;
let generations = 0;

/** A new generation number, never used before in this process. */
export function nextGeneration(): number {
  return ++generations;
}

/** This thread's hooks, installed on first use. */
export function moduleHooks(): ModuleHooks {
  installed ??= install();
  return installed;
}

function install(): ModuleHooks {
  const plugd = builtFile('index.js').href;
  const state = new LoaderState(plugd);
  // Running from TypeScript sources (a test runner's own module system, e.g. Jest's VM) Node's
  // loader imports no plugin: there is nothing to hook, and no compiled hooks module to run.
  if (import.meta.url.endsWith('.ts')) return inThread(state);
  const registerHooks = (process.getBuiltinModule('node:module') as { registerHooks?: RegisterHooks }).registerHooks;
  if (registerHooks !== undefined) {
    registerHooks({ resolve: (specifier, context, next) => state.resolve(specifier, context.parentURL, () => next(specifier, context)) });
    // The load hook only checks locks: it is installed with the first locked load, so that a load
    // without one costs no extra step per module.
    let loadHook = false;
    return inThread(state, () => {
      if (loadHook || !state.locked) return;
      loadHook = true;
      registerHooks({
        load: (url, context, next) => {
          const loaded = next(url, context);
          state.checkLoaded(url, loaded.source);
          return loaded;
        },
      });
    });
  }
  return offThread(state, plugd);
}

/** Hooks whose state is this thread's own. */
function inThread(state: LoaderState, applied = (): void => undefined): ModuleHooks {
  return {
    versioned: (url) => state.versioned(url),
    generation: (url) => state.generation(url),
    apply: (update) => {
      state.apply(update);
      applied();
      return Promise.resolve();
    },
    importersOf: (files) => Promise.resolve(state.importersOf(files)),
  };
}

/** Hooks in Node's hooks thread, with a mirror of their generations here. */
function offThread(state: LoaderState, plugd: string): ModuleHooks {
  // (Loaded here, not imported: Node >= 22.15 never needs it, and it costs a CLI start ~2 ms.)
  const { MessageChannel } = process.getBuiltinModule('node:worker_threads');
  const { port1, port2 } = new MessageChannel();
  registerOffThread(builtFile('load/hooks-thread.js'), { data: { port: port2, plugd }, transferList: [port2] });
  const ask = request(port1);
  let loadHook = false;
  return {
    versioned: (url) => state.versioned(url),
    generation: (url) => state.generation(url),
    apply: async (update) => {
      state.apply(update);
      await ask({ update });
      if (!loadHook && state.locked) {
        loadHook = true;
        registerOffThread(builtFile('load/lock-thread.js'));
      }
    },
    importersOf: async (files) => new Set(((await ask({ importersOf: files })) as { files: string[] }).files),
  };
}

/** Request/reply over `port`; the port keeps the process alive only while a reply is due. */
function request(port: MessagePort): (message: DistributiveOmit<HostMessage, 'id'>) => Promise<unknown> {
  const waiting = new Map<number, (reply: unknown) => void>();
  let ids = 0;
  port.on('message', (reply: { id: number }) => {
    waiting.get(reply.id)?.(reply);
    waiting.delete(reply.id);
    if (waiting.size === 0) port.unref();
  });
  port.unref();
  return (message) => new Promise((resolve) => {
    const id = ++ids;
    waiting.set(id, resolve);
    port.ref();
    port.postMessage({ ...message, id });
  });
}

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
