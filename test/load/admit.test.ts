/**
 * The admission checks ({@link admit}, {@link refusal}) on real plugin directories in temp dirs:
 * which units the permission, path and lock checks refuse, what `allowInsecure` lets through as
 * warnings, what a locked load reports as missing, and how a refusal of the whole directory
 * (`'*'`) combines with a unit's own.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { chmod, mkdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { IntegrityError, PluginPathError, PluginPermissionsError, type PlugdError } from '../../src/core/errors.js';
import { admit, refusal, type Admission, type AdmitOptions } from '../../src/load/admit.js';
import { LOCK_FILE, writeLock } from '../../src/load/integrity.js';
import { listTree } from '../../src/load/scan.js';
import { strictDir } from '../support/strict-dir.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

const PLUGIN = 'export const x = 1;\n';

/** A plugin directory with two single-file plugins and a folder plugin with a sibling module. */
const LAYOUT: Readonly<Record<string, string>> = {
  'a.js': PLUGIN,
  'b.js': PLUGIN,
  'folder/index.js': "export { y } from './lib/util.js';\n",
  'folder/lib/util.js': 'export const y = 2;\n',
};

/** A fresh dir holding `files`, with strict modes whatever the umask. */
async function tempDir(files: Readonly<Record<string, string>> = LAYOUT): Promise<string> {
  return strictDir(files, temps, 'plugd-admit-');
}

/** Adds `file` (0644) to `dir`. */
async function addFile(dir: string, file: string, content = PLUGIN): Promise<void> {
  const path = join(dir, file);
  await mkdir(dirname(path), { recursive: true, mode: 0o755 });
  await writeFile(path, content);
  await chmod(path, 0o644);
}

/** {@link admit} over the whole tree of `dir`, as a full load runs it. */
async function admitAll(dir: string, options: AdmitOptions): Promise<Admission> {
  return admit(dir, await listTree(dir), options);
}

/** The refusals as plain data: unit -> [code, file] of each error, units sorted. */
function refusedSummary(admission: Admission): [string, [string, string][]][] {
  return [...admission.refused.entries()]
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
    .map(([unit, errors]) => [unit, errors.map(describeError)]);
}

/** [code, file] of a plugd error (every admission error names a file). */
function describeError(error: PlugdError): [string, string] {
  return [error.code, String(error.toJSON().file)];
}

describe('admit: no checks asked for', () => {
  test('nothing is checked: a file writable by others and a directory with no lock pass', async () => {
    const dir = await tempDir();
    await chmod(join(dir, 'b.js'), 0o666);
    const admission = await admitAll(dir, {});
    expect(admission.refused.size).toBe(0);
    expect(admission.errors).toEqual([]);
    expect(admission.warnings).toEqual([]);
    expect(admission.lock).toBeUndefined();
  });

  test('permissions: false and locked: false are the same as leaving them out', async () => {
    const dir = await tempDir();
    await chmod(join(dir, 'b.js'), 0o666);
    const admission = await admitAll(dir, { permissions: false, locked: false, allowInsecure: false });
    expect(admission.refused.size).toBe(0);
    expect(admission.lock).toBeUndefined();
  });
});

