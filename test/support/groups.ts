/** Groups of this system, for permission tests. */
import { readFileSync } from 'node:fs';
import { privateGroup } from '../../src/load/file-mode.js';

/** A group (gid) that has members other than user `uid`: a group-writable file in it is insecure. */
export function sharedGroup(uid: number): number {
  for (const line of readFileSync('/etc/group', 'utf8').split('\n')) {
    const gid = Number(line.split(':')[2]);
    if (line !== '' && Number.isInteger(gid) && !privateGroup(gid, uid)) return gid;
  }
  throw new Error(`no group on this system has members other than uid ${uid}`);
}
