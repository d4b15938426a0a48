import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { resolveConfig, unknownPluginSections, type DaemonConfig, type ServeFlags } from '../../src/daemon/config.js';
import { ConfigError } from '../../src/core/errors.js';

const FIXTURES = resolve('fixtures/config-files');

let tmp: string;
beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), 'plugd-config-'));
});
afterAll(async () => {
  await rm(tmp, { recursive: true, force: true });
});

/** A fresh empty folder under the test's temp dir. */
async function freshDir(name: string): Promise<string> {
  const dir = join(tmp, name);
  await mkdir(dir, { recursive: true });
  return dir;
}

/** Writes `text` to `<fresh dir>/plugd.toml` and returns its path. */
async function configFile(name: string, text: string): Promise<string> {
  const file = join(await freshDir(name), 'plugd.toml');
  await writeFile(file, text);
  return file;
}

/** Checks a resolved config against the whole expected one. */
function expectConfig(actual: DaemonConfig, expected: DaemonConfig): void {
  expect(actual).toEqual(expected);
}

/** What a config gives when it sets nothing but its file and the folder its paths are relative to. */
function defaults(file: string | undefined, folder: string): DaemonConfig {
  return {
    file,
    pluginDir: join(folder, 'plugins'),
    root: join(folder, '.plugd', 'root'),
    state: join(folder, '.plugd', 'state'),
    disabledPlugins: [],
    requiredPlugins: [],
    allowInsecure: false,
    timeouts: { load: 10000, init: 30000 },
    watch: { quietMs: 15, heapBudgetMb: 256 },
    plugins: {},
  };
}

/** The ConfigError `promise` rejects with (fails the test otherwise). */
async function rejection(promise: Promise<unknown>): Promise<ConfigError> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    const configError = error as ConfigError;
    expect(configError.code).toBe('E_CONFIG');
    // JSON-safe issues: plain strings and numbers only.
    expect(JSON.parse(JSON.stringify(configError.issues))).toEqual(configError.issues);
    return configError;
  }
  throw new Error('resolveConfig did not reject');
}

describe('resolveConfig reads', () => {
  test("the documented example file", async () => {
    const file = join(FIXTURES, 'contract.toml');
    const config = await resolveConfig({ config: file }, tmp);
    expectConfig(config, {
      ...defaults(file, FIXTURES),
      disabledPlugins: ['io.plugd.example.v1.noisy'],
      requiredPlugins: ['io.plugd.store.v1.sqlite'],
      plugins: { 'io.plugd.store.v1.sqlite': { path: 'meta.db' } },
    });
  });

  test("relative paths against the file's folder, absolute ones as they are, defaults for the rest", async () => {
    const folder = join(FIXTURES, 'nested', 'conf');
    const config = await resolveConfig({ config: 'paths.toml' }, folder);
    expectConfig(config, {
      ...defaults(join(folder, 'paths.toml'), folder),
      pluginDir: join(FIXTURES, 'nested', 'plugins'),
      root: join(folder, 'data', 'root'),
      state: '/var/lib/plugd-test/state',
      allowInsecure: true,
      timeouts: { load: 2500, init: 30000 },
    });
  });

  test('defaults relative to the file\'s folder when the file sets only the version', async () => {
    const config = await resolveConfig({ config: join(FIXTURES, 'minimal.toml') }, tmp);
    expectConfig(config, defaults(join(FIXTURES, 'minimal.toml'), FIXTURES));
  });

  test('plugd.toml from cwd (a relative cwd too) when there is no --config', async () => {
    const cwd = join(FIXTURES, 'cwd');
    const config = await resolveConfig({}, 'fixtures/config-files/cwd');
    expectConfig(config, {
      ...defaults(join(cwd, 'plugd.toml'), cwd),
      pluginDir: join(cwd, 'my-plugins'),
      timeouts: { load: 10000, init: 5000 },
      plugins: {
        'io.plugd.log.v1.stdout': { level: 'debug', colors: { error: 'red', info: 'blue' } },
        'io.plugd.example.v1.stale': {},
      },
    });
  });

  test('--config instead of cwd\'s plugd.toml, relative to cwd', async () => {
    const config = await resolveConfig({ config: '../minimal.toml' }, join(FIXTURES, 'cwd'));
    expect(config.file).toBe(join(FIXTURES, 'minimal.toml'));
    expect(config.pluginDir).toBe(join(FIXTURES, 'plugins'));
  });

  test('no file at all: defaults relative to cwd', async () => {
    const cwd = await freshDir('empty');
    expectConfig(await resolveConfig({}, cwd), defaults(undefined, cwd));
  });

  test('a file starting with a byte order mark, and repeated names listed once', async () => {
    const file = await configFile('bom', '\uFEFFversion = 1\ndisabled_plugins = ["a.b", "c.d", "a.b"]\n');
    expect((await resolveConfig({ config: file }, tmp)).disabledPlugins).toEqual(['a.b', 'c.d']);
  });

  test('sections and settings named "__proto__" are kept as plain keys', async () => {
    const file = await configFile('proto', 'version = 1\n[plugins."__proto__"]\nx = 1\n[plugins."a.b"]\n"__proto__" = { polluted = true }\n');
    const { plugins } = await resolveConfig({ config: file }, tmp);
    expect(Object.keys(plugins)).toEqual(['__proto__', 'a.b']);
    expect(Object.keys(plugins['a.b']!)).toEqual(['__proto__']);
    expect('polluted' in plugins['a.b']!).toBe(false);
    expect(Object.getOwnPropertyDescriptor(plugins, '__proto__')?.value).toEqual({ x: 1 });
  });
});

