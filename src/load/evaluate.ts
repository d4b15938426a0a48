/**
 * Imports plugin entries in parallel, each with its own {@link LoadScope} (so `register()` knows
 * which file is calling and whether the call is on time), each bounded by a timeout. Every failure
 * becomes a typed error naming the file; nothing a module throws escapes.
 */
import { existsSync } from 'node:fs';
import { dirname, relative, sep } from 'node:path';
import { types } from 'node:util';
import { channel, type LoadScope } from '../core/channel.js';
import { Deadlines, TIMED_OUT } from '../core/deadline.js';
import {
  DuplicatePluginError, IntegrityError, InvalidRegistrationError, PluginPathError, PluginPermissionsError, LateRegistrationError,
  PluginLoadError, ownData, safeGet, type LoadFailureReason, type PlugdError,
} from '../core/errors.js';
import { nameOf, validateRegistration, type ValidRegistration } from '../core/registration.js';
import { fileUrl } from '../util/file-url.js';
import { moduleHooks } from './hooks.js';
import { locate } from '../util/locate.js';
import type { LoadPlan } from './plan.js';
import type { Entry } from './scan.js';

/** What importing one entry gave. */
export interface ModuleOutcome {
  /** The entry that was imported. */
  readonly entry: Entry;
  /** Its valid registrations, in call order. */
  readonly registrations: readonly ValidRegistration[];
  /** Its problems: invalid or in-file duplicate registrations, then the load error if any. */
  readonly errors: readonly PlugdError[];
  /** True when the entry vanished between the scan and its import (it is then simply absent). */
  readonly vanished: boolean;
  /** Its module's URL without a generation: its real file, as Node imports it and stack frames name it. */
  readonly url: string;
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Milliseconds each module may take to evaluate, top-level awaits included. */
  readonly timeout: number;
  /** Called for every registration made after its module finished evaluating. */
  readonly onLate: (error: LateRegistrationError) => void;
  /** Called as each module settles (loaded, failed or timed out), e.g. to show progress. */
  readonly onModule?: (file: string) => void;
}

const RESOLVE_CODES = new Set(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND', 'ERR_UNSUPPORTED_DIR_IMPORT',
  'ERR_PACKAGE_PATH_NOT_EXPORTED', 'ERR_INVALID_MODULE_SPECIFIER', 'ERR_UNKNOWN_FILE_EXTENSION', 'ERR_PACKAGE_IMPORT_NOT_DEFINED']);

/**
 * The most `register()` calls one module may make: past it, each further call throws an
 * `E_INVALID_REGISTRATION` naming the file (reported once), so a runaway loop costs bounded time
 * and memory, and the module commits nothing.
 */
export const MAX_REGISTRATIONS_PER_MODULE = 10_000;

/** Collects the registrations of one module while it evaluates. */
class ModuleScope implements LoadScope {
  registrations: ValidRegistration[] = [];
  errors: PlugdError[] = [];
  /** The names registered so far: the in-file duplicate check is one lookup, not a scan. */
  readonly #names = new Set<string>();
  #calls = 0;
  #overLimit: InvalidRegistrationError | undefined;
  /** Set once the module's import settled (or timed out): later calls are late. */
  settled = false;
  /** Set when the module failed: its late calls are not reported again. */
  failed = false;
  constructor(private readonly file: string, private readonly onLate: (error: LateRegistrationError) => void) {}

  register(raw: unknown): void {
    if (this.settled) {
      if (!this.failed) this.onLate(new LateRegistrationError(this.file, nameOf(raw) ?? '?'));
      return;
    }
    if (++this.#calls > MAX_REGISTRATIONS_PER_MODULE) throw this.#tooMany();
    let reg: ValidRegistration;
    try {
      reg = validateRegistration(raw, this.file);
    } catch (error) {
      this.errors.push(error as PlugdError);
      throw error;
    }
    if (this.#names.has(reg.name)) {
      const error = new DuplicatePluginError(this.file, reg.name, this.file);
      this.errors.push(error);
      throw error;
    }
    this.#names.add(reg.name);
    this.registrations.push(reg);
  }

  /** The one error of a module past the limit (made and reported once, thrown at every further call). */
  #tooMany(): InvalidRegistrationError {
    if (this.#overLimit === undefined) {
      this.#overLimit = new InvalidRegistrationError(this.file, undefined, [{
        code: 'too_many_registrations', path: [],
        message: `the module called register() more than ${MAX_REGISTRATIONS_PER_MODULE} times, the most one module may; ` +
          'split its plugins across several files',
      }]);
      this.errors.push(this.#overLimit);
    }
    return this.#overLimit;
  }
}

/**
 * Imports every entry of `plan` in parallel, from its real file, at the generation the module
 * hooks give it; returns one outcome per entry, in the entries' order.
 */
