/**
 * Integrity and permissions on real files in temp dirs: modes, owners,
 * symlinks out of the directory, loops and dangling links; hashing, the lock file, comparing.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { chmod, chown, readFile, readdir, rm, stat, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ErrorCodes, IntegrityError, PluginPathError, PluginPermissionsError } from '../../src/core/errors.js';
import { privateGroup } from '../../src/load/file-mode.js';
import { LOCK_FILE, checkPermissions, hashFiles, readLock, writeLock, type Finding, type Lock } from '../../src/load/integrity.js';
import { listTree } from '../../src/load/scan.js';
import { version } from '../../src/util/version.js';
import { sharedGroup } from '../support/groups.js';
import { strictDir } from '../support/strict-dir.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

const uid = process.getuid?.() ?? 0;
const owners = uid === 0 ? [0] : [uid, 0];
const asRoot = uid === 0;

/** A fresh dir holding `files`, with strict modes whatever the umask. */
async function tempDir(files: Readonly<Record<string, string>> = {}): Promise<string> {
  return strictDir(files, temps, 'plugd-integrity-');
}

const PLUGIN = "export const x = 1;\n";

/** The findings as plain data: [file, code, reason, insecureOk]. */
function summary(findings: readonly Finding[]): [string, string, string | undefined, boolean][] {
  return findings.map((f) => [f.error.file, f.error.code, 'reason' in f.error ? f.error.reason : undefined, f.insecureOk]);
}

