/**
 * Initializes plugins in dependency order and closes them in reverse (containerd's init loop):
 * every init and close bounded by a timeout, every failure recorded, none stopping the others.
 * A plugin whose required types have no initialized plugin is skipped with an `E_DEPENDENCY`.
 */
import { mkdirSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Database } from 'better-sqlite3';
import type { Logger } from 'pino';
import {
  ConfigError, DependencyError, PluginCloseError, PluginInitError, renderThrown, skipReason,
  type LifecycleFailureReason, type PlugdError,
} from './errors.js';
import type { GraphResult } from './graph.js';
import { locate } from '../util/locate.js';
import { toIssues, type InitContext } from './registration.js';
import type { PluginRecord } from './record.js';

/** Options of {@link startPlugins}. */
export interface StartOptions {
  /** Parent of each plugin's `ctx.root` (`<root>/<name>`); a fresh temp dir, removed on close, when absent. */
  readonly root?: string;
  /** Parent of each plugin's `ctx.state` (`<state>/<name>`); a fresh temp dir, removed on close, when absent. */
  readonly state?: string;
  /** Config sections by plugin name; each is validated by the plugin's schema. */
  readonly config?: Readonly<Record<string, unknown>>;
  /** The pino logger whose children the plugins get (silent when absent). */
  readonly logger?: Logger;
  /** The shared metadata database handed to every plugin as `ctx.meta`. */
  readonly meta?: Database;
  /** Milliseconds each init may take (default 10000). */
  readonly timeout?: number;
  /** Milliseconds each close may take (default: `timeout`). */
  readonly closeTimeout?: number;
  /** Names of plugins that stay registered but are never initialized. */
  readonly disabled?: Iterable<string>;
  /** Called after each plugin's init settled (or was skipped), in init order. */
  readonly onPlugin?: (state: PluginState) => void;
  /** Called just before a plugin's init runs. */
  readonly onInit?: (name: string) => void;
  /**
   * Plugins whose init is not run, each failed with the given error: how an isolated check
   * reports an init that hung its thread or ended it.
   */
  readonly failed?: ReadonlyMap<string, PlugdError>;
  /** Called after each plugin's close, in close order, with its error if it failed. */
  readonly onClose?: (name: string, ms: number, error?: PlugdError) => void;
}

/** Where a plugin ended up. */
/** The default bound on a module's import and a plugin's init and close, in milliseconds. */
export const DEFAULT_TIMEOUT = 10_000;

/** The longest timeout a timer can take (2^31 - 1 ms); longer ones are clamped to it. */
export const MAX_TIMEOUT = 2_147_483_647;

export type PluginStatus = 'ok' | 'failed' | 'skipped' | 'disabled';

/** One plugin's lifecycle state. */
export interface PluginState {
  readonly name: string;
  readonly type: string;
  readonly id: string;
  readonly file: string;
  readonly requires: readonly string[];
  /** `ok` (initialized), `failed`, `skipped` (SkipPluginError or unmet requirement) or `disabled`. */
  readonly status: PluginStatus;
  /** Why it is not ok (a SkipPluginError's reason is in `skipReason` instead). */
  readonly error?: PlugdError;
  /** The message of the SkipPluginError that skipped it. */
  readonly skipReason?: string;
  /** Milliseconds its init took. */
  readonly initMs?: number;
}

/** Initialized plugins, and the way to close them. */
export interface Running {
  /** Every plugin: in init order, then those that could not be ordered (skipped). */
  readonly plugins: readonly PluginState[];
  /**
   * Every distinct error behind a plugin that is not ok (failed inits, bad config, unmet
   * requirements and cycles - a cycle's error once), in the order the plugins were settled.
   */
  readonly errors: readonly PlugdError[];
  /** The instance `init` returned for `name`, while running. */
  instance(name: string): unknown;
  /** Closes every initialized plugin in reverse init order; returns the close failures. Idempotent. */
  close(): Promise<PlugdError[]>;
}

interface Live {
  readonly record: PluginRecord;
  readonly signal: LazySignal;
  readonly instance: unknown;
}

