/**
 * What a plugin module hands to `register()`, how it is validated, and how the call reaches the
 * registry whose load is in progress - from any copy of plugd, through a channel on `globalThis`.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import { z } from 'zod';
import { InvalidRegistrationError, NoLoadInProgressError, renderThrown, safeGet, type ValidationIssue } from './errors.js';

/** Anything with zod's `safeParse`: a plugin's config schema, from any copy of zod. */
export interface ConfigSchema<T = unknown> {
  /** Validates `input`, filling in defaults. */
  safeParse(input: unknown): { success: true; data: T } | { success: false; error: { issues: readonly unknown[] } };
}

/** What `init` receives: the plugin's identity, config, directories, logger and dependencies. */
export interface InitContext<Config = unknown> {
  /** The plugin's name, `${type}.${id}`. */
  readonly name: string;
  /** The plugin's type. */
  readonly type: string;
  /** The plugin's id. */
  readonly id: string;
  /** The plugin's config section, validated by its schema (defaults filled in); `{}` when none. */
  readonly config: Config;
  /** A directory for the plugin's persistent data: `<root>/<name>` (created). */
  readonly root: string;
  /** A directory for the plugin's runtime state: `<state>/<name>` (created). */
  readonly state: string;
  /** A pino child logger bound to the plugin's name. */
  readonly log: import('pino').Logger;
  /** The shared better-sqlite3 metadata database, when the host provides one. */
  readonly meta: import('better-sqlite3').Database | undefined;
  /** Aborted when the plugin is being closed, or when its init timed out. */
  readonly signal: AbortSignal;
  /** The instance of the one initialized plugin of a required type; throws unless exactly one. */
  get<T = unknown>(type: string): T;
  /** The instances of every initialized plugin of a required type, in init order. */
  getAll<T = unknown>(type: string): T[];
}

/** The argument of `register()`: one plugin (containerd's `Registration`). */
export interface Registration<Instance = unknown, Config = unknown> {
  /** What kind of thing the plugin provides, e.g. `io.plugd.store.v1`. */
  type: string;
  /** Which one it is, e.g. `sqlite`. The plugin's name is `${type}.${id}`. */
  id: string;
  /** Plugin types that must be initialized first; `['*']` means after all other plugins. */
  requires?: string[];
  /** A zod schema for the plugin's config section. */
  config?: ConfigSchema<Config>;
  /** Creates the plugin's instance. Throw {@link SkipPluginError} for "not applicable here". */
  init: (ctx: InitContext<Config>) => Instance | Promise<Instance>;
  /** Releases the instance: called on shutdown, unload and reload, in reverse init order. */
  close?: (instance: Instance) => unknown;
}

