/**
 * Which files of a plugin directory are plugin entries: `*.js` and `*.mjs` at
 * the top level, and `<subdir>/index.js|mjs` one level down (a folder with both is one entry that
 * is refused). Dotfiles, dot-folders and `node_modules` are ignored. Entries come back in sorted relative-path order, which is the order
 * that decides duplicates.
 */
import { stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve, sep } from 'node:path';
import { PluginLoadError } from '../core/errors.js';

/**
 * fast-glob, from the one-file build that `npm run build` makes of it (dist/vendor: one file
 * loads in a third of the time of its ~25 modules from node_modules, on every CLI start), else from
 * node_modules (running from sources).
 */
const fg = ((): typeof import('fast-glob') => {
  const require = createRequire(import.meta.url);
  try {
    return require('../../vendor/fast-glob.cjs') as typeof import('fast-glob');
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    return require('fast-glob') as typeof import('fast-glob');
  }
})();

/** One plugin entry file. */
export interface Entry {
  /** Its path relative to the plugin directory, with POSIX separators: the name in every report. */
  readonly file: string;
  /** Its absolute path. */
  readonly path: string;
  /**
   * Why it must not be imported, found by the scan itself: a folder with both `index.js` and
   * `index.mjs` is one entry (its `index.js`) that carries this error, reported on the folder.
   */
  readonly problem?: PluginLoadError;
}

const PATTERNS = ['*.js', '*.mjs', '*/index.js', '*/index.mjs'];

/** Lists the plugin entries of `dir`, sorted by relative path (code-unit order, locale-free). */
export async function scan(dir: string): Promise<Entry[]> {
  const root = await existingDir(dir);
  const files = await fg(PATTERNS, { cwd: root, dot: false, onlyFiles: true, ignore: ['node_modules/**'], followSymbolicLinks: true });
  return toEntries(root, files);
}

/**
 * Every file below `dir` that a plugin may import (relative POSIX paths): all but dotfiles,
 * dot-folders and a `node_modules` right in `dir`. With `units` (top-level names), only the files
 * of those. What the admission checks and the lock cover: a folder plugin's own `node_modules`
 * included, since its code runs as the plugin's.
 */
export async function listTree(dir: string, units?: readonly string[]): Promise<string[]> {
  const root = await existingDir(dir);
  const patterns = units === undefined ? ['**'] : await Promise.all(units.map(async (unit) => {
    // A folder's files, or the file itself (a pattern below a file would make fast-glob read it as a folder).
    const folder = (await stat(join(root, unit)).catch(() => undefined))?.isDirectory() === true;
    return folder ? `${fg.escapePath(unit)}/**` : fg.escapePath(unit);
  }));
  // dot: false only hides dot entries from the results: fast-glob would still walk into them (a
  // .git, or a .link -> /). Ignoring them prunes the walk; the depth bounds a symlink loop, which
  // the permission checks report.
  return fg(patterns, { cwd: root, dot: false, onlyFiles: true, ignore: ['node_modules/**', '**/.*/**'], followSymbolicLinks: true, deep: 12 });
}

/** True for the name of a module file plugd imports as an entry (`*.js`, `*.mjs`). */
export function isModuleName(name: string): boolean {
  return name.endsWith('.js') || name.endsWith('.mjs');
}

/** The plugin entries among `files` (a {@link listTree} of `dir`), by the same rules as {@link scan}. */
export function entriesOf(dir: string, files: readonly string[]): Entry[] {
  return toEntries(resolve(dir), files.filter((file) => {
    const slash = file.indexOf('/');
    if (slash === -1) return isModuleName(file);
    const rest = file.slice(slash + 1);
    return rest === 'index.js' || rest === 'index.mjs';
  }));
}

/** `dir` resolved; rejects (ENOENT/ENOTDIR) unless it is a directory. */
async function existingDir(dir: string): Promise<string> {
  const root = resolve(dir);
  // fast-glob lists a missing directory as empty: fail as it does for a file (ENOTDIR) instead,
  // so that a mistyped plugin directory is never reported as "no plugins, no problems".
  await stat(root);
  return root;
}

function toEntries(root: string, files: readonly string[]): Entry[] {
  const sorted = [...files].sort(compareFiles);
  const prefix = root.endsWith(sep) ? root : root + sep;
  const entries: Entry[] = [];
  for (const file of sorted) {
    const previous = entries[entries.length - 1];
    // Sorted, a folder's index.mjs comes right after its index.js (nothing else in it is an entry).
    if (previous !== undefined && file.endsWith('/index.mjs') && previous.file === `${file.slice(0, -'.mjs'.length)}.js`) {
      entries[entries.length - 1] = { ...previous, problem: PluginLoadError.ambiguousFolder(unitOf(file)) };
      continue;
    }
    entries.push({ file, path: prefix + (sep === '/' ? file : file.split('/').join(sep)) });
  }
  return entries;
}

/**
 * The plugin a file of the directory belongs to: its first path segment (`a.js` for a top-level
 * file, `folder` for anything under `folder/`). Staging, admission and hot reload work per unit.
 */
export function unitOf(file: string): string {
  const slash = file.indexOf('/');
  return slash === -1 ? file : file.slice(0, slash);
}

/** The one ordering of relative paths that plugd uses everywhere. */
export function compareFiles(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
