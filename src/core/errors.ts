/**
 * Every error plugd raises or reports, in one place (like containerd's error block and avvio's
 * errors file). Each class carries a stable string `code`; messages name the file and/or plugin
 * and say how to fix the problem. Converting an arbitrary thrown value into one of these errors
 * never throws, whatever the value is.
 */
import { types } from 'node:util';
import type { Location } from '../util/locate.js';
import { ownData, renderThrown, safeGet, safeStack } from '../util/render.js';

export { ownData, renderThrown, safeGet, safeStack };

/** The stable codes of every error plugd raises or reports. */
export const ErrorCodes = {
  /** Importing or evaluating a plugin module failed. */
  PLUGIN_LOAD: 'E_PLUGIN_LOAD',
  /** A registration failed the registration schema. */
  INVALID_REGISTRATION: 'E_INVALID_REGISTRATION',
  /** A plugin name (`${type}.${id}`) was registered twice. */
  DUPLICATE_PLUGIN: 'E_DUPLICATE_PLUGIN',
  /** `register()` was called after its module finished evaluating. */
  LATE_REGISTRATION: 'E_LATE_REGISTRATION',
  /** A required type has no usable plugin, or the requirements form a cycle. */
  DEPENDENCY: 'E_DEPENDENCY',
  /** A plugin's `init` threw, rejected or timed out. */
  PLUGIN_INIT: 'E_PLUGIN_INIT',
  /** A plugin's `close` threw, rejected or timed out. */
  PLUGIN_CLOSE: 'E_PLUGIN_CLOSE',
  /** The config file or a plugin's config section is invalid. */
  CONFIG: 'E_CONFIG',
  /** `register()` was called while no load was in progress (a programmer error). */
  NO_LOAD: 'E_NO_LOAD',
  /** A fail-fast load found problems; `errors` holds them. */
  LOAD_FAILED: 'E_LOAD_FAILED',
  /** `Registry.load()` was called while another load of the same registry was running. */
  REGISTRY_BUSY: 'E_REGISTRY_BUSY',
  /** Thrown by a plugin's `init` to say "not applicable here"; never reported as an error. */
  SKIP_PLUGIN: 'E_SKIP_PLUGIN',
  /** The plugin directory or a plugin file is writable by group/others, or owned by another user. */
  PLUGIN_PERMISSIONS: 'E_PLUGIN_PERMISSIONS',
  /** A path of the plugin directory leaves it (symlink), loops, or dangles. */
  PLUGIN_PATH: 'E_PLUGIN_PATH',
  /** With `--locked`: a file differs from `plugd.lock`, is not in it, or is listed but gone. */
  INTEGRITY: 'E_INTEGRITY',
} as const;

/** One of the stable error codes in {@link ErrorCodes}. */
export type ErrorCode = (typeof ErrorCodes)[keyof typeof ErrorCodes];

/**
 * Why a module failed to load; `ambiguous`: a folder plugin has both `index.js` and `index.mjs`,
 * so which one is its entry is unclear, and neither is imported; `exit`: in an isolated check,
 * the module called `process.exit()`.
 */
export type LoadFailureReason = 'throw' | 'syntax' | 'resolve' | 'timeout' | 'ambiguous' | 'exit';

/**
 * Why a plugin's `init` or `close` failed: it threw or rejected, did not settle in time, or (in an
 * isolated check) ended the thread that ran it with `process.exit()`.
 */
export type LifecycleFailureReason = 'throw' | 'timeout' | 'exit';

/**
 * What is wrong with a path of the plugin directory: its real path lies `outside` the directory,
 * it is a symlink `loop` (or a link to a directory that contains it), a `dangling` link, an entry
 * that is `not-a-file` (a FIFO, a socket, a device: importing one would block), or an entry whose
 * name has a control character (`bad-name`: a newline would forge lines in logs and tables).
 */
export type PathFailureReason = 'outside' | 'loop' | 'dangling' | 'not-a-file' | 'bad-name';

/**
 * How a file disagrees with `plugd.lock`: its sha256 is a `mismatch`, it is `unlisted` in the
 * lock, or it is `missing` (listed but gone; also the lock file itself when absent or invalid).
 */
