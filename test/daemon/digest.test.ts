/**
 * {@link unitDigest} on real files: the sha256 `plugd ls` shows for a plugin's live version. A
 * single-file plugin's digest is that of its bytes; a folder plugin's covers every file of its
 * folder (path and bytes), so a sibling's change is a new version, while dotfiles and the folder's
 * own node_modules (never watched nor reloaded) are not part of it.
 */
import { afterAll, describe, expect, test } from '@jest/globals';
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { chmod, mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { unitDigest } from '../../src/daemon/digest.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A fresh temp dir holding `files`. */
async function tempDir(files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'plugd-digest-'));
  temps.push(dir);
  for (const [file, content] of Object.entries(files)) await put(dir, file, content);
  return dir;
}

async function put(dir: string, file: string, content: string): Promise<void> {
  await mkdir(dirname(join(dir, file)), { recursive: true });
  await writeFile(join(dir, file), content);
}

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

const FOLDER: Readonly<Record<string, string>> = {
  'folder/index.js': "export * from './lib/util.js';\n",
  'folder/lib/util.js': 'export const y = 2;\n',
  'folder/data.json': '{"a":1}\n',
};

describe('unitDigest: a single-file plugin', () => {
  test.each([
    ['a.js', 'export const x = 1;\n'],
    ['b.mjs', 'export default 1;\n'],
    ['empty.js', ''],
  ])('%s: the sha256 of its bytes', async (file, content) => {
    const dir = await tempDir({ [file]: content });
    expect((await unitDigest(dir, file))?.digest).toBe(sha256(content));
  });

  test('changes with its bytes, and only with them (not with a sibling)', async () => {
    const dir = await tempDir({ 'a.js': 'export const x = 1;\n', 'b.js': 'export const y = 1;\n' });
    const before = (await unitDigest(dir, 'a.js'))?.digest;
    await writeFile(join(dir, 'b.js'), 'export const y = 2;\n');
    expect((await unitDigest(dir, 'a.js'))?.digest).toBe(before);
    await writeFile(join(dir, 'a.js'), 'export const x = 2;\n');
    expect((await unitDigest(dir, 'a.js'))?.digest).toBe(sha256('export const x = 2;\n'));
  });

  test('undefined when the file is gone', async () => {
    const dir = await tempDir({ 'a.js': 'export const x = 1;\n' });
    expect((await unitDigest(dir, 'missing.js'))?.digest).toBeUndefined();
    await rm(join(dir, 'a.js'));
    expect((await unitDigest(dir, 'a.js'))?.digest).toBeUndefined();
  });

  test('undefined when the plugin directory itself is gone', async () => {
    expect(await unitDigest(join(tmpdir(), 'plugd-digest-no-such-dir'), 'a.js')).toBeUndefined();
  });
});

