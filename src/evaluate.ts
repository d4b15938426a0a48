/**
 * Imports plugin entries in parallel, each with its own {@link LoadScope} (so `register()` knows
 * which file is calling and whether the call is on time), each bounded by a timeout. Every failure
 * becomes a typed error naming the file; nothing a module throws escapes.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { channel, type LoadScope } from './channel.js';
import { Deadlines, TIMED_OUT } from './deadline.js';
import {
  DuplicatePluginError, LateRegistrationError, PluginLoadError, renderThrown, safeGet,
  type LoadFailureReason, type PlugdError,
} from './errors.js';
import { nameOf, validateRegistration, type ValidRegistration } from './registration.js';
import { fileUrl } from './file-url.js';
import type { Entry } from './scan.js';
import type { Placement } from './stage.js';

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

/** Collects the registrations of one module while it evaluates. */
class ModuleScope implements LoadScope {
  registrations: ValidRegistration[] = [];
  errors: PlugdError[] = [];
  /** Set once the module's import settled (or timed out): later calls are late. */
  settled = false;
  /** Set when the module failed: its late calls are not reported again. */
  failed = false;
  /** See {@link LoadScope.bound}. */
  bound = false;

  constructor(private readonly file: string, private readonly onLate: (error: LateRegistrationError) => void) {}

  register(raw: unknown): void {
    if (this.settled) {
      if (!this.failed) this.onLate(new LateRegistrationError(this.file, nameOf(raw) ?? '?'));
      return;
    }
    let reg: ValidRegistration;
    try {
      reg = validateRegistration(raw, this.file);
    } catch (error) {
      this.errors.push(error as PlugdError);
      throw error;
    }
    if (this.registrations.some((r) => r.name === reg.name)) {
      const error = new DuplicatePluginError(this.file, reg.name, this.file);
      this.errors.push(error);
      throw error;
    }
    this.registrations.push(reg);
  }
}

/**
 * Imports every entry in parallel from where `placement` says; returns one outcome per entry, in
 * the entries' order.
 */
export async function evaluate(placement: Placement, entries: readonly Entry[], options: EvaluateOptions): Promise<ModuleOutcome[]> {
  const { entries: byUrl, folders } = channel();
  const deadlines = new Deadlines(options.timeout);
  return Promise.all(entries.map(async (entry): Promise<ModuleOutcome> => {
    const scope = new ModuleScope(entry.file, options.onLate);
    const url = fileUrl(join(placement.base, entry.file));
    byUrl.set(url, scope);
    const slash = entry.file.indexOf('/');
    if (slash > 0) folders.set(url.slice(0, url.length - entry.file.length + slash + 1), scope);
    let failure: PluginLoadError | undefined;
    try {
      // Refused before import (permissions, paths, the lock): reported, never imported.
      const refused = placement.problems(entry);
      if (refused.length > 0) {
        scope.errors.push(...refused);
      } else {
        const result = await deadlines.race(import(placement.importUrl(entry)) as Promise<unknown>);
        if (result === TIMED_OUT) failure = new PluginLoadError(entry.file, 'timeout', undefined, options.timeout);
      }
    } catch (thrown) {
      if (!existsSync(entry.path)) return { entry, registrations: [], errors: [], vanished: true };
      // A registration error thrown out of the module's top level is reported as itself, once.
      if (!scope.errors.includes(thrown as PlugdError)) {
        failure = new PluginLoadError(entry.file, classify(thrown), thrown, undefined, placement.unstage(renderThrown(thrown)));
      }
    } finally {
      scope.settled = true;
    }
    if (failure !== undefined) scope.errors.push(failure);
    scope.failed = scope.errors.length > 0;
    options.onModule?.(entry.file);
    const outcome = { entry, registrations: scope.registrations, errors: scope.errors, vanished: false };
    // The scope holds nothing of the module's any more. It stays on the channel to tell late calls
    // found by their stack; a bound register() needs no lookup, so that entry goes (a reload of a
    // staged module would otherwise leave one behind for good).
    scope.registrations = [];
    scope.errors = [];
    if (scope.bound) byUrl.delete(url);
    return outcome;
  }));
}

function classify(thrown: unknown): LoadFailureReason {
  const code = safeGet(thrown, 'code');
  if (typeof code === 'string' && RESOLVE_CODES.has(code)) return 'resolve';
  return safeGet(thrown, 'name') === 'SyntaxError' ? 'syntax' : 'throw';
}
