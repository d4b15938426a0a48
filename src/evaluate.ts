/**
 * Imports plugin entries in parallel, each inside its own {@link LoadScope} (so `register()` knows
 * which file is calling and whether the call is on time), each bounded by a timeout. Every failure
 * becomes a typed error naming the file; nothing a module throws escapes.
 */
import { existsSync } from 'node:fs';
import { createRequire, register as registerHooks } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { DuplicatePluginError, LateRegistrationError, PluginLoadError, safeGet, type LoadFailureReason, type PlugdError } from './errors.js';
import { channel, nameOf, validateRegistration, type LoadScope, type ValidRegistration } from './registration.js';
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
}

/** Options of {@link evaluate}. */
export interface EvaluateOptions {
  /** Milliseconds each module may take to evaluate, top-level awaits included. */
  readonly timeout: number;
  /** Called for every registration made after its module finished evaluating. */
  readonly onLate: (error: LateRegistrationError) => void;
}

const RESOLVE_CODES = new Set(['ERR_MODULE_NOT_FOUND', 'MODULE_NOT_FOUND', 'ERR_UNSUPPORTED_DIR_IMPORT',
  'ERR_PACKAGE_PATH_NOT_EXPORTED', 'ERR_INVALID_MODULE_SPECIFIER', 'ERR_UNKNOWN_FILE_EXTENSION', 'ERR_PACKAGE_IMPORT_NOT_DEFINED']);
const TIMED_OUT = Symbol('timed out');

/** Collects the registrations of one module while it evaluates. */
class ModuleScope implements LoadScope {
  readonly registrations: ValidRegistration[] = [];
  readonly errors: PlugdError[] = [];
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

/** How many times each URL was imported: a re-import needs a fresh URL to evaluate again. */
const imported = new Map<string, number>();

/** Imports every entry in parallel and returns one outcome per entry, in the entries' order. */
export async function evaluate(dir: string, entries: readonly Entry[], options: EvaluateOptions): Promise<ModuleOutcome[]> {
  ensurePlugdResolvable(dir);
  const { storage } = channel();
  return Promise.all(entries.map(async (entry): Promise<ModuleOutcome> => {
    const scope = new ModuleScope(entry.file, options.onLate);
    const url = freshUrl(entry.path);
    let timer: NodeJS.Timeout | undefined;
    let failure: PluginLoadError | undefined;
    try {
      const timeout = new Promise<typeof TIMED_OUT>((resolve) => { timer = setTimeout(resolve, options.timeout, TIMED_OUT); });
      const result = await Promise.race([storage.run(scope, () => import(url) as Promise<unknown>), timeout]);
      if (result === TIMED_OUT) failure = new PluginLoadError(entry.file, 'timeout', undefined, options.timeout);
    } catch (thrown) {
      if (!existsSync(entry.path)) return { entry, registrations: [], errors: [], vanished: true };
      // A registration error thrown out of the module's top level is reported as itself, once.
      if (!scope.errors.includes(thrown as PlugdError)) failure = new PluginLoadError(entry.file, classify(thrown), thrown);
    } finally {
      clearTimeout(timer);
      scope.settled = true;
    }
    if (failure !== undefined) scope.errors.push(failure);
    scope.failed = scope.errors.length > 0;
    return { entry, registrations: scope.registrations, errors: scope.errors, vanished: false };
  }));
}

function freshUrl(path: string): string {
  const href = pathToFileURL(path).href;
  const count = imported.get(href) ?? 0;
  imported.set(href, count + 1);
  return count === 0 ? href : `${href}?plugd=${count}`;
}

function classify(thrown: unknown): LoadFailureReason {
  const code = safeGet(thrown, 'code');
  if (typeof code === 'string' && RESOLVE_CODES.has(code)) return 'resolve';
  return safeGet(thrown, 'name') === 'SyntaxError' ? 'syntax' : 'throw';
}

let hookInstalled = false;

/**
 * Makes `import 'plugd'` work in plugin files that have no `node_modules/plugd` above them, by
 * installing a resolve hook - only then, since every hooked resolve costs a thread hop.
 */
function ensurePlugdResolvable(dir: string): void {
  if (hookInstalled) return;
  try {
    createRequire(join(dir, 'noop.js')).resolve('plugd');
    return;
  } catch {
    // Not resolvable from there: fall through to the hook.
  }
  const hook = new URL('./hooks.js', import.meta.url);
  // From sources (a test runner transpiling TypeScript) there is no compiled hook: the runner's
  // own module mapping is in charge of 'plugd' there.
  if (!existsSync(fileURLToPath(hook))) return;
  registerHooks(hook, {
    data: { urls: { plugd: new URL('./index.js', import.meta.url).href, 'plugd/testing': new URL('./testing.js', import.meta.url).href } },
  });
  hookInstalled = true;
}
