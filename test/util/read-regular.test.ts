/**
 * {@link readRegular} on real files of every type: it reads a regular file (through a link), and
 * refuses anything else at once with what it is, never blocking on a FIFO that has no writer.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isNotRegular, readRegular, readRegularFile } from '../../src/util/read-regular.js';

let dir: string;
let server: Server;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plugd-regular-'));
  writeFileSync(join(dir, 'file'), 'bytes');
  chmodSync(join(dir, 'file'), 0o640);
  symlinkSync('file', join(dir, 'link'));
  symlinkSync('nowhere', join(dir, 'dangling'));
  mkdirSync(join(dir, 'folder'));
  execFileSync('mkfifo', [join(dir, 'fifo')]);
  server = createServer();
  await new Promise<void>((resolve) => { server.listen(join(dir, 'socket'), resolve); });
});
afterAll(async () => {
  await new Promise((resolve) => { server.close(resolve); });
  await rm(dir, { recursive: true, force: true });
});

/** The rejection of reading `name`. */
async function refusal(name: string): Promise<unknown> {
  return readRegularFile(join(dir, name)).then(() => undefined, (error: unknown) => error);
}

describe('readRegular', () => {
  test('reads a regular file, with its stat as of the open', async () => {
    const { bytes, stats } = await readRegular(join(dir, 'file'));
    expect(bytes.toString()).toBe('bytes');
    expect(stats.mode & 0o777).toBe(0o640);
  });

  test('reads through a symlink to a regular file', async () => {
    expect((await readRegularFile(join(dir, 'link'))).toString()).toBe('bytes');
  });

  test.each([
    ['fifo', 'a FIFO (named pipe)'],
    ['socket', 'a socket'],
    ['folder', 'a directory'],
  ])('refuses %s at once: E_NOT_REGULAR, "is %s, not a regular file"', async (name, kind) => {
    const error = await refusal(name);
    expect(isNotRegular(error)).toBe(true);
    expect(error).toMatchObject({ code: 'E_NOT_REGULAR', kind, path: join(dir, name), message: `"${join(dir, name)}" is ${kind}, not a regular file` });
  }, 5_000);

  test('a character device is refused, not read to its endless end', async () => {
    const error = await readRegularFile('/dev/zero').then(() => undefined, (e: unknown) => e);
    expect(error).toMatchObject({ code: 'E_NOT_REGULAR', kind: 'a character device' });
  }, 5_000);

  test('a missing file or a dangling link: the system error (ENOENT)', async () => {
    expect(await refusal('missing')).toMatchObject({ code: 'ENOENT' });
    expect(await refusal('dangling')).toMatchObject({ code: 'ENOENT' });
  });
});