export type IntegrityFailureReason = 'mismatch' | 'unlisted' | 'missing';

/** One problem found by zod (or by plugd's own checks), in JSON-safe form. */
export interface ValidationIssue {
  /** zod's issue code, e.g. `unrecognized_keys`. */
  readonly code: string;
  /** Where the problem is, e.g. `['requires', 0]`. */
  readonly path: readonly (string | number)[];
  /** What is wrong, in words. */
  readonly message: string;
}

/** The JSON form of an error, as `plugd check --json` prints it: never the raw thrown value. */
export interface ErrorJSON {
  code: ErrorCode;
  message: string;
  file?: string;
  plugin?: string;
  firstFile?: string;
  reason?: LoadFailureReason | LifecycleFailureReason | PathFailureReason | IntegrityFailureReason;
  issues?: ValidationIssue[];
  missing?: string[];
  cycle?: string[];
  /** The permission bits found (`E_PLUGIN_PERMISSIONS`), e.g. 438 for 0o666. */
  mode?: number;
  /** The uid that owns the path (`E_PLUGIN_PERMISSIONS`). */
  owner?: number;
  /** The uids allowed to own it: the daemon's and root's (`E_PLUGIN_PERMISSIONS`). */
  expectedOwner?: number[];
  /** The real path or link target (`E_PLUGIN_PATH`). */
  target?: string;
  /** The sha256 in the lock (`E_INTEGRITY`). */
  expected?: string;
  /** The sha256 of the file on disk (`E_INTEGRITY`). */
  actual?: string;
  /** The line in `file` where the thrown value points (`E_PLUGIN_LOAD`, `E_PLUGIN_INIT`, `E_PLUGIN_CLOSE`), where known. */
  line?: number;
  /** The column on that line, where known. */
  column?: number;
}

const JSON_FIELDS = ['file', 'plugin', 'firstFile', 'reason', 'issues', 'missing', 'cycle',
  'mode', 'owner', 'expectedOwner', 'target', 'expected', 'actual', 'line', 'column'] as const;

/** The base class of every coded plugd error. */
export abstract class PlugdError extends Error {
  /** The stable code of this kind of error. */
  abstract readonly code: ErrorCode;

  /** The JSON-safe fields of this error (no `thrown`, no `cause`). */
  toJSON(): ErrorJSON {
    const out: Record<string, unknown> = { code: this.code, message: this.message };
    for (const key of JSON_FIELDS) {
      const value = (this as unknown as Partial<Record<string, unknown>>)[key];
      if (value !== undefined) out[key] = value;
    }
    return out as unknown as ErrorJSON;
  }
}

/** Importing or evaluating a plugin module failed (`E_PLUGIN_LOAD`). */
export class PluginLoadError extends PlugdError {
  override readonly name = 'PluginLoadError';
  readonly code = ErrorCodes.PLUGIN_LOAD;
  /** The plugin file, relative to the plugin directory (POSIX separators). */
  readonly file: string;
  /** What went wrong: a thrown value, a syntax error, an unresolvable import, or a timeout. */
  readonly reason: LoadFailureReason;
  /** The raw value the module threw or rejected with (in memory only, never serialized). */
  readonly thrown: unknown;
  /** The line in `file` where it was thrown, where known (an ESM syntax error's location is not). */
  readonly line?: number;
  /** The column on that line, where known. */
  readonly column?: number;

  constructor(file: string, reason: LoadFailureReason, thrown: unknown, timeoutMs?: number, at?: Location) {
    super(loadMessage(file, reason, renderThrown(thrown), timeoutMs, at), reason === 'timeout' || reason === 'ambiguous' || reason === 'exit' ? {} : { cause: thrown });
    this.file = file;
    this.reason = reason;
    this.thrown = thrown;
    if (at !== undefined) Object.assign(this, at);
  }

  /** The folder plugin `folder` has both an `index.js` and an `index.mjs`: neither is imported. */
  static ambiguousFolder(folder: string): PluginLoadError {
    return new PluginLoadError(folder, 'ambiguous', undefined);
  }
}