describe('flags override the file', () => {
  // [label, flags, the fields they change in the resolved config of nested/conf/paths.toml]
  const cwd = '/srv/plugd';
  const cases: [string, ServeFlags, Partial<DaemonConfig>][] = [
    ['--plugins (relative to cwd)', { plugins: 'p' }, { pluginDir: '/srv/plugd/p' }],
    ['--root (absolute)', { root: '/data/root' }, { root: '/data/root' }],
    ['--state (relative to cwd)', { state: '../run' }, { state: '/srv/run' }],
    ['--timeout sets both timeouts', { timeout: 777 }, { timeouts: { load: 777, init: 777 } }],
    ['--allow-insecure false beats allow_insecure = true', { allowInsecure: false }, { allowInsecure: false }],
    ['all of them', { plugins: '/p', root: 'r', state: 's', timeout: 1, allowInsecure: false },
      { pluginDir: '/p', root: '/srv/plugd/r', state: '/srv/plugd/s', timeouts: { load: 1, init: 1 }, allowInsecure: false }],
  ];

  test.each(cases)('%s', async (_label, flags, changed) => {
    const config = join(FIXTURES, 'nested', 'conf', 'paths.toml');
    const fromFile = await resolveConfig({ config }, cwd);
    expect(await resolveConfig({ ...flags, config }, cwd)).toEqual({ ...fromFile, ...changed });
  });

  test('flags without a file resolve against cwd', async () => {
    const cwd = await freshDir('flags-only');
    const config = await resolveConfig({ plugins: 'p', timeout: 5, allowInsecure: true }, cwd);
    expect(config).toMatchObject({ file: undefined, pluginDir: join(cwd, 'p'), root: join(cwd, '.plugd', 'root'), allowInsecure: true, timeouts: { load: 5, init: 5 } });
  });
});

