/**
 * The lock on a daemon's root, on real files in a temp dir: one holder at a time (SQLite's file
 * lock works between connections of one process too), the holder's pid named in the refusal,
 * released by release() and by the holder's death (see test/e2e/serve-containment.test.ts).
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { existsSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { lockRoot, RootInUseError, ROOT_LOCK_FILE, ROOT_PID_FILE, type RootLock } from '../../src/daemon/root-lock.js';

let dir: string;
const held: RootLock[] = [];
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'plugd-rootlock-')); });
afterEach(async () => {
  for (const lock of held.splice(0)) lock.release();
  await rm(dir, { recursive: true, force: true });
});

function lock(root = join(dir, 'root')): RootLock {
  const taken = lockRoot(root);
  held.push(taken);
  return taken;
}

describe('lockRoot', () => {
  test('creates the root, the lock file and a pid file naming this process', () => {
    lock();
    expect(existsSync(join(dir, 'root', ROOT_LOCK_FILE))).toBe(true);
    expect(readFileSync(join(dir, 'root', ROOT_PID_FILE), 'utf8')).toBe(`${process.pid}\n`);
  });

  test('a second lock on a held root is refused, naming the root and the holder\'s pid', () => {
    lock();
    const root = join(dir, 'root');
    let refused: unknown;
    try {
      lockRoot(root);
    } catch (error) {
      refused = error;
    }
    expect(refused).toBeInstanceOf(RootInUseError);
    expect(refused).toMatchObject({ root, pid: process.pid });
    expect((refused as Error).message).toContain(`(pid ${process.pid}) is running with --root ${root}`);
  });

  test('release() frees the root (idempotently) and removes the pid file', () => {
    const first = lock();
    first.release();
    first.release();
    expect(existsSync(join(dir, 'root', ROOT_PID_FILE))).toBe(false);
    expect(() => lock()).not.toThrow();
  });

  test('a pid file left by a dead holder does not hold the root: the lock does', async () => {
    const root = join(dir, 'root');
    lock(root).release();
    await writeFile(join(root, ROOT_PID_FILE), '999999999\n');
    lock(root);
    expect(readFileSync(join(root, ROOT_PID_FILE), 'utf8')).toBe(`${process.pid}\n`);
  });

  test('a lock file that is not a SQLite file is an error naming it, with the fix', async () => {
    const root = join(dir, 'root');
    lock(root).release();
    await writeFile(join(root, ROOT_LOCK_FILE), 'garbage '.repeat(200));
    expect(() => lockRoot(root)).toThrow(`cannot take the daemon lock "${join(root, ROOT_LOCK_FILE)}"`);
  });
});