function loadMessage(file: string, reason: LoadFailureReason, rendered: string, timeoutMs?: number, at?: Location): string {
  switch (reason) {
    case 'timeout':
      return `plugin file "${file}" did not finish loading within ${timeoutMs ?? '?'} ms ` +
        `(${at === undefined ? 'a top-level await that never settles?' : `still running line ${at.line}`}); make its top level finish or raise --timeout`;
    case 'syntax':
      return `plugin file "${file}" could not be parsed: ${rendered}; fix the syntax error`;
    case 'resolve':
      return `plugin file "${file}" imports a module that cannot be found: ${rendered}; ` +
        'check the import path or install the package';
    case 'throw':
      return `plugin file "${file}" threw while loading: ${rendered}; ` +
        'fix or catch the failure at the module\'s top level';
    case 'ambiguous':
      return `plugin folder "${file}" has both "${file}/index.js" and "${file}/index.mjs", so its entry is ambiguous ` +
        'and neither is loaded; remove or rename one of them';
    case 'exit':
      return `plugin file "${file}" called process.exit(${rendered}) while loading; ` +
        'a plugin must never end its host: throw an error instead';
  }
}

/** A registration failed the registration schema (`E_INVALID_REGISTRATION`). */
export class InvalidRegistrationError extends PlugdError {
  override readonly name = 'InvalidRegistrationError';
  readonly code = ErrorCodes.INVALID_REGISTRATION;
  /** The plugin file that made the registration. */
  readonly file: string;
  /** The plugin's name, when its `type` and `id` were readable. */
  readonly plugin: string | undefined;
  /** Every problem found in the registration. */
  readonly issues: ValidationIssue[];

  constructor(file: string, plugin: string | undefined, issues: ValidationIssue[]) {
    const what = plugin === undefined ? 'a registration' : `the registration of "${plugin}"`;
    super(`plugin file "${file}" made an invalid registration: ${what}: ${issues.map(formatIssue).join('; ')}`);
    this.file = file;
    this.plugin = plugin;
    this.issues = issues;
  }
}

/** A plugin name was registered twice (`E_DUPLICATE_PLUGIN`). */
export class DuplicatePluginError extends PlugdError {
  override readonly name = 'DuplicatePluginError';
  readonly code = ErrorCodes.DUPLICATE_PLUGIN;
  /** The file whose registration was refused. */
  readonly file: string;
  /** The name registered twice. */
  readonly plugin: string;
  /** The file that owns the name (the earlier one in sorted path order). */
  readonly firstFile: string;

  constructor(file: string, plugin: string, firstFile: string) {
    const where = file === firstFile ? 'twice in the same file' : `already by "${firstFile}"`;
    super(`plugin "${plugin}" in "${file}" is registered ${where}; ` +
      'give one of them another id (the name type.id must be unique)');
    this.file = file;
    this.plugin = plugin;
    this.firstFile = firstFile;
  }
}

/** `register()` was called after its module finished evaluating (`E_LATE_REGISTRATION`). */
export class LateRegistrationError extends PlugdError {
  override readonly name = 'LateRegistrationError';
  readonly code = ErrorCodes.LATE_REGISTRATION;
  /** The file whose module made the call. */
  readonly file: string;
  /** The name it tried to register (`?` when unreadable). */
  readonly plugin: string;

  constructor(file: string, plugin: string) {
    super(`plugin file "${file}" registered "${plugin}" after the module finished loading; ` +
      'call register() at the module\'s top level (before any callback or timer)');
    this.file = file;
    this.plugin = plugin;
  }
}

/**
 * A required type with no usable plugin, and why: no plugin of that type is registered; it is
 * the type of a `'*'` plugin (`plugins`), which starts after every other plugin, so requiring it
 * is a cycle; or its plugins (`plugins`) are all disabled or unresolved.
 */
export type UnmetType =
  | { readonly type: string; readonly kind: 'unregistered' }
  | { readonly type: string; readonly kind: 'star'; readonly plugins: readonly string[] }
  | { readonly type: string; readonly kind: 'blocked'; readonly plugins: readonly { readonly name: string; readonly disabled: boolean }[] };

