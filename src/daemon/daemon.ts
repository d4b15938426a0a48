/**
 * `plugd serve` without the command line: load the plugin directory, start the plugins with real
 * resources (per-plugin dirs, the shared metadata database, pino child loggers), log one line per
 * plugin and a `ready` line, keep plugd's inventory and history in the database, and close
 * everything in reverse order on stop. Containerd's `required_plugins` and `disabled_plugins`.
 */
import { mkdir } from 'node:fs/promises';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { DaemonConfig } from '../config.js';
import { unknownPluginSections } from '../config.js';
import { renderThrown, type ErrorJSON, type PlugdError } from '../errors.js';
import type { PluginState, Running } from '../lifecycle.js';
import { MetaStore } from '../meta.js';
import { Registry, type LoadReport } from '../registry.js';
import { unitDigest } from './digest.js';
import { progress } from './progress.js';

/** A plugin in the `plugd ls --json` document (CONTRACT section 7). */
export interface PluginDoc {
  name: string;
  type: string;
  id: string;
  file: string;
  requires: string[];
  status: 'ok' | 'failed' | 'skipped' | 'disabled';
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
  /** False when a required plugin did not start (everything was closed again). */
  readonly ok: boolean;
  /** The required plugins that are not running. */
  readonly missingRequired: readonly string[];
}

/** The daemon: one plugin directory, loaded, started, and stopped. */
export class Daemon {
  readonly #config: DaemonConfig;
  readonly #log: Logger;
  readonly #version: string;
  readonly #registry = new Registry();
  #meta: MetaStore | undefined;
  #running: Running | undefined;
  #load: LoadReport | undefined;
  #digests = new Map<string, string>();
  #ready = false;
  #stopping: Promise<void> | undefined;
  readonly #startedAt = performance.now();

  constructor(config: DaemonConfig, log: Logger, version: string) {
    this.#config = config;
    this.#log = log;
    this.#version = version;
  }

  /** True once the `ready` line was logged. */
  get ready(): boolean {
    return this.#ready;
  }

