/**
 * The guarded registry (containerd's plugin map, done right): modules are committed in sorted
 * file order, all or nothing, so which file owns a name never depends on import timing.
 */
import { join, relative, resolve, sep } from 'node:path';
import { performance } from 'node:perf_hooks';
import { LoadFailedError, PluginLoadError, RegistryBusyError, type LateRegistrationError, type PlugdError } from '../core/errors.js';
import { importEntries, type ModuleOutcome } from './evaluate.js';
import { Owners } from '../core/commit.js';
import { resolveGraph, type GraphResult } from '../core/graph.js';
import type { PluginRecord } from '../core/record.js';
import { DEFAULT_TIMEOUT, startPlugins, type Running, type StartOptions } from '../core/lifecycle.js';
import type { Entry } from './scan.js';
import type { AdmitOptions } from './admit.js';
import { unitOf } from './scan.js';
import { freshLoad, planDir, planSurveyed, type LoadPlan, type Survey } from './plan.js';


/** What became of one plugin file in a load. */
export interface FileReport {
  /** Relative to the plugin directory, POSIX separators. */
  readonly file: string;
  /** `loaded` when its module was accepted, else `failed`. */
  readonly status: 'loaded' | 'failed';
  /** The names it registered (accepted ones only). */
  readonly plugins: readonly string[];
  /** Its problems (late registrations included). */
  readonly errors: readonly PlugdError[];
}

/** The result of {@link Registry.load}. */
export interface LoadReport {
  /** The plugin directory (absolute). */
  readonly dir: string;
  /** True when no problem was found. */
  readonly ok: boolean;
  /** One entry per plugin file, in sorted order. */
  readonly files: readonly FileReport[];
  /** The plugins this load added, in registration order. */
  readonly plugins: readonly PluginRecord[];
  /** Every problem, in file order. */
  readonly errors: readonly PlugdError[];
  /** What was let through under `allowInsecure`. */
  readonly warnings: readonly PlugdError[];
  /** Wall time of the load, in milliseconds. */
  readonly durationMs: number;
}

/** Options of {@link Registry.load}. */
export interface LoadOptions {
  /** Milliseconds each module may take to import and evaluate (default 10000). */
  readonly timeout?: number;
  /**
   * Throw a {@link LoadFailedError} (an AggregateError of the typed errors) instead of reporting,
   * and commit nothing: the registry is left as it was.
   */
  readonly failFast?: boolean;
  /** Called for a late registration that arrives after the load returned. */
  readonly onLateRegistration?: (error: LateRegistrationError) => void;
  /** Called as each module settles, with how many there are in all (e.g. to show progress). */
  readonly onModule?: (file: string, total: number) => void;
  /** Permission and path checks, the lock (`--locked`), and `--allow-insecure`. */
  readonly admit?: AdmitOptions;
  /**
   * Units (a top-level file, or a folder plugin's folder) not to import, each reported failed with
   * the given error: how an isolated check reports a module that hung its thread or ended it.
   */
  readonly skip?: ReadonlyMap<string, PlugdError>;
  /**
   * What {@link surveyDir} found in `dir` beforehand (an isolated check's parent surveys while its
   * worker starts): the load imports its entries, with its admission outcome, instead of scanning
   * again; `admit` is then the survey's.
   */
  readonly survey?: Survey;
}

export { DEFAULT_TIMEOUT };

/**
 * A set of plugins, keyed by name. Several registries can coexist in one process; each load
 * evaluates every module afresh.
 */
export class Registry {
  readonly #plugins = new Map<string, PluginRecord>();
  #loading = false;

