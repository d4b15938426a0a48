/**
 * `plugd lock <dir>`, run in-process (main.ts does not register the command
 * yet): writes the lock, prints where and how many files, exit 0; usage errors are UsageErrors (exit 2).
 */
import { afterAll, afterEach, beforeEach, describe, expect, jest, test } from '@jest/globals';
import { chmod, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { lockCommand } from '../../src/cli/lock.js';
import { UsageError } from '../../src/cli/usage.js';
import { LOCK_FILE, readLock } from '../../src/load/integrity.js';
import { tempPluginDir } from '../support/cli.js';

const temps: string[] = [];
afterAll(async () => {
  await Promise.all(temps.map((dir) => rm(dir, { recursive: true, force: true })));
});

let out: string[] = [];
beforeEach(() => {
  out = [];
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out.push(String(chunk));
    return true;
  });
});
afterEach(() => {
  jest.restoreAllMocks();
});

async function dirWith(files: Readonly<Record<string, string>>): Promise<string> {
  const dir = await tempPluginDir(files);
  temps.push(dir);
  return dir;
}

describe('plugd lock', () => {
  test("lists a folder plugin's own node_modules (its code runs as the plugin's), not the directory's own node_modules", async () => {
    const dir = await dirWith({
      'folder/index.js': 'i', 'folder/node_modules/pkg/index.js': 'p', 'folder/node_modules/pkg/package.json': '{}',
      'node_modules/host-dep/index.js': 'h', 'folder/.cache/x.js': 'x',
    });
    expect(await lockCommand([dir])).toBe(0);
    expect(Object.keys((await readLock(dir)).files)).toEqual(['folder/index.js', 'folder/node_modules/pkg/index.js', 'folder/node_modules/pkg/package.json']);
  });

  test('writes <dir>/plugd.lock, prints "wrote <path> (<n> files)", exit 0', async () => {
    const dir = await dirWith({ 'a.js': 'a', 'folder/index.js': 'i', 'folder/helper.js': 'h', '.hidden.js': 'x' });
    expect(await lockCommand([dir])).toBe(0);
    const path = join(dir, LOCK_FILE);
    expect(out.join('')).toBe(`wrote ${path} (3 files)\n`);
    const lock = await readLock(dir);
    expect(Object.keys(lock.files)).toEqual(['a.js', 'folder/helper.js', 'folder/index.js']);
    const text = await readFile(path, 'utf8');
    expect(await lockCommand([dir])).toBe(0);
    expect(await readFile(path, 'utf8')).toBe(text);
    expect(out[1]).toBe(`wrote ${path} (3 files)\n`);
  });

  test('an empty directory gets an empty lock', async () => {
    const dir = await dirWith({});
    expect(await lockCommand([dir])).toBe(0);
    expect(out.join('')).toBe(`wrote ${join(dir, LOCK_FILE)} (0 files)\n`);
    expect((await readLock(dir)).files).toEqual({});
  });

  test.each([
    ['no directory', []],
    ['two directories', ['a', 'b']],
    ['an unknown option', ['--json', '.']],
  ])('usage error (%s): UsageError with the usage line', async (_name, args) => {
    const error = await lockCommand(args).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(UsageError);
    expect(out).toEqual([]);
  });

  test('a missing directory, or a file: UsageError naming it', async () => {
    const dir = await dirWith({ 'a.js': 'a' });
    for (const bad of [join(dir, 'nope'), join(dir, 'a.js')]) {
      const error = await lockCommand([bad]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toBe(`plugd lock: "${bad}" is not a readable directory`);
    }
  });

  (process.getuid?.() === 0 ? test.skip : test)('an unreadable directory: UsageError (not as root)', async () => {
    const dir = await dirWith({ 'sub/a.js': 'a' });
    await chmod(join(dir, 'sub'), 0o000);
    try {
      const error = await lockCommand([dir]).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(UsageError);
      expect((error as Error).message).toContain(`cannot lock "${dir}"`);
    } finally {
      await chmod(join(dir, 'sub'), 0o755);
    }
  });
});
