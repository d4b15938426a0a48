/**
 * End-to-end: `plugd check` as a real child process (plain Node, no Jest VM): exit codes,
 * exactly one JSON document, the plugin and error shapes.
 */
import { describe, expect, test } from '@jest/globals';
import { cp, mkdir, readdir, symlink } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { spawnSync } from 'node:child_process';
import { checkDir } from 'plugd/testing';
import { BIN, plugd, tempPluginDir } from '../support/cli.js';

interface Doc {
  ok: boolean;
  plugins: { name: string; type: string; id: string; file: string; requires: string[]; status: string }[];
  errors: Record<string, unknown>[];
  warnings: unknown[];
}

function parse(stdout: string): Doc {
  return JSON.parse(stdout) as Doc;
}

const register = (type: string, id: string, extra = ''): string =>
  `import { register } from 'plugd';\nregister({ type: '${type}', id: '${id}', ${extra} init: async () => ({ id: '${id}' }) });\n`;

describe('plugd check --json', () => {
  test('a clean directory: exit 0 and the JSON document', async () => {
    const run = await plugd(['check', 'fixtures/good', '--json']);
    expect(run.code).toBe(0);
    expect(parse(run.stdout)).toEqual({
      ok: true,
      plugins: [{ name: 'io.plugd.store.v1.memory', type: 'io.plugd.store.v1', id: 'memory', file: 'store.js', requires: [], status: 'ok' }],
      errors: [],
      warnings: [],
    });
  });

  test('a directory outside any package: ESM .js without package.json, bare "plugd" resolves', async () => {
    const dir = await tempPluginDir({
      'a.js': register('io.t.v1', 'a'),
      'folder/index.js': "import { register } from 'plugd';\nimport { id } from './id.js';\nregister({ type: 'io.t.v2', id, requires: ['io.t.v1'], init: () => id });\n",
      'folder/id.js': "export const id = 'from-sibling';\n",
    });
    const run = await plugd(['check', dir, '--json', '--init'], { cwd: '/' });
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    expect(parse(run.stdout).plugins.map((p) => [p.name, p.file, p.status])).toEqual([
      ['io.t.v1.a', 'a.js', 'ok'],
      ['io.t.v2.from-sibling', 'folder/index.js', 'ok'],
    ]);
  });

  test("a plugin that resolves 'plugd' to its own installed copy reaches the host's registry", async () => {
    const project = await tempPluginDir({ 'plugins/own.js': register('io.own.v1', 'copy') });
    const copy = join(project, 'node_modules', 'plugd');
    await mkdir(copy, { recursive: true });
    await cp(resolve('package.json'), join(copy, 'package.json'));
    await cp(resolve('dist/src'), join(copy, 'dist/src'), { recursive: true });
    // The copy's own dependencies, as an install would give them (links: only plugd must be a copy).
    for (const dep of await readdir('node_modules')) {
      if (dep !== 'plugd' && !dep.startsWith('.')) await symlink(resolve('node_modules', dep), join(project, 'node_modules', dep));
    }
    const run = await plugd(['check', join(project, 'plugins'), '--json']);
    expect(run.code).toBe(0);
    expect(parse(run.stdout).plugins.map((p) => p.name)).toEqual(['io.own.v1.copy']);
  });

  test('duplicates: the earlier file in sorted order wins, however the imports interleave', async () => {
    const dir = await tempPluginDir({
      // a.js finishes last, b.js first: ownership must still go to a.js.
      'a.js': `await new Promise((r) => setTimeout(r, 50));\n${register('io.d.v1', 'x')}`,
      'b.js': `${register('io.d.v1', 'x')}register({ type: 'io.d.v1', id: 'only-in-b', init: () => 1 });\n`,
    });
    const runs = await Promise.all([1, 2, 3].map(() => plugd(['check', dir, '--json'])));
    for (const run of runs) {
      expect(run.code).toBe(1);
      expect(run.stdout).toBe(runs[0]?.stdout);
    }
    const doc = parse(runs[0]?.stdout ?? '');
    expect(doc.ok).toBe(false);
    expect(doc.plugins.map((p) => `${p.name} ${p.file}`)).toEqual(['io.d.v1.x a.js']);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_DUPLICATE_PLUGIN', file: 'b.js', plugin: 'io.d.v1.x', firstFile: 'a.js' })]);
  });

  test('every hostile thrown value becomes E_PLUGIN_LOAD naming its file; the host survives', async () => {
    const throws: Record<string, string> = {
      'string.js': "throw 'boom';",
      'number.js': 'throw 42;',
      'bigint.js': 'throw 10n;',
      'undefined.js': 'throw undefined;',
      'null.js': 'throw null;',
      'symbol.js': "throw Symbol('x');",
      'function.js': 'throw function named() {};',
      'object.js': "throw { code: 'x' };",
      'null-proto.js': "throw Object.assign(Object.create(null), { code: 'np' });",
      'proxy.js': 'const t = () => { throw new Error("trap"); };\nthrow new Proxy({}, { get: t, has: t, ownKeys: t, getPrototypeOf: t, getOwnPropertyDescriptor: t, apply: t, construct: t, defineProperty: t, set: t, deleteProperty: t, isExtensible: t, preventExtensions: t, setPrototypeOf: t });',
      'to-primitive.js': "throw { toString() { throw 1; }, get message() { throw 2; }, [Symbol.toPrimitive]() { throw 3; } };",
      'subclass.js': "class MyError extends Error { name = 'MyError'; }\nthrow new MyError('custom');",
      'rejected-tla.js': "await Promise.reject('nope');",
    };
    const files = Object.fromEntries(Object.entries(throws).map(([f, body]) => [f, `${register('io.h.v1', f.replace('.js', ''))}${body}\n`]));
    const dir = await tempPluginDir({ ...files, 'ok.js': register('io.h.v1', 'survivor') });
    const run = await plugd(['check', dir, '--json']);
    expect(run.code).toBe(1);
    const doc = parse(run.stdout);
    expect(doc.plugins.map((p) => p.name)).toEqual(['io.h.v1.survivor']);
    expect(doc.errors.map((e) => [e.code, e.file, e.reason])).toEqual(
      Object.keys(throws).sort().map((f) => ['E_PLUGIN_LOAD', f, 'throw']));
    const message = (file: string): string => String(doc.errors.find((e) => e.file === file)?.message);
    expect(message('string.js')).toContain("'boom'");
    expect(message('number.js')).toContain('42');
    expect(message('symbol.js')).toContain('Symbol(x)');
    expect(message('object.js')).toContain("{ code: 'x' }");
    expect(message('subclass.js')).toContain('MyError: custom');
    for (const e of doc.errors) expect(e).not.toHaveProperty('thrown');
  });

  test('syntax errors, unresolvable imports, a never-settling top-level await: typed, and the process exits', async () => {
    const dir = await tempPluginDir({
      'bad-syntax.js': 'export const = ;\n',
      'bad-import.js': "import 'no-such-package-plugd-test';\n",
      'bad-relative.mjs': "import './missing.js';\n",
      'hang.js': `${register('io.n.v1', 'hang')}await new Promise(() => {});\n`,
      'keeps-loop-alive.js': `setInterval(() => {}, 1000);\n${register('io.n.v1', 'alive')}`,
      'late-throw.js': `setTimeout(() => { throw new Error('after load'); }, 0);\n${register('io.n.v1', 'late-throw')}`,
    });
    const run = await plugd(['check', dir, '--json', '--timeout', '300']);
    expect(run.code).toBe(1);
    const doc = parse(run.stdout);
    expect(doc.errors.map((e) => [e.file, e.code, e.reason])).toEqual([
      ['bad-import.js', 'E_PLUGIN_LOAD', 'resolve'],
      ['bad-relative.mjs', 'E_PLUGIN_LOAD', 'resolve'],
      ['bad-syntax.js', 'E_PLUGIN_LOAD', 'syntax'],
      ['hang.js', 'E_PLUGIN_LOAD', 'timeout'],
      // A throw from a timer while the check runs fails the file its stack names.
      ['late-throw.js', 'E_PLUGIN_LOAD', 'throw'],
    ]);
    expect(doc.plugins.map((p) => p.name)).toEqual(['io.n.v1.alive', 'io.n.v1.late-throw']);
  });

  test('with --init: init order, failed and skipped plugins, and their errors', async () => {
    const dir = await tempPluginDir({
      'a.js': register('io.i.v1', 'needs-b', "requires: ['io.i.v2'],"),
      'b.js': register('io.i.v2', 'b'),
      'c.js': "import { register } from 'plugd';\nregister({ type: 'io.i.v3', id: 'broken', init: () => { throw 'no'; } });\n",
      'd.js': register('io.i.v4', 'needs-broken', "requires: ['io.i.v3'],"),
      'e.js': "import { register, SkipPluginError } from 'plugd';\nregister({ type: 'io.i.v5', id: 'skip', init: () => { throw new SkipPluginError('not here'); } });\n",
    });
    const run = await plugd(['check', dir, '--json', '--init']);
    expect(run.code).toBe(1);
    const doc = parse(run.stdout);
    expect(doc.plugins.map((p) => [p.name, p.status])).toEqual([
      ['io.i.v2.b', 'ok'],
      ['io.i.v1.needs-b', 'ok'],
      ['io.i.v3.broken', 'failed'],
      ['io.i.v4.needs-broken', 'skipped'],
      ['io.i.v5.skip', 'skipped'],
    ]);
    expect(doc.errors.map((e) => [e.code, e.plugin, e.reason ?? e.missing])).toEqual([
      ['E_PLUGIN_INIT', 'io.i.v3.broken', 'throw'],
      ['E_DEPENDENCY', 'io.i.v4.needs-broken', ['io.i.v3']],
    ]);
  });

  test('without --init, unresolvable plugins are listed as unresolved', async () => {
    const dir = await tempPluginDir({
      'a.js': register('io.u.v1', 'a', "requires: ['io.u.missing'],"),
      'b.js': register('io.u.v2', 'b', "requires: ['io.u.v1'],"),
      'c.js': register('io.u.v3', 'c', "requires: ['io.u.v4'],"),
      'd.js': register('io.u.v4', 'd', "requires: ['io.u.v3'],"),
    });
    const run = await plugd(['check', dir, '--json']);
    expect(run.code).toBe(1);
    const doc = parse(run.stdout);
    expect(doc.plugins.map((p) => p.status)).toEqual(['unresolved', 'unresolved', 'unresolved', 'unresolved']);
    expect(doc.errors).toEqual([
      expect.objectContaining({ code: 'E_DEPENDENCY', plugin: 'io.u.v1.a', missing: ['io.u.missing'] }),
      expect.objectContaining({ code: 'E_DEPENDENCY', plugin: 'io.u.v2.b', missing: ['io.u.v1'] }),
      expect.objectContaining({ code: 'E_DEPENDENCY', plugin: 'io.u.v3.c', cycle: ['io.u.v3.c', 'io.u.v4.d'] }),
    ]);
  });

  test('the CLI and plugd/testing (the library, in a worker) agree on every fixture directory', async () => {
    const dirs = (await readdir('fixtures', { withFileTypes: true })).filter((d) => d.isDirectory()).map((d) => join('fixtures', d.name));
    expect(dirs.length).toBeGreaterThan(0);
    for (const dir of dirs) {
      const [run, { report: lib }] = await Promise.all([plugd(['check', dir, '--json', '--timeout', '1000']), checkDir(dir, { timeout: 1000 })]);
      const doc = parse(run.stdout);
      const shape = (d: Doc | typeof lib): unknown => ({
        ok: d.ok,
        plugins: d.plugins,
        errors: d.errors.map((e) => [e.code, e.file, e.plugin, e.firstFile]),
      });
      expect({ dir, ...shape(doc) as object }).toEqual({ dir, ...shape(lib) as object });
      expect(run.code).toBe(doc.ok ? 0 : 1);
    }
  }, 120_000);
});

