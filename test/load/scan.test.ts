import { describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve, sep } from 'node:path';
import { compareFiles, entriesOf, scan, walkTree } from '../../src/load/scan.js';
import { tempPluginDir } from '../support/cli.js';

const IGNORED = resolve('fixtures/ignored');

describe('scan', () => {
  test('fixtures/ignored: the files that must not be entries are really there', () => {
    // Otherwise the next test would pass for the wrong reason (e.g. node_modules not checked out).
    for (const file of ['.hidden.js', '.dotdir/index.js', 'node_modules/x/index.js', 'types.d.ts', 'a.js.map', 'legacy.cjs',
      'notes.txt', 'sub/other.js', 'deep/a/index.js', 'folder/helper.js']) {
      expect([file, existsSync(join(IGNORED, file))]).toEqual([file, true]);
    }
  });

  test('lists exactly the top-level .js/.mjs files and the one-level <dir>/index.js|mjs, sorted', async () => {
    const entries = await scan('fixtures/ignored');
    expect(entries.map((e) => e.file)).toEqual(['a.js', 'b.mjs', 'folder/index.js', 'folder2/index.mjs']);
  });

  test('each entry has a POSIX relative file and the absolute path of that file', async () => {
    const entries = await scan('fixtures/ignored');
    for (const entry of entries) {
      expect(entry.file).not.toContain('\\');
      expect(entry.path).toBe(join(IGNORED, ...entry.file.split('/')));
      expect(existsSync(entry.path)).toBe(true);
    }
  });

  test('gives the same result for a relative, an absolute and a trailing-separator directory', async () => {
    const a = await scan('fixtures/ignored');
    expect(await scan(IGNORED)).toEqual(a);
    expect(await scan(IGNORED + sep)).toEqual(a);
  });

  test('orders by code unit, not by locale ("Z" < "a", "-" < "." < "/")', async () => {
    const entries = await scan('fixtures/order');
    expect(entries.map((e) => e.file)).toEqual(['Zeta.js', 'a-b.js', 'a.js', 'a.mjs', 'a/index.js']);
  });

  test('a folder with both index.js and index.mjs is one entry carrying an E_PLUGIN_LOAD on the folder', async () => {
    const dir = await tempPluginDir({ 'both/index.js': '', 'both/index.mjs': '', 'both.js': '', 'c/index.mjs': '', 'z.mjs': '' });
    for (const entries of [await scan(dir), entriesOf(dir, { files: ['both/index.mjs', 'both.js', 'both/index.js', 'c/index.mjs', 'z.mjs'], notFiles: [] })]) {
      expect(entries.map((e) => e.file)).toEqual(['both.js', 'both/index.js', 'c/index.mjs', 'z.mjs']);
      expect(entries.map((e) => e.refused?.toJSON())).toEqual([undefined, {
        code: 'E_PLUGIN_LOAD', file: 'both', reason: 'ambiguous',
        message: expect.stringMatching(/"both".*"both\/index\.js".*"both\/index\.mjs"/) as unknown,
      }, undefined, undefined]);
    }
  });

  test('an empty directory has no entries', async () => {
    // fixtures/two-dirs holds only sub-folders without index files.
    expect(await scan('fixtures/two-dirs')).toEqual([]);
  });

  test('a directory that does not exist, or a file, is an error rather than "no plugins"', async () => {
    await expect(scan('fixtures/no-such-directory')).rejects.toMatchObject({ code: 'ENOENT' });
    await expect(scan('fixtures/ignored/a.js')).rejects.toMatchObject({ code: 'ENOTDIR' });
  });
});

describe('scan: entries that are not regular files, and names with control characters', () => {
  test('are listed with why they are refused (E_PLUGIN_PATH), in sorted order; other kinds of names are not entries', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'plugd-scan-'));
    try {
      writeFileSync(join(dir, 'a.js'), '');
      writeFileSync(join(dir, 'evil\nname.js'), '');
      execFileSync('mkfifo', [join(dir, 'fifo.js')]);
      execFileSync('mkfifo', [join(dir, 'data.json')]);
      symlinkSync('nowhere.js', join(dir, 'dangling.js'));
      symlinkSync('loop.js', join(dir, 'loop.js'));
      symlinkSync('fifo.js', join(dir, 'to-fifo.js'));
      mkdirSync(join(dir, 'folder'));
      execFileSync('mkfifo', [join(dir, 'folder/index.js')]);
      mkdirSync(join(dir, 'dir.js'));
      const entries = await scan(dir);
      const seen = entries.map((e) => [e.file, e.refused?.toJSON()]);
      expect(seen).toEqual([
        ['a.js', undefined],
        ['dangling.js', expect.objectContaining({ code: 'E_PLUGIN_PATH', reason: 'dangling', target: 'nowhere.js' })],
        ['evil\nname.js', expect.objectContaining({ code: 'E_PLUGIN_PATH', reason: 'bad-name' })],
        ['fifo.js', expect.objectContaining({ code: 'E_PLUGIN_PATH', reason: 'not-a-file', target: 'a FIFO (named pipe)' })],
        ['folder/index.js', expect.objectContaining({ reason: 'not-a-file' })],
        ['loop.js', expect.objectContaining({ reason: 'loop', target: 'loop.js' })],
        ['to-fifo.js', expect.objectContaining({ reason: 'not-a-file', target: 'a FIFO (named pipe)' })],
      ]);
      // A reload's walk of one unit finds the same.
      for (const unit of ['dangling.js', 'fifo.js', 'folder']) {
        const tree = await walkTree(dir, [unit]);
        expect([unit, tree.files, tree.notFiles.map((e) => e.file)]).toEqual([unit, [], [unit === 'folder' ? 'folder/index.js' : unit]]);
      }
      expect((await walkTree(dir)).files.sort()).toEqual(['a.js', 'evil\nname.js']);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('compareFiles', () => {
  test('is a locale-free total order', () => {
    const files = ['b.js', 'a/index.js', 'a.js', 'Zeta.js', 'a-b.js', 'é.js', 'e.js', 'a.mjs'];
    expect([...files].sort(compareFiles)).toEqual(['Zeta.js', 'a-b.js', 'a.js', 'a.mjs', 'a/index.js', 'b.js', 'e.js', 'é.js']);
    expect(compareFiles('a.js', 'a.js')).toBe(0);
    expect(compareFiles('a.js', 'b.js')).toBeLessThan(0);
    expect(compareFiles('b.js', 'a.js')).toBeGreaterThan(0);
  });
});