describe('resolveConfig rejects', () => {
  test('a --config file that does not exist, naming it', async () => {
    const cwd = await freshDir('missing');
    const error = await rejection(resolveConfig({ config: 'nope.toml' }, cwd));
    const file = join(cwd, 'nope.toml');
    expect(error.file).toBe(file);
    expect(error.issues).toEqual([{ code: 'not_found', path: [], message: expect.stringContaining(`"${file}"`) as unknown }]);
    expect(error.message).toContain('does not exist; fix the --config path or create the file');
  });

  test('a --config that is a directory', async () => {
    const dir = await freshDir('a-directory.toml');
    const error = await rejection(resolveConfig({ config: dir }, tmp));
    expect(error.file).toBe(dir);
    expect(error.issues).toEqual([{ code: 'not_a_file', path: [], message: `the config file "${dir}" is a directory, not a regular file; replace it with a TOML file or fix the --config path` }]);
  });

  test('a plugd.toml in cwd that is not a file (it is not silently ignored)', async () => {
    const cwd = await freshDir('unreadable-cwd');
    await mkdir(join(cwd, 'plugd.toml'));
    const error = await rejection(resolveConfig({}, cwd));
    expect(error.file).toBe(join(cwd, 'plugd.toml'));
    expect(error.issues[0]?.code).toBe('not_a_file');
  });

  test('a FIFO, as --config or as plugd.toml in cwd: refused at once, saying what it is (never a read that waits for a writer)', async () => {
    const cwd = await freshDir('fifo');
    const fifo = join(cwd, 'plugd.toml');
    execFileSync('mkfifo', [fifo]);
    for (const flags of [{ config: 'plugd.toml' }, {}]) {
      const error = await rejection(resolveConfig(flags, cwd));
      expect(error.file).toBe(fifo);
      expect(error.issues).toEqual([{ code: 'not_a_file', path: [], message: expect.stringContaining(`the config file "${fifo}" is a FIFO (named pipe), not a regular file`) as unknown }]);
    }
  }, 5_000);

  test('a config file that cannot be read (no permission)', async () => {
    if (process.getuid?.() === 0) return; // root reads it anyway
    const file = await configFile('no-read', 'version = 1\n');
    await chmod(file, 0o200);
    const error = await rejection(resolveConfig({ config: file }, tmp));
    expect(error.issues[0]).toMatchObject({ code: 'unreadable', message: expect.stringContaining('could not be read') as unknown });
  });

  test('a TOML syntax error, with its line and column', async () => {
    const file = join(FIXTURES, 'syntax-error.toml');
    const error = await rejection(resolveConfig({ config: file }, tmp));
    expect(error.file).toBe(file);
    expect(error.issues).toHaveLength(1);
    expect(error.issues[0]).toMatchObject({ code: 'toml', path: [] });
    expect(error.message).toMatch(/line 3, column \d+/);
    expect(error.message).toContain(`"${file}"`);
    expect(error.message).toContain('fix the syntax');
    expect(error.message).not.toContain('\n');
  });

  test('several problems at once, each with its key path', async () => {
    const file = join(FIXTURES, 'many-problems.toml');
    const error = await rejection(resolveConfig({ config: file }, tmp));
    expect(error.file).toBe(file);
    expect(error.issues.map((i) => i.path.join('.')).sort()).toEqual(['', 'disabled_plugins', 'timeouts.load', 'version']);
    expect(error.issues).toContainEqual({ code: 'invalid_value', path: ['version'], message: expect.stringContaining('must be 1') as unknown });
    expect(error.issues).toContainEqual({ code: 'too_small', path: ['timeouts', 'load'], message: expect.stringContaining('at least 1 ms') as unknown });
    expect(error.issues).toContainEqual({ code: 'invalid_type', path: ['disabled_plugins'], message: expect.stringContaining('must be a list of plugin names') as unknown });
    expect(error.issues).toContainEqual({ code: 'unrecognized_keys', path: [], message: expect.stringContaining('"plugins_dir" (did you mean "plugin_dir"?)') as unknown });
    expect(error.message).toContain(`"${file}"`);
    expect(error.message).toContain('timeouts.load: ');
  });

  // [label, file text, issue path, issue code, message fragment]
  const cases: [string, string, (string | number)[], string, string][] = [
    ['a missing version', 'root = "r"', ['version'], 'invalid_value', 'put version = 1 at the top of the file'],
    ['version = 2', 'version = 2', ['version'], 'invalid_value', 'must be 1'],
    ['version = "1"', 'version = "1"', ['version'], 'invalid_value', 'must be 1'],
    ['a plugin_dir that is a number', 'version = 1\nplugin_dir = 5', ['plugin_dir'], 'invalid_type', 'must be a path in quotes'],
    ['an empty root', 'version = 1\nroot = ""', ['root'], 'too_small', 'must not be empty'],
    ['a state that is a table', 'version = 1\n[state]\ndir = "s"', ['state'], 'invalid_type', 'must be a path in quotes'],
    ['disabled_plugins that is a string', 'version = 1\ndisabled_plugins = "a.b"', ['disabled_plugins'], 'invalid_type', 'must be a list of plugin names'],
    ['required_plugins holding a number', 'version = 1\nrequired_plugins = ["a.b", 3]', ['required_plugins', 1], 'invalid_type', 'must be a plugin name in quotes'],
    ['a plugin name with a space', 'version = 1\ndisabled_plugins = ["io x.y"]', ['disabled_plugins', 0], 'invalid_format', 'must be a plugin name (type.id)'],
    ['a plugin both disabled and required', 'version = 1\ndisabled_plugins = ["a.b"]\nrequired_plugins = ["c.d", "a.b"]', ['required_plugins', 1], 'custom',
      '"a.b" is also in disabled_plugins'],
    ['allow_insecure = "yes"', 'version = 1\nallow_insecure = "yes"', ['allow_insecure'], 'invalid_type', 'must be true or false'],
    ['timeouts that is a number', 'version = 1\ntimeouts = 5', ['timeouts'], 'invalid_type', 'must be a table: [timeouts]'],
    ['a zero load timeout', 'version = 1\n[timeouts]\nload = 0', ['timeouts', 'load'], 'too_small', 'at least 1 ms'],
    ['a fractional init timeout', 'version = 1\n[timeouts]\ninit = 1.5', ['timeouts', 'init'], 'invalid_type', 'whole number of milliseconds'],
    ['a timeout in quotes', 'version = 1\n[timeouts]\ninit = "30s"', ['timeouts', 'init'], 'invalid_type', 'whole number of milliseconds'],
    ['a timeout longer than Node\'s timers allow', 'version = 1\n[timeouts]\nload = 3000000000', ['timeouts', 'load'], 'too_big', 'at most 2147483647 ms'],
    ['an unknown key in [timeouts] (with a hint)', 'version = 1\n[timeouts]\nlaod = 5', ['timeouts'], 'unrecognized_keys',
      '"laod" (did you mean "load"?); fix the spelling or remove it (known keys: load, init)'],
    ['a top-level typo (with a hint)', 'version = 1\ntimeout = 5', [], 'unrecognized_keys', '"timeout" (did you mean "timeouts"?)'],
    ['a camelCase key (with a hint)', 'version = 1\npluginDir = "p"', [], 'unrecognized_keys', '"pluginDir" (did you mean "plugin_dir"?)'],
    ['a [plugin."<name>"] section (with a hint)', 'version = 1\n[plugin."a.b"]\nx = 1', [], 'unrecognized_keys', '"plugin" (did you mean "plugins"?)'],
    ['unknown keys unlike any known one (no hint)', 'version = 1\nwibble = 1\nids = 2', [], 'unrecognized_keys',
      'unknown keys "wibble", "ids"; fix the spelling or remove them (known keys: version, plugin_dir,'],
    ['plugins that is an array', 'version = 1\nplugins = []', ['plugins'], 'invalid_type', 'must be a table: a [plugins."<name>"] section per plugin'],
    ['a plugin section that is not a table', 'version = 1\n[plugins]\n"a.b" = 5', ['plugins', 'a.b'], 'invalid_type', 'must be a table: [plugins."<name>"]'],
  ];

  test.each(cases)('%s', async (label, text, path, code, fragment) => {
    const file = await configFile(label.replace(/[^A-Za-z0-9]+/g, '-'), `${text}\n`);
    const error = await rejection(resolveConfig({ config: file }, tmp));
    expect(error.file).toBe(file);
    expect(error.issues).toEqual([{ code, path, message: expect.stringContaining(fragment) as unknown }]);
    expect(error.message).toContain(`"${file}"`);
    expect(error.message).toContain(fragment);
    expect(error.message).not.toMatch(/did you mean "(type|id|init|close|config|requires)"/); // no registration hints
  });

  // [label, flags, flag named in the issue]
  const badFlags: [string, ServeFlags, string][] = [
    ['--timeout 0', { timeout: 0 }, '--timeout'],
    ['--timeout 1.5', { timeout: 1.5 }, '--timeout'],
    ['--timeout NaN', { timeout: Number.NaN }, '--timeout'],
    ['--timeout beyond the longest timer', { timeout: 2 ** 31 }, '--timeout'],
    ['an empty --plugins', { plugins: '' }, '--plugins'],
  ];

  test.each(badFlags)('%s', async (_label, flags, flag) => {
    const error = await rejection(resolveConfig(flags, tmp));
    expect(error.file).toBeUndefined();
    expect(error.issues).toEqual([{ code: 'invalid_flag', path: [flag], message: expect.stringContaining(`${flag} takes`) as unknown }]);
  });
});