describe('plugd check --init: hostile plugins', () => {
  test('a skip whose message getter throws, and a wrapped skip, are reported skips; the others start (fixtures/hostile-skip)', async () => {
    const run = await plugd(['check', 'fixtures/hostile-skip', '--init', '--json']);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const doc = parse(run.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.plugins.map((p) => [p.id, p.status])).toEqual([['started', 'ok'], ['skip-getter', 'skipped'], ['wrapped-skip', 'skipped'], ['after', 'ok']]);
  });

  test('a plugin that pollutes Object.prototype.{config,close,requires} changes no other plugin (fixtures/pollution)', async () => {
    const run = await plugd(['check', 'fixtures/pollution', '--init', '--json']);
    expect(run.stderr).toBe('');
    const doc = parse(run.stdout);
    expect(doc.errors).toEqual([]);
    expect(doc.plugins.map((p) => [p.id, p.requires, p.status])).toEqual([['polluter', [], 'ok'], ['victim', [], 'ok']]);
    expect(run.code).toBe(0);
  });
});

describe('plugd check: human output and usage errors', () => {
  test('a table of TYPE, ID, STATUS, FILE and the problems', async () => {
    const dir = await tempPluginDir({ 'a.js': register('io.t.v1', 'a'), 'b.js': 'throw "x";\n' });
    const run = await plugd(['check', dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).toMatch(/^TYPE\s+ID\s+STATUS\s+FILE\n/);
    expect(run.stdout).toMatch(/io\.t\.v1\s+a\s+ok\s+a\.js/);
    expect(run.stdout).toContain('E_PLUGIN_LOAD');
    expect(run.stdout).not.toContain('\u001b['); // no colour when not a TTY
  });

  test('control characters in file names and thrown messages are shown escaped, never raw; JSON keeps them exact', async () => {
    const ESC = String.fromCharCode(27);
    const fake = `\n${ESC}[2J${ESC}[Hok: 0 plugin(s), no problems`;
    const dir = await tempPluginDir({
      'a.js': `throw new Error(${JSON.stringify(fake)});\n`,
      // (A name with a control character is refused, never imported: E_PLUGIN_PATH.)
      [`b${ESC}[31m\tc.js`]: register('io.t.v1', 'b'),
    });
    const run = await plugd(['check', dir]);
    expect(run.code).toBe(1);
    expect(run.stdout).not.toContain(ESC);
    expect(run.stdout).toContain('Error: \\n\\x1b[2J\\x1b[Hok: 0 plugin(s), no problems');
    expect(run.stdout).toContain('E_PLUGIN_PATH  plugin path "b\\u001b[31m\\tc.js" has a control character');
    const json = await plugd(['check', dir, '--json']);
    const doc = parse(json.stdout);
    expect(doc.errors[0]?.message).toContain(fake);
    expect(doc.errors[1]?.file).toBe(`b${ESC}[31m\tc.js`);
  });

  test('on a TTY the table is coloured, unless NO_COLOR is set', () => {
    // script(1) runs the CLI with a real pseudo-terminal as stdout.
    const onTty = (env: NodeJS.ProcessEnv): string => spawnSync('script', ['-qec', `${process.execPath} ${BIN} check fixtures/good`, '/dev/null'],
      { encoding: 'utf8', env }).stdout;
    // A user's colour terminal: Node reads the colour depth from TERM, and turns colour off under CI.
    const env: NodeJS.ProcessEnv = { ...process.env, TERM: 'xterm-256color' };
    delete env.NO_COLOR;
    delete env.CI;
    const coloured = onTty(env);
    expect(coloured).toMatch(/TYPE\s+ID\s+STATUS\s+FILE/);
    expect(coloured).toContain(`${String.fromCharCode(27)}[32mok`);
    expect(onTty({ ...env, NO_COLOR: '1' })).not.toContain(String.fromCharCode(27));
  });

  test.each([
    [['check']],
    [['check', 'fixtures/good', 'extra']],
    [['check', 'fixtures/good', '--timeout', 'soon']],
    [['check', 'fixtures/good', '--timeout', '0']],
    [['check', 'fixtures/good', '--bogus']],
    [['check', 'no/such/dir']],
    [['check', 'package.json']],
    [['frobnicate']],
  ])('%j: exit 2 with one line on stderr, no stack trace', async (args) => {
    const run = await plugd(args);
    expect(run.code).toBe(2);
    expect(run.stdout).toBe('');
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe('plugd check --disable', () => {
  /** containerd's case: a.one requires b and b.x requires a, a cycle only while a.one is enabled. */
  const cycleThroughOne = {
    'a1.js': register('io.t.a.v1', 'one', "requires: ['io.t.b.v1'],"),
    'a2.js': register('io.t.a.v1', 'two'),
    'b.js': register('io.t.b.v1', 'x', "requires: ['io.t.a.v1'],"),
  };

  test('without it, a.one and b.x are a cycle', async () => {
    const run = await plugd(['check', await tempPluginDir(cycleThroughOne), '--json']);
    expect(run.code).toBe(1);
    expect(parse(run.stdout).errors).toMatchObject([{ code: 'E_DEPENDENCY', cycle: ['io.t.a.v1.one', 'io.t.b.v1.x'] }]);
  });

  test.each([[[]], [['--init']]])('a disabled plugin takes no part in ordering: no cycle, the others start (%j)', async (extra) => {
    const run = await plugd(['check', await tempPluginDir(cycleThroughOne), '--json', '--disable', 'io.t.a.v1.one', ...extra]);
    expect(run.stderr).toBe('');
    expect(run.code).toBe(0);
    const doc = parse(run.stdout);
    expect(doc).toMatchObject({ ok: true, errors: [], warnings: [] });
    expect(doc.plugins.map((p) => [p.name, p.status])).toEqual([
      ['io.t.a.v1.one', 'disabled'], ['io.t.a.v1.two', 'ok'], ['io.t.b.v1.x', 'ok'],
    ]);
  });

  test("repeatable; disabling a type's only plugins leaves its dependents with an E_DEPENDENCY naming them", async () => {
    const dir = await tempPluginDir(cycleThroughOne);
    const run = await plugd(['check', dir, '--json', '--init', '--disable', 'io.t.a.v1.one', '--disable=io.t.a.v1.two']);
    expect(run.code).toBe(1);
    const doc = parse(run.stdout);
    expect(doc.plugins.map((p) => [p.name, p.status])).toEqual([
      ['io.t.a.v1.one', 'disabled'], ['io.t.a.v1.two', 'disabled'], ['io.t.b.v1.x', 'skipped'],
    ]);
    expect(doc.errors).toMatchObject([{ code: 'E_DEPENDENCY', plugin: 'io.t.b.v1.x', missing: ['io.t.a.v1'] }]);
    expect(doc.errors[0]?.message).toContain('"io.t.a.v1.one" is disabled');
  });

  test("a disabled '*' plugin does not block its type", async () => {
    const dir = await tempPluginDir({
      'needs.js': register('io.t.user.v1', 'needs', "requires: ['io.t.s.v1'],"),
      's1.js': register('io.t.s.v1', 'star', "requires: ['*'],"),
      's2.js': register('io.t.s.v1', 'plain'),
    });
    const before = await plugd(['check', dir, '--json']);
    expect(before.code).toBe(1);
    expect(before.stdout).toContain('requiring the type of a \\"*\\" plugin is a cycle');
    const run = await plugd(['check', dir, '--json', '--init', '--disable', 'io.t.s.v1.star']);
    expect(run.code).toBe(0);
    // Init order: the plain plugin before the one that needs its type; the disabled one at its registration place.
    expect(parse(run.stdout).plugins.map((p) => [p.name, p.status])).toEqual([
      ['io.t.s.v1.plain', 'ok'], ['io.t.user.v1.needs', 'ok'], ['io.t.s.v1.star', 'disabled'],
    ]);
  });

  test('a name no plugin has is a warning (E_CONFIG, with a hint), not an error', async () => {
    const dir = await tempPluginDir(cycleThroughOne);
    const run = await plugd(['check', dir, '--json', '--disable', 'io.t.a.v1.onr', '--disable', 'io.t.a.v1.one']);
    expect(run.code).toBe(0);
    const doc = parse(run.stdout);
    expect(doc.ok).toBe(true);
    expect(doc.warnings).toEqual([{
      code: 'E_CONFIG', message: expect.stringContaining('--disable "io.t.a.v1.onr" disables nothing') as unknown,
      issues: [{ code: 'unknown_plugin', path: ['--disable'], message: 'no registered plugin is called "io.t.a.v1.onr" (did you mean "io.t.a.v1.one"?)' }],
    }]);
    const human = await plugd(['check', dir, '--disable', 'io.t.a.v1.onr', '--disable', 'io.t.a.v1.one']);
    expect(human.code).toBe(0);
    expect(human.stdout).toMatch(/1 warning\(s\):\n {2}E_CONFIG {2}--disable "io\.t\.a\.v1\.onr" disables nothing: .*did you mean "io\.t\.a\.v1\.one"/);
    expect(human.stdout).toMatch(/io\.t\.a\.v1\s+one\s+disabled\s+a1\.js/);
  });

  test('--disable without a name is a usage error', async () => {
    const run = await plugd(['check', 'fixtures/good', '--disable']);
    expect(run.code).toBe(2);
    expect(run.stderr.trim().split('\n')).toHaveLength(1);
  });
});

describe('plugd check: a folder with both index.js and index.mjs', () => {
  test('is one E_PLUGIN_LOAD on the folder naming both files; neither is loaded, nothing else is affected', async () => {
    const dir = await tempPluginDir({
      'a.js': register('io.t.v1', 'a'),
      'both/index.js': register('io.t.v1', 'from-js'),
      'both/index.mjs': register('io.t.v1', 'from-mjs'),
      'c/index.mjs': register('io.t.v2', 'c', "requires: ['io.t.v1'],"),
    });
    for (const extra of [[], ['--init']]) {
      const run = await plugd(['check', dir, '--json', ...extra]);
      expect(run.code).toBe(1);
      const doc = parse(run.stdout);
      expect(doc.errors).toEqual([{
        code: 'E_PLUGIN_LOAD', file: 'both', reason: 'ambiguous',
        message: 'plugin folder "both" has both "both/index.js" and "both/index.mjs", so its entry is ambiguous and neither is loaded; remove or rename one of them',
      }]);
      expect(doc.plugins.map((p) => [p.name, p.file, p.status])).toEqual([['io.t.v1.a', 'a.js', 'ok'], ['io.t.v2.c', 'c/index.mjs', 'ok']]);
    }
  });
});