const UNMET_FIX: Record<UnmetType['kind'], string> = {
  unregistered: 'add a plugin of that type or remove the requirement',
  star: 'remove the requirement of a "*" plugin\'s type',
  blocked: 'fix or enable the plugins it requires first',
};

function describeUnmet(unmet: UnmetType): string {
  switch (unmet.kind) {
    case 'unregistered':
      return `"${unmet.type}" (no plugin of that type is registered)`;
    case 'star':
      return `"${unmet.type}" (the type of ${quoteAll(unmet.plugins)}, which requires "*" and so starts after every ` +
        'other plugin: requiring the type of a "*" plugin is a cycle)';
    case 'blocked':
      return `"${unmet.type}" (${unmet.plugins.map((p) => `"${p.name}" ${p.disabled ? 'is disabled' : 'is unresolved'}`).join(', ')})`;
  }
}

/** A requirement cannot be met (`E_DEPENDENCY`): a missing type, a cycle, or a failed dependency. */
export class DependencyError extends PlugdError {
  override readonly name = 'DependencyError';
  readonly code = ErrorCodes.DEPENDENCY;
  /** The plugin whose requirement is not met. */
  readonly plugin: string;
  /** The required types that have no usable plugin. */
  readonly missing: string[] | undefined;
  /** The members of the dependency cycle, in registration order. */
  readonly cycle: string[] | undefined;

  constructor(plugin: string, detail: { missing: string[] } | { cycle: string[] }, message?: string) {
    super(message ?? ('cycle' in detail
      ? `plugins ${quoteAll(detail.cycle)} require each other in a cycle, so none of them can start; ` +
        'remove one of their requires'
      : `plugin "${plugin}" requires ${quoteAll(detail.missing)}, which no registered plugin provides; ` +
        'add a plugin of that type or remove the requirement'));
    this.plugin = plugin;
    this.missing = 'missing' in detail ? detail.missing : undefined;
    this.cycle = 'cycle' in detail ? detail.cycle : undefined;
  }

  /** `plugin` cannot start: each of `unmet` (its required types, in its order) has no usable plugin, for the reason given. */
  static unresolved(plugin: string, unmet: readonly UnmetType[]): DependencyError {
    const fixes = new Set(unmet.map((u) => UNMET_FIX[u.kind]));
    return new DependencyError(plugin, { missing: unmet.map((u) => u.type) },
      `plugin "${plugin}" cannot start: it requires ${unmet.map(describeUnmet).join(', ')}; ${[...fixes].join('; ')}`);
  }

  /** `plugin` was skipped at init: no plugin of the `missing` types is running (`blamed`: what became of them). */
  static notRunning(plugin: string, missing: readonly string[], blamed: readonly string[]): DependencyError {
    return new DependencyError(plugin, { missing: [...missing] },
      `plugin "${plugin}" was skipped: it requires ${quoteAll(missing)}, ` +
      `and no plugin of that type is running (${blamed.join(', ')}); fix or enable that plugin first`);
  }

  /** `plugin` asked its context for a type it does not require. */
  static notRequired(plugin: string, wanted: string): DependencyError {
    return new DependencyError(plugin, { missing: [wanted] }, `plugin "${plugin}" asked for "${wanted}", which is not in its requires; add it to requires`);
  }

  /** `plugin` asked for the one plugin of type `wanted`, but `count` are running. */
  static notOne(plugin: string, wanted: string, count: number): DependencyError {
    return new DependencyError(plugin, { missing: [wanted] },
      `plugin "${plugin}" asked for the one plugin of type "${wanted}", but ${count} are running; use ctx.getAll()`);
  }
}

/** What a plugin's `init` or `close` failing carries: the base of {@link PluginInitError} and {@link PluginCloseError}. */
export abstract class LifecycleError extends PlugdError {
  /** The plugin whose init or close failed. */
  readonly plugin: string;
  /** The file that registered it. */
  readonly file: string | undefined;
  /** `throw` (threw or rejected) or `timeout`. */
  readonly reason: LifecycleFailureReason;
  /** The raw value thrown (in memory only). */
  readonly thrown: unknown;
  /** The line in `file` where it was thrown, where known. */
  readonly line?: number;
  /** The column on that line, where known. */
  readonly column?: number;