async function checkTree(dir: string, options?: { uid?: number }): Promise<Finding[]> {
  return checkPermissions(dir, await listTree(dir), options);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

describe('checkPermissions: modes and owners', () => {
  test('a clean directory (0755 folders, 0644 files, ours) has no findings', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, 'folder/index.js': PLUGIN, 'folder/lib/util.js': PLUGIN, 'notes.txt': 'x' });
    expect(await checkTree(dir)).toEqual([]);
  });

  test('a 0666 plugin file: E_PLUGIN_PERMISSIONS with the mode, the owners and the fix, let through by --allow-insecure', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, 'b.js': PLUGIN });
    await chmod(join(dir, 'b.js'), 0o666);
    const findings = await checkTree(dir);
    expect(summary(findings)).toEqual([['b.js', 'E_PLUGIN_PERMISSIONS', undefined, true]]);
    const error = findings[0]!.error as PluginPermissionsError;
    expect(error).toBeInstanceOf(PluginPermissionsError);
    expect(error).toMatchObject({ name: 'PluginPermissionsError', code: ErrorCodes.PLUGIN_PERMISSIONS, file: 'b.js', mode: 0o666, owner: uid, expectedOwner: owners });
    expect(error.message).toContain('"b.js"');
    expect(error.message).toMatch(/writable by (group and )?others/);
    expect(error.message).toContain('0666');
    expect(error.message).toContain(`chmod go-w "${join(dir, 'b.js')}"`);
    expect(error.message).toContain('--allow-insecure');
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      code: 'E_PLUGIN_PERMISSIONS', message: error.message, file: 'b.js', mode: 0o666, owner: uid, expectedOwner: owners,
    });
  });

  test('a 0777 plugin directory is reported as "."; a folder and a file writable by others by their paths', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, 'folder/index.js': PLUGIN, 'folder/helper.js': PLUGIN });
    await chmod(dir, 0o777);
    await chmod(join(dir, 'folder'), 0o757);
    await chmod(join(dir, 'folder/helper.js'), 0o646);
    const findings = await checkTree(dir);
    expect(summary(findings)).toEqual([
      ['.', 'E_PLUGIN_PERMISSIONS', undefined, true],
      ['folder', 'E_PLUGIN_PERMISSIONS', undefined, true],
      ['folder/helper.js', 'E_PLUGIN_PERMISSIONS', undefined, true],
    ]);
    expect(findings.map((f) => (f.error as PluginPermissionsError).mode)).toEqual([0o777, 0o757, 0o646]);
    expect(findings[0]!.error.message).toMatch(/^the plugin directory ".*" is writable by (group and )?others/);
    expect(findings[2]!.error.message).toContain('writable by others');
  });

  test("group-writable files and folders pass when their group is their owner's alone (umask 002, Debian's OpenSSH rule)", async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, 'folder/index.js': PLUGIN });
    const { gid } = await stat(dir);
    if (!privateGroup(gid, uid)) return; // this user's files are in a shared group here: nothing to show
    await chmod(dir, 0o775);
    await chmod(join(dir, 'folder'), 0o775);
    await chmod(join(dir, 'a.js'), 0o664);
    await chmod(join(dir, 'folder/index.js'), 0o664);
    expect(await checkTree(dir)).toEqual([]);
  });

  (asRoot ? test : test.skip)('a group-writable file whose group has other members is refused (runs as root)', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, 'b.js': PLUGIN });
    const shared = sharedGroup(uid);
    await chown(join(dir, 'b.js'), uid, shared);
    await chmod(join(dir, 'b.js'), 0o664);
    const findings = await checkTree(dir);
    expect(summary(findings)).toEqual([['b.js', 'E_PLUGIN_PERMISSIONS', undefined, true]]);
    expect(findings[0]!.error.message).toContain('writable by its group, which has other members');
    // The same mode in the owner's own group passes.
    await chown(join(dir, 'b.js'), uid, 0);
    expect(await checkTree(dir)).toEqual([]);
  });

  test('only the given files are checked (and the folders on their way)', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, 'b.js': PLUGIN });
    await chmod(join(dir, 'b.js'), 0o666);
    expect(await checkPermissions(dir, ['a.js'])).toEqual([]);
  });

  test('a file owned by the daemon user or root passes; options.uid names the daemon user', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN });
    // Owned by us: with another daemon uid, only root's and that uid's files pass.
    const findings = await checkTree(dir, { uid: uid === 4242 ? 4343 : 4242 });
    if (asRoot) {
      expect(findings).toEqual([]);
    } else {
      expect(summary(findings)).toEqual([['.', 'E_PLUGIN_PERMISSIONS', undefined, true], ['a.js', 'E_PLUGIN_PERMISSIONS', undefined, true]]);
    }
  });

  (asRoot ? test : test.skip)('a file owned by another user (uid 12345): refused, with chown as the fix (runs as root)', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, 'folder/index.js': PLUGIN });
    await chown(join(dir, 'a.js'), 12345, 0);
    await chown(join(dir, 'folder'), 12345, 0);
    const findings = await checkTree(dir);
    expect(summary(findings)).toEqual([
      ['a.js', 'E_PLUGIN_PERMISSIONS', undefined, true],
      ['folder', 'E_PLUGIN_PERMISSIONS', undefined, true],
    ]);
    const error = findings[0]!.error as PluginPermissionsError;
    expect(error).toMatchObject({ file: 'a.js', mode: 0o644, owner: 12345, expectedOwner: [0] });
    expect(error.message).toContain('owned by uid 12345');
    expect(error.message).toContain('root (uid 0)');
    expect(error.message).toContain(`chown 0 "${join(dir, 'a.js')}"`);
    expect(error.message).not.toContain('chmod');

    // As seen by a daemon running as uid 12345: its own files pass, root's too.
    expect(await checkTree(dir, { uid: 12345 })).toEqual([]);
    // Both problems at once: one finding naming both fixes.
    await chmod(join(dir, 'a.js'), 0o664);
    const both = (await checkTree(dir)).find((f) => f.error.file === 'a.js')!.error;
    expect(both.message).toContain('chmod go-w');
    expect(both.message).toContain('chown 0');
  });
});