export async function evaluate(plan: LoadPlan, entries: readonly Entry[], options: EvaluateOptions): Promise<ModuleOutcome[]> {
  const { entries: byUrl, folders, newest } = channel();
  const hooks = moduleHooks();
  const deadlines = new Deadlines(options.timeout);
  return Promise.all(entries.map(async (entry): Promise<ModuleOutcome> => {
    const scope = new ModuleScope(entry.file, options.onLate);
    // Node imports a symlinked entry from its real path, and stack frames name that: so do we.
    const real = plan.realPath(entry);
    const plain = fileUrl(real);
    const url = hooks.versioned(plain);
    byUrl.set(url, scope);
    newest.set(plain, scope);
    const folder = entry.file.includes('/') ? `${fileUrl(dirname(real))}/` : undefined;
    if (folder !== undefined) folders.set(folder, scope);
    let failure: PluginLoadError | undefined;
    try {
      // Refused before import (permissions, paths, the lock): reported, never imported.
      const refused = plan.problems(entry);
      if (refused.length > 0) {
        scope.errors.push(...refused);
      } else {
        const result = await deadlines.race(import(url) as Promise<unknown>);
        if (result === TIMED_OUT) failure = new PluginLoadError(entry.file, 'timeout', undefined, options.timeout);
      }
    } catch (thrown) {
      if (!existsSync(entry.path)) return { entry, registrations: [], errors: [], vanished: true, url: plain };
      // A registration error thrown out of the module's top level is reported as itself, once.
      // (Only a checked load's hook raises one: elsewhere such a value is the module's own throw.)
      const refused = plan.admission === undefined ? undefined : hookRefusal(thrown, plan);
      if (refused !== undefined) scope.errors.push(refused);
      else if (!scope.errors.includes(thrown as PlugdError)) {
        failure = new PluginLoadError(entry.file, classify(thrown), thrown, undefined, locate(thrown, real));
      }
    } finally {
      scope.settled = true;
    }
    if (failure !== undefined) scope.errors.push(failure);
    scope.failed = scope.errors.length > 0;
    options.onModule?.(entry.file);
    const outcome = { entry, registrations: scope.registrations, errors: scope.errors, vanished: false, url: plain };
    // The scope holds nothing of the module's any more. It stays on the channel to tell late calls
    // found by their stack (one small entry per module version, as Node keeps the module itself).
    scope.registrations = [];
    scope.errors = [];
    return outcome;
  }));
}

/**
 * The refusal the module hooks' load step raised, if `thrown` is one: a module of a locked
 * directory whose bytes differ from the lock, a package a plugin loads that others can write, or
 * a file of the directory that became a link out of it since the admission checks.
 */
function hookRefusal(thrown: unknown, plan: LoadPlan): IntegrityError | PluginPermissionsError | PluginPathError | undefined {
  const [code, file, reason, expected, actual, mode, owner, owners, target, writable] =
    ['code', 'file', 'reason', 'expected', 'actual', 'mode', 'owner', 'expectedOwner', 'target', 'writable'].map((key) => safeGet(thrown, key));
  if (typeof file !== 'string') return undefined;
  if (code === 'E_PLUGIN_PATH' && reason === 'outside' && typeof target === 'string') return new PluginPathError(file, 'outside', target, plan.dir);
  if (code === 'E_INTEGRITY' && plan.admission?.lock !== undefined && (reason === 'mismatch' || reason === 'unlisted') && typeof actual === 'string') {
    return new IntegrityError(file, reason, { ...(typeof expected === 'string' ? { expected } : {}), actual });
  }
  const uids = numbers(owners);
  if (code === 'E_PLUGIN_PERMISSIONS' && typeof mode === 'number' && typeof owner === 'number' && uids !== undefined) {
    const rel = relative(plan.dir, file);
    return new PluginPermissionsError(sep === '/' ? rel : rel.split(sep).join('/'), mode, owner, uids, file, typeof writable === 'number' ? writable : undefined);
  }
  return undefined;
}

/** A copy of `value` when it is a short array of numbers, read through its own data properties only. */
function numbers(value: unknown): number[] | undefined {
  if (!Array.isArray(value) || types.isProxy(value)) return undefined;
  const length = ownData(value, 'length');
  if (typeof length !== 'number' || length > 16) return undefined;
  const out: number[] = [];
  for (let i = 0; i < length; i++) {
    const n = ownData(value, i);
    if (typeof n !== 'number') return undefined;
    out.push(n);
  }
  return out;
}


/**
 * The import step of every load (a whole directory, or a hot reload's units): {@link evaluate},
 * then a turn of the event loop, so that registrations a module scheduled on a timer or
 * `setImmediate` land now - and are reported late - rather than after the caller moved on.
 */
export async function importEntries(plan: LoadPlan, entries: readonly Entry[], options: EvaluateOptions): Promise<ModuleOutcome[]> {
  const outcomes = await evaluate(plan, entries, options);
  await new Promise((r) => setTimeout(r, 0));
  await new Promise((r) => setImmediate(r));
  return outcomes;
}

function classify(thrown: unknown): LoadFailureReason {
  const code = safeGet(thrown, 'code');
  if (typeof code === 'string' && RESOLVE_CODES.has(code)) return 'resolve';
  return safeGet(thrown, 'name') === 'SyntaxError' ? 'syntax' : 'throw';
}
