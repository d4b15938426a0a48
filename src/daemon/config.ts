/**
 * The daemon's config: the TOML file (`--config`, or `./plugd.toml` when present) and the flags of
 * `plugd serve`, turned into one validated config with absolute paths and every default filled in
 * (containerd's layout). Every problem of a file is reported at once, in one
 * {@link ConfigError}.
 */
import { dirname, join, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { ConfigError, ownData, renderThrown, safeGet, type ValidationIssue } from '../core/errors.js';
import { nearest } from '../util/hint.js';
import { DEFAULT_TIMEOUT, MAX_TIMEOUT } from '../core/lifecycle.js';
import { PLUGIN_NAME, toIssues } from '../core/registration.js';
import { zod } from '../util/zod.js';
import { isNotRegular, readRegularFile } from '../util/read-regular.js';

/** Flags of `plugd serve` that the config file can also set (CLI values override the file). */
export interface ServeFlags {
  /** `--plugins <dir>`: the plugin directory (relative to `cwd`). */
  plugins?: string;
  /** `--config <file>`: the config file (relative to `cwd`); it must exist. */
  config?: string;
  /** `--root <dir>`: where plugins keep persistent data (relative to `cwd`). */
  root?: string;
  /** `--state <dir>`: where plugins keep runtime state, and the control socket (relative to `cwd`). */
  state?: string;
  /** `--timeout <ms>`: both the load and the init timeout. */
  timeout?: number;
  /** `--allow-insecure`: turn permission and path refusals into warnings. */
  allowInsecure?: boolean;
}

/** The resolved daemon config: absolute paths, every default filled in. */
export interface DaemonConfig {
  /** The absolute path of the config file used, if any. */
  file: string | undefined;
  /** The plugin directory (absolute). */
  pluginDir: string;
  /** The root directory: `ctx.root` is `<root>/<name>` (absolute). */
  root: string;
  /** The state directory: `ctx.state` is `<state>/<name>` (absolute). */
  state: string;
  /** Plugins registered but never initialized. */
  disabledPlugins: string[];
  /** Plugins whose failure fails startup. */
  requiredPlugins: string[];
  /** Whether permission and path refusals are only warnings. */
  allowInsecure: boolean;
  /** Milliseconds per module import (`load`) and per plugin init (`init`). */
  timeouts: { load: number; init: number };
  /** The raw `[plugins."<name>"]` sections, by plugin name. */
  plugins: Record<string, Record<string, unknown>>;
  /**
   * `serve --watch`: how long a changed plugin's files must stay unchanged before it is reloaded
   * (`quiet_ms`, default 15), and how much the heap may grow through reloads before the daemon
   * suggests a restart (`heap_budget_mb`, default 256).
   */
  watch: { quietMs: number; heapBudgetMb: number };
}

const CONFIG_FILE = 'plugd.toml';
const DEFAULT_TIMEOUTS = { load: DEFAULT_TIMEOUT, init: 30_000 } as const;
/** The longest delay Node's timers support; a longer one fires at once. */
const TOP_KEYS = ['version', 'plugin_dir', 'root', 'state', 'disabled_plugins', 'required_plugins', 'allow_insecure', 'timeouts', 'plugins', 'watch'];
const DEFAULT_WATCH = { quietMs: 15, heapBudgetMb: 256 } as const;
const TIMEOUT_KEYS = ['load', 'init'];

/**
 * Resolves the daemon's config from `flags` and the config file: `flags.config` when given (it must
 * exist), else `<cwd>/plugd.toml` when present, else none. Relative paths in the file resolve
 * against the file's folder, those of flags against `cwd`; flags override the file. Throws a
 * {@link ConfigError} (with `file` when a file is involved) naming every problem found.
 */
export async function resolveConfig(flags: ServeFlags, cwd: string): Promise<DaemonConfig> {
  const here = resolve(cwd);
  checkFlags(flags);
  const found = await findFile(flags.config, here);
  const doc = found === undefined ? undefined : validate(parseToml(found.text, found.file), found.file);
  const base = found === undefined ? here : dirname(found.file);
  const fromFile = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(base, p));
  const fromFlag = (p: string | undefined): string | undefined => (p === undefined ? undefined : resolve(here, p));
  return {
    file: found?.file,
    pluginDir: fromFlag(flags.plugins) ?? fromFile(doc?.plugin_dir) ?? join(base, 'plugins'),
    root: fromFlag(flags.root) ?? fromFile(doc?.root) ?? join(base, '.plugd', 'root'),
    state: fromFlag(flags.state) ?? fromFile(doc?.state) ?? join(base, '.plugd', 'state'),
    disabledPlugins: [...new Set(doc?.disabled_plugins ?? [])],
    requiredPlugins: [...new Set(doc?.required_plugins ?? [])],
    allowInsecure: flags.allowInsecure ?? doc?.allow_insecure ?? false,
    timeouts: {
      load: flags.timeout ?? doc?.timeouts?.load ?? DEFAULT_TIMEOUTS.load,
      init: flags.timeout ?? doc?.timeouts?.init ?? DEFAULT_TIMEOUTS.init,
    },
    // No prototype: a section is looked up by plugin name, and must never be an inherited key.
    plugins: doc?.plugins ?? (Object.create(null) as DaemonConfig['plugins']),
    watch: {
      quietMs: doc?.watch?.quiet_ms ?? DEFAULT_WATCH.quietMs,
      heapBudgetMb: doc?.watch?.heap_budget_mb ?? DEFAULT_WATCH.heapBudgetMb,
    },
  };
}

