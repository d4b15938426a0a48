/**
 * The sha256 of a plugin's live version, as `plugd ls` shows it: the bytes of a single-file plugin;
 * for a folder plugin, one digest over every file of its folder (relative path and bytes, in sorted
 * order), since a sibling's change is a new version of the plugin too.
 */
import { readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { compareFiles, listTree } from '../load/scan.js';
import { sha256, sha256Hash } from '../util/sha256.js';

/** The digest of the plugin whose entry is `file` (relative to `dir`); undefined when unreadable. */
export async function unitDigest(dir: string, file: string): Promise<string | undefined> {
  try {
    const slash = file.indexOf('/');
    if (slash === -1) return sha256(await readFile(join(dir, file)));
    const folder = file.slice(0, slash);
    // A folder that is gone has no digest (a listing would give none of its files, not an error).
    if (!(await stat(join(dir, folder))).isDirectory()) return undefined;
    // (Its own node_modules aside: packages are not watched, nor reloaded.)
    const files = (await listTree(dir, [folder])).map((f) => f.slice(folder.length + 1)).filter((f) => !f.startsWith('node_modules/')).sort(compareFiles);
    const hash = sha256Hash();
    for (const f of files) hash.update(`${f}\0`).update(await readFile(join(dir, folder, f))).update('\0');
    return hash.digest('hex');
  } catch {
    return undefined;
  }
}