  protected constructor(step: 'init' | 'close', plugin: string, file: string | undefined, reason: LifecycleFailureReason,
    thrown: unknown, timeoutMs?: number, at?: Location) {
    super(lifecycleMessage(step, plugin, file, reason, thrown, timeoutMs), reason === 'timeout' || reason === 'exit' ? {} : { cause: thrown });
    this.plugin = plugin;
    this.file = file;
    this.reason = reason;
    this.thrown = thrown;
    if (at !== undefined) Object.assign(this, at);
  }
}

/** A plugin's `init` threw, rejected or did not settle in time (`E_PLUGIN_INIT`). */
export class PluginInitError extends LifecycleError {
  override readonly name = 'PluginInitError';
  readonly code = ErrorCodes.PLUGIN_INIT;

  constructor(plugin: string, file: string | undefined, reason: LifecycleFailureReason, thrown: unknown, timeoutMs?: number, at?: Location) {
    super('init', plugin, file, reason, thrown, timeoutMs, at);
  }
}

/** A plugin's `close` threw, rejected or did not settle in time (`E_PLUGIN_CLOSE`). */
export class PluginCloseError extends LifecycleError {
  override readonly name = 'PluginCloseError';
  readonly code = ErrorCodes.PLUGIN_CLOSE;

  constructor(plugin: string, file: string | undefined, reason: LifecycleFailureReason, thrown: unknown, timeoutMs?: number, at?: Location) {
    super('close', plugin, file, reason, thrown, timeoutMs, at);
  }
}

function lifecycleMessage(step: 'init' | 'close', plugin: string, file: string | undefined,
  reason: LifecycleFailureReason, thrown: unknown, timeoutMs?: number): string {
  const who = `plugin "${plugin}"${file === undefined ? '' : ` (from "${file}")`}`;
  if (reason === 'timeout') return `${who} did not finish ${step} within ${timeoutMs ?? '?'} ms; make ${step} settle or raise the timeout`;
  if (reason === 'exit') return `${who} called process.exit(${renderThrown(thrown)}) in ${step}; a plugin must never end its host: throw an error instead`;
  return `${who} failed to ${step}: ${renderThrown(thrown)}`;
}

/** The config file or a plugin's config section is invalid (`E_CONFIG`). */
export class ConfigError extends PlugdError {
  override readonly name = 'ConfigError';
  readonly code = ErrorCodes.CONFIG;
  /** The plugin whose section is invalid; absent for the config file as a whole. */
  readonly plugin: string | undefined;
  /** The config file, when the problem is in one. */
  readonly file: string | undefined;
  /** Every problem found. */
  readonly issues: ValidationIssue[];

  constructor(issues: ValidationIssue[], where: { plugin?: string; file?: string } = {}, message?: string) {
    const subject = where.plugin !== undefined ? `the config of plugin "${where.plugin}"` : 'the config';
    super(message ?? `${subject}${where.file === undefined ? '' : ` in "${where.file}"`} is invalid: ${issues.map(formatIssue).join('; ')}`);
    this.plugin = where.plugin;
    this.file = where.file;
    this.issues = issues;
  }

  /**
   * `--disable <name>` (`option`) names no registered plugin, so it disables nothing; `hint` is the
   * registered name closest to it, if any. Reported as a warning.
   */
  static unknownDisabled(option: string, name: string, hint: string | undefined): ConfigError {
    const text = `no registered plugin is called "${name}"${hint === undefined ? '' : ` (did you mean "${hint}"?)`}`;
    return new ConfigError([{ code: 'unknown_plugin', path: [option], message: text }], {},
      `${option} "${name}" disables nothing: ${text}; check the name (type.id)`);
  }
}

/** The subject of a message about a relative path of the plugin directory (`.` is the directory itself). */
function subject(file: string, path: string | undefined): string {
  const where = path === undefined || path === file ? '' : ` (${path})`;
  return file === '.' ? `the plugin directory${path === undefined ? '' : ` "${path}"`}` : `plugin path "${file}"${where}`;
}