  /** Loads and starts every plugin. Never throws for plugin problems; see {@link StartResult}. */
  async start(): Promise<StartResult> {
    const { pluginDir, root, state, timeouts } = this.#config;
    const log = this.#log;
    await Promise.all([mkdir(root, { recursive: true }), mkdir(state, { recursive: true })]);
    const meta = (this.#meta = MetaStore.open(join(root, 'meta.db'), { version: this.#version }));
    meta.event({ kind: 'start', detail: pluginDir });
    log.info({ dir: pluginDir, root, state, version: this.#version }, 'starting');

    const shown = progress(process.stderr, `loading ${pluginDir}`);
    let settled = 0;
    const load = (this.#load = await this.#registry.load(pluginDir, {
      timeout: timeouts.load,
      onLateRegistration: (error) => { this.#reportLate(error); },
      onModule: (_, total) => { shown.tick(++settled, total); },
    }));
    shown.done();
    for (const late of load.errors.filter((e) => e.code === 'E_LATE_REGISTRATION')) this.#reportLate(late);
    await this.#digest(load);
    for (const file of load.files) {
      meta.event({ kind: 'load', file: file.file, ok: file.status === 'loaded', detail: file.errors[0]?.message });
      for (const error of file.errors) {
        if (error.code !== 'E_LATE_REGISTRATION') log.error({ file: file.file, code: error.code, err: error.message }, 'plugin file failed to load');
      }
    }
    const names = this.#registry.plugins().map((p) => p.name);
    for (const section of unknownPluginSections(this.#config, names)) {
      log.warn({ plugin: section }, `config has a [plugins."${section}"] section, but no such plugin is registered`);
    }

    this.#running = await this.#registry.start({
      root, state, logger: log, meta: meta.db,
      config: this.#config.plugins,
      timeout: timeouts.init,
      disabled: this.#config.disabledPlugins,
      onPlugin: (s) => { this.#settled(s); },
      onClose: (name, ms, error) => {
        if (error === undefined) log.info({ plugin: name, ms: Math.round(ms * 100) / 100 }, 'plugin closed');
        else log.error({ plugin: name, code: error.code, err: error.message }, 'plugin failed to close');
        this.#meta?.event({ kind: 'close', plugin: name, ok: error === undefined, ms, detail: error?.message });
      },
    });

    const running = new Set(this.#running.plugins.filter((p) => p.status === 'ok').map((p) => p.name));
    const missingRequired = this.#config.requiredPlugins.filter((name) => !running.has(name));
    if (missingRequired.length > 0) {
      log.error({ required: missingRequired }, 'required plugin(s) did not start: shutting down');
      await this.stop();
      return { ok: false, missingRequired };
    }
    this.#ready = true;
    const counts = this.#counts();
    const ms = Math.round(performance.now() - this.#startedAt);
    meta.event({ kind: 'ready', ms, detail: JSON.stringify(counts) });
    log.info({ ...counts, ms }, 'ready');
    return { ok: true, missingRequired };
  }

  /** The current state: the `plugd ls --json` document. */
  status(): StatusDoc {
    const records = new Map(this.#registry.plugins().map((p) => [p.name, p]));
    const plugins: PluginDoc[] = (this.#running?.plugins ?? this.#registry.plugins().map((p) => ({ ...p, status: 'skipped' as const })))
      .map((s) => pluginDoc(s as PluginState, records.get(s.name)?.requires ?? s.requires));
    const files: FileDoc[] = (this.#load?.files ?? []).map((f) => {
      const error = f.errors[0];
      return {
        file: f.file,
        status: f.status,
        generation: f.status === 'loaded' ? 1 : 0,
        sha256: this.#digests.get(f.file) ?? null,
        ...(error === undefined ? {} : { error: brief(error) }),
      };
    });
    return { plugins, files };
  }

  /** What `GET /v1/health` reports. */
  health(): { ready: boolean } & Record<string, unknown> {
    const memory = process.memoryUsage();
    return {
      ready: this.#ready,
      version: this.#version,
      pid: process.pid,
      uptimeMs: Math.round(performance.now() - this.#startedAt),
      ...(this.#ready ? this.#counts() : {}),
      heapUsedBytes: memory.heapUsed,
      rssBytes: memory.rss,
    };
  }

  /** Closes every plugin in reverse init order (each bounded), then the database. Idempotent. */
  async stop(): Promise<void> {
    this.#stopping ??= (async () => {
      this.#ready = false;
      const log = this.#log;
      log.info('stopping');
      const errors = (await this.#running?.close()) ?? [];
      this.#meta?.event({ kind: 'stop', ok: errors.length === 0 });
      this.#meta?.close();
      log.info({ closeErrors: errors.length }, 'stopped');
    })();
    return this.#stopping;
  }

  /**
   * The plugins whose files appear in `error`'s stack: who to blame for an uncaught error. Empty
   * when no plugin's code is on the stack.
   */
  blame(error: unknown): string[] {
    const stack = renderStack(error);
    const base = this.#load?.importedFrom;
    if (base === undefined || stack === '') return [];
    return this.#registry.plugins()
      .filter((p) => stack.includes(join(base, unitOf(p.file))) || stack.includes(join(this.#config.pluginDir, unitOf(p.file))))
      .map((p) => p.name);
  }

  #settled(s: PluginState): void {
    const log = this.#log;
    const fields = { plugin: s.name, file: s.file, ms: s.initMs === undefined ? undefined : Math.round(s.initMs * 100) / 100 };
    if (s.status === 'ok') log.info(fields, 'plugin loaded');
    else if (s.status === 'disabled') log.info(fields, 'plugin disabled');
    else if (s.status === 'skipped') log.warn({ ...fields, reason: s.skipReason ?? s.error?.message }, 'plugin skipped');
    else log.error({ ...fields, code: s.error?.code, err: s.error?.message }, 'plugin failed');
    const doc = pluginDoc(s, s.requires);
    this.#meta?.recordPlugin({
      name: s.name, type: s.type, id: s.id, file: s.file, sha256: this.#digests.get(s.file) ?? null, status: s.status,
      errorCode: doc.error?.code ?? null, errorMessage: doc.error?.message ?? null,
      initMs: s.initMs ?? null, generation: 1,
    });
    this.#meta?.event({ kind: 'init', plugin: s.name, file: s.file, ok: s.status === 'ok', ms: s.initMs, detail: doc.error?.message });
  }

  #reportLate(error: PlugdError): void {
    this.#log.warn({ file: error.toJSON().file, code: error.code, err: error.message }, 'late registration refused');
  }

  async #digest(load: LoadReport): Promise<void> {
    const entries = await Promise.all(load.files.map(async (f) => [f.file, await unitDigest(this.#config.pluginDir, f.file)] as const));
    this.#digests = new Map(entries.filter((e): e is readonly [string, string] => e[1] !== undefined));
  }

  #counts(): Record<string, number> {
    const counts = { ok: 0, failed: 0, skipped: 0, disabled: 0, filesFailed: 0 };
    for (const p of this.#running?.plugins ?? []) counts[p.status]++;
    counts.filesFailed = (this.#load?.files ?? []).filter((f) => f.status === 'failed').length;
    return counts;
  }
}

function pluginDoc(s: PluginState, requires: readonly string[]): PluginDoc {
  const error = s.error !== undefined ? brief(s.error) : s.skipReason !== undefined ? { code: 'E_SKIP_PLUGIN', message: s.skipReason } : undefined;
  return {
    name: s.name, type: s.type, id: s.id, file: s.file, requires: [...requires], status: s.status,
    generation: 1,
    initMs: s.initMs === undefined ? null : Math.round(s.initMs * 1000) / 1000,
    ...(error === undefined || s.status === 'ok' ? {} : { error }),
  };
}

function brief(error: PlugdError | ErrorJSON): { code: string; message: string } {
  return { code: error.code, message: error.message };
}

function unitOf(file: string): string {
  const slash = file.indexOf('/');
  return slash === -1 ? file : file.slice(0, slash + 1);
}

function renderStack(error: unknown): string {
  try {
    const stack = (error as { stack?: unknown }).stack;
    return typeof stack === 'string' ? stack : renderThrown(error);
  } catch {
    return '';
  }
}