describe('checkPermissions: symlinks', () => {
  test('a symlink inside the directory is fine', async () => {
    const dir = await tempDir({ 'lib/util.js': PLUGIN });
    await symlink('lib/util.js', join(dir, 'a.js'));
    await symlink('lib', join(dir, 'folder'));
    expect(await checkTree(dir)).toEqual([]);
  });

  test('a file or folder symlinked from outside: E_PLUGIN_PATH "outside" with the real path, once per link', async () => {
    const outside = await tempDir({ 'x.js': PLUGIN, 'pkg/index.js': PLUGIN, 'pkg/more.js': PLUGIN });
    const dir = await tempDir({ 'a.js': PLUGIN });
    await symlink(join(outside, 'x.js'), join(dir, 'out.js'));
    await symlink(join(outside, 'pkg'), join(dir, 'pkg'));
    const files = await listTree(dir);
    expect(files.sort()).toEqual(['a.js', 'out.js', 'pkg/index.js', 'pkg/more.js']);
    const findings = await checkPermissions(dir, files);
    expect(summary(findings)).toEqual([['out.js', 'E_PLUGIN_PATH', 'outside', true], ['pkg', 'E_PLUGIN_PATH', 'outside', true]]);
    const error = findings[0]!.error as PluginPathError;
    expect(error).toBeInstanceOf(PluginPathError);
    expect(error).toMatchObject({ name: 'PluginPathError', code: ErrorCodes.PLUGIN_PATH, file: 'out.js', reason: 'outside', target: join(outside, 'x.js') });
    expect(error.message).toContain('"out.js"');
    expect(error.message).toContain(join(outside, 'x.js'));
    expect(error.message).toContain('--allow-insecure');
    expect(JSON.parse(JSON.stringify(error))).toEqual({
      code: 'E_PLUGIN_PATH', message: error.message, file: 'out.js', reason: 'outside', target: join(outside, 'x.js'),
    });
  });

  test('scoped to some top-level units (a reload), the walk looks at those only', async () => {
    const outside = await tempDir({ 'x.js': PLUGIN, 'pkg/index.js': PLUGIN });
    const dir = await tempDir({ 'a.js': PLUGIN, 'folder/index.js': PLUGIN });
    await symlink(join(outside, 'x.js'), join(dir, 'out.js'));
    await symlink(join(outside, 'pkg'), join(dir, 'folder', 'pkg'));
    expect(await checkPermissions(dir, ['a.js'], { units: ['a.js'] })).toEqual([]);
    expect(summary(await checkPermissions(dir, ['out.js'], { units: ['out.js'] }))).toEqual([['out.js', 'E_PLUGIN_PATH', 'outside', true]]);
    expect(summary(await checkPermissions(dir, ['folder/index.js'], { units: ['folder', 'gone.js'] }))).toEqual([['folder/pkg', 'E_PLUGIN_PATH', 'outside', true]]);
  });

  test('the permissions of what an outside link points to are checked too', async () => {
    const outside = await tempDir({ 'x.js': PLUGIN });
    await chmod(join(outside, 'x.js'), 0o666);
    const dir = await tempDir({});
    await symlink(join(outside, 'x.js'), join(dir, 'out.js'));
    expect(summary(await checkTree(dir))).toEqual([
      ['out.js', 'E_PLUGIN_PATH', 'outside', true],
      ['out.js', 'E_PLUGIN_PERMISSIONS', undefined, true],
    ]);
  });

  test('a symlink loop: "loop", an error even under --allow-insecure (listTree does not list it)', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN });
    await symlink('loop2.js', join(dir, 'loop1.js'));
    await symlink('loop1.js', join(dir, 'loop2.js'));
    await symlink('self', join(dir, 'self'));
    expect(await listTree(dir)).toEqual(['a.js']);
    const findings = await checkTree(dir);
    expect(summary(findings)).toEqual([
      ['loop1.js', 'E_PLUGIN_PATH', 'loop', false],
      ['loop2.js', 'E_PLUGIN_PATH', 'loop', false],
      ['self', 'E_PLUGIN_PATH', 'loop', false],
    ]);
    expect(findings[0]!.error).toMatchObject({ reason: 'loop', target: 'loop2.js' });
    expect(findings[0]!.error.message).toContain('symlink loop');
  });

  test('a link to a folder that contains it (an infinite tree) is a "loop", once', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, 'sub/index.js': PLUGIN });
    await symlink('..', join(dir, 'sub', 'up'));
    await symlink('.', join(dir, 'here'));
    // Not listTree: fast-glob follows such links until ELOOP (2^40 paths with two of them).
    const findings = await checkPermissions(dir, ['a.js', 'here/a.js', 'sub/index.js', 'sub/up/a.js']);
    expect(summary(findings)).toEqual([
      ['here', 'E_PLUGIN_PATH', 'loop', false],
      ['sub/up', 'E_PLUGIN_PATH', 'loop', false],
    ]);
    expect(findings[1]!.error).toMatchObject({ target: dir });
  });

  test('a dangling link: "dangling" with the link target, an error even under --allow-insecure', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN });
    await symlink('nowhere.js', join(dir, 'd.js'));
    await symlink('a.js/x', join(dir, 'notdir.js'));
    const findings = await checkTree(dir);
    expect(summary(findings)).toEqual([
      ['d.js', 'E_PLUGIN_PATH', 'dangling', false],
      ['notdir.js', 'E_PLUGIN_PATH', 'dangling', false],
    ]);
    expect(findings[0]!.error).toMatchObject({ file: 'd.js', target: 'nowhere.js' });
    expect(findings[0]!.error.message).toContain('dangling symlink to "nowhere.js"');
  });

  test('a listed file that turns out to be a dangling link is reported once', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN });
    await symlink('nowhere.js', join(dir, 'd.js'));
    expect(summary(await checkPermissions(dir, ['a.js', 'd.js']))).toEqual([['d.js', 'E_PLUGIN_PATH', 'dangling', false]]);
  });

  test('dot entries and node_modules are not walked', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN, '.hidden/x.js': PLUGIN, 'node_modules/m/index.js': PLUGIN });
    await symlink('nowhere.js', join(dir, '.hidden', 'd.js'));
    await symlink('nowhere.js', join(dir, 'node_modules', 'd.js'));
    const outside = await tempDir({ 'x.js': PLUGIN });
    await symlink(outside, join(dir, '.out'));
    await symlink(join(outside, 'x.js'), join(dir, 'node_modules', 'out.js'));
    expect(await checkTree(dir)).toEqual([]);
  });

  test('a missing plugin directory rejects', async () => {
    await expect(checkPermissions(join(tmpdir(), 'plugd-no-such-dir-xyz'), [])).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('hashFiles', () => {
  test('the sha256 hex of each file\'s bytes, keys sorted', async () => {
    const dir = await tempDir({ 'b.js': 'b', 'a.js': 'hello', 'folder/index.js': '' });
    const hashes = await hashFiles(dir, ['folder/index.js', 'b.js', 'a.js']);
    expect(Object.keys(hashes)).toEqual(['a.js', 'b.js', 'folder/index.js']);
    expect(hashes).toEqual({
      'a.js': '2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824',
      'b.js': sha256('b'),
      'folder/index.js': 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    });
  });

  test('reads through symlinks; a missing file rejects', async () => {
    const dir = await tempDir({ 'a.js': 'hello' });
    await symlink('a.js', join(dir, 'l.js'));
    expect((await hashFiles(dir, ['l.js']))['l.js']).toBe(sha256('hello'));
    await expect(hashFiles(dir, ['gone.js'])).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

describe('writeLock / readLock', () => {
  const files = {
    'b.js': 'b', 'a.js': 'a', 'Z.mjs': 'z', 'folder/index.js': 'i', 'folder/lib/util.js': 'u', 'notes.txt': 'n',
    '.hidden.js': 'h', '.dir/x.js': 'x', 'node_modules/m/index.js': 'm',
  };

  test('writes <dir>/plugd.lock: every plugin file (folder plugins\' included) and the version, sorted stable JSON', async () => {
    const dir = await tempDir(files);
    const { path, lock } = await writeLock(dir);
    expect(path).toBe(join(dir, LOCK_FILE));
    const expected: Lock = {
      plugd: version(),
      files: {
        'Z.mjs': sha256('z'), 'a.js': sha256('a'), 'b.js': sha256('b'),
        'folder/index.js': sha256('i'), 'folder/lib/util.js': sha256('u'), 'notes.txt': sha256('n'),
      },
    };
    expect(lock).toEqual(expected);
    expect(Object.keys(lock.files)).toEqual(Object.keys(expected.files));
    const text = await readFile(path, 'utf8');
    expect(text).toBe(JSON.stringify(expected, null, 2) + '\n');
    expect(text.startsWith('{\n  "plugd": ')).toBe(true);
    expect(JSON.parse(text)).toEqual({ plugd: (JSON.parse(await readFile('package.json', 'utf8')) as { version: string }).version, files: expected.files });
    // No temp file left behind.
    expect((await readdir(dir)).filter((f) => f.includes('tmp'))).toEqual([]);
  });

  test('rewriting gives byte-identical output, and the lock never lists itself', async () => {
    const dir = await tempDir(files);
    const first = await readFile((await writeLock(dir)).path);
    const again = await writeLock(dir);
    expect(Object.keys(again.lock.files)).not.toContain(LOCK_FILE);
    expect((await readFile(again.path)).equals(first)).toBe(true);
  });

  test('the same files give the same lock whatever order they were created in', async () => {
    const one = await tempDir({ 'a.js': '1', 'b.js': '2', 'c/index.js': '3' });
    const two = await tempDir({ 'c/index.js': '3', 'b.js': '2', 'a.js': '1' });
    expect(await readFile((await writeLock(one)).path, 'utf8')).toBe(await readFile((await writeLock(two)).path, 'utf8'));
  });

  test('readLock gives back what writeLock wrote', async () => {
    const dir = await tempDir(files);
    const { lock } = await writeLock(dir);
    expect(await readLock(dir)).toEqual(lock);
  });

  test('an absent lock: E_INTEGRITY on plugd.lock, "missing", saying how to write one', async () => {
    const dir = await tempDir({ 'a.js': PLUGIN });
    const error = await readLock(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error).toMatchObject({ name: 'IntegrityError', code: 'E_INTEGRITY', file: LOCK_FILE, reason: 'missing' });
    expect((error as Error).message).toContain(join(dir, LOCK_FILE));
    expect((error as Error).message).toContain(`plugd lock ${dir}`);
    expect(JSON.parse(JSON.stringify(error))).toEqual({ code: 'E_INTEGRITY', message: (error as Error).message, file: LOCK_FILE, reason: 'missing' });
  });

  test.each([
    ['not JSON', '{ "plugd": ', /not JSON/],
    ['an array', '[]', /JSON object/],
    ['no version', '{ "files": {} }', /"plugd" must be/],
    ['files not an object', '{ "plugd": "0.1.0", "files": ["a.js"] }', /"files" must be/],
    ['a bad sha256', '{ "plugd": "0.1.0", "files": { "a.js": "abc" } }', /sha256 of "a.js"/],
    ['an upper-case sha256', `{ "plugd": "0.1.0", "files": { "a.js": "${sha256('a').toUpperCase()}" } }`, /sha256 of "a.js"/],
    ['a path out of the dir', `{ "plugd": "0.1.0", "files": { "../a.js": "${sha256('a')}" } }`, '"../a.js" in "files"'],
    ['an absolute path', `{ "plugd": "0.1.0", "files": { "/a.js": "${sha256('a')}" } }`, '"/a.js" in "files"'],
  ])('an invalid lock (%s): E_INTEGRITY on plugd.lock, "missing"', async (_name, text, pattern) => {
    const dir = await tempDir({ [LOCK_FILE]: text });
    const error = await readLock(dir).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(IntegrityError);
    expect(error).toMatchObject({ code: 'E_INTEGRITY', file: LOCK_FILE, reason: 'missing' });
    expect((error as Error).message).toMatch(pattern);
    expect((error as Error).message).toContain('not a valid plugd lock');
    expect((error as Error).message).toContain('plugd lock');
  });

  test('a hand-ordered lock reads back sorted', async () => {
    const dir = await tempDir({ [LOCK_FILE]: JSON.stringify({ plugd: '0.0.1', files: { 'b.js': sha256('b'), 'a.js': sha256('a') } }) });
    expect(Object.keys((await readLock(dir)).files)).toEqual(['a.js', 'b.js']);
  });
});

describe('IntegrityError', () => {
  test('names the file, both digests and the fix; its JSON holds only what applies', () => {
    const mismatch = new IntegrityError('folder/index.js', 'mismatch', { expected: sha256('i'), actual: sha256('changed') });
    expect(mismatch).toBeInstanceOf(IntegrityError);
    expect(mismatch.code).toBe(ErrorCodes.INTEGRITY);
    expect(mismatch.message).toContain('"folder/index.js"');
    expect(mismatch.message).toContain('plugd lock');
    expect(mismatch.message).toContain(`sha256 ${sha256('changed')}, expected ${sha256('i')}`);
    expect(JSON.parse(JSON.stringify(mismatch))).toEqual({
      code: 'E_INTEGRITY', message: mismatch.message, file: 'folder/index.js', reason: 'mismatch', expected: sha256('i'), actual: sha256('changed'),
    });
    expect(JSON.parse(JSON.stringify(new IntegrityError('b.js', 'missing', { expected: sha256('b') })))).not.toHaveProperty('actual');
  });
});