/** Names of [plugins."<name>"] sections that match no registered plugin (to warn about). */
export function unknownPluginSections(config: DaemonConfig, registered: readonly string[]): string[] {
  const known = new Set(registered);
  return Object.keys(config.plugins).filter((name) => !known.has(name));
}

/** Flags come from the CLI, which checks them; this guards every other caller. */
function checkFlags(flags: ServeFlags): void {
  const issues: ValidationIssue[] = [];
  for (const [key, flag] of [['plugins', '--plugins'], ['config', '--config'], ['root', '--root'], ['state', '--state']] as const) {
    const value = flags[key];
    if (value !== undefined && (typeof value !== 'string' || value === '')) {
      issues.push({ code: 'invalid_flag', path: [flag], message: `${flag} takes a non-empty path` });
    }
  }
  const { timeout } = flags;
  if (timeout !== undefined && (!Number.isSafeInteger(timeout) || timeout <= 0 || timeout > MAX_TIMEOUT)) {
    issues.push({ code: 'invalid_flag', path: ['--timeout'], message: `--timeout takes a whole number of milliseconds from 1 to ${MAX_TIMEOUT}, not ${String(timeout)}` });
  }
  if (flags.allowInsecure !== undefined && typeof flags.allowInsecure !== 'boolean') {
    issues.push({ code: 'invalid_flag', path: ['--allow-insecure'], message: '--allow-insecure takes no value' });
  }
  if (issues.length > 0) throw new ConfigError(issues);
}

/** The config file to use and its text, or `undefined` when there is none. */
async function findFile(flag: string | undefined, cwd: string): Promise<{ file: string; text: string } | undefined> {
  const file = resolve(cwd, flag ?? CONFIG_FILE);
  try {
    return { file, text: stripBom((await readRegularFile(file)).toString('utf8')) };
  } catch (error) {
    const code = safeGet(error, 'code');
    const missing = code === 'ENOENT' || code === 'ENOTDIR';
    if (missing && flag === undefined) return undefined;
    const issue: ValidationIssue = missing
      ? { code: 'not_found', path: [], message: `the config file "${file}" (from --config) does not exist; fix the --config path or create the file` }
      : isNotRegular(error)
        ? { code: 'not_a_file', path: [], message: `the config file "${file}" is ${error.kind}, not a regular file; replace it with a TOML file${flag === undefined ? ', or remove it' : ' or fix the --config path'}` }
        : { code: 'unreadable', path: [], message: `the config file "${file}" could not be read: ${renderThrown(error)}; make it a readable file` };
    throw new ConfigError([issue], { file });
  }
}

function stripBom(text: string): string {
  return text.startsWith('\uFEFF') ? text.slice(1) : text;
}

/** Parses TOML, turning a syntax error into a {@link ConfigError} that gives its line and column. */
function parseToml(text: string, file: string): unknown {
  try {
    return parse(text);
  } catch (error) {
    const message = error instanceof TomlError
      ? `TOML syntax error at line ${error.line}, column ${error.column}: ${reasonOf(error.message)}`
      : `TOML syntax error: ${renderThrown(error)}`;
    throw new ConfigError([{ code: 'toml', path: [], message: `${message}; fix the syntax (see https://toml.io/en/v1.0.0)` }], { file });
  }
}

/** smol-toml's message without its "Invalid TOML document:" prefix and code excerpt. */
function reasonOf(message: string): string {
  const first = message.split('\n', 1)[0] ?? '';
  return first.replace(/^Invalid TOML document:\s*/, '').trim() || 'invalid TOML';
}

type Schema = ReturnType<typeof buildSchema>;
type FileConfig = ReturnType<Schema['parse']>;
let schema: Schema | undefined;

