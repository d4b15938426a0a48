/**
 * The sha256 of a plugin's live version, as `plugd ls` shows it: the bytes of a single-file plugin;
 * for a folder plugin, one digest over every file of its folder (relative path and bytes, in sorted
 * order), since a sibling's change is a new version of the plugin too.
 */
import type { Stats } from 'node:fs';
import { stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareFiles, walkTree } from '../load/scan.js';
import { readRegular } from '../util/read-regular.js';
import { sha256, sha256Hash } from '../util/sha256.js';

/**
 * What a version of a plugin is: its `digest` (the bytes), and its `key`: the digest with the mode
 * and owner of each of its files (and of its folder), which the admission checks judge. A save
 * with the same key changes nothing plugd would decide; a chmod or chown gives another key.
 */
export interface UnitDigest {
  readonly digest: string;
  readonly key: string;
}

/** The digest of the plugin whose entry is `file` (relative to `dir`); undefined when unreadable or not a regular file. */
export async function unitDigest(dir: string, file: string): Promise<UnitDigest | undefined> {
  try {
    const slash = file.indexOf('/');
    if (slash === -1) {
      const { bytes, stats } = await readRegular(join(dir, file));
      const digest = sha256(bytes);
      return { digest, key: `${digest}:${access(stats)}` };
    }
    const folder = file.slice(0, slash);
    // A folder that is gone has no digest (a listing would give none of its files, not an error).
    const info = await stat(join(dir, folder));
    if (!info.isDirectory()) return undefined;
    // (Its own node_modules aside: packages are not watched, nor reloaded.)
    const tree = await walkTree(dir, [folder]);
    // Its entry is no regular file (a FIFO): no version to digest; the plan says what it is.
    if (tree.notFiles.length > 0) return undefined;
    const files = tree.files.map((f) => f.slice(folder.length + 1)).filter((f) => !f.startsWith('node_modules/')).sort(compareFiles);
    const hash = sha256Hash();
    const modes = [access(info)];
    for (const f of files) {
      const { bytes, stats } = await readRegular(join(dir, folder, f));
      hash.update(`${f}\0`).update(bytes).update('\0');
      modes.push(access(stats));
    }
    const digest = hash.digest('hex');
    return { digest, key: `${digest}:${modes.join(',')}` };
  } catch {
    return undefined;
  }
}

/** The mode and owner of a file, as the permission checks see them. */
function access(info: Stats): string {
  return `${(info.mode & 0o7777).toString(8)}/${info.uid}/${info.gid}`;
}
