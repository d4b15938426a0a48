/**
 * End-to-end: paths that are not regular files, through the real CLI. A FIFO where plugd expects
 * the lock, the config or a plugin opens for reading only once a writer comes: each of these runs
 * must return promptly (well within its own timeout, far below Jest's) with a typed error naming
 * the file, never hang. A dangling link or a name with a newline in it is reported, not skipped.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { symlink } from 'node:fs/promises';
import { join } from 'node:path';
import { plugd, tempPluginDir } from '../support/cli.js';
import { daemonsPerTest, msg } from '../support/daemon.js';

/** How long a run may take before it counts as hung: generous for a loaded machine, far below the test timeout. */
const PROMPT = 8_000;
const TEST_TIMEOUT = 15_000;

const register = (id: string): string => `import { register } from 'plugd';\nregister({ type: 'io.nf.v1', id: '${id}', init: () => ({}) });\n`;
const mkfifo = (path: string): void => { execFileSync('mkfifo', [path]); };

interface Doc {
  plugins: { name: string }[];
  errors: { code: string; file: string; reason?: string; message: string }[];
}

const start = daemonsPerTest();
const dirs: string[] = [];
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});

async function temp(files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await tempPluginDir(files);
  dirs.push(dir);
  return dir;
}

async function check(dir: string, ...flags: string[]): Promise<{ code: number | null; doc: Doc }> {
  const run = await plugd(['check', dir, '--json', ...flags], { timeoutMs: PROMPT });
  return { code: run.code, doc: JSON.parse(run.stdout) as Doc };
}

