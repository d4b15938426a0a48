/**
 * Who else could change a file, from its mode and owner: the rule of Debian's OpenSSH for
 * StrictModes. Writable by others is insecure. Writable by its group is fine when that group has
 * no member but the file's owner (a user's private group, as `umask 002` systems give every user),
 * and insecure otherwise.
 */
import { readFileSync } from 'node:fs';

/** What the rule needs of a file's stat. */
export interface Ownership {
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
}

/** The write bits of `info` that let someone other than its owner change it (0 when none). */
export function foreignWriteBits(info: Ownership): number {
  const others = info.mode & 0o002;
  const group = info.mode & 0o020;
  return others | (group !== 0 && !privateGroup(info.gid, info.uid) ? group : 0);
}

let accounts: { groups: Map<number, string[]>; primary: Map<number, number[]>; names: Map<number, string> } | undefined;

/**
 * True when group `gid` has no member but user `uid`: no other user lists it as their primary
 * group, and its member list names no one else. An unknown group is not private.
 */
export function privateGroup(gid: number, uid: number): boolean {
  accounts ??= readAccounts();
  const members = accounts.groups.get(gid);
  if (members === undefined) return false;
  const name = accounts.names.get(uid);
  if (members.some((member) => member !== name)) return false;
  return (accounts.primary.get(gid) ?? []).every((user) => user === uid);
}

/** The groups (gid -> member names), primary groups (gid -> uids) and user names of this system. */
function readAccounts(): NonNullable<typeof accounts> {
  const groups = new Map<number, string[]>();
  const primary = new Map<number, number[]>();
  const names = new Map<number, string>();
  for (const line of lines('/etc/group')) {
    const [, , gid, members = ''] = line.split(':');
    if (gid !== undefined && /^\d+$/.test(gid)) groups.set(Number(gid), members.split(',').filter((m) => m !== ''));
  }
  for (const line of lines('/etc/passwd')) {
    const [name = '', , uid, gid] = line.split(':');
    if (uid === undefined || gid === undefined || !/^\d+$/.test(uid) || !/^\d+$/.test(gid)) continue;
    names.set(Number(uid), name);
    primary.set(Number(gid), [...primary.get(Number(gid)) ?? [], Number(uid)]);
  }
  return { groups, primary, names };
}

function lines(path: string): string[] {
  try {
    return readFileSync(path, 'utf8').split('\n').filter((line) => line !== '' && !line.startsWith('#'));
  } catch {
    return [];
  }
}