  /** Every accepted plugin, in registration order. */
  plugins(): PluginRecord[] {
    return [...this.#plugins.values()];
  }

  /** The plugin called `name`, if registered. */
  get(name: string): PluginRecord | undefined {
    return this.#plugins.get(name);
  }

  /** How many plugins are registered. */
  get size(): number {
    return this.#plugins.size;
  }

  /**
   * Scans `dir`, imports every plugin entry in parallel, and commits the modules in sorted file
   * order. Returns a report of every file and problem (or throws with `failFast`).
   */
  async load(dir: string, options: LoadOptions = {}): Promise<LoadReport> {
    if (this.#loading) throw new RegistryBusyError(dir);
    this.#loading = true;
    try {
      const start = performance.now();
      const plan = withSkips(options.survey === undefined ? await planDir(resolve(dir), options.admit) : await planSurveyed(options.survey), options.skip);
      await freshLoad(plan.dir);
      return await this.#load(plan, plan.entries, options, start);
    } finally {
      this.#loading = false;
    }
  }

  async #load(placement: LoadPlan, entries: readonly Entry[], options: LoadOptions, start: number): Promise<LoadReport> {
    const dir = placement.dir;
    const late: LateRegistrationError[] = [];
    let returned = false;
    const onLate = (error: LateRegistrationError): void => {
      if (!returned) late.push(error);
      else options.onLateRegistration?.(error);
    };
    const onModule = options.onModule;
    const outcomes = await importEntries(placement, entries, {
      timeout: options.timeout ?? DEFAULT_TIMEOUT,
      onLate,
      ...(onModule === undefined ? {} : { onModule: (file: string) => { onModule(file, entries.length); } }),
    });
    const { report, added } = this.#evaluateCommit(placement, outcomes, late, performance.now() - start);
    returned = true;
    if (options.failFast === true && !report.ok) throw new LoadFailedError(dir, [...report.errors]);
    for (const record of added) this.#plugins.set(record.name, record);
    return report;
  }

  /** Orders the registered plugins by their requirements (see {@link resolveGraph}). */
  resolve(options: { disabled?: Iterable<string> } = {}): GraphResult {
    return resolveGraph(this.plugins(), { disabled: new Set(options.disabled ?? []) });
  }

  /** Initializes the registered plugins in dependency order (see {@link startPlugins}). */
  async start(options: StartOptions = {}): Promise<Running> {
    const plugins = this.plugins();
    return startPlugins(plugins, resolveGraph(plugins, { disabled: new Set(options.disabled ?? []) }), options);
  }

  /** Decides, in sorted file order, which modules are accepted; returns the report and what to add. */
  #evaluateCommit(placement: LoadPlan, outcomes: readonly ModuleOutcome[], late: readonly LateRegistrationError[],
    durationMs: number): { report: LoadReport; added: PluginRecord[] } {
    const { dir } = placement;
    const owners = new Owners([...this.#plugins.values()].map((p) => [p.name, ownerFile(dir, p)] as const));
    const files: FileReport[] = [];
    const plugins: PluginRecord[] = [];
    const errors: PlugdError[] = [];
    for (const outcome of outcomes) {
      if (outcome.vanished) continue;
      const { file } = outcome.entry;
      const problems: PlugdError[] = [...outcome.errors];
      // A module that failed to evaluate registered nothing for sure; one that evaluated has its
      // clashes with earlier files reported too, even when it is refused for another reason.
      if (!problems.some((e) => e instanceof PluginLoadError)) problems.push(...owners.clashes(file, outcome.registrations));
      const accepted = problems.length === 0;
      if (accepted) plugins.push(...owners.take(file, dir, outcome.registrations));
      problems.push(...late.filter((e) => e.file === file));
      // An error shared by several files (a missing lock refuses them all) is one problem.
      for (const problem of problems) if (!errors.includes(problem)) errors.push(problem);
      files.push({ file, status: accepted ? 'loaded' : 'failed', plugins: accepted ? outcome.registrations.map((r) => r.name) : [], errors: problems });
    }
    errors.push(...(placement.admission?.errors ?? []));
    // Refusals of what is no plugin entry (a dangling link, a loop in a folder without index.js).
    const units = new Set(outcomes.map((o) => unitOf(o.entry.file)));
    for (const [unit, refused] of placement.admission?.refused ?? []) {
      if (unit === '*' ? units.size === 0 : !units.has(unit)) for (const e of refused) if (!errors.includes(e)) errors.push(e);
    }
    const warnings = [...(placement.admission?.warnings ?? [])];
    return { report: { dir, ok: errors.length === 0, files, plugins, errors, warnings, durationMs }, added: plugins };
  }
}

export type { PluginRecord };

/** `plan`, with the entries of `skip` refused for the error given there. */
function withSkips(plan: LoadPlan, skip: ReadonlyMap<string, PlugdError> | undefined): LoadPlan {
  if (skip === undefined || skip.size === 0) return plan;
  return { ...plan, problems: (entry) => {
    const verdict = skip.get(unitOf(entry.file));
    return verdict === undefined ? plan.problems(entry) : [...plan.problems(entry), verdict];
  } };
}

/** The owner's file as seen from `dir`: its relative path, or `../other/x.js` when another directory's load registered it. */
function ownerFile(dir: string, owner: PluginRecord): string {
  if (owner.dir === dir) return owner.file;
  const path = relative(dir, join(owner.dir, owner.file));
  return sep === '/' ? path : path.split(sep).join('/');
}