/**
 * The plugin's AbortSignal, made on first use (most plugins never ask, and an AbortController per
 * plugin is a measurable part of a trivial init). Once aborted, a late first use gets an aborted one.
 */
class LazySignal {
  #controller: AbortController | undefined;
  #aborted = false;

  get signal(): AbortSignal {
    this.#controller ??= new AbortController();
    if (this.#aborted) this.#controller.abort();
    return this.#controller.signal;
  }

  abort(): void {
    this.#aborted = true;
    this.#controller?.abort();
  }
}

type Settled<T> = { kind: 'value'; value: T } | { kind: 'thrown'; thrown: unknown } | { kind: 'timeout' };

/**
 * Runs `fn` bounded by `ms`; never throws. `onLate` receives a value that arrives after the
 * timeout. A synchronous result needs no timer (nothing to wait for): the common trivial case.
 */
async function bounded<T>(fn: () => T | PromiseLike<T>, ms: number, onLate?: (value: T) => void): Promise<Settled<T>> {
  let first: T | PromiseLike<T>;
  try {
    first = fn();
    if (!isThenable(first)) return { kind: 'value', value: first };
  } catch (thrown) {
    return { kind: 'thrown', thrown };
  }
  let timer: NodeJS.Timeout | undefined;
  ms = clampTimeout(ms);
  const work = Promise.resolve(first);
  const timeout = new Promise<{ kind: 'timeout' }>((resolve) => { timer = setTimeout(resolve, ms, { kind: 'timeout' }); });
  try {
    const result = await Promise.race([work.then((value): Settled<T> => ({ kind: 'value', value })), timeout]);
    if (result.kind === 'timeout' && onLate !== undefined) work.then(onLate, () => undefined);
    return result;
  } catch (thrown) {
    return { kind: 'thrown', thrown };
  } finally {
    clearTimeout(timer);
  }
}

function isThenable(value: unknown): value is PromiseLike<unknown> {
  return (typeof value === 'object' || typeof value === 'function') && value !== null && typeof (value as { then?: unknown }).then === 'function';
}

/** Node timers take 1 ms to 2^31-1 ms; anything else fires after 1 ms. Infinity means "the longest". */
export function clampTimeout(ms: number): number {
  return Number.isNaN(ms) ? 1 : Math.min(Math.max(ms, 1), MAX_TIMEOUT);
}

/**
 * Initializes `plugins` in the order `graph` gives (disabled ones are marked, not started); the
 * graph's unresolved plugins are skipped. If the host's own callback throws, whatever started is
 * closed before the error propagates.
 */
export async function startPlugins(plugins: readonly PluginRecord[], graph: GraphResult, options: StartOptions = {}): Promise<Running> {
  const runtime = await Runtime.create(options);
  try {
    await runtime.start(plugins, graph);
  } catch (error) {
    // Only the host's own callback can get here: close what started, leave nothing behind.
    await runtime.close();
    throw error;
  }
  return runtime;
}

/**
 * Running plugins that can be changed piece by piece (what hot reload needs): start some plugins
 * of a new plugin set while the others keep running, stop a set in reverse init order. Every
 * init and close is bounded; `close` hands its return value to the next version's `ctx.handoff`.
 */
export class Runtime implements Running {
  readonly #options: StartOptions;
  readonly #parts: Omit<ContextParts, 'signal' | 'okByType'>;
  readonly #temp: readonly string[];
  readonly #timeout: number;
  readonly #closeTimeout: number;
  readonly #disabled: ReadonlySet<string>;
  readonly #states = new Map<string, PluginState>();
  /** Initialized plugins, in init order. */
  readonly #live: Live[] = [];
  readonly #okByType = new Map<string, Live[]>();
  #errors: PlugdError[] = [];
  #closing: Promise<PlugdError[]> | undefined;
  /** The {@link Runtime.start} in flight, if any: a close waits for it. */
  #starting: Promise<void> | undefined;

  private constructor(options: StartOptions, parts: Omit<ContextParts, 'signal' | 'okByType'>, temp: readonly string[]) {
    this.#options = options;
    this.#parts = parts;
    this.#temp = temp;
    this.#timeout = options.timeout ?? DEFAULT_TIMEOUT;
    this.#closeTimeout = options.closeTimeout ?? this.#timeout;
    this.#disabled = new Set(options.disabled ?? []);
  }