describe('unknownPluginSections', () => {
  test('names the sections no registered plugin matches, in file order', async () => {
    const config = await resolveConfig({}, join(FIXTURES, 'cwd'));
    expect(unknownPluginSections(config, [])).toEqual(['io.plugd.log.v1.stdout', 'io.plugd.example.v1.stale']);
    expect(unknownPluginSections(config, ['io.plugd.log.v1.stdout', 'io.plugd.other.v1.x'])).toEqual(['io.plugd.example.v1.stale']);
    expect(unknownPluginSections(config, ['io.plugd.example.v1.stale', 'io.plugd.log.v1.stdout'])).toEqual([]);
  });

  test('is empty without sections', async () => {
    expect(unknownPluginSections(await resolveConfig({ config: join(FIXTURES, 'minimal.toml') }, tmp), ['a.b'])).toEqual([]);
  });
});

test('[watch]: the stability window and heap budget of serve --watch, validated', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'plugd-config-watch-'));
  await writeFile(join(dir, 'plugd.toml'), 'version = 1\n[watch]\nquiet_ms = 35\nheap_budget_mb = 64\n');
  expect((await resolveConfig({}, dir)).watch).toEqual({ quietMs: 35, heapBudgetMb: 64 });
  await writeFile(join(dir, 'plugd.toml'), 'version = 1\n[watch]\nquiet_ms = 0\nquiet = 3\n');
  await expect(resolveConfig({}, dir)).rejects.toMatchObject({ code: 'E_CONFIG' });
});
