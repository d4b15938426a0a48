/**
 * Which files of a plugin directory are plugin entries: `*.js` and `*.mjs` at
 * the top level, and `<subdir>/index.js|mjs` one level down (a folder with both is one entry that
 * is refused). Dotfiles, dot-folders and `node_modules` are ignored. Entries come back in sorted relative-path order, which is the order
 * that decides duplicates.
 */
import { lstat, readlink, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join, resolve, sep } from 'node:path';
import { PluginLoadError, PluginPathError } from '../core/errors.js';
import { fileKind } from '../util/read-regular.js';
import { hasControlCharacter } from '../util/render.js';

let fastGlob: typeof import('fast-glob') | undefined;

/**
 * fast-glob, loaded on first use (a process that imports plugd but never scans - an isolated
 * check's worker, a plugin - does not pay its ~10 ms): from the one-file build that
 * `npm run build` makes of it (dist/vendor: one file loads in a third of the time of its ~25
 * modules from node_modules), else from node_modules (running from sources).
 */
function fg(): typeof import('fast-glob') {
  if (fastGlob !== undefined) return fastGlob;
  const require = createRequire(import.meta.url);
  try {
    fastGlob = require('../../vendor/fast-glob.cjs') as typeof import('fast-glob');
  } catch (error) {
    if ((error as { code?: unknown }).code !== 'MODULE_NOT_FOUND') throw error;
    fastGlob = require('fast-glob') as typeof import('fast-glob');
  }
  return fastGlob;
}

/** One plugin entry file. */
export interface Entry {
  /** Its path relative to the plugin directory, with POSIX separators: the name in every report. */
  readonly file: string;
  /** Its absolute path. */
  readonly path: string;
  /**
   * Why it must never be imported, whatever the checks asked for, as the scan itself found: it is
   * not a regular file (a FIFO, a socket, a device, a dangling link or a loop), its name has a
   * control character, or it is the `index.js` of a folder that has an `index.mjs` too (one entry,
   * reported on the folder).
   */
  readonly refused?: PluginPathError | PluginLoadError;
}

const PATTERNS = ['*.js', '*.mjs', '*/index.js', '*/index.mjs'];

/**
 * Lists the plugin entries of `dir`, sorted by relative path (code-unit order, locale-free). An
 * entry that is not a regular file is listed too, with why it is {@link Entry.refused}: left out,
 * a FIFO put in place of a plugin would look like a removal.
 */
export async function scan(dir: string): Promise<Entry[]> {
  const root = await existingDir(dir);
  const found = await fg()(PATTERNS, { cwd: root, dot: false, onlyFiles: false, objectMode: true, ignore: ['node_modules/**'], followSymbolicLinks: true });
  const files: string[] = [];
  const others: string[] = [];
  for (const { path, dirent } of found) {
    if (dirent.isFile()) files.push(path);
    else if (!dirent.isDirectory()) others.push(path);
  }
  return toEntries(root, files, await Promise.all(others.map((file) => notAFile(root, file))));
}

/** The files of a {@link listTree}, and the entries among what it found that are not regular files. */
export interface Tree {
  /** Every regular file (relative POSIX paths), as {@link listTree} gives them. */
  readonly files: string[];
  /** The plugin entries (by name) that exist but are not regular files, each with why. */
  readonly notFiles: readonly PluginPathError[];
}

/**
 * Every file below `dir` that a plugin may import (relative POSIX paths): all but dotfiles,
 * dot-folders and a `node_modules` right in `dir`. With `units` (top-level names), only the files
 * of those. What the admission checks and the lock cover: a folder plugin's own `node_modules`
 * included, since its code runs as the plugin's.
 */
export async function listTree(dir: string, units?: readonly string[]): Promise<string[]> {
  return (await walkTree(dir, units)).files;
}

