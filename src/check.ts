/**
 * `plugd check` as a library call: load a directory into a fresh registry, resolve the graph, and
 * optionally init and close every plugin in throwaway directories. Produces the `plugd check --json`
 * document (section 5), plus the typed errors behind it.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, type ErrorJSON, type PlugdError } from './core/errors.js';
import { startPlugins } from './core/lifecycle.js';
import { DEFAULT_TIMEOUT, Registry, type PluginRecord } from './load/registry.js';
import type { AdmitOptions } from './load/admit.js';
import type { Survey } from './load/plan.js';
import { nearest } from './util/hint.js';

/** Options of {@link check}. */
export interface CheckOptions {
  /** Also initialize every plugin (in throwaway root/state directories) and close them again. */
  readonly init?: boolean;
  /** Milliseconds each module import and each plugin init may take (default 10000). */
  readonly timeout?: number;
  /** Refuse files missing from `<dir>/plugd.lock` or differing from it. */
  readonly locked?: boolean;
  /** Report permission refusals and symlinks that leave the directory as warnings, not errors. */
  readonly allowInsecure?: boolean;
  /**
   * Plugins to leave registered but not initialized, as the daemon's `disabled_plugins`: they take
   * no part in ordering and show as `disabled`. A name no plugin has is a warning.
   */
  readonly disable?: readonly string[];
}

/**
 * A plugin's status in a check: `ok`/`unresolved` without init; `ok`/`failed`/`skipped` with it;
 * `disabled` either way for the plugins of {@link CheckOptions.disable}.
 */
export type CheckStatus = 'ok' | 'unresolved' | 'failed' | 'skipped' | 'disabled';

/** One plugin in the `plugd check --json` document. */
export interface CheckPlugin {
  name: string;
  type: string;
  id: string;
  /** Relative to the checked directory. */
  file: string;
  requires: string[];
  status: CheckStatus;
}

/** The `plugd check --json` document. */
export interface CheckReport {
  /** True when `errors` is empty. */
  ok: boolean;
  /** Every registered plugin: registration order, or init order with `init`. */
  plugins: CheckPlugin[];
  /** One entry per problem. */
  errors: ErrorJSON[];
  /** What was let through (e.g. under `--allow-insecure`); does not make `ok` false. */
  warnings: ErrorJSON[];
}

/** A check's JSON document and the typed errors it was made from. */
export interface CheckResult {
  readonly report: CheckReport;
  /** The typed errors, in report order (with `thrown` and `cause`). */
  readonly errors: readonly PlugdError[];
}

/**
 * How an isolated check (check-isolated.ts) follows and steers a check running in its worker:
 * progress events, and the verdicts on modules and inits that hung or ended an earlier worker.
 */
export interface CheckSupervision {
  /** Called as each module settles. */
  readonly onModule?: (file: string) => void;
  /** Called just before each plugin's init runs. */
  readonly onInit?: (name: string) => void;
  /** Units (a top-level file, or a folder) not to import, each failed with the given error. */
  readonly skip?: ReadonlyMap<string, PlugdError>;
  /** Plugins not to initialize, each failed with the given error. */
  readonly failed?: ReadonlyMap<string, PlugdError>;
  /** What a survey of the directory found beforehand (see {@link surveyDir}), to load instead of scanning. */
  readonly survey?: Survey;
}

/** The admission checks a check runs with `options`. */
export function checkPolicy(options: CheckOptions): AdmitOptions {
  return { permissions: true, locked: options.locked === true, allowInsecure: options.allowInsecure === true };
}

/** Checks the plugin directory `dir`. Throws only for an unreadable directory. */
export async function check(dir: string, options: CheckOptions = {}, supervision: CheckSupervision = {}): Promise<CheckResult> {
  const timeout = options.timeout ?? DEFAULT_TIMEOUT;
  const registry = new Registry();
  const { onModule, onInit, skip, failed, survey } = supervision;
  const load = await registry.load(dir, {
    timeout,
    admit: checkPolicy(options),
    ...(onModule === undefined ? {} : { onModule }),
    ...(skip === undefined ? {} : { skip }),
    ...(survey === undefined ? {} : { survey }),
  });
  const records = registry.plugins();
  const disabled = new Set(options.disable ?? []);
  const graph = registry.resolve({ disabled });
  const errors: PlugdError[] = [...load.errors];
  let plugins: CheckPlugin[];
  if (options.init === true) {
    const scratch = await mkdtemp(join(tmpdir(), 'plugd-check-'));
    try {
      const meta = await openScratchDatabase(join(scratch, 'meta.db'));
      const running = await startPlugins(records, graph, {
        root: join(scratch, 'root'), state: join(scratch, 'state'), timeout, meta, disabled,
        ...(onInit === undefined ? {} : { onInit }), ...(failed === undefined ? {} : { failed }),
      });
      errors.push(...running.errors, ...await running.close());
      meta.close();
      const byName = new Map(records.map((r) => [r.name, r]));
      plugins = running.plugins.map((s) => toPlugin(byName.get(s.name) ?? s, s.status));
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
  } else {
    errors.push(...graph.errors);
    plugins = records.map((r) => toPlugin(r, disabled.has(r.name) ? 'disabled' : graph.unresolved.has(r.name) ? 'unresolved' : 'ok'));
  }
  const warnings = [...load.warnings, ...unknownDisabled(disabled, records)];
  return { report: { ok: errors.length === 0, plugins, errors: errors.map((e) => e.toJSON()), warnings: warnings.map((e) => e.toJSON()) }, errors };
}

/** A warning for each disabled name that no registered plugin has: a typo would disable nothing. */
function unknownDisabled(disabled: ReadonlySet<string>, records: readonly PluginRecord[]): ConfigError[] {
  const names = records.map((r) => r.name);
  const known = new Set(names);
  return [...disabled].filter((name) => !known.has(name)).map((name) => ConfigError.unknownDisabled('--disable', name, nearest(name, names)));
}

function toPlugin(p: Pick<PluginRecord, 'name' | 'type' | 'id' | 'file' | 'requires'>, status: CheckStatus): CheckPlugin {
  return { name: p.name, type: p.type, id: p.id, file: p.file, requires: [...p.requires], status };
}

async function openScratchDatabase(path: string): Promise<import('better-sqlite3').Database> {
  const { default: Database } = await import('better-sqlite3');
  const db = new Database(path);
  db.pragma('journal_mode = WAL');
  return db;
}