describe('admit: permissions', () => {
  test('a clean directory (0755 folders, 0644 files, ours) refuses nothing', async () => {
    const dir = await tempDir();
    const admission = await admitAll(dir, { permissions: true });
    expect(admission.refused.size).toBe(0);
    expect(admission.errors).toEqual([]);
    expect(admission.warnings).toEqual([]);
  });

  // What is made writable by others, and the unit refused for it: the file's own unit, the folder
  // plugin for anything inside it, and every unit ('*') for the plugin directory itself.
  const insecure: [string, string, string, number][] = [
    ['a top-level file', 'b.js', 'b.js', 0o666],
    ['a file deep in a folder plugin', 'folder/lib/util.js', 'folder', 0o646],
    ['a folder plugin\'s entry', 'folder/index.js', 'folder', 0o666],
    ['a folder inside a folder plugin', 'folder/lib', 'folder', 0o777],
    ['the folder plugin itself', 'folder', 'folder', 0o757],
    ['the plugin directory itself', '.', '*', 0o777],
  ];

  test.each(insecure)('%s writable by others (%s) refuses unit %s...', async (_what, path, unit, mode) => {
    const dir = await tempDir();
    await chmod(join(dir, path), mode);
    const admission = await admitAll(dir, { permissions: true });
    expect(refusedSummary(admission)).toEqual([[unit, [['E_PLUGIN_PERMISSIONS', path]]]]);
    const [error] = admission.refused.get(unit) ?? [];
    expect(error).toBeInstanceOf(PluginPermissionsError);
    expect((error as PluginPermissionsError).mode).toBe(mode);
    expect(admission.warnings).toEqual([]);
  });

  test.each(insecure)('...and allowInsecure lets %s (%s) through as a warning', async (_what, path, _unit, mode) => {
    const dir = await tempDir();
    await chmod(join(dir, path), mode);
    const admission = await admitAll(dir, { permissions: true, allowInsecure: true });
    expect(admission.refused.size).toBe(0);
    expect(admission.warnings.map(describeError)).toEqual([['E_PLUGIN_PERMISSIONS', path]]);
    expect(admission.warnings[0]).toBeInstanceOf(PluginPermissionsError);
  });

  test('only the unit with the insecure file is refused: the others stay importable', async () => {
    const dir = await tempDir();
    await chmod(join(dir, 'folder/lib/util.js'), 0o666);
    const admission = await admitAll(dir, { permissions: true });
    expect(refusal(admission, 'a.js')).toEqual([]);
    expect(refusal(admission, 'b.js')).toEqual([]);
    expect(refusal(admission, 'folder/index.js').map(describeError)).toEqual([['E_PLUGIN_PERMISSIONS', 'folder/lib/util.js']]);
  });

  test('several findings in one unit are all kept, in file order', async () => {
    const dir = await tempDir();
    await chmod(join(dir, 'folder/lib/util.js'), 0o666);
    await chmod(join(dir, 'folder/index.js'), 0o666);
    const admission = await admitAll(dir, { permissions: true });
    expect(refusedSummary(admission)).toEqual([['folder', [['E_PLUGIN_PERMISSIONS', 'folder/index.js'], ['E_PLUGIN_PERMISSIONS', 'folder/lib/util.js']]]]);
  });

  test('a symlink out of the directory is refused, and a warning under allowInsecure', async () => {
    const outside = await tempDir({ 'elsewhere.js': PLUGIN });
    const dir = await tempDir();
    await symlink(join(outside, 'elsewhere.js'), join(dir, 'c.js'));
    const strict = await admitAll(dir, { permissions: true });
    expect(refusedSummary(strict)).toEqual([['c.js', [['E_PLUGIN_PATH', 'c.js']]]]);
    expect(strict.refused.get('c.js')?.[0]).toBeInstanceOf(PluginPathError);
    expect((strict.refused.get('c.js')?.[0] as PluginPathError).reason).toBe('outside');

    const lax = await admitAll(dir, { permissions: true, allowInsecure: true });
    expect(lax.refused.size).toBe(0);
    expect(lax.warnings.map(describeError)).toEqual([['E_PLUGIN_PATH', 'c.js']]);
  });

  test('allowInsecure does not excuse a dangling symlink: it is refused either way', async () => {
    const dir = await tempDir();
    await symlink(join(dir, 'not-there.js'), join(dir, 'folder', 'gone.js'));
    for (const allowInsecure of [false, true]) {
      const admission = await admitAll(dir, { permissions: true, allowInsecure });
      expect(refusedSummary(admission)).toEqual([['folder', [['E_PLUGIN_PATH', 'folder/gone.js']]]]);
      expect((admission.refused.get('folder')?.[0] as PluginPathError).reason).toBe('dangling');
      expect(admission.warnings).toEqual([]);
    }
  });
});

