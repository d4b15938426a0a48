/**
 * What a plugin module hands to `register()`, and how it is validated: a hand-written check on the
 * hot path, and the zod schema - loaded only then - to name every problem of an invalid one.
 */
import { InvalidRegistrationError, ownData, renderThrown, safeGet, type ValidationIssue } from './errors.js';
import { nearest } from '../util/hint.js';
import { zod } from '../util/zod.js';

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
  /**
   * On a hot reload, what the previous version's `close` returned (its state to hand on, like
   * Vite's `hot.data`); `undefined` at a first start.
   */
  readonly handoff: unknown;
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

/** What a plugin's `type`, `id` and name are made of: letters, digits, `.`, `_` and `-`, starting with a letter or digit. */
export const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
const REQUIREMENT = /^(\*|[A-Za-z0-9][A-Za-z0-9_.-]*)$/;
const KEYS = ['type', 'id', 'requires', 'config', 'init', 'close'];
const KNOWN = new Set(KEYS);
const isFunction = (v: unknown): boolean => typeof v === 'function';

/**
 * Whether `value` has a `safeParse` method. An ordinary read: zod defines it as a getter on its
 * prototype, and the schema is the plugin's own code, called at init anyway.
 */
function isSchema(value: unknown): boolean {
  try {
    return (typeof value === 'object' || typeof value === 'function') && value !== null && isFunction(Reflect.get(value, 'safeParse'));
  } catch {
    return false;
  }
}

/**
 * Validates a raw registration. Returns the frozen, validated registration, or throws an
 * {@link InvalidRegistrationError} naming `file` and every problem. Never lets a hostile value
 * escape as anything else. Only the registration's own enumerable properties count: a key
 * inherited from a prototype (say an `Object.prototype.close` another plugin set) is never read.
 */
export function validateRegistration(raw: unknown, file: string): ValidRegistration {
  let fields: unknown;
  let valid: ValidRegistration | undefined;
  try {
    fields = ownFields(raw);
    valid = quickCheck(fields);
  } catch {
    valid = undefined;
  }
  return valid ?? explain(raw, file);
}

/**
 * A null-prototype copy of `raw`'s own enumerable properties (and of its `requires` array's own
 * items, a hole being `undefined`), so that nothing inherited is read; anything but a plain
 * object is returned as it is. Reads the plugin's own getters: this runs in its own register() call.
 */
export function ownFields(raw: unknown): unknown {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return raw;
  const copy = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(raw)) copy[key] = (raw as Record<string, unknown>)[key];
  const requires = copy.requires;
  if (Array.isArray(requires)) {
    const items = requires as unknown[];
    copy.requires = Array.from({ length: items.length }, (_, i) => (Object.hasOwn(items, i) ? items[i] : undefined));
  }
  return copy;
}

/**
 * The registration when it is valid, else `undefined`: exactly the rules of the zod schema below
 * (a test holds the two to the same verdicts), at a fraction of its cost. Reads `raw`'s own
 * properties only: give it {@link ownFields}' copy.
 */
export function quickCheck(raw: unknown): ValidRegistration | undefined {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return undefined;
  for (const key of Object.keys(raw)) if (!KNOWN.has(key)) return undefined;
  const own = (key: string): unknown => (Object.hasOwn(raw, key) ? (raw as Record<string, unknown>)[key] : undefined);
  const [type, id, requires, config, init, close] = KEYS.map(own);
  if (typeof type !== 'string' || !PLUGIN_NAME.test(type) || typeof id !== 'string' || !PLUGIN_NAME.test(id)) return undefined;
  if (typeof init !== 'function' || (close !== undefined && typeof close !== 'function')) return undefined;
  if (config !== undefined && !isSchema(config)) return undefined;
  let needs: string[] = [];
  if (requires !== undefined) {
    if (!Array.isArray(requires)) return undefined;
    needs = [];
    for (const r of requires as unknown[]) {
      if (typeof r !== 'string' || !REQUIREMENT.test(r)) return undefined;
      needs.push(r);
    }
    if ((needs.includes('*') && needs.length > 1) || needs.includes(type)) return undefined;
  }
  return freeze(type, id, needs, config as ConfigSchema | undefined, init as ValidRegistration['init'], close as ValidRegistration['close']);
}

function freeze(type: string, id: string, requires: readonly string[], config: ConfigSchema | undefined,
  init: ValidRegistration['init'], close: ValidRegistration['close']): ValidRegistration {
  return Object.freeze({ name: `${type}.${id}`, type, id, requires: Object.freeze([...new Set(requires)]), config, init, close });
}

type Schema = ReturnType<typeof buildSchema>;
let schema: Schema | undefined;

/** The zod schema of a registration, built on first need. */
export function registrationSchema(): Schema {
  return (schema ??= buildSchema());
}

function buildSchema() {
  const { z } = zod();
  const name = z.string().regex(PLUGIN_NAME, 'must be a non-empty name of letters, digits, ".", "_" and "-"');
  return z.strictObject({
    type: name,
    id: name,
    requires: z.array(z.string().regex(REQUIREMENT, 'must be a plugin type or "*"')).optional(),
    config: z.custom<ConfigSchema>(isSchema, 'must be a zod schema').optional(),
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
}

/** The slow path: zod names every problem (or, should it accept what the quick check refused, the registration). */
function explain(raw: unknown, file: string): ValidRegistration {
  let result: ReturnType<Schema['safeParse']>;
  try {
    result = registrationSchema().safeParse(ownFields(raw));
  } catch (thrown) {
    throw new InvalidRegistrationError(file, nameOf(raw), [{ code: 'unreadable', path: [], message: `the registration could not be read: ${renderThrown(thrown)}` }]);
  }
  if (!result.success) throw new InvalidRegistrationError(file, nameOf(raw), toIssues(result.error.issues));
  // zod's output is an ordinary object: a key the registration lacks would be read from
  // Object.prototype, so every field is taken as an own property.
  const reg = result.data as unknown as Record<string, unknown>;
  const own = (key: string): unknown => ownData(reg, key);
  return freeze(own('type') as string, own('id') as string, (own('requires') ?? []) as string[], own('config') as ConfigSchema | undefined,
    own('init') as ValidRegistration['init'], own('close') as ValidRegistration['close']);
}

/** The `${type}.${id}` name of a raw registration, when both are its own readable strings. */
export function nameOf(raw: unknown): string | undefined {
  const type = ownData(raw, 'type');
  const id = ownData(raw, 'id');
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
  const best = nearest(key, KEYS);
  return best === undefined ? '' : ` ("${key}": did you mean "${best}"?)`;
}
