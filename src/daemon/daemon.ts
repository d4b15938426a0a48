/**
 * `plugd serve` without the command line. Startup and every hot reload are one pipeline: import
 * units (a top-level file or a folder plugin) in place, {@link decide} what should run from
 * every unit's last good version, order it, then (re)start only what changed and what depends on
 * it. Real resources per plugin (dirs, the shared metadata database, pino child loggers), one log
 * line per plugin and a `ready` line, plugd's inventory in the database, and containerd's
 * `required_plugins` / `disabled_plugins`.
 */
import { lstat, mkdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { DaemonConfig } from './config.js';
import { unknownPluginSections } from './config.js';
import { renderThrown, safeStack, type PlugdError } from '../core/errors.js';
import { importEntries, type ModuleOutcome } from '../load/evaluate.js';
import { resolveGraph } from '../core/graph.js';
import { Runtime, type PluginState, type PluginStatus } from '../core/lifecycle.js';
import { LOCK_FILE } from '../load/integrity.js';
import { MetaStore } from './meta.js';
import type { PluginRecord } from '../core/record.js';
import type { AdmitOptions } from '../load/admit.js';
import { fileUrl } from '../util/file-url.js';
import { moduleHooks, nextGeneration } from '../load/hooks.js';
import { withoutGeneration } from '../load/loader-state.js';
import { freshLoad, planDir, planUnits, type LoadPlan } from '../load/plan.js';
import { unitDigest } from './digest.js';
import { progress } from './progress.js';
import { isModuleName, unitOf } from '../load/scan.js';
import { affected, decide, type Unit, type Version } from './units.js';
import { DEFAULT_TIMING, UnitWatcher } from './watch.js';
import { realPath } from '../util/real-path.js';

/** A plugin in the `plugd ls --json` document. */
export interface PluginDoc {
  name: string;
  type: string;
  id: string;
  file: string;
  requires: string[];
  status: PluginStatus;
  generation: number;
  initMs: number | null;
  error?: { code: string; message: string };
}

/** A plugin file in the `plugd ls --json` document. */
export interface FileDoc {
  file: string;
  status: 'loaded' | 'failed';
  generation: number;
  sha256: string | null;
  error?: { code: string; message: string };
}

/** The `plugd ls --json` document, and `GET /v1/plugins`. */
export interface StatusDoc {
  plugins: PluginDoc[];
  files: FileDoc[];
}

/** How a start went. */
export interface StartResult {
  /** False when a required plugin did not start (call {@link Daemon.stop} to close what started). */
  readonly ok: boolean;
  /** The required plugins that are not running. */
  readonly missingRequired: readonly string[];
  /** True when {@link Daemon.stop} was called during the start, which then ended early. */
  readonly stopped?: boolean;
}

/** What a start ended early by a stop gives. */
const STOPPED: StartResult = { ok: true, missingRequired: [], stopped: true };

/** The daemon: one plugin directory, loaded, started, reloaded and stopped. */
export class Daemon {
  readonly #config: DaemonConfig;
  readonly #log: Logger;
  readonly #version: string;
  readonly #watch: boolean;
  /** The admission checks of every load and reload (permissions, paths, the lock). */
  readonly #policy: AdmitOptions;
  /** Every unit of the directory, by unit name. */
  #units = new Map<string, Unit>();
  /** The units whose good version was refused (duplicates), with why. */
  #refused: ReadonlyMap<string, readonly PlugdError[]> = new Map();
  /** The live version of each unit, by unit name (see {@link decide}). */
  #live: ReadonlyMap<string, Version> = new Map();
  /** The plugins that should run, in registration order. */
  #records: PluginRecord[] = [];
  readonly #onRecords: ((records: readonly PluginRecord[]) => void) | undefined;
  /** The last init order computed, and the plugins it was computed for. */
  #ordered: { records: readonly PluginRecord[]; graph: ReturnType<typeof resolveGraph> } | undefined;
  #runtime: Runtime | undefined;
  #meta: MetaStore | undefined;
  #watcher: UnitWatcher | undefined;
  /** The unit of each entry module, by its real URL (without query): a changed module's importers lead to them. */
  readonly #entryUnits = new Map<string, string>();
  /** The signature (size, mtime, inode, mode, owner) of every file of each unit when it was last imported: what a change changed. */
  readonly #signatures = new Map<string, ReadonlyMap<string, string>>();
  #ready = false;
  #startup: Promise<StartResult> | undefined;
  #stopping: Promise<void> | undefined;
  /** True once {@link Daemon.stop} closed everything. */
  #stopped = false;
  readonly #pending = new Map<string, number>();
  #pass: Promise<void> | undefined;
  #reloads = 0;
  #heapAtReady = 0;
  #heapWarned = false;
  readonly #startedAt = performance.now();

  /**
   * `onRecords` is called whenever the set of registered plugins changes (after the first load and
   * after each reload), before any of them is initialized.
   */
  constructor(config: DaemonConfig, log: Logger, version: string,
    options: { watch?: boolean; locked?: boolean; onRecords?: (records: readonly PluginRecord[]) => void } = {}) {
    this.#onRecords = options.onRecords;
    this.#config = config;
    this.#log = log;
    this.#version = version;
    this.#watch = options.watch === true;
    this.#policy = { permissions: true, locked: options.locked === true, allowInsecure: config.allowInsecure };
  }

  /**
   * Loads and starts every plugin (and watches, with `watch`). Never throws for plugin problems;
   * throws when the metadata database cannot be opened. A {@link Daemon.stop} during the start ends
   * it early: no further plugin is initialized, and the result says `stopped`. Call it once.
   */
  async start(): Promise<StartResult> {
    this.#startup ??= this.#start();
    return this.#startup;
  }

  async #start(): Promise<StartResult> {
    const { pluginDir, root, state } = this.#config;
    await Promise.all([mkdir(root, { recursive: true }), mkdir(state, { recursive: true })]);
    const meta = (this.#meta = this.#openMeta());
    meta.event({ kind: 'start', detail: pluginDir });
    this.#log.info({ dir: pluginDir, root, state, version: this.#version, watch: this.#watch }, 'starting');
    await this.#loadAll();
    if (this.#stopping !== undefined) return STOPPED;
    const runtime = (this.#runtime = await this.#createRuntime());
    await runtime.start(this.#records, this.#graph());
    if (this.#stopping !== undefined) return STOPPED;
    const running = new Set(runtime.plugins.filter((p) => p.status === 'ok').map((p) => p.name));
    const missingRequired = this.#config.requiredPlugins.filter((name) => !running.has(name));
    if (missingRequired.length > 0) {
      this.#log.error({ required: missingRequired }, 'required plugin(s) did not start: shutting down');
      return { ok: false, missingRequired };
    }
    if (this.#watch) await this.#startWatching();
    this.#ready = true;
    this.#heapAtReady = process.memoryUsage().heapUsed;
    const counts = this.#counts();
    const ms = Math.round(performance.now() - this.#startedAt);
    meta.event({ kind: 'ready', ms, detail: JSON.stringify(counts) });
    this.#log.info({ ...counts, ms }, 'ready');
    return { ok: true, missingRequired };
  }

  /** Opens `<root>/meta.db`; the first inventory write that fails is logged once, as a warning. */
  #openMeta(): MetaStore {
    const path = join(this.#config.root, 'meta.db');
    return MetaStore.open(path, {
      version: this.#version,
      onProblem: (error) => { this.#log.warn({ db: path, err: error }, 'the inventory in meta.db is incomplete: a write failed (see /v1/health)'); },
    });
  }

  /** Imports every unit of the directory and decides what runs: the desired state at startup. */
  async #loadAll(): Promise<void> {
    const { pluginDir } = this.#config;
    const log = this.#log;
    const placement = await planDir(pluginDir, this.#policy);
    await freshLoad(pluginDir);
    this.#admitted(placement);
    const shown = progress(process.stderr, `loading ${pluginDir}`);
    let settled = 0;
    const outcomes = await this.#import(placement, placement.entries.map((e) => e.file), () => { shown.tick(++settled, placement.entries.length); });
    shown.done();
    for (const outcome of outcomes) {
      if (outcome.vanished) continue;
      const { file } = outcome.entry;
      const { digest, key } = (await unitDigest(pluginDir, file)) ?? { digest: '', key: '' };
      const ok = outcome.errors.length === 0;
      this.#units.set(unitOf(file), {
        entry: file, generation: 0, attempted: key, loadErrors: outcome.errors,
        good: ok ? { digest, key, registrations: outcome.registrations } : undefined,
      });
      this.#meta?.event({ kind: 'load', file, ok, detail: outcome.errors[0]?.message });
      for (const error of outcome.errors) log.error({ file, code: error.code, err: error.message, ...at(error) }, 'plugin file failed to load');
    }
    const decision = this.#decide();
    for (const [unit, errors] of decision.refused) {
      for (const error of errors) log.error({ file: this.#units.get(unit)?.entry, code: error.code, err: error.message, ...at(error) }, 'plugin file failed to load');
    }
    for (const unit of this.#units.values()) if (this.#isLive(unit)) unit.generation = 1;
    for (const section of unknownPluginSections(this.#config, this.#records.map((r) => r.name))) {
      log.warn({ plugin: section }, `config has a [plugins."${section}"] section, but no such plugin is registered`);
    }
  }

  /** The runtime that inits and closes the plugins, with real resources and a log line per plugin. */
  async #createRuntime(): Promise<Runtime> {
    const { root, state } = this.#config;
    const log = this.#log;
    return Runtime.create({
      root, state, logger: log, meta: this.#meta?.db,
      config: this.#config.plugins,
      timeout: this.#config.timeouts.init,
      disabled: this.#config.disabledPlugins,
      onPlugin: (s) => { this.#settled(s); },
      onClose: (name, ms, error) => {
        if (error === undefined) log.info({ plugin: name, ms: round(ms) }, 'plugin closed');
        else log.error({ plugin: name, code: error.code, err: error.message }, 'plugin failed to close');
        this.#meta?.event({ kind: 'close', plugin: name, ok: error === undefined, ms, detail: error?.message });
      },
    });
  }

  /** Watches the directory (--watch): stable changes are reloaded; a saved lock retries refused files. */
  async #startWatching(): Promise<void> {
    const timing = { ...DEFAULT_TIMING, quietMs: this.#config.watch.quietMs };
    const watcher = (this.#watcher = new UnitWatcher(this.#config.pluginDir, timing, (unit, at) => {
      if (unit === LOCK_FILE) this.#lockChanged(at);
      else this.#enqueue(unit, at);
    }));
    await watcher.start();
    // What each unit's files are now: a reload compares with this to know which files changed.
    for (const name of watcher.names()) this.#signatures.set(name, watcher.signatures(name) ?? new Map());
  }


  /** The current state: the `plugd ls --json` document. */
  status(): StatusDoc {
    const generation = (file: string): number => this.#units.get(unitOf(file))?.generation ?? 0;
    const plugins = (this.#runtime?.plugins ?? []).map((s) => pluginDoc(s, generation(s.file)));
    const files = [...this.#units.values()].sort((a, b) => (a.entry < b.entry ? -1 : 1)).map((unit): FileDoc => {
      const live = this.#isLive(unit);
      const error = unit.loadErrors[0] ?? this.#refused.get(unitOf(unit.entry))?.[0];
      return {
        file: unit.entry,
        status: live ? 'loaded' : 'failed',
        generation: unit.generation,
        sha256: this.#live.get(unitOf(unit.entry))?.digest ?? null,
        ...(error === undefined ? {} : { error: { code: error.code, message: error.message } }),
      };
    });
    return { plugins, files };
  }

  /** What `GET /v1/health` reports. */
  health(): { ready: boolean } & Record<string, unknown> {
    // Under --expose-gc (a debugging flag) the heap is measured after a collection: comparable numbers.
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    return {
      ready: this.#ready,
      version: this.#version,
      pid: process.pid,
      uptimeMs: Math.round(performance.now() - this.#startedAt),
      ...(this.#ready ? this.#counts() : {}),
      reloads: this.#reloads,
      heapUsedBytes: memory.heapUsed,
      heapGrowthBytes: this.#ready ? memory.heapUsed - this.#heapAtReady : 0,
      rssBytes: memory.rss,
      ...(this.#meta === undefined ? {} : { meta: this.#meta.health() }),
    };
  }

  /**
   * Stops watching, lets a running reload finish, closes every plugin in reverse init order (during
   * a start: once the init in flight settled, and no further one starts), then the database.
   * Idempotent.
   */
  async stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#ready = false;
      const log = this.#log;
      log.info('stopping');
      this.#pending.clear();
      await this.#watcher?.close();
      await this.#pass;
      const closing = this.#runtime?.close();
      await this.#startup?.catch(() => undefined);
      const errors = (await (closing ?? this.#runtime?.close())) ?? [];
      this.#meta?.event({ kind: 'stop', ok: errors.length === 0 });
      this.#meta?.close();
      this.#stopped = true;
      log.info({ closeErrors: errors.length }, 'stopped');
    })();
    return this.#stopping;
  }

  /** Where the daemon is: what a log line about an abrupt exit says it was doing. */
  get phase(): 'idle' | 'starting' | 'running' | 'stopping' | 'stopped' {
    if (this.#stopped) return 'stopped';
    if (this.#stopping !== undefined) return 'stopping';
    if (this.#ready) return 'running';
    return this.#startup === undefined ? 'idle' : 'starting';
  }

  /**
   * The process is exiting without {@link Daemon.stop} having finished (e.g. a plugin called
   * `process.exit()`): records the stop, with `detail`, and closes the database, synchronously (an
   * `exit` handler can do nothing asynchronous). The plugins are not closed: that would need the
   * event loop. Does nothing after a stop.
   */
  exited(detail: string): void {
    if (this.#stopped) return;
    this.#stopped = true;
    this.#meta?.event({ kind: 'stop', ok: false, detail });
    this.#meta?.close();
  }

  /** The plugins whose code appears in `error`'s stack: who to blame for an uncaught error. */
  blame(error: unknown): string[] {
    const stack = renderStack(error);
    if (stack === '') return [];
    // Frames name a module's URL (with its generation query after a reload), or a CommonJS path.
    const units = (file: string): string[] => {
      const path = join(this.#config.pluginDir, unitPrefix(file));
      return [path, pathToFileURL(path).href];
    };
    return this.#records.filter((p) => units(p.file).some((u) => stack.includes(u))).map((p) => p.name);
  }

  /** Imports the given entries of `placement`; outcomes in the entries' order. */
  async #import(placement: LoadPlan, files: readonly string[], onModule?: () => void): Promise<ModuleOutcome[]> {
    const wanted = new Set(files);
    const entries = placement.entries.filter((e) => wanted.has(e.file));
    const outcomes = await importEntries(placement, entries, {
      timeout: this.#config.timeouts.load,
      onLate: (error) => { this.#log.warn({ file: error.file, plugin: error.plugin, code: error.code, err: error.message }, 'late registration refused'); },
      ...(onModule === undefined ? {} : { onModule }),
    });
    // Where each entry's module really is: a changed module's importers lead back to their units.
    for (const o of outcomes) this.#entryUnits.set(o.url, unitOf(o.entry.file));
    return outcomes;
  }

  /** Logs what the admission checks let through as warnings, and what they found missing. */
  #admitted(placement: LoadPlan): void {
    for (const w of placement.admission?.warnings ?? []) this.#log.warn({ file: w.toJSON().file, code: w.code, err: w.message }, 'insecure plugin file allowed');
    for (const e of placement.admission?.errors ?? []) this.#log.error({ file: e.toJSON().file, code: e.code, err: e.message }, 'plugin file refused');
  }

  /** The lock changed: try again every plugin whose latest version was refused or failed. */
  #lockChanged(at: number): void {
    for (const [name, unit] of this.#units) {
      if (unit.loadErrors.length === 0) continue;
      unit.attempted = undefined;
      this.#enqueue(name, at);
    }
  }

  #decide(): ReturnType<typeof decide> {
    const decision = decide(this.#config.pluginDir, this.#units);
    this.#refused = decision.refused;
    this.#live = decision.live;
    this.#records = decision.records;
    this.#onRecords?.(this.#records);
    return decision;
  }

  /**
   * The init order of the current plugins. Most reloads replace a plugin's code but not its name,
   * type or requirements: the order is then the one already computed.
   */
  #graph(): ReturnType<typeof resolveGraph> {
    const cached = this.#ordered;
    if (cached !== undefined && sameShape(cached.records, this.#records)) return cached.graph;
    const graph = resolveGraph(this.#records, { disabled: new Set(this.#config.disabledPlugins) });
    this.#ordered = { records: this.#records, graph };
    return graph;
  }

  /** True while a version of `unit` is live: its good one unless refused, or the one it kept. */
  #isLive(unit: Unit): boolean {
    return this.#live.has(unitOf(unit.entry));
  }

  #enqueue(unit: string, at: number): void {
    if (this.#stopping !== undefined) return;
    this.#pending.set(unit, Math.min(at, this.#pending.get(unit) ?? at));
    // Reloads are serialized: changes that arrive during one coalesce into one more pass.
    this.#pass ??= (async () => {
      try {
        while (this.#pending.size > 0 && this.#stopping === undefined) {
          const batch = new Map(this.#pending);
          this.#pending.clear();
          await this.#reload(batch);
        }
      } catch (error) {
        this.#log.error({ err: renderThrown(error) }, 'reload pass failed');
      } finally {
        this.#pass = undefined;
      }
    })();
  }

  /**
   * The units a change to the units in `batch` reloads, and gives their changed modules (and every
   * module of the plugin directory that imports one, up to the entries) a new generation, so that
   * they evaluate again while every other module keeps its instance. A changed file inside a
   * folder plugin reloads that plugin even when no module imports it (an asset, a data file).
   * Returns the units (with the time of their first event) and which of them a shared module
   * pulled in (their own files did not change).
   */
  async #expand(batch: ReadonlyMap<string, number>): Promise<{ units: Map<string, number>; pulled: Set<string> }> {
    const seeds: string[] = [];
    for (const name of batch.keys()) {
      const before = this.#signatures.get(name) ?? new Map<string, string>();
      const now = this.#watcher?.signatures(name) ?? new Map<string, string>();
      this.#signatures.set(name, now);
      for (const [file, sig] of now) if (before.get(file) !== sig) seeds.push(fileUrl(realPath(file)));
      const entry = await entryOf(this.#config.pluginDir, name);
      if (entry !== undefined) seeds.push(fileUrl(realPath(join(this.#config.pluginDir, entry))));
    }
    const hooks = moduleHooks();
    const again = await hooks.importersOf(seeds);
    if (again.size > 0) await hooks.apply({ kind: 'files', files: [...again], generation: nextGeneration() });
    const units = new Map(batch);
    const pulled = new Set<string>();
    const firstEvent = Math.min(...batch.values());
    for (const url of again) {
      const unit = this.#entryUnits.get(withoutGeneration(url));
      if (unit === undefined || units.has(unit)) continue;
      units.set(unit, firstEvent);
      pulled.add(unit);
    }
    return { units, pulled };
  }

  /**
   * One reload pass over `changed` (unit -> time of its first event), in four steps: import the
   * changed units (and those a changed shared module pulls in), decide what goes live, restart
   * what that affects, report.
   */
  async #reload(changed: ReadonlyMap<string, number>): Promise<void> {
    const { units: batch, pulled } = await this.#expand(changed);
    const before = this.#records;
    const wasLive = new Map(this.#live);
    const seen = new Map<string, string>();
    const touched: Touched = new Map();
    const candidates = new Map<string, Unit>();
    // The units import in parallel (a shared module's importers are many): each is planned,
    // admitted and imported on its own, and what goes live is decided once all have settled.
    const imported = await Promise.all([...batch].map(async ([name, at]) => {
      seen.set(name, this.#watcher?.snapshot(name) ?? '');
      return [name, await this.#importUnit(name, at, pulled.has(name), seen, touched)] as const;
    }));
    for (const [name, candidate] of imported) if (candidate !== undefined) candidates.set(name, candidate);
    this.#goLive(candidates, batch, wasLive, touched);
    const restarted = await this.#restartAffected(before);
    this.#report(touched, restarted);
    for (const name of batch.keys()) this.#watcher?.recheck(name, seen.get(name) ?? '');
    if (touched.size > 0) this.#reloads++;
    this.#checkHeap();
  }

  /**
   * Imports the unit `name` as it is on disk now; returns it with its new version when that
   * imported cleanly. A unit that is gone, failed, unchanged or still changing is recorded (in
   * `touched`, or not at all) and gives nothing. A unit `pulledIn` by a changed module it imports
   * is imported even though its own bytes are the same.
   */
  async #importUnit(name: string, at: number, pulledIn: boolean, seen: ReadonlyMap<string, string>, touched: Touched): Promise<Unit | undefined> {
    const dir = this.#config.pluginDir;
    const entry = await entryOf(dir, name);
    const existing = this.#units.get(name);
    if (entry === undefined) {
      if (existing !== undefined) {
        this.#units.delete(name);
        touched.set(name, { file: existing.entry, result: 'removed', at });
      }
      return undefined;
    }
    // Not a regular file (a FIFO, a dangling link): no digest, and the plan refuses its entry.
    const { digest, key } = (await unitDigest(dir, entry)) ?? { digest: '', key: '' };
    const same = !pulledIn && existing?.entry === entry;
    // The same bytes, modes and owners again: nothing to do, unless the latest try failed (a touch retries it).
    if (same && existing.attempted === key && existing.loadErrors.length === 0) return undefined;
    if (same && key !== '' && this.#live.get(name)?.key === key) {
      // Back to exactly the version that is live (a broken save reverted): no new version, the error is gone.
      existing.attempted = key;
      existing.loadErrors = [];
      return undefined;
    }
    const placement = await planUnits(dir, [name], this.#policy);
    this.#admitted(placement);
    const [outcome] = await this.#import(placement, [entry]);
    if (this.#watcher !== undefined && this.#watcher.snapshot(name) !== seen.get(name)) return undefined; // still changing: retried once quiet
    const unit: Unit = existing ?? { entry, good: undefined, generation: 0, attempted: undefined, loadErrors: [] };
    unit.attempted = key;
    if (outcome === undefined || outcome.vanished || outcome.errors.length > 0) {
      unit.loadErrors = outcome?.errors ?? [];
      this.#units.set(name, unit);
      const error = unit.loadErrors[0];
      touched.set(name, { file: entry, result: 'failed', at, ...(error === undefined ? {} : { error }) });
      return undefined;
    }
    return { ...unit, entry, loadErrors: [], good: { digest, key, registrations: outcome.registrations } };
  }

  /**
   * Decides what goes live: the new versions, unless refused as duplicates of other live files -
   * then the live one stays (kept) until the new one's clash is gone; a version that never ran is
   * not kept. Bumps the generation of every unit whose live version changed.
   */
  #goLive(candidates: Map<string, Unit>, batch: ReadonlyMap<string, number>, wasLive: ReadonlyMap<string, Version>, touched: Touched): void {
    for (const [name, unit] of candidates) this.#units.set(name, unit);
    let decision = this.#decide();
    for (const [name, candidate] of candidates) {
      const clashes = decision.refused.get(name);
      const old = wasLive.get(name);
      if (clashes === undefined || old === undefined) continue;
      candidate.kept = old;
      touched.set(name, { file: candidate.entry, result: 'failed', at: batch.get(name) ?? 0, ...(clashes[0] === undefined ? {} : { error: clashes[0] }) });
      candidates.delete(name);
      decision = this.#decide();
    }
    for (const [name, unit] of this.#units) {
      const now = this.#live.get(name);
      if (now !== unit.kept) unit.kept = undefined;
      if (now !== undefined && now !== wasLive.get(name)) {
        unit.generation++;
        if (!touched.has(name)) touched.set(name, { file: unit.entry, result: 'live', at: batch.get(name) ?? performance.now() });
      }
    }
    for (const [name, candidate] of candidates) {
      if (touched.has(name)) continue;
      const refused = decision.refused.get(name)?.[0];
      touched.set(name, { file: candidate.entry, result: refused === undefined ? 'live' : 'refused', at: batch.get(name) ?? 0, ...(refused === undefined ? {} : { error: refused }) });
    }
  }

  /** Closes what the change from `before` affects (in reverse order) and starts it again (in order); returns the plugins started. */
  async #restartAffected(before: readonly PluginRecord[]): Promise<ReadonlySet<string>> {
    const { start, stop } = affected(before, this.#records);
    const runtime = this.#runtime;
    if (runtime === undefined || (start.size === 0 && stop.size === 0)) return start;
    const { handoff } = await runtime.stop(stop);
    await runtime.start(this.#records, this.#graph(), start, handoff);
    for (const name of stop) if (!this.#records.some((r) => r.name === name)) this.#meta?.forgetPlugin(name);
    return start;
  }

  /** One log line and one inventory event per touched unit. */
  #report(touched: Touched, restarted: ReadonlySet<string>): void {
    const now = performance.now();
    for (const [name, t] of touched) {
      const own = this.#records.filter((r) => unitOf(r.file) === name).map((r) => r.name);
      const reinit = [...restarted].filter((p) => !own.includes(p));
      const line = { file: t.file, plugins: own, reinit, result: t.result, ms: round(now - t.at), generation: this.#units.get(name)?.generation ?? 0 };
      if (t.error === undefined) this.#log.info(line, 'reload');
      else this.#log.error({ ...line, code: t.error.code, err: t.error.message, ...at(t.error) }, 'reload');
      this.#meta?.event({ kind: 'reload', file: t.file, ok: t.error === undefined, ms: now - t.at, detail: t.error?.message ?? t.result });
    }
  }

  #checkHeap(): void {
    const growth = process.memoryUsage().heapUsed - this.#heapAtReady;
    const budget = this.#config.watch.heapBudgetMb * 1024 * 1024;
    if (this.#heapWarned || growth <= budget) return;
    this.#heapWarned = true;
    this.#log.warn({ reloads: this.#reloads, heapGrowthMb: Math.round(growth / 1048576), budgetMb: this.#config.watch.heapBudgetMb },
      "the heap grew past its budget through reloads: Node's ESM cache never frees old module versions; restart the daemon to reclaim it");
  }

  #settled(s: PluginState): void {
    const log = this.#log;
    const fields = { plugin: s.name, file: s.file, ms: s.initMs === undefined ? undefined : round(s.initMs) };
    if (s.status === 'ok') log.info(fields, 'plugin loaded');
    else if (s.status === 'disabled') log.info(fields, 'plugin disabled');
    else if (s.status === 'skipped') log.warn({ ...fields, reason: s.skipReason ?? s.error?.message }, 'plugin skipped');
    else log.error({ ...fields, code: s.error?.code, err: s.error?.message, ...at(s.error) }, 'plugin failed');
    const unit = this.#units.get(unitOf(s.file));
    const doc = pluginDoc(s, unit?.generation ?? 0);
    this.#meta?.recordPlugin({
      name: s.name, type: s.type, id: s.id, file: s.file, sha256: this.#live.get(unitOf(s.file))?.digest ?? null, status: s.status,
      errorCode: doc.error?.code ?? null, errorMessage: doc.error?.message ?? null,
      initMs: s.initMs ?? null, generation: Math.max(unit?.generation ?? 1, 1),
    });
    this.#meta?.event({ kind: 'init', plugin: s.name, file: s.file, ok: s.status === 'ok', ms: s.initMs, detail: doc.error?.message });
  }

  #counts(): Record<string, number> {
    const counts = { ok: 0, failed: 0, skipped: 0, disabled: 0, filesFailed: 0 };
    for (const p of this.#runtime?.plugins ?? []) counts[p.status]++;
    counts.filesFailed = [...this.#units.values()].filter((u) => !this.#isLive(u)).length;
    return counts;
  }
}


/** What a reload did to each unit it touched, by unit name: for its log line. */
type Touched = Map<string, { file: string; result: 'live' | 'failed' | 'refused' | 'removed'; at: number; error?: PlugdError }>;

/**
 * The entry file of unit `name` as it is on disk now, or undefined when it is not a plugin (any
 * more). An entry that is there but is no regular file (a FIFO, a dangling link) is still the
 * entry: the plan refuses it, and the last good version stays live.
 */
async function entryOf(dir: string, name: string): Promise<string | undefined> {
  const path = join(dir, name);
  if ((await stat(path).catch(() => undefined))?.isDirectory() !== true) {
    return isModuleName(name) && (await lstat(path).catch(() => undefined)) !== undefined ? name : undefined;
  }
  for (const index of ['index.js', 'index.mjs']) {
    if ((await lstat(join(path, index)).catch(() => undefined)) !== undefined) return `${name}/${index}`;
  }
  return undefined;
}

function pluginDoc(s: PluginState, generation: number): PluginDoc {
  const error = s.error !== undefined ? { code: s.error.code, message: s.error.message }
    : s.skipReason !== undefined ? { code: 'E_SKIP_PLUGIN', message: s.skipReason } : undefined;
  return {
    name: s.name, type: s.type, id: s.id, file: s.file, requires: [...s.requires], status: s.status,
    generation,
    initMs: s.initMs === undefined ? null : Math.round(s.initMs * 1000) / 1000,
    ...(error === undefined || s.status === 'ok' ? {} : { error }),
  };
}

/** True when `a` and `b` are the same plugins in the same order, with the same types and requirements. */
function sameShape(a: readonly PluginRecord[], b: readonly PluginRecord[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    const x = a[i];
    const y = b[i];
    if (x === y) continue;
    if (x === undefined || y === undefined) return false;
    if (x.name !== y.name || x.type !== y.type || x.requires.length !== y.requires.length) return false;
    if (x.requires.some((r, k) => r !== y.requires[k])) return false;
  }
  return true;
}

/** The line and column of `error` in its file, for a log line, where known. */
function at(error: PlugdError | undefined): { line?: number; column?: number } {
  const json = error?.toJSON();
  return json?.line === undefined ? {} : { line: json.line, ...(json.column === undefined ? {} : { column: json.column }) };
}

function round(ms: number): number {
  return Math.round(ms * 100) / 100;
}

/** What a stack trace names for the unit of `file`: the file, or the folder with its slash. */
function unitPrefix(file: string): string {
  const unit = unitOf(file);
  return unit === file ? file : `${unit}/`;
}

/** `error`'s stack (a data property, read without running a getter or a Proxy trap), else its rendering. */
function renderStack(error: unknown): string {
  return safeStack(error) ?? renderThrown(error);
}