/**
 * The plugin directory or a plugin file (or a folder on the way to one) is writable by group or
 * others, or owned by a user other than the daemon's or root (`E_PLUGIN_PERMISSIONS`). Anyone who
 * can write it can run code as the daemon. `--allow-insecure` reports it as a warning instead.
 */
export class PluginPermissionsError extends PlugdError {
  override readonly name = 'PluginPermissionsError';
  readonly code = ErrorCodes.PLUGIN_PERMISSIONS;
  /** The path, relative to the plugin directory (POSIX separators); `.` for the directory itself. */
  readonly file: string;
  /** The permission bits found (`st_mode & 0o7777`). */
  readonly mode: number;
  /** The uid that owns it. */
  readonly owner: number;
  /** The uids allowed to own it: the daemon's, and root (0). */
  readonly expectedOwner: number[];

  /**
   * `path` (the absolute path) is used in the message's fix commands; it defaults to `file`.
   * `writable`: the write bits that let another user change it (default: group and others' bits
   * of `mode`; a group write bit is fine when the group is the owner's alone).
   */
  constructor(file: string, mode: number, owner: number, expectedOwner: readonly number[], path?: string, writable = mode & 0o022) {
    const problems: string[] = [];
    const fixes: string[] = [];
    const target = JSON.stringify(path ?? file);
    if (writable !== 0) {
      const who = (writable & 0o020) !== 0 ? ((writable & 0o002) !== 0 ? 'group and others' : 'its group, which has other members') : 'others';
      problems.push(`is writable by ${who} (mode ${octal(mode)})`);
      fixes.push(`chmod go-w ${target}`);
    }
    if (!expectedOwner.includes(owner)) {
      const allowed = expectedOwner.map((uid) => (uid === 0 ? 'root (uid 0)' : `uid ${uid} (the daemon's user)`)).join(' or ');
      problems.push(`is owned by uid ${owner} (expected ${allowed})`);
      fixes.push(`chown ${expectedOwner[0] ?? 0} ${target}`);
    }
    super(`${subject(file, path)} ${problems.join(' and ')}, so another user could change the code plugd runs; ` +
      `run ${fixes.join(' and ')}, or pass --allow-insecure to load it anyway`);
    this.file = file;
    this.mode = mode;
    this.owner = owner;
    this.expectedOwner = [...expectedOwner];
  }
}

function octal(mode: number): string {
  return '0' + (mode & 0o7777).toString(8).padStart(3, '0');
}

/**
 * A path of the plugin directory is a symlink whose real path leaves the directory (`outside`, a
 * warning under `--allow-insecure`), a symlink loop (`loop`), or a dangling link (`dangling`)
 * (`E_PLUGIN_PATH`).
 */
export class PluginPathError extends PlugdError {
  override readonly name = 'PluginPathError';
  readonly code = ErrorCodes.PLUGIN_PATH;
  /** The link (or the file below it), relative to the plugin directory (POSIX separators). */
  readonly file: string;
  /** `outside`, `loop`, `dangling`, `not-a-file` or `bad-name`. */
  readonly reason: PathFailureReason;
  /**
   * The real path (`outside`, and a link to a directory that contains it), the link's own target,
   * or for `not-a-file` what the entry is (`a FIFO (named pipe)`, `a socket`...).
   */
  readonly target: string | undefined;

  /** `dir` (the plugin directory) is named in the `outside` message. */
  constructor(file: string, reason: PathFailureReason, target?: string, dir?: string) {
    const to = target === undefined ? '' : ` to "${target}"`;
    const inDir = dir === undefined ? 'the plugin directory' : `the plugin directory "${dir}"`;
    // JSON escapes a newline or other control character: the message stays one line.
    const named = JSON.stringify(file);
    let message: string;
    switch (reason) {
      case 'not-a-file':
        message = `plugin path ${named} is ${target === undefined ? '' : `${target}, `}not a regular file, and is never imported; ` +
          'replace it with the plugin\'s file, or remove it';
        break;
      case 'bad-name':
        message = `plugin path ${named} has a control character (such as a newline) in its name, and is never imported; rename it`;
        break;
      case 'outside':
        message = `plugin path ${named} is a symlink${to}, outside ${inDir}; copy what it points to into ` +
          'the plugin directory (or pass --allow-insecure to load it anyway)';
        break;
      case 'loop':
        message = `plugin path ${named} is a symlink loop${to} (it resolves to itself or to a folder that contains it); ` +
          'remove the link or point it elsewhere';
        break;
      case 'dangling':
        message = `plugin path ${named} is a dangling symlink${to} (nothing is there); remove the link or restore its target`;
        break;
    }
    super(message);
    this.file = file;
    this.reason = reason;
    this.target = target;
  }
}