describe('admit: locked', () => {
  test('a directory that matches its lock refuses nothing and hands the lock on', async () => {
    const dir = await tempDir();
    const { lock } = await writeLock(dir);
    // Not plugin files: a dotfile and the directory's own node_modules are outside the lock and the check.
    await addFile(dir, '.editorconfig', 'root = true\n');
    await addFile(dir, 'node_modules/dep/index.js');
    const admission = await admitAll(dir, { locked: true });
    expect(admission.refused.size).toBe(0);
    expect(admission.errors).toEqual([]);
    expect(admission.lock).toEqual(lock);
    expect(Object.keys(admission.lock?.files ?? {})).toEqual(['a.js', 'b.js', 'folder/index.js', 'folder/lib/util.js']);
  });

  test.each([
    ['a new top-level plugin', 'new.js', 'new.js'],
    ['a new file in a folder plugin', 'folder/lib/extra.js', 'folder'],
    ['a new folder plugin', 'other/index.js', 'other'],
    ['a file that is no module', 'notes.txt', 'notes.txt'],
  ])('%s missing from the lock (%s) refuses its unit %s as unlisted', async (_what, file, unit) => {
    const dir = await tempDir();
    await writeLock(dir);
    await addFile(dir, file);
    const admission = await admitAll(dir, { locked: true });
    expect(refusedSummary(admission)).toEqual([[unit, [['E_INTEGRITY', file]]]]);
    const error = admission.refused.get(unit)?.[0] as IntegrityError;
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.reason).toBe('unlisted');
    expect(admission.errors).toEqual([]);
  });

  test('a locked file that is gone is an error (nothing to refuse), with the hash the lock expected', async () => {
    const dir = await tempDir();
    const { lock } = await writeLock(dir);
    await rm(join(dir, 'folder/lib/util.js'));
    await rm(join(dir, 'b.js'));
    const admission = await admitAll(dir, { locked: true });
    expect(admission.refused.size).toBe(0);
    expect(admission.errors.map((e) => (e instanceof IntegrityError ? [e.code, e.file, e.reason, e.expected] : e)))
      .toEqual([
        ['E_INTEGRITY', 'b.js', 'missing', lock.files['b.js']],
        ['E_INTEGRITY', 'folder/lib/util.js', 'missing', lock.files['folder/lib/util.js']],
      ]);
  });

  test('a changed file is not refused here: hash mismatches are found as the module loads', async () => {
    const dir = await tempDir();
    const { lock } = await writeLock(dir);
    await writeFile(join(dir, 'a.js'), 'export const x = 2;\n');
    const admission = await admitAll(dir, { locked: true });
    expect(admission.refused.size).toBe(0);
    expect(admission.errors).toEqual([]);
    // The lock handed on still holds the old hash, for the load step to compare against.
    expect(admission.lock?.files['a.js']).toBe(lock.files['a.js']);
  });

  // A lock that cannot be used refuses every unit as '*': nothing can be verified.
  test.each<[string, string | undefined]>([
    ['a missing lock', undefined],
    ['a lock that is not JSON', '{ "plugd": '],
    ['a lock with a bad hash', JSON.stringify({ plugd: '0.1.0', files: { 'a.js': 'not-a-sha256' } })],
    ['a lock with a path out of the directory', JSON.stringify({ plugd: '0.1.0', files: { '../a.js': 'a'.repeat(64) } })],
    ['a lock that is an array', '[]'],
  ])('%s refuses every unit as "*"', async (_what, text) => {
    const dir = await tempDir();
    if (text !== undefined) await addFile(dir, LOCK_FILE, text);
    const admission = await admitAll(dir, { locked: true });
    expect(refusedSummary(admission)).toEqual([['*', [['E_INTEGRITY', LOCK_FILE]]]]);
    const error = admission.refused.get('*')?.[0] as IntegrityError;
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error.reason).toBe('missing');
    expect(error.message).toContain(LOCK_FILE);
    expect(admission.lock).toBeUndefined();
    expect(admission.errors).toEqual([]);
    for (const file of ['a.js', 'b.js', 'folder/index.js']) expect(refusal(admission, file)).toEqual([error]);
  });

  test('with permissions too, a lock writable by others refuses every unit: it could have been rewritten', async () => {
    const dir = await tempDir();
    await writeLock(dir);
    await chmod(join(dir, LOCK_FILE), 0o666);
    const admission = await admitAll(dir, { permissions: true, locked: true });
    expect(refusedSummary(admission)).toEqual([['*', [['E_PLUGIN_PERMISSIONS', LOCK_FILE]]]]);
    expect(admission.lock).toBeDefined();
  });
});