/** A registration that passed validation, with its name and the file that made it. */
export interface ValidRegistration {
  readonly name: string;
  readonly type: string;
  readonly id: string;
  readonly requires: readonly string[];
  readonly config: ConfigSchema | undefined;
  readonly init: (ctx: InitContext) => unknown;
  readonly close: ((instance: unknown) => unknown) | undefined;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const KEYS = ['type', 'id', 'requires', 'config', 'init', 'close'];
const isFunction = (v: unknown): boolean => typeof v === 'function';

const schema = z.strictObject({
  type: z.string().regex(NAME, 'must be a non-empty name of letters, digits, ".", "_" and "-"'),
  id: z.string().regex(NAME, 'must be a non-empty name of letters, digits, ".", "_" and "-"'),
  requires: z.array(z.string().regex(/^(\*|[A-Za-z0-9][A-Za-z0-9_.-]*)$/, 'must be a plugin type or "*"')).optional(),
  config: z.custom<ConfigSchema>((v) => isFunction(safeGet(v, 'safeParse')), 'must be a zod schema').optional(),
  init: z.custom<(ctx: InitContext) => unknown>(isFunction, 'must be a function'),
  close: z.custom<(instance: unknown) => unknown>(isFunction, 'must be a function').optional(),
}).superRefine((reg, ctx) => {
  const requires = reg.requires ?? [];
  if (requires.includes('*') && requires.length > 1) {
    ctx.addIssue({ code: 'custom', path: ['requires'], message: '"*" must be the only entry (it means "after all other plugins")' });
  }
  if (requires.includes(reg.type)) {
    ctx.addIssue({ code: 'custom', path: ['requires'], message: `a plugin cannot require its own type "${reg.type}"` });
  }
});

/**
 * Validates a raw registration. Returns the frozen, validated registration, or throws an
 * {@link InvalidRegistrationError} naming `file`. Never lets a hostile value escape as anything else.
 */
export function validateRegistration(raw: unknown, file: string): ValidRegistration {
  let result: ReturnType<typeof schema.safeParse>;
  try {
    result = schema.safeParse(raw);
  } catch (thrown) {
    throw new InvalidRegistrationError(file, nameOf(raw), [{ code: 'unreadable', path: [], message: `the registration could not be read: ${renderThrown(thrown)}` }]);
  }
  if (!result.success) {
    throw new InvalidRegistrationError(file, nameOf(raw), toIssues(result.error.issues));
  }
  const reg = result.data;
  return Object.freeze({
    name: `${reg.type}.${reg.id}`,
    type: reg.type,
    id: reg.id,
    requires: Object.freeze([...new Set(reg.requires ?? [])]),
    config: reg.config,
    init: reg.init,
    close: reg.close,
  });
}

/** The `${type}.${id}` name of a raw registration, when both are readable strings. */
export function nameOf(raw: unknown): string | undefined {
  const type = safeGet(raw, 'type');
  const id = safeGet(raw, 'id');
  return typeof type === 'string' && typeof id === 'string' ? `${type}.${id}` : undefined;
}

/** Converts zod issues (from any copy of zod) into JSON-safe {@link ValidationIssue}s, with typo hints. */
export function toIssues(issues: readonly unknown[]): ValidationIssue[] {
  return issues.map((issue) => {
    const code = stringOr(safeGet(issue, 'code'), 'invalid');
    const rawPath = safeGet(issue, 'path');
    const path = Array.isArray(rawPath) ? rawPath.map((p) => (typeof p === 'number' ? p : String(p))) : [];
    let message = stringOr(safeGet(issue, 'message'), 'invalid');
    const keys = safeGet(issue, 'keys');
    if (code === 'unrecognized_keys' && Array.isArray(keys) && path.length === 0) {
      message += keys.map((k) => hint(String(k))).join('');
    }
    return { code, path, message };
  });
}

function stringOr(value: unknown, fallback: string): string {
  return typeof value === 'string' ? value : fallback;
}

function hint(key: string): string {
  const best = KEYS.find((k) => editDistance(k, key) <= 2);
  return best === undefined ? '' : ` ("${key}": did you mean "${best}"?)`;
}

function editDistance(a: string, b: string): number {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0] ?? 0;
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j] ?? 0;
      row[j] = Math.min(cur + 1, (row[j - 1] ?? 0) + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length] ?? 0;
}

/**
 * The load a `register()` call belongs to: one per module being imported. The loader runs each
 * import inside its scope (AsyncLocalStorage), so the scope is visible at the module's top level,
 * after its top-level awaits, in modules it imports, and in callbacks it schedules.
 */
export interface LoadScope {
  /** Receives one raw registration; throws for an invalid one made on time. */
  register(raw: unknown): void;
}

/** The versioned object on `globalThis` through which every copy of plugd reaches the loading host. */
interface Channel {
  readonly protocol: number;
  readonly storage: AsyncLocalStorage<LoadScope>;
}

const PROTOCOL = 1;
const CHANNEL_KEY = Symbol.for('plugd.channel');

/** The process-wide channel, installed by the first copy of plugd to need it. */
export function channel(): Channel {
  const holder = globalThis as { [CHANNEL_KEY]?: Channel };
  let ch = holder[CHANNEL_KEY];
  if (ch === undefined) {
    ch = Object.freeze({ protocol: PROTOCOL, storage: new AsyncLocalStorage<LoadScope>() });
    Object.defineProperty(holder, CHANNEL_KEY, { value: ch, enumerable: false, configurable: false, writable: false });
  }
  if (ch.protocol !== PROTOCOL) {
    throw new NoLoadInProgressError(`this copy of plugd speaks registration protocol ${PROTOCOL} but the host ` +
      `loading plugins speaks ${String(ch.protocol)}; install a plugd version compatible with the host's`);
  }
  return ch;
}

/**
 * Registers a plugin with the registry that is loading the calling module (containerd's
 * `plugin.Register`). Call it at the top level of a plugin module. Throws an
 * {@link InvalidRegistrationError} for an invalid registration and a {@link NoLoadInProgressError}
 * when no load is in progress.
 */
export function register<Instance, Config = unknown>(registration: Registration<Instance, Config>): void {
  const scope = channel().storage.getStore();
  if (scope === undefined) throw new NoLoadInProgressError();
  scope.register(registration);
}