  /** A runtime with nothing started yet. */
  static async create(given: StartOptions = {}): Promise<Runtime> {
    // Only the options' own properties: a plugin that set Object.prototype.config (or .root...)
    // must not hand every plugin its config sections (or directories).
    const options = ownOptions(given);
    const temp: string[] = [];
    const root = options.root ?? await tempDir('root', temp);
    const state = options.state ?? await tempDir('state', temp);
    const logger = options.logger ?? await silentLogger();
    return new Runtime(options, { root, state, logger, meta: options.meta }, temp);
  }

  get plugins(): readonly PluginState[] {
    return [...this.#states.values()];
  }

  get errors(): readonly PlugdError[] {
    return this.#errors;
  }

  instance(name: string): unknown {
    return this.#live.find((l) => l.record.name === name)?.instance;
  }

  /**
   * Brings `plugins` (the whole current set, ordered by `graph`) up: those in `only`, or when it is
   * absent every plugin not already running - a running one keeps running as it is (stop it first
   * to restart it). `handoff` holds, by name, what the previous version's close returned. Once
   * {@link Runtime.close} was called, no further plugin is initialized (nor is any after it).
   */
  async start(plugins: readonly PluginRecord[], graph: GraphResult, only?: ReadonlySet<string>, handoff: ReadonlyMap<string, unknown> = new Map()): Promise<void> {
    if (this.#closing !== undefined) return;
    const run = this.#startAll(plugins, graph, only, handoff);
    this.#starting = run;
    try {
      await run;
    } finally {
      if (this.#starting === run) this.#starting = undefined;
    }
  }

  async #startAll(plugins: readonly PluginRecord[], graph: GraphResult, only: ReadonlySet<string> | undefined, handoff: ReadonlyMap<string, unknown>): Promise<void> {
    const running = new Set(this.#live.map((l) => l.record.name));
    only ??= new Set(plugins.filter((p) => !running.has(p.name)).map((p) => p.name));
    const byName = new Map(plugins.map((p) => [p.name, p]));
    const byType = new Map<string, PluginRecord[]>();
    for (const p of plugins) {
      const list = byType.get(p.type);
      if (list === undefined) byType.set(p.type, [p]);
      else list.push(p);
    }
    for (const name of [...this.#states.keys()]) if (!byName.has(name)) this.#states.delete(name);
    this.#errors = [];
    for (const name of graph.order) {
      if (this.#closing !== undefined) return; // closing: the plugins not yet started stay down
      const record = byName.get(name);
      if (record === undefined || (!only.has(name) && this.#states.has(name))) continue;
      await this.#startOne(record, graph, byType, handoff);
    }
    for (const p of plugins) {
      const error = graph.unresolved.get(p.name);
      if (error === undefined || (!only.has(p.name) && this.#states.has(p.name))) continue;
      this.#states.delete(p.name);
      const base = { name: p.name, type: p.type, id: p.id, file: p.file, requires: p.requires };
      // A disabled plugin stays `disabled`, whether or not its requirements could have been met.
      this.#settle(this.#disabled.has(p.name) ? { ...base, status: 'disabled' } : { ...base, status: 'skipped', error });
    }
    for (const state of this.#states.values()) if (state.error !== undefined && !this.#errors.includes(state.error)) this.#errors.push(state.error);
  }

  /** Closes the running plugins among `names`, in reverse init order; what each close returned, by name. */
  async stop(names: ReadonlySet<string>): Promise<{ errors: PlugdError[]; handoff: Map<string, unknown> }> {
    const stopping = this.#live.filter((l) => names.has(l.record.name));
    const result = await closeAll(stopping, this.#closeTimeout, this.#options.onClose);
    for (const l of stopping) {
      this.#live.splice(this.#live.indexOf(l), 1);
      const list = this.#okByType.get(l.record.type);
      list?.splice(list.indexOf(l), 1);
    }
    for (const name of names) this.#states.delete(name);
    return result;
  }

  /**
   * Closes every running plugin in reverse init order; returns the close failures. Idempotent.
   * During a {@link Runtime.start}, no further plugin is initialized, and a plugin whose init is in
   * flight is closed with the others once that init settles (within its timeout).
   */
  close(): Promise<PlugdError[]> {
    this.#closing ??= (this.#starting ?? Promise.resolve()).catch(() => undefined)
      .then(async () => closeAll([...this.#live], this.#closeTimeout, this.#options.onClose))
      .then(async ({ errors }) => {
        this.#live.length = 0;
        this.#okByType.clear();
        await Promise.all(this.#temp.map((d) => rm(d, { recursive: true, force: true })));
        return errors;
      });
    return this.#closing;
  }

  #settle(state: PluginState): void {
    this.#states.set(state.name, state);
    if (state.error !== undefined && !this.#errors.includes(state.error)) this.#errors.push(state.error);
    this.#options.onPlugin?.(state);
  }

  async #startOne(record: PluginRecord, graph: GraphResult, byType: ReadonlyMap<string, PluginRecord[]>, handoff: ReadonlyMap<string, unknown>): Promise<void> {
    const { name } = record;
    this.#states.delete(name);
    const base = { name, type: record.type, id: record.id, file: record.file, requires: record.requires };
    if (this.#disabled.has(name)) {
      this.#settle({ ...base, status: 'disabled' });
      return;
    }
    const unmet = graph.unresolved.get(name) ?? unmetRequirement(record, byType, this.#states);
    if (unmet !== undefined) {
      this.#settle({ ...base, status: 'skipped', error: unmet });
      return;
    }
    const config = validateConfig(record, sectionOf(this.#options.config, name));
    if (config instanceof ConfigError) {
      this.#settle({ ...base, status: 'failed', error: config });
      return;
    }
    const verdict = this.#options.failed?.get(name);
    if (verdict !== undefined) {
      this.#settle({ ...base, status: 'failed', error: verdict });
      return;
    }
    this.#options.onInit?.(name);
    const signal = new LazySignal();
    const ctx = context(record, config, { ...this.#parts, okByType: this.#okByType, signal }, handoff.get(name));
    const started = performance.now();
    const closeTimeout = this.#closeTimeout;
    const result = await bounded(() => record.registration.init(ctx), this.#timeout,
      (late) => void bounded(() => record.registration.close?.(late), closeTimeout));
    const initMs = performance.now() - started;
    if (result.kind === 'value') {
      const live = { record, signal, instance: result.value };
      this.#live.push(live);
      const list = this.#okByType.get(record.type);
      if (list === undefined) this.#okByType.set(record.type, [live]);
      else list.push(live);
      this.#settle({ ...base, status: 'ok', initMs });
    } else {
      signal.abort();
      const skipped = result.kind === 'thrown' ? skipReason(result.thrown) : undefined;
      if (skipped !== undefined) {
        this.#settle({ ...base, status: 'skipped', skipReason: skipped, initMs });
      } else {
        this.#settle({ ...base, status: 'failed', initMs, error: failure(PluginInitError, record, result, this.#timeout) });
      }
    }
  }
}

async function closeAll(live: readonly Live[], timeout: number, onClose: StartOptions['onClose']): Promise<{ errors: PlugdError[]; handoff: Map<string, unknown> }> {
  const errors: PlugdError[] = [];
  const handoff = new Map<string, unknown>();
  for (const { record, signal, instance } of [...live].reverse()) {
    signal.abort();
    const close = record.registration.close;
    const started = performance.now();
    const result = close === undefined ? undefined : await bounded(() => close(instance), timeout);
    const error = result === undefined || result.kind === 'value' ? undefined : failure(PluginCloseError, record, result, timeout);
    if (error !== undefined) errors.push(error);
    if (result?.kind === 'value' && result.value !== undefined) handoff.set(record.name, result.value);
    onClose?.(record.name, performance.now() - started, error);
  }
  return { errors, handoff };
}

function failure(
  Kind: typeof PluginInitError | typeof PluginCloseError,
  record: PluginRecord,
  result: Settled<unknown>,
  timeout: number,
): PlugdError {
  const reason: LifecycleFailureReason = result.kind === 'timeout' ? 'timeout' : 'throw';
  if (result.kind !== 'thrown') return new Kind(record.name, record.file, reason, undefined, timeout);
  return new Kind(record.name, record.file, reason, result.thrown, timeout, locate(result.thrown, join(record.dir, record.file)));
}

/** The E_DEPENDENCY of a plugin some of whose required types have no initialized plugin, if any. */
function unmetRequirement(record: PluginRecord, byType: ReadonlyMap<string, PluginRecord[]>,
  states: ReadonlyMap<string, PluginState>): DependencyError | undefined {
  const missing: string[] = [];
  const blamed: string[] = [];
  for (const type of record.requires) {
    if (type === '*') continue;
    const providers = (byType.get(type) ?? []).map((p) => states.get(p.name));
    if (providers.some((s) => s?.status === 'ok')) continue;
    missing.push(type);
    for (const s of providers) if (s !== undefined) blamed.push(`"${s.name}" is ${s.status}${s.skipReason === undefined ? '' : ` (${s.skipReason})`}`);
  }
  if (missing.length === 0) return undefined;
  return DependencyError.notRunning(record.name, missing, blamed);
}

/** A null-prototype copy of the own properties of `options`. */
function ownOptions(options: StartOptions): StartOptions {
  const copy = Object.create(null) as Record<string, unknown>;
  for (const [key, value] of Object.entries(options)) copy[key] = value;
  return copy;
}

/** The config section of plugin `name`: an own property of `config` only, never an inherited one. */
function sectionOf(config: StartOptions['config'], name: string): unknown {
  return config !== undefined && Object.hasOwn(config, name) ? config[name] : undefined;
}

function validateConfig(record: PluginRecord, section: unknown): unknown {
  const schema = record.registration.config;
  if (schema === undefined) return section ?? {};
  try {
    const result = schema.safeParse(section ?? {});
    return result.success ? result.data : new ConfigError(toIssues(result.error.issues), { plugin: record.name });
  } catch (thrown) {
    return new ConfigError([{ code: 'unreadable', path: [], message: `the config schema threw: ${renderThrown(thrown)}` }], { plugin: record.name });
  }
}

interface ContextParts {
  readonly root: string;
  readonly state: string;
  readonly logger: Logger;
  readonly meta: Database | undefined;
  readonly signal: LazySignal;
  readonly okByType: ReadonlyMap<string, readonly Live[]>;
}

function context(record: PluginRecord, config: unknown, parts: ContextParts, handoff: unknown): InitContext {
  const { name, type, id, requires } = record;
  const getAll = <T>(wanted: string): T[] => {
    if (!requires.includes('*') && !requires.includes(wanted)) {
      throw DependencyError.notRequired(name, wanted);
    }
    return (parts.okByType.get(wanted) ?? []).map((l) => l.instance) as T[];
  };
  let log: Logger | undefined;
  const root = lazyDir(join(parts.root, name));
  const state = lazyDir(join(parts.state, name));
  return {
    name, type, id, config, handoff,
    // Created on first use: most plugins never touch them, and two mkdirs per plugin would be
    // most of the lifecycle's cost. A failure to create one fails the plugin's init.
    get root() { return root(); },
    get state() { return state(); },
    // A pino child per plugin is made on first use, like the directories.
    get log() { return (log ??= parts.logger.child({ plugin: name })); },
    meta: parts.meta,
    get signal() { return parts.signal.signal; },
    getAll,
    get: <T>(wanted: string): T => {
      const all = getAll<T>(wanted);
      if (all.length !== 1) {
        throw DependencyError.notOne(name, wanted, all.length);
      }
      return all[0] as T;
    },
  };
}

/** A getter for `dir` that creates it on first use (once per context). */
function lazyDir(dir: string): () => string {
  let made = false;
  return () => {
    if (!made) mkdirSync(dir, { recursive: true });
    made = true;
    return dir;
  };
}

async function tempDir(kind: string, created: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `plugd-${kind}-`));
  created.push(dir);
  return dir;
}

async function silentLogger(): Promise<Logger> {
  const { pino } = await import('pino');
  return pino({ level: 'silent' });
}