/**
 * With `--locked`, a file disagrees with `plugd.lock` (`E_INTEGRITY`): its sha256 differs
 * (`mismatch`), it is not in the lock (`unlisted`), or a locked file is gone (`missing`). Also the
 * lock itself when it is absent or invalid (`file` `plugd.lock`, `missing`).
 */
export class IntegrityError extends PlugdError {
  override readonly name = 'IntegrityError';
  readonly code = ErrorCodes.INTEGRITY;
  /** The file, relative to the plugin directory (POSIX separators). */
  readonly file: string;
  /** `mismatch`, `unlisted` or `missing`. */
  readonly reason: IntegrityFailureReason;
  /** The sha256 the lock lists for it (`mismatch`, `missing`). */
  readonly expected: string | undefined;
  /** The sha256 of the file on disk (`mismatch`, `unlisted`). */
  readonly actual: string | undefined;

  /** `message` replaces the default message (e.g. for an unreadable lock, with the read error as `cause`). */
  constructor(file: string, reason: IntegrityFailureReason, found: { expected?: string; actual?: string } = {},
    message?: string, cause?: unknown) {
    super(message ?? integrityMessage(file, reason, found), cause === undefined ? {} : { cause });
    this.file = file;
    this.reason = reason;
    this.expected = found.expected;
    this.actual = found.actual;
  }
}

function integrityMessage(file: string, reason: IntegrityFailureReason, found: { expected?: string; actual?: string }): string {
  const relock = 'if the change is intended, run "plugd lock <dir>" again';
  switch (reason) {
    case 'mismatch':
      return `plugin file "${file}" does not match plugd.lock (sha256 ${found.actual ?? '?'}, expected ${found.expected ?? '?'}); ` +
        `restore the locked version, or ${relock}`;
    case 'unlisted':
      return `plugin file "${file}" is not in plugd.lock (sha256 ${found.actual ?? '?'}); remove it, or ${relock}`;
    case 'missing':
      return `plugin file "${file}" is listed in plugd.lock (sha256 ${found.expected ?? '?'}) but is gone; ` +
        `restore it, or ${relock}`;
  }
}

/** `register()` was called with no load in progress (`E_NO_LOAD`): a programmer error. */
export class NoLoadInProgressError extends PlugdError {
  override readonly name = 'NoLoadInProgressError';
  readonly code = ErrorCodes.NO_LOAD;

  constructor(detail?: string) {
    super(detail ?? 'register() was called while no plugin load was in progress; register() may only be ' +
      'called by a plugin module while plugd imports it (use Registry.load() to load a plugin directory)');
  }
}

/** `Registry.load()` was called while the same registry was loading (`E_REGISTRY_BUSY`): a programmer error. */
export class RegistryBusyError extends PlugdError {
  override readonly name = 'RegistryBusyError';
  readonly code = ErrorCodes.REGISTRY_BUSY;

  constructor(dir: string) {
    super(`cannot load "${dir}": this registry is already loading; await the running load() first`);
  }
}

/** A fail-fast load found problems (`E_LOAD_FAILED`); `errors` holds the typed errors. */
export class LoadFailedError extends AggregateError {
  override readonly name = 'LoadFailedError';
  /** Always `E_LOAD_FAILED`. */
  readonly code = ErrorCodes.LOAD_FAILED;
  declare readonly errors: PlugdError[];

  constructor(dir: string, errors: PlugdError[]) {
    super(errors, `loading "${dir}" found ${errors.length} problem(s):\n` + errors.map((e) => `  ${e.code} ${e.message}`).join('\n'));
  }
}

