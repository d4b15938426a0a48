/**
 * End-to-end: integrity and permissions through the real CLI - permission and path refusals, the lock,
 * and --allow-insecure - plus the lock's guarantee that the bytes checked are the bytes imported.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { chmod, chown, mkdir, readFile, symlink, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { plugd, tempPluginDir } from '../support/cli.js';
import { msg, serve, type DaemonProcess } from '../support/daemon.js';

interface Doc {
  ok: boolean;
  plugins: { name: string; file: string }[];
  errors: Record<string, unknown>[];
  warnings: Record<string, unknown>[];
}

const register = (id: string): string => `import { register } from 'plugd';\nregister({ type: 'io.sec.v1', id: '${id}', init: () => ({}) });\n`;

async function check(dir: string, ...flags: string[]): Promise<{ code: number | null; doc: Doc }> {
  const run = await plugd(['check', dir, '--json', ...flags]);
  return { code: run.code, doc: JSON.parse(run.stdout) as Doc };
}

describe('permissions and paths', () => {
  test('a file writable by others is refused (E_PLUGIN_PERMISSIONS, with the fix); --allow-insecure warns and loads it', async () => {
    const dir = await tempPluginDir({ 'a.js': register('a'), 'b.js': register('b') });
    await chmod(join(dir, 'b.js'), 0o666);
    const strict = await check(dir);
    expect(strict.code).toBe(1);
    expect(strict.doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.a']);
    expect(strict.doc.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PERMISSIONS', file: 'b.js', mode: 0o666 })]);
    expect(String(strict.doc.errors[0]?.message)).toContain('chmod go-w');
    const lax = await check(dir, '--allow-insecure');
    expect(lax.code).toBe(0);
    expect(lax.doc.ok).toBe(true);
    expect(lax.doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.a', 'io.sec.v1.b']);
    expect(lax.doc.warnings).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PERMISSIONS', file: 'b.js' })]);
  });

  test('a package a plugin loads from outside its directory, writable by others, is refused as it loads; --allow-insecure loads it', async () => {
    const project = await tempPluginDir({
      'node_modules/shared-pkg/package.json': '{ "name": "shared-pkg", "type": "module", "exports": "./index.js" }',
      'node_modules/shared-pkg/index.js': 'export const value = 1;\n',
      'plugins/a.js': "import { register } from 'plugd';\nimport { value } from 'shared-pkg';\nregister({ type: 'io.sec.v1', id: 'a' + value, init: () => ({}) });\n",
      'plugins/b.js': register('b'),
    });
    const pkg = join(project, 'node_modules/shared-pkg/index.js');
    await chmod(pkg, 0o666);
    const strict = await check(join(project, 'plugins'));
    expect(strict.code).toBe(1);
    expect(strict.doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.b']);
    expect(strict.doc.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PERMISSIONS', file: '../node_modules/shared-pkg/index.js', mode: 0o666 })]);
    expect(String(strict.doc.errors[0]?.message)).toContain(`chmod go-w "${pkg}"`);
    const lax = await check(join(project, 'plugins'), '--allow-insecure');
    expect(lax.doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.a1', 'io.sec.v1.b']);
  });

  test("a folder plugin's own node_modules file writable by others is refused too", async () => {
    const dir = await tempPluginDir({
      'f/node_modules/own-pkg/package.json': '{ "name": "own-pkg", "type": "module", "exports": "./index.js" }',
      'f/node_modules/own-pkg/index.js': 'export const id = "own";\n',
      'f/index.js': "import { register } from 'plugd';\nimport { id } from 'own-pkg';\nregister({ type: 'io.sec.v1', id, init: () => ({}) });\n",
    });
    await chmod(join(dir, 'f/node_modules/own-pkg/index.js'), 0o646);
    const { code, doc } = await check(dir);
    expect(code).toBe(1);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PERMISSIONS', file: 'f/node_modules/own-pkg/index.js', mode: 0o646 })]);
  });

  test('an import that leaves the directory through a link the admission did not see is refused as Node resolves it', async () => {
    const outside = await tempPluginDir({ 'x.js': 'export const id = "outside";\n' });
    const dir = await tempPluginDir({
      'a.js': "import { register } from 'plugd';\nimport { id } from './.impl/x.js';\nregister({ type: 'io.sec.v1', id, init: () => ({}) });\n",
      'b.js': register('b'),
    });
    // A dot-folder is no plugin's and is not walked before the load: only the import finds the link.
    await symlink(outside, join(dir, '.impl'));
    const strict = await check(dir);
    expect(strict.code).toBe(1);
    expect(strict.doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.b']);
    expect(strict.doc.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PATH', file: '.impl/x.js', reason: 'outside', target: join(outside, 'x.js') })]);
    const lax = await check(dir, '--allow-insecure');
    expect(lax.doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.outside', 'io.sec.v1.b']);
  });

  test('a plugin directory writable by others refuses every plugin in it', async () => {
    const dir = await tempPluginDir({ 'a.js': register('a') });
    await chmod(dir, 0o777);
    const { code, doc } = await check(dir);
    expect(code).toBe(1);
    expect(doc.plugins).toEqual([]);
    expect(doc.errors).toContainEqual(expect.objectContaining({ code: 'E_PLUGIN_PERMISSIONS', file: '.' }));
  });

  test('a file owned by another user is refused', async () => {
    if (process.getuid?.() !== 0) return; // only root can give a file away (CI runs as root)
    const dir = await tempPluginDir({ 'a.js': register('a') });
    await chown(join(dir, 'a.js'), 12345, 12345);
    const { doc } = await check(dir);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PERMISSIONS', file: 'a.js', owner: 12345 })]);
  });

  test('a symlink out of the directory is E_PLUGIN_PATH (a warning under --allow-insecure); loops and dangling links stay errors', async () => {
    const outside = await tempPluginDir({ 'x.js': register('outside') });
    const dir = await tempPluginDir({ 'a.js': register('a') });
    await symlink(join(outside, 'x.js'), join(dir, 'out.js'));
    await symlink(join(dir, 'nowhere.js'), join(dir, 'dangling.js'));
    await mkdir(join(dir, 'loop'));
    await symlink('..', join(dir, 'loop', 'up'));
    const strict = await check(dir);
    expect(strict.code).toBe(1);
    const codes = strict.doc.errors.map((e) => [e.code, e.file, e.reason]);
    expect(codes).toContainEqual(['E_PLUGIN_PATH', 'out.js', 'outside']);
    expect(codes).toContainEqual(['E_PLUGIN_PATH', 'dangling.js', 'dangling']);
    expect(codes.some(([code, file, reason]) => code === 'E_PLUGIN_PATH' && String(file).startsWith('loop') && reason === 'loop')).toBe(true);
    expect(strict.doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.a']);
    const lax = await check(dir, '--allow-insecure');
    expect(lax.doc.warnings).toContainEqual(expect.objectContaining({ code: 'E_PLUGIN_PATH', file: 'out.js', reason: 'outside' }));
    expect(lax.doc.errors.map((e) => e.reason).sort()).toEqual(['dangling', 'loop']);
    expect(lax.doc.plugins.map((p) => p.name)).toContain('io.sec.v1.outside');
  });
});

describe('the lock', () => {
  test('plugd lock writes sorted, stable JSON; check --locked accepts the locked directory', async () => {
    const dir = await tempPluginDir({ 'b.js': register('b'), 'a.js': register('a'), 'f/index.js': "import './h.js';\n", 'f/h.js': register('h') });
    const lock = await plugd(['lock', dir]);
    expect(lock.code).toBe(0);
    const text = await readFile(join(dir, 'plugd.lock'), 'utf8');
    const parsed = JSON.parse(text) as { plugd: string; files: Record<string, string> };
    expect(Object.keys(parsed.files)).toEqual(['a.js', 'b.js', 'f/h.js', 'f/index.js']);
    expect(parsed.files['a.js']).toMatch(/^[0-9a-f]{64}$/);
    await plugd(['lock', dir]);
    expect(await readFile(join(dir, 'plugd.lock'), 'utf8')).toBe(text);
    const { code, doc } = await check(dir, '--locked');
    expect(code).toBe(0);
    expect(doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.a', 'io.sec.v1.b', 'io.sec.v1.h']);
  });

  test('check --locked refuses a changed file, a file added after locking, and reports a locked file that is gone', async () => {
    const dir = await tempPluginDir({ 'a.js': register('a'), 'b.js': register('b'), 'c.js': register('c'), 'd.js': register('d') });
    await plugd(['lock', dir]);
    const locked = (JSON.parse(await readFile(join(dir, 'plugd.lock'), 'utf8')) as { files: Record<string, string> }).files;
    await writeFile(join(dir, 'b.js'), register('b-changed'));
    await writeFile(join(dir, 'new.js'), register('new'));
    await import('node:fs/promises').then((fs) => fs.rm(join(dir, 'c.js')));
    const { code, doc } = await check(dir, '--locked');
    expect(code).toBe(1);
    expect(doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.a', 'io.sec.v1.d']);
    const byFile = new Map(doc.errors.map((e) => [e.file, e]));
    expect(byFile.get('b.js')).toMatchObject({ code: 'E_INTEGRITY', reason: 'mismatch', expected: locked['b.js'] });
    expect(byFile.get('b.js')?.actual).toMatch(/^[0-9a-f]{64}$/);
    expect(byFile.get('new.js')).toMatchObject({ code: 'E_INTEGRITY', reason: 'unlisted' });
    expect(byFile.get('c.js')).toMatchObject({ code: 'E_INTEGRITY', reason: 'missing', expected: locked['c.js'] });
    // Without --locked the lock is not consulted.
    expect((await check(dir)).doc.plugins).toHaveLength(4);
  });

  test('check --locked hashes every module a plugin loads from the directory: a changed sibling refuses its importer', async () => {
    const dir = await tempPluginDir({
      'lib/value.js': 'export const value = 1;\n',
      'a.js': "import { register } from 'plugd';\nimport { value } from './lib/value.js';\nregister({ type: 'io.sec.v1', id: 'a' + value, init: () => ({}) });\n",
      'b.js': register('b'),
    });
    await plugd(['lock', dir]);
    await writeFile(join(dir, 'lib/value.js'), 'export const value = 2;\n');
    const { code, doc } = await check(dir, '--locked');
    expect(code).toBe(1);
    expect(doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.b']);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_INTEGRITY', file: 'lib/value.js', reason: 'mismatch' })]);
  });

  test("check --locked hashes a folder plugin's own packages too: a changed one refuses the plugin", async () => {
    const dir = await tempPluginDir({
      'f/node_modules/own-pkg/package.json': '{ "name": "own-pkg", "type": "module", "exports": "./index.js" }',
      'f/node_modules/own-pkg/index.js': 'export const id = "own";\n',
      'f/index.js': "import { register } from 'plugd';\nimport { id } from 'own-pkg';\nregister({ type: 'io.sec.v1', id, init: () => ({}) });\n",
    });
    await plugd(['lock', dir]);
    expect((await check(dir, '--locked')).doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.own']);
    await writeFile(join(dir, 'f/node_modules/own-pkg/index.js'), 'export const id = "swapped";\n');
    const { code, doc } = await check(dir, '--locked');
    expect(code).toBe(1);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_INTEGRITY', file: 'f/node_modules/own-pkg/index.js', reason: 'mismatch' })]);
  });

  test('check --locked without a lock file refuses everything with E_INTEGRITY', async () => {
    const dir = await tempPluginDir({ 'a.js': register('a') });
    const { code, doc } = await check(dir, '--locked');
    expect(code).toBe(1);
    expect(doc.plugins).toEqual([]);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_INTEGRITY', file: 'plugd.lock', reason: 'missing' })]);
    expect(String(doc.errors[0]?.message)).toContain('plugd lock');
  });
});

describe('plugd serve', () => {
  const daemons: DaemonProcess[] = [];
  afterEach(async () => {
    for (const d of daemons.splice(0)) if (d.child.exitCode === null) { d.child.kill('SIGKILL'); await d.exited(); }
  });
  const ls = async (state: string): Promise<{ plugins: { name: string; status: string }[]; files: { file: string; status: string; error?: { code: string } }[] }> =>
    JSON.parse((await plugd(['ls', '--state', state, '--json'])).stdout) as never;

  test('refuses an insecure file by default and names it; --allow-insecure runs it with a warning', async () => {
    const dir = await tempPluginDir({ 'plugins/a.js': register('a'), 'plugins/b.js': register('b') });
    await chmod(join(dir, 'plugins/b.js'), 0o666);
    const strict = serve([], dir);
    daemons.push(strict);
    await strict.waitFor(msg('ready'));
    expect(await strict.waitFor(msg('plugin file failed to load', { file: 'b.js' }))).toMatchObject({ code: 'E_PLUGIN_PERMISSIONS' });
    const doc = await ls(join(dir, '.plugd/state'));
    expect(doc.plugins.map((p) => p.name)).toEqual(['io.sec.v1.a']);
    expect(doc.files.find((f) => f.file === 'b.js')).toMatchObject({ status: 'failed', error: { code: 'E_PLUGIN_PERMISSIONS' } });
    strict.child.kill('SIGTERM');
    expect(await strict.exited()).toBe(0);
    const lax = serve(['--allow-insecure'], dir);
    daemons.push(lax);
    await lax.waitFor(msg('ready'));
    expect(await lax.waitFor(msg('insecure plugin file allowed', { file: 'b.js' }))).toMatchObject({ code: 'E_PLUGIN_PERMISSIONS' });
    expect((await ls(join(dir, '.plugd/state'))).plugins.map((p) => p.name)).toEqual(['io.sec.v1.a', 'io.sec.v1.b']);
  });

  test('--watch --locked: a changed file is refused until the lock is updated, then it goes live', async () => {
    const dir = await tempPluginDir({ 'plugins/a.js': register('a') });
    const plugins = join(dir, 'plugins');
    expect((await plugd(['lock', plugins])).code).toBe(0);
    const d = serve(['--watch', '--locked'], dir);
    daemons.push(d);
    await d.waitFor(msg('ready'));
    await writeFile(join(plugins, 'a.js'), register('a') + '// changed\n');
    expect(await d.waitFor(msg('reload', { file: 'a.js', result: 'failed' }))).toMatchObject({ code: 'E_INTEGRITY' });
    const state = join(dir, '.plugd/state');
    expect((await ls(state)).files[0]).toMatchObject({ status: 'loaded', error: { code: 'E_INTEGRITY' } });
    expect((await plugd(['lock', plugins])).code).toBe(0);
    expect(await d.waitFor(msg('reload', { file: 'a.js', result: 'live' }))).toMatchObject({ generation: 2 });
  });
});