/** {@link listTree}, with the plugin entries that exist but are not regular files. */
export async function walkTree(dir: string, units?: readonly string[]): Promise<Tree> {
  const root = await existingDir(dir);
  const files: string[] = [];
  const others: string[] = [];
  // '**/*', not '**': fast-glob's '**' alone never matches a name with a newline in it.
  const patterns = units === undefined ? ['**/*'] : [];
  for (const unit of units ?? []) {
    // A folder's files, or the file itself: looked at directly (fast-glob matches a pattern without
    // wildcards by a stat, which leaves out a dangling link, and a pattern below a file would make
    // it read the file as a folder).
    const own = await lstat(join(root, unit)).catch(() => undefined);
    const info = own?.isSymbolicLink() === true ? await stat(join(root, unit)).catch(() => own) : own;
    if (info === undefined || unit.startsWith('.') || unit === 'node_modules') continue;
    if (info.isDirectory()) patterns.push(`${fg().escapePath(unit)}/**/*`);
    else if (info.isFile()) files.push(unit);
    else if (isEntryName(unit)) others.push(unit);
  }
  // dot: false only hides dot entries from the results: fast-glob would still walk into them (a
  // .git, or a .link -> /). Ignoring them prunes the walk; the depth bounds a symlink loop, which
  // the permission checks report.
  const found = patterns.length === 0 ? [] : await fg()(patterns, { cwd: root, dot: false, onlyFiles: false, objectMode: true, ignore: ['node_modules/**', '**/.*/**'], followSymbolicLinks: true, deep: 12 });
  for (const { path, dirent } of found) {
    if (dirent.isFile()) files.push(path);
    else if (!dirent.isDirectory() && isEntryName(path)) others.push(path);
  }
  return { files, notFiles: await Promise.all(others.map((file) => notAFile(root, file))) };
}

/** Why the entry `file` of `root`, found to be no regular file nor folder, is refused. */
async function notAFile(root: string, file: string): Promise<PluginPathError> {
  const path = join(root, ...file.split('/'));
  const own = await lstat(path).catch(() => undefined);
  if (own?.isSymbolicLink() === true) {
    const target = await readlink(path).catch(() => undefined);
    const code = await stat(path).then(() => undefined, (error: unknown) => (error as NodeJS.ErrnoException).code);
    // A link that resolves (to a FIFO, say) is judged by what it leads to.
    if (code === 'ELOOP') return new PluginPathError(file, 'loop', target);
    if (code !== undefined) return new PluginPathError(file, 'dangling', target);
  }
  const info = await stat(path).catch(() => own);
  return new PluginPathError(file, 'not-a-file', info === undefined ? undefined : fileKind(info));
}

/** True for the name of a module file plugd imports as an entry (`*.js`, `*.mjs`). */
export function isModuleName(name: string): boolean {
  return name.endsWith('.js') || name.endsWith('.mjs');
}

/** True for the relative path of a plugin entry: a top-level module file, or a folder's `index.js`/`index.mjs`. */
function isEntryName(file: string): boolean {
  const slash = file.indexOf('/');
  if (slash === -1) return isModuleName(file);
  const rest = file.slice(slash + 1);
  return rest === 'index.js' || rest === 'index.mjs';
}

/** The plugin entries of a {@link walkTree} of `dir`, by the same rules as {@link scan}. */
export function entriesOf(dir: string, tree: Tree): Entry[] {
  return toEntries(resolve(dir), tree.files.filter(isEntryName), tree.notFiles);
}

/** `dir` resolved; rejects (ENOENT/ENOTDIR) unless it is a directory. */
async function existingDir(dir: string): Promise<string> {
  const root = resolve(dir);
  // fast-glob lists a missing directory as empty: fail as it does for a file (ENOTDIR) instead,
  // so that a mistyped plugin directory is never reported as "no plugins, no problems".
  await stat(root);
  return root;
}

/** The entries `files` (regular) and `notFiles` of `root`, sorted; a name with a control character is refused. */
function toEntries(root: string, files: readonly string[], notFiles: readonly PluginPathError[] = []): Entry[] {
  const refused = new Map(notFiles.map((error) => [error.file, error]));
  const sorted = [...files, ...refused.keys()].sort(compareFiles);
  const prefix = root.endsWith(sep) ? root : root + sep;
  const entries: Entry[] = [];
  for (const file of sorted) {
    const previous = entries[entries.length - 1];
    // Sorted, a folder's index.mjs comes right after its index.js (nothing else in it is an entry).
    if (previous !== undefined && file.endsWith('/index.mjs') && previous.file === `${file.slice(0, -'.mjs'.length)}.js`) {
      entries[entries.length - 1] = { ...previous, refused: PluginLoadError.ambiguousFolder(unitOf(file)) };
      continue;
    }
    const path = prefix + (sep === '/' ? file : file.split('/').join(sep));
    const why = refused.get(file) ?? (hasControlCharacter(file) ? new PluginPathError(file, 'bad-name') : undefined);
    entries.push(why === undefined ? { file, path } : { file, path, refused: why });
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