/**
 * Thrown by a plugin's `init` to say "not applicable here" (containerd's `ErrSkipPlugin`): the
 * plugin is `skipped` with this message as its reason, and no error is reported for it.
 */
export class SkipPluginError extends Error {
  override readonly name = 'SkipPluginError';
  /** Always `E_SKIP_PLUGIN`: how a SkipPluginError from another copy of plugd is recognized. */
  readonly code = ErrorCodes.SKIP_PLUGIN;
}

/** The class of each code a load or a check reports. */
const REPORTED: Readonly<Record<string, { prototype: PlugdError; name: string }>> = {
  [ErrorCodes.PLUGIN_LOAD]: PluginLoadError,
  [ErrorCodes.INVALID_REGISTRATION]: InvalidRegistrationError,
  [ErrorCodes.DUPLICATE_PLUGIN]: DuplicatePluginError,
  [ErrorCodes.LATE_REGISTRATION]: LateRegistrationError,
  [ErrorCodes.DEPENDENCY]: DependencyError,
  [ErrorCodes.PLUGIN_INIT]: PluginInitError,
  [ErrorCodes.PLUGIN_CLOSE]: PluginCloseError,
  [ErrorCodes.CONFIG]: ConfigError,
  [ErrorCodes.NO_LOAD]: NoLoadInProgressError,
  [ErrorCodes.PLUGIN_PERMISSIONS]: PluginPermissionsError,
  [ErrorCodes.PLUGIN_PATH]: PluginPathError,
  [ErrorCodes.INTEGRITY]: IntegrityError,
};

/**
 * The error whose JSON form is `json`, as an instance of its class (`instanceof` and `code` work),
 * e.g. for a problem found in a worker thread. The JSON form holds no `thrown` and no `cause`:
 * those stay where the error was made.
 */
export function reviveError(json: ErrorJSON): PlugdError {
  const Class = Object.hasOwn(REPORTED, json.code) ? REPORTED[json.code] : undefined;
  const error = Object.create(Class?.prototype ?? PlugdError.prototype) as PlugdError;
  Object.assign(error, { name: Class?.name ?? 'PlugdError', stack: `${Class?.name ?? 'PlugdError'}: ${json.message}` }, json);
  return error;
}

/** How many `cause` links {@link isSkip} follows, like containerd's `errors.Is` unwrapping (bounded: a chain may loop). */
export const MAX_CAUSE_DEPTH = 8;

/**
 * The {@link SkipPluginError} (from any copy of plugd: an Error whose `code` is `E_SKIP_PLUGIN`)
 * that `value` is or wraps as its `cause`, up to {@link MAX_CAUSE_DEPTH} links deep. Reads only
 * data properties (`cause` must be the error's own), never a getter or a Proxy trap.
 */
function skipOf(value: unknown): Error | undefined {
  let at = value;
  for (let depth = 0; depth <= MAX_CAUSE_DEPTH; depth++) {
    if (!types.isNativeError(at) || types.isProxy(at)) return undefined;
    if (safeGet(at, 'code') === ErrorCodes.SKIP_PLUGIN) return at;
    at = ownData(at, 'cause');
  }
  return undefined;
}

/**
 * True when `value` is a {@link SkipPluginError} from any copy of plugd, or an Error that wraps
 * one as its `cause` (up to {@link MAX_CAUSE_DEPTH} links). Never throws, never runs its code.
 */
export function isSkip(value: unknown): boolean {
  return skipOf(value) !== undefined;
}

/**
 * Why a plugin skipped itself: the message of the {@link SkipPluginError} that `value` is or wraps
 * (rendered safely when it is not a readable string); `undefined` when `value` is no skip.
 */
export function skipReason(value: unknown): string | undefined {
  const skip = skipOf(value);
  if (skip === undefined) return undefined;
  const message = safeGet(skip, 'message');
  return typeof message === 'string' ? message : renderThrown(skip);
}

function quoteAll(names: readonly string[]): string {
  return names.map((n) => `"${n}"`).join(', ');
}

function formatIssue(issue: ValidationIssue): string {
  return issue.path.length === 0 ? issue.message : `${issue.path.join('.')}: ${issue.message}`;
}