function buildSchema() {
  const { z } = zod();
  const path = z.string({ error: 'must be a path in quotes, e.g. "./plugins"' })
    .min(1, { error: 'must not be empty; give a path or remove the key' });
  const names = z.array(
    z.string({ error: 'must be a plugin name in quotes, e.g. "io.plugd.store.v1.sqlite"' })
      .regex(PLUGIN_NAME, { error: 'must be a plugin name (type.id) of letters, digits, ".", "_" and "-"' }),
    { error: 'must be a list of plugin names, e.g. ["io.plugd.store.v1.sqlite"]' },
  );
  const ms = z.int({ error: `must be a whole number of milliseconds from 1 to ${MAX_TIMEOUT}, e.g. 10000` })
    .min(1, { error: 'must be at least 1 ms' })
    .max(MAX_TIMEOUT, { error: `must be at most ${MAX_TIMEOUT} ms (about 24.8 days), the longest timer Node supports` });
  const notTable = (what: string) => (issue: { code: string }): string | undefined =>
    (issue.code === 'invalid_type' ? `must be a table: ${what}` : undefined);
  return z.strictObject({
    version: z.literal(1, { error: 'must be 1, the only config version plugd reads: put version = 1 at the top of the file' }),
    plugin_dir: path.optional(),
    root: path.optional(),
    state: path.optional(),
    disabled_plugins: names.optional(),
    required_plugins: names.optional(),
    allow_insecure: z.boolean({ error: 'must be true or false (without quotes)' }).optional(),
    timeouts: z.strictObject({ load: ms.optional(), init: ms.optional() }, { error: notTable('[timeouts] with load and init in ms') }).optional(),
    watch: z.strictObject({
      quiet_ms: z.int().min(1).max(10_000).optional(),
      heap_budget_mb: z.int().min(1).optional(),
    }, { error: notTable('[watch] with quiet_ms and heap_budget_mb') }).optional(),
    plugins: z.record(
      z.string(),
      z.record(z.string(), z.unknown(), { error: notTable('[plugins."<name>"] with that plugin\'s settings') }),
      { error: notTable('a [plugins."<name>"] section per plugin') },
    ).optional(),
  });
}

/** Validates the whole parsed document, reporting every problem at once. */
function validate(doc: unknown, file: string): FileConfig {
  const result = (schema ??= buildSchema()).safeParse(doc);
  const issues = [...(result.success ? [] : toIssues(result.error.issues.map(withHints))), ...conflicts(doc)];
  if (!result.success || issues.length > 0) throw new ConfigError(issues, { file });
  // The sections as parsed (null-prototype tables), not zod's copies: copying assigns keys, and a
  // section or setting named "__proto__" would then set a prototype instead of being kept.
  const plugins = ownData(doc, 'plugins') as DaemonConfig['plugins'] | undefined;
  return { ...result.data, plugins };
}

/** zod's issue, with unknown keys named, spelled-alike known keys suggested and the known keys listed. */
function withHints(issue: { code: string; path: PropertyKey[]; message: string }): unknown {
  const keys = safeGet(issue, 'keys');
  if (issue.code !== 'unrecognized_keys' || !Array.isArray(keys)) return issue;
  const known = issue.path.length === 0 ? TOP_KEYS : issue.path.length === 1 && issue.path[0] === 'timeouts' ? TIMEOUT_KEYS : [];
  const named = keys.map((k) => {
    const key = String(k);
    const best = nearest(key, known);
    return best === undefined ? `"${key}"` : `"${key}" (did you mean "${best}"?)`;
  });
  const message = `unknown key${named.length === 1 ? '' : 's'} ${named.join(', ')}; ` +
    `fix the spelling or remove ${named.length === 1 ? 'it' : 'them'}${known.length === 0 ? '' : ` (known keys: ${known.join(', ')})`}`;
  // No `keys`: toIssues would add hints about registration keys.
  return { code: issue.code, path: issue.path, message };
}

/** A plugin both disabled and required can never satisfy `required_plugins`. */
function conflicts(doc: unknown): ValidationIssue[] {
  const disabled = ownData(doc, 'disabled_plugins');
  const required = ownData(doc, 'required_plugins');
  if (!Array.isArray(disabled) || !Array.isArray(required)) return [];
  const off = new Set(disabled.filter((n): n is string => typeof n === 'string'));
  const issues: ValidationIssue[] = [];
  required.forEach((name: unknown, i) => {
    if (typeof name === 'string' && off.has(name)) {
      issues.push({
        code: 'custom', path: ['required_plugins', i],
        message: `"${name}" is also in disabled_plugins, so it can never start; remove it from one of the two lists`,
      });
    }
  });
  return issues;
}

