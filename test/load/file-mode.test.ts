/** Who else could change a file: Debian's OpenSSH rule for group-writable files. */
import { describe, expect, test } from '@jest/globals';
import { foreignWriteBits, privateGroup } from '../../src/load/file-mode.js';
import { sharedGroup } from '../support/groups.js';

const uid = process.getuid?.() ?? 0;

describe('foreignWriteBits', () => {
  test("a group of the owner's alone may write; others may not; a shared group may not", () => {
    const own = privateGroup(0, 0) ? 0 : undefined; // root's group is root's alone on the usual system
    const shared = sharedGroup(uid);
    const cases: [number, number, number][] = [
      [0o644, shared, 0],
      [0o664, shared, 0o020],
      [0o666, shared, 0o022],
      [0o646, shared, 0o002],
    ];
    for (const [mode, gid, bits] of cases) expect([mode, foreignWriteBits({ mode, uid, gid })]).toEqual([mode, bits]);
    if (own !== undefined) {
      expect(foreignWriteBits({ mode: 0o664, uid: 0, gid: own })).toBe(0);
      expect(foreignWriteBits({ mode: 0o666, uid: 0, gid: own })).toBe(0o002);
    }
  });

  test('an unknown group is not private', () => {
    expect(privateGroup(2_000_000_000, uid)).toBe(false);
    expect(foreignWriteBits({ mode: 0o664, uid, gid: 2_000_000_000 })).toBe(0o020);
  });
});