describe('refusal', () => {
  test('no admission (no checks ran) refuses nothing', () => {
    expect(refusal(undefined, 'a.js')).toEqual([]);
  });

  test('combines the "*" refusals (first) with those of the unit of the file', async () => {
    const dir = await tempDir();
    await writeLock(dir);
    await addFile(dir, 'new.js');
    await addFile(dir, 'folder/extra.js');
    await chmod(dir, 0o777);
    const admission = await admitAll(dir, { permissions: true, locked: true });
    const all = admission.refused.get('*') ?? [];
    expect(all.map(describeError)).toEqual([['E_PLUGIN_PERMISSIONS', '.']]);
    expect(refusal(admission, 'new.js').map(describeError)).toEqual([['E_PLUGIN_PERMISSIONS', '.'], ['E_INTEGRITY', 'new.js']]);
    // A folder plugin's entry is refused for any file of its folder.
    expect(refusal(admission, 'folder/index.js').map(describeError)).toEqual([['E_PLUGIN_PERMISSIONS', '.'], ['E_INTEGRITY', 'folder/extra.js']]);
    expect(refusal(admission, 'a.js')).toEqual(all);
  });

  test('returns a new array: changing it does not change the admission', async () => {
    const dir = await tempDir();
    await chmod(join(dir, 'a.js'), 0o666);
    const admission = await admitAll(dir, { permissions: true });
    refusal(admission, 'a.js').length = 0;
    expect(refusal(admission, 'a.js')).toHaveLength(1);
  });
});

describe('admit: units (a hot reload of some units)', () => {
  test('permissions: only the files and links of the given units are checked', async () => {
    const dir = await tempDir();
    await chmod(join(dir, 'b.js'), 0o666);
    await symlink(join(dir, 'not-there.js'), join(dir, 'folder', 'gone.js'));
    const units = ['a.js'];
    const admission = await admit(dir, await listTree(dir, units), { permissions: true }, units);
    expect(admission.refused.size).toBe(0);
    expect(admission.warnings).toEqual([]);
  });

  test('permissions: a problem in a given unit is still found', async () => {
    const dir = await tempDir();
    await chmod(join(dir, 'b.js'), 0o666);
    await symlink(join(dir, 'not-there.js'), join(dir, 'folder', 'gone.js'));
    const units = ['folder', 'b.js'];
    const admission = await admit(dir, await listTree(dir, units), { permissions: true }, units);
    expect(refusedSummary(admission)).toEqual([
      ['b.js', [['E_PLUGIN_PERMISSIONS', 'b.js']]],
      ['folder', [['E_PLUGIN_PATH', 'folder/gone.js']]],
    ]);
  });

  test('locked: a file of a given unit missing from the lock is refused', async () => {
    const dir = await tempDir();
    await writeLock(dir);
    await addFile(dir, 'folder/extra.js');
    const units = ['folder'];
    const admission = await admit(dir, await listTree(dir, units), { locked: true }, units);
    expect(refusedSummary(admission)).toEqual([['folder', [['E_INTEGRITY', 'folder/extra.js']]]]);
    // The lock is read whole: the load step checks the digests of every module against it.
    expect(admission.lock).toEqual(JSON.parse(await readFile(join(dir, LOCK_FILE), 'utf8')));
  });

  // A regression test: with `units`, `files` lists only those units, and every other lock entry
  // used to be reported 'missing' - each hot reload of an intact locked directory logged every
  // file of every other unit as refused.
  test('locked: the files of other units are not reported missing', async () => {
    const dir = await tempDir();
    await writeLock(dir);
    const units = ['a.js'];
    const admission = await admit(dir, await listTree(dir, units), { locked: true }, units);
    expect(admission.refused.size).toBe(0);
    expect(admission.errors.map(describeError)).toEqual([]);
  });

  test('locked: a gone file of a given unit is still reported missing', async () => {
    const dir = await tempDir();
    await writeLock(dir);
    await rm(join(dir, 'folder/lib/util.js'));
    const units = ['folder'];
    const admission = await admit(dir, await listTree(dir, units), { locked: true }, units);
    expect(admission.errors.map(describeError)).toContainEqual(['E_INTEGRITY', 'folder/lib/util.js']);
  });
});