describe('unitDigest: a folder plugin', () => {
  test('a sha256 (64 hex digits), not that of the entry alone, and stable across calls', async () => {
    const dir = await tempDir(FOLDER);
    const first = (await unitDigest(dir, 'folder/index.js'))?.digest;
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(first).not.toBe(sha256(FOLDER['folder/index.js'] ?? ''));
    expect((await unitDigest(dir, 'folder/index.js'))?.digest).toBe(first);
    expect((await unitDigest(dir, 'folder/index.js'))?.digest).toBe(first);
  });

  test('the same for any file of the folder given as the entry (.js or .mjs)', async () => {
    const dir = await tempDir(FOLDER);
    expect((await unitDigest(dir, 'folder/index.mjs'))?.digest).toBe((await unitDigest(dir, 'folder/index.js'))?.digest);
  });

  test('the same files in another directory give the same digest (relative paths only)', async () => {
    const one = await tempDir(FOLDER);
    const two = await tempDir({ ...FOLDER, 'other.js': 'export {};\n' });
    expect((await unitDigest(two, 'folder/index.js'))?.digest).toBe((await unitDigest(one, 'folder/index.js'))?.digest);
  });

  // Each change to the folder, and whether it makes a new digest.
  test.each<[string, boolean, (dir: string) => Promise<void>]>([
    ['the entry changes', true, (dir) => put(dir, 'folder/index.js', 'export const z = 3;\n')],
    ['a nested sibling changes', true, (dir) => put(dir, 'folder/lib/util.js', 'export const y = 3;\n')],
    ['a non-module file changes', true, (dir) => put(dir, 'folder/data.json', '{"a":2}\n')],
    ['a file is added', true, (dir) => put(dir, 'folder/lib/more.js', 'export {};\n')],
    ['an empty file is added', true, (dir) => put(dir, 'folder/empty.js', '')],
    ['a file is removed', true, (dir) => rm(join(dir, 'folder/data.json'))],
    ['a file is renamed, same bytes', true, (dir) => rename(join(dir, 'folder/data.json'), join(dir, 'folder/data2.json'))],
    ['a file is rewritten with the same bytes', false, (dir) => put(dir, 'folder/lib/util.js', 'export const y = 2;\n')],
    ['a dotfile is added', false, (dir) => put(dir, 'folder/.eslintrc', '{}')],
    ['a file in a dot-folder is added', false, (dir) => put(dir, 'folder/.cache/x.js', 'export {};\n')],
    ['a file in its own node_modules is added', false, (dir) => put(dir, 'folder/node_modules/dep/index.js', 'export {};\n')],
    ['a top-level sibling plugin changes', false, (dir) => put(dir, 'other.js', 'export const changed = 1;\n')],
    ['another folder changes', false, (dir) => put(dir, 'second/index.js', 'export const changed = 1;\n')],
  ])('%s (new digest: %s)', async (_what, changes, change) => {
    const dir = await tempDir({ ...FOLDER, 'other.js': 'export {};\n', 'second/index.js': 'export {};\n' });
    const before = (await unitDigest(dir, 'folder/index.js'))?.digest;
    await change(dir);
    const after = (await unitDigest(dir, 'folder/index.js'))?.digest;
    expect(after).toMatch(/^[0-9a-f]{64}$/);
    if (changes) expect(after).not.toBe(before);
    else expect(after).toBe(before);
  });

  test('moving bytes from one file to another is a new digest (paths and bytes are both hashed, delimited)', async () => {
    const one = await tempDir({ 'folder/index.js': 'ab', 'folder/x.js': 'c' });
    const two = await tempDir({ 'folder/index.js': 'a', 'folder/x.js': 'bc' });
    expect((await unitDigest(one, 'folder/index.js'))?.digest).not.toBe((await unitDigest(two, 'folder/index.js'))?.digest);
  });

  test('a node_modules deeper in the folder (not its own) is part of it', async () => {
    const dir = await tempDir(FOLDER);
    const before = (await unitDigest(dir, 'folder/index.js'))?.digest;
    await put(dir, 'folder/lib/node_modules/x.js', 'export {};\n');
    expect((await unitDigest(dir, 'folder/index.js'))?.digest).not.toBe(before);
  });

  // A regression test: listTree(dir, ['folder']) lists a folder that does not exist as empty, so
  // a gone folder plugin used to get the sha256 of nothing instead of undefined.
  test('undefined when the folder is gone', async () => {
    const dir = await tempDir(FOLDER);
    await rm(join(dir, 'folder'), { recursive: true });
    expect((await unitDigest(dir, 'folder/index.js'))?.digest).toBeUndefined();
  });
});

describe('unitDigest: the key', () => {
  test('a chmod keeps the digest and changes the key; chmod back gives the key again', async () => {
    const dir = await tempDir({ 'a.js': 'export {};\n', ...FOLDER });
    for (const [file, path] of [['a.js', 'a.js'], ['folder/index.js', 'folder/lib/util.js'], ['folder/index.js', 'folder']] as const) {
      await chmod(join(dir, path), path === 'folder' ? 0o755 : 0o644);
      const before = await unitDigest(dir, file);
      await chmod(join(dir, path), path === 'folder' ? 0o777 : 0o666);
      const after = await unitDigest(dir, file);
      expect([path, after?.digest]).toEqual([path, before?.digest]);
      expect([path, after?.key]).not.toEqual([path, before?.key]);
      await chmod(join(dir, path), path === 'folder' ? 0o755 : 0o644);
      expect([path, (await unitDigest(dir, file))?.key]).toEqual([path, before?.key]);
    }
  });

  test('a FIFO in place of a single-file plugin, or of a folder plugin\'s file: undefined, at once', async () => {
    const dir = await tempDir({ ...FOLDER });
    execFileSync('mkfifo', [join(dir, 'a.js')]);
    expect(await unitDigest(dir, 'a.js')).toBeUndefined();
    await rm(join(dir, 'folder/index.js'));
    execFileSync('mkfifo', [join(dir, 'folder/index.js')]);
    expect(await unitDigest(dir, 'folder/index.js')).toBeUndefined();
  }, 5_000);
});