describe('a FIFO in place of a file plugd reads', () => {
  test('check --locked with a FIFO plugd.lock: E_INTEGRITY on plugd.lock, saying it is a FIFO', async () => {
    const dir = await temp({ 'a.js': register('a') });
    mkfifo(join(dir, 'plugd.lock'));
    const { code, doc } = await check(dir, '--locked');
    expect(code).toBe(1);
    expect(doc.plugins).toEqual([]);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_INTEGRITY', file: 'plugd.lock' })]);
    expect(doc.errors[0]?.message).toMatch(/is a FIFO \(named pipe\), not a regular file; remove it and run "plugd lock/);
  }, TEST_TIMEOUT);

  test('serve --config <FIFO>: exit 2 with E_CONFIG naming the file', async () => {
    const dir = await temp({ 'plugins/a.js': register('a') });
    mkfifo(join(dir, 'fifo.toml'));
    const run = await plugd(['serve', '--config', 'fifo.toml'], { cwd: dir, timeoutMs: PROMPT });
    expect(run.code).toBe(2);
    expect(run.stderr).toContain(`the config file "${join(dir, 'fifo.toml')}" is a FIFO (named pipe), not a regular file`);
  }, TEST_TIMEOUT);

  test('serve and ls with a FIFO ./plugd.toml: exit 2 naming it, not a hang', async () => {
    const dir = await temp({ 'plugins/a.js': register('a') });
    mkfifo(join(dir, 'plugd.toml'));
    for (const args of [['serve'], ['ls']]) {
      const run = await plugd(args, { cwd: dir, timeoutMs: PROMPT });
      expect([args[0], run.code]).toEqual([args[0], 2]);
      expect(run.stderr).toContain(`"${join(dir, 'plugd.toml')}" is a FIFO (named pipe), not a regular file`);
    }
  }, TEST_TIMEOUT);

  test('serve --watch --locked with a FIFO plugd.lock: ready, every plugin refused with E_INTEGRITY, and SIGTERM stops it', async () => {
    const dir = await temp({ 'plugins/a.js': register('a') });
    mkfifo(join(dir, 'plugins/plugd.lock'));
    const d = start(['--watch', '--locked', '--plugins', 'plugins', '--state', '.plugd/state', '--root', '.plugd/root'], dir);
    const refused = await d.waitFor(msg('plugin file failed to load', { file: 'a.js', code: 'E_INTEGRITY' }), PROMPT);
    expect(String(refused.err)).toContain('FIFO');
    await d.waitFor(msg('ready'), PROMPT);
    d.child.kill('SIGTERM');
    expect(await d.exited()).toBe(0);
  }, TEST_TIMEOUT);
});

describe('plugin entries that are not regular files', () => {
  test('a FIFO entry, a FIFO folder index and a dangling link: E_PLUGIN_PATH each, never imported; the rest loads', async () => {
    const dir = await temp({ 'a.js': register('a'), 'folder/lib.js': 'export {};\n' });
    mkfifo(join(dir, 'b.js'));
    mkfifo(join(dir, 'folder/index.js'));
    await symlink('nowhere.js', join(dir, 'c.js'));
    const { code, doc } = await check(dir);
    expect(code).toBe(1);
    expect(doc.plugins.map((p) => p.name)).toEqual(['io.nf.v1.a']);
    expect(doc.errors).toEqual([
      expect.objectContaining({ code: 'E_PLUGIN_PATH', file: 'b.js', reason: 'not-a-file', target: 'a FIFO (named pipe)' }),
      expect.objectContaining({ code: 'E_PLUGIN_PATH', file: 'c.js', reason: 'dangling', target: 'nowhere.js' }),
      expect.objectContaining({ code: 'E_PLUGIN_PATH', file: 'folder/index.js', reason: 'not-a-file' }),
    ]);
    expect(doc.errors[0]?.message).toBe('plugin path "b.js" is a FIFO (named pipe), not a regular file, and is never imported; replace it with the plugin\'s file, or remove it');
  }, TEST_TIMEOUT);

  test('the same without the checks (check --allow-insecure still refuses them)', async () => {
    const dir = await temp({ 'a.js': register('a') });
    mkfifo(join(dir, 'b.js'));
    const { doc } = await check(dir, '--allow-insecure');
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PATH', file: 'b.js', reason: 'not-a-file' })]);
  }, TEST_TIMEOUT);

  test('plugd lock with a FIFO entry returns, and does not list it', async () => {
    const dir = await temp({ 'a.js': register('a') });
    mkfifo(join(dir, 'b.js'));
    const run = await plugd(['lock', dir], { timeoutMs: PROMPT });
    expect(run.code).toBe(0);
    const { doc } = await check(dir, '--locked');
    expect(doc.plugins.map((p) => p.name)).toEqual(['io.nf.v1.a']);
    expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PATH', file: 'b.js', reason: 'not-a-file' })]);
  }, TEST_TIMEOUT);
});

describe('a plugin file whose name has a newline', () => {
  test('is reported as E_PLUGIN_PATH (bad-name), its name escaped in the message, not skipped', async () => {
    const dir = await temp({ 'a.js': register('a'), 'evil\nname.js': register('evil') });
    for (const flags of [[], ['--allow-insecure']]) {
      const { code, doc } = await check(dir, ...flags);
      expect(code).toBe(1);
      expect(doc.plugins.map((p) => p.name)).toEqual(['io.nf.v1.a']);
      expect(doc.errors).toEqual([expect.objectContaining({ code: 'E_PLUGIN_PATH', file: 'evil\nname.js', reason: 'bad-name' })]);
      expect(doc.errors[0]?.message).toContain('plugin path "evil\\nname.js" has a control character');
    }
    const human = await plugd(['check', dir], { timeoutMs: PROMPT });
    expect(human.stdout).toContain('"evil\\nname.js"');
    expect(human.stdout).not.toContain('evil\nname');
  }, TEST_TIMEOUT);

  test('serve reports it on the file, and plugd ls shows the name escaped, on one line', async () => {
    const dir = await temp({ 'plugins/a.js': register('a'), 'plugins/evil\nname.js': register('evil') });
    const d = start(['--plugins', 'plugins', '--state', '.plugd/state', '--root', '.plugd/root'], dir);
    await d.waitFor(msg('ready'), PROMPT);
    const json = await plugd(['ls', '--json', '--state', '.plugd/state'], { cwd: dir, timeoutMs: PROMPT });
    const doc = JSON.parse(json.stdout) as { files: { file: string; status: string; error?: { code: string } }[] };
    expect(doc.files).toContainEqual(expect.objectContaining({ file: 'evil\nname.js', status: 'failed', error: expect.objectContaining({ code: 'E_PLUGIN_PATH' }) as unknown }));
    const human = await plugd(['ls', '--state', '.plugd/state'], { cwd: dir, timeoutMs: PROMPT });
    expect(human.stdout).toContain('  evil\\nname.js  E_PLUGIN_PATH  plugin path "evil\\nname.js" has a control character');
    expect(human.stdout).not.toContain('evil\nname');
  }, TEST_TIMEOUT);
});
