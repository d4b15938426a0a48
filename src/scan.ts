/**
 * Which files of a plugin directory are plugin entries (CONTRACT section 3): `*.js` and `*.mjs` at
 * the top level, and `<subdir>/index.js|mjs` one level down. Dotfiles, dot-folders and
 * `node_modules` are ignored. Entries come back in sorted relative-path order, which is the order
 * that decides duplicates.
 */
import { stat } from 'node:fs/promises';
import { resolve, sep } from 'node:path';
import fg from 'fast-glob';

/** One plugin entry file. */
export interface Entry {
  /** Its path relative to the plugin directory, with POSIX separators: the name in every report. */
  readonly file: string;
  /** Its absolute path. */
  readonly path: string;
}

const PATTERNS = ['*.js', '*.mjs', '*/index.js', '*/index.mjs'];

/** Lists the plugin entries of `dir`, sorted by relative path (code-unit order, locale-free). */
export async function scan(dir: string): Promise<Entry[]> {
  const root = resolve(dir);
  // fast-glob lists a missing directory as empty: fail as it does for a file (ENOTDIR) instead,
  // so that a mistyped plugin directory is never reported as "no plugins, no problems".
  await stat(root);
  const files = await fg(PATTERNS, { cwd: root, dot: false, onlyFiles: true, ignore: ['node_modules/**'], followSymbolicLinks: true });
  files.sort(compareFiles);
  const prefix = root.endsWith(sep) ? root : root + sep;
  return files.map((file) => ({ file, path: prefix + (sep === '/' ? file : file.split('/').join(sep)) }));
}

/** The one ordering of relative paths that plugd uses everywhere. */
export function compareFiles(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
