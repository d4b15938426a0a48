/**
 * Integrity and permissions: what plugd checks before it imports a plugin
 * directory, and the lock that pins its files.
 *
 * - {@link checkPermissions}: like sshd's StrictModes, refuse code that another user could have
 *   changed (group/other-writable, or owned by someone other than the daemon's user or root), and
 *   symlinks that leave the plugin directory, loop or dangle.
 * - {@link writeLock} / {@link readLock}: `plugd.lock`, the sha256 of every
 *   plugin file (folder plugins' files included) and the plugd version, for `--locked`.
 */
import { lstatSync, realpathSync, statSync, type Dirent, type Stats } from 'node:fs';
import { lstat, readdir, readlink, realpath, rename, rm, stat, writeFile } from 'node:fs/promises';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { IntegrityError, PluginPathError, PluginPermissionsError, renderThrown } from '../core/errors.js';
import { foreignWriteBits } from './file-mode.js';
import { compareFiles, listTree } from './scan.js';
import { sha256 } from '../util/sha256.js';
import { version } from '../util/version.js';
import { isNotRegular, readRegularFile } from '../util/read-regular.js';

/** One problem found by a check, and whether --allow-insecure lets it through as a warning. */
export interface Finding {
  /** The problem. */
  error: PluginPermissionsError | PluginPathError | IntegrityError;
  /** True when `--allow-insecure` turns it into a warning (permissions, links out of the directory). */
  insecureOk: boolean;
}

/** The lock: `{ plugd: <plugd version>, files: { [relativePath]: <sha256 hex> } }`, keys sorted. */
export interface Lock {
  /** The version of plugd that wrote the lock. */
  plugd: string;
  /** Every plugin file (relative POSIX path) and the sha256 (hex) of its bytes. */
  files: Record<string, string>;
}

/** The name of the lock file in a plugin directory. */
export const LOCK_FILE = 'plugd.lock';

/** Options of {@link checkPermissions}. */
export interface PermissionOptions {
  /** The user that may own plugin code besides root (default: the process's). */
  readonly uid?: number;
  /** Check only these top-level names (a hot reload's units). */
  readonly units?: readonly string[];
  /** Collects the checked paths (relative, POSIX) that are symlinks. */
  readonly links?: Set<string>;
}

/** How many files are read at once (many plugin files must not exhaust file descriptors). */
const READ_CONCURRENCY = 16;

const SHA256 = /^[0-9a-f]{64}$/;

/**
 * Permission and path checks of a plugin directory and the files plugd would import (relative
 * POSIX paths, e.g. from listTree). Checks the directory itself (`.`), each folder on the way to
 * a file, and each file (through symlinks: what would be read): refused when writable by group or
 * others, or owned by a uid other than `options.uid` (default: the process's) and 0. Also walks the
 * directory (not following links; dot entries and `node_modules` skipped) for symlinks whose real
 * path leaves it (`outside`), that loop or lead to a folder containing them (`loop`), or dangle
 * (`dangling`). Sorted by file (`.` first). Rejects when `dir` itself cannot be read.
 * With `units` (top-level names) the walk covers only those: a reload checks what it reloads.
 * With `links`, every checked path that is a symlink is added to it (the load then knows, without
 * asking the file system again, which entries Node will import from another real path).
 */
export async function checkPermissions(dir: string, files: readonly string[], options: PermissionOptions = {}): Promise<Finding[]> {
  const root = resolve(dir);
  const realRoot = await realpath(root);
  const expectedOwner = allowedOwners(options.uid);
  // Mode bits and owners mean nothing on Windows: only the path checks apply there.
  const checkModes = process.platform !== 'win32';

  const findings: Finding[] = [];
  const badLinks = await findLinks(root, realRoot, options.units);
  findings.push(...badLinks);
  const broken = badLinks.filter((f) => !f.insecureOk).map((f) => f.error.file);
  const reported = badLinks.map((f) => f.error.file);

  const fileSet = new Set(files);
  // Synchronous stats: cheap from the page cache, where the promise API costs a thread-pool round
  // trip per call (an order of magnitude slower over thousands of files).
  const linked: string[] = [];
  const links = options.links;
  for (const file of pathsToCheck(files, broken)) {
    const path = file === '.' ? root : join(root, ...file.split('/'));
    let info: Stats;
    let isLink = false;
    try {
      const own = lstatSync(path);
      isLink = own.isSymbolicLink();
      info = isLink ? statSync(path) : own;
    } catch (error) {
      if (file === '.') throw error;
      const finding = await brokenPath(file, path, error);
      if (finding !== undefined && !covered(file, reported)) findings.push(finding);
      continue;
    }
    if (isLink) {
      linked.push(file);
      links?.add(file);
    }
    const refused = checkModes && expectedOwner !== undefined ? ownership(file, path, info, expectedOwner) : undefined;
    if (refused !== undefined) findings.push(refused);
    // Only a file reached through a link can have a real path outside (the walk saw every link in
    // real folders; a link inside may point at a folder holding a link out): check its real path.
    const viaLink = isLink || linked.some((l) => file.startsWith(`${l}/`));
    const outside = viaLink && fileSet.has(file) && !covered(file, reported) ? outsideRoot(file, path, root, realRoot) : undefined;
    if (outside !== undefined) findings.push(outside);
  }
  return findings.sort((a, b) => compareReported(a.error.file, b.error.file));
}

/** The directory (`.`), each folder on the way to each of `files` and the files, in report order; none below a broken link. */
function pathsToCheck(files: readonly string[], broken: readonly string[]): string[] {
  const paths = new Set<string>(['.']);
  for (const file of files) {
    if (covered(file, broken)) continue;
    const parts = file.split('/');
    for (let i = 1; i < parts.length; i++) paths.add(parts.slice(0, i).join('/'));
    paths.add(file);
  }
  return [...paths].sort(compareReported);
}

/** The permission finding of `file` (at `path`, with stat `info`), if another user could change it. */
function ownership(file: string, path: string, info: Stats, expectedOwner: readonly number[]): Finding | undefined {
  const writable = foreignWriteBits(info);
  if (writable === 0 && expectedOwner.includes(info.uid)) return undefined;
  return { error: new PluginPermissionsError(file, info.mode & 0o7777, info.uid, expectedOwner, path, writable), insecureOk: true };
}

/** The path finding of `file` (at `path`, reached through a link), if its real path lies outside `realRoot`. */
function outsideRoot(file: string, path: string, root: string, realRoot: string): Finding | undefined {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    return undefined;
  }
  return inside(realRoot, real) ? undefined : { error: new PluginPathError(file, 'outside', real, root), insecureOk: true };
}

/** The uids that may own plugin code: the process's user (or `uid`) and root; undefined where there are no uids (Windows). */
export function allowedOwners(uid = process.getuid?.()): number[] | undefined {
  return uid === undefined ? undefined : uid === 0 ? [0] : [uid, 0];
}

/** The symlinks below `root` (real folders only, no dot entries, no node_modules; only `units`, if given) that are a problem. */
async function findLinks(root: string, realRoot: string, units?: readonly string[]): Promise<Finding[]> {
  const findings: Finding[] = [];
  const walk = async (rel: string): Promise<void> => {
    const entries: Listed[] = rel === '' && units !== undefined
      ? await listed(root, units)
      : await readdir(rel === '' ? root : join(root, ...rel.split('/')), { withFileTypes: true });
    for (const entry of entries) {
      if (entry.name.startsWith('.') || entry.name === 'node_modules') continue;
      const file = rel === '' ? entry.name : `${rel}/${entry.name}`;
      if (entry.isDirectory()) {
        await walk(file);
      } else if (entry.isSymbolicLink()) {
        const finding = await linkFinding(root, realRoot, file);
        if (finding !== undefined) findings.push(finding);
      }
    }
  };
  await walk('');
  return findings;
}

/** What the walk needs of a directory entry. */
type Listed = Pick<Dirent, 'name' | 'isDirectory' | 'isSymbolicLink'>;

/** The entries `names` of `root` that exist, as a listing of it would give them (not following links). */
async function listed(root: string, names: readonly string[]): Promise<Listed[]> {
  const found: Listed[] = [];
  for (const name of names) {
    const info = await lstat(join(root, name)).catch(() => undefined);
    if (info !== undefined) found.push({ name, isDirectory: () => info.isDirectory(), isSymbolicLink: () => info.isSymbolicLink() });
  }
  return found;
}

/** What is wrong with the symlink `file` (relative to `root`), if anything. */
async function linkFinding(root: string, realRoot: string, file: string): Promise<Finding | undefined> {
  const path = join(root, ...file.split('/'));
  let real: string;
  try {
    real = await realpath(path);
  } catch (error) {
    return brokenPath(file, path, error);
  }
  if (!inside(realRoot, real)) return { error: new PluginPathError(file, 'outside', real, root), insecureOk: true };
  // A link to a folder that contains the link itself makes the tree infinite: a loop too.
  const slash = file.lastIndexOf('/');
  const realParent = slash === -1 ? realRoot : join(realRoot, ...file.slice(0, slash).split('/'));
  const info = await stat(real).catch(() => undefined);
  if (info?.isDirectory() === true && inside(real, realParent)) {
    return { error: new PluginPathError(file, 'loop', real, root), insecureOk: false };
  }
  return undefined;
}

/** The finding for `path` (`file`) that failed to resolve with `error`: a loop, a dangling link, or none (gone). */
async function brokenPath(file: string, path: string, error: unknown): Promise<Finding | undefined> {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const target = await readlink(path).catch(() => undefined);
  if (code === 'ELOOP') return { error: new PluginPathError(file, 'loop', target), insecureOk: false };
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    // A link whose target is not there dangles; a plain file that vanished meanwhile is no finding.
    const info = await lstat(path).catch(() => undefined);
    if (info?.isSymbolicLink() === true) return { error: new PluginPathError(file, 'dangling', target), insecureOk: false };
    return undefined;
  }
  throw error;
}

/** True when `path` is `root` or below it (both real, absolute). */
function inside(root: string, path: string): boolean {
  const rel = relative(root, path);
  return rel === '' || (rel !== '..' && !rel.startsWith(`..${sep}`) && !isAbsolute(rel));
}

/** True when `file` is one of `links` or lies below one of them. */
function covered(file: string, links: readonly string[]): boolean {
  return links.some((link) => file === link || file.startsWith(`${link}/`));
}

/** The plugin directory (`.`) first, then the files in plugd's one order. */
function compareReported(a: string, b: string): number {
  if (a === b) return 0;
  if (a === '.') return -1;
  if (b === '.') return 1;
  return compareFiles(a, b);
}

/** Runs `task` for each item, at most {@link READ_CONCURRENCY} at a time. */
async function forEachLimited<T>(items: readonly T[], task: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const item = items[next++] as T;
      await task(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(READ_CONCURRENCY, items.length) }, worker));
}

/** The sha256 (hex) of each of `files` (relative POSIX paths below `dir`), keyed by file, keys sorted. */
export async function hashFiles(dir: string, files: readonly string[]): Promise<Record<string, string>> {
  const root = resolve(dir);
  const sorted = [...new Set(files)].sort(compareFiles);
  const hashes: [string, string][] = sorted.map((file) => [file, '']);
  await forEachLimited(hashes, async (pair) => {
    const bytes = await readRegularFile(join(root, ...pair[0].split('/')));
    pair[1] = sha256(bytes);
  });
  // fromEntries defines own properties: a file named "__proto__" stays a key.
  return Object.fromEntries(hashes);
}

/** The text of a lock: stable JSON, keys sorted, 2-space indent, trailing newline. */
function serializeLock(lock: Lock): string {
  const files = Object.fromEntries(Object.keys(lock.files).sort(compareFiles).map((file) => [file, lock.files[file]]));
  return JSON.stringify({ plugd: lock.plugd, files }, null, 2) + '\n';
}

/**
 * Writes `<dir>/plugd.lock`: the sha256 of every plugin file (every file {@link listTree} lists:
 * entries, siblings, folder plugins' files and their own `node_modules`; never dotfiles, the
 * directory's own top-level `node_modules` or the lock itself) and the
 * plugd version. The output is stable: the same files give the same bytes. Written atomically.
 */
export async function writeLock(dir: string): Promise<{ path: string; lock: Lock }> {
  const root = resolve(dir);
  const files = (await listTree(root)).filter((file) => file !== LOCK_FILE);
  const lock: Lock = { plugd: version(), files: await hashFiles(root, files) };
  const path = join(root, LOCK_FILE);
  // A dotfile, so that a concurrent listTree never sees it.
  const temp = join(root, `.${LOCK_FILE}.${process.pid}.tmp`);
  try {
    await writeFile(temp, serializeLock(lock), { mode: 0o644 });
    await rename(temp, path);
  } catch (error) {
    await rm(temp, { force: true });
    throw error;
  }
  return { path, lock };
}

/**
 * Reads and validates `<dir>/plugd.lock`. Rejects with an {@link IntegrityError} (`file`
 * `plugd.lock`, reason `missing`) when it is absent, unreadable or invalid.
 */
export async function readLock(dir: string): Promise<Lock> {
  const root = resolve(dir);
  const path = join(root, LOCK_FILE);
  const relock = `run "plugd lock ${root}" to write it`;
  let text: string;
  try {
    text = (await readRegularFile(path)).toString('utf8');
  } catch (error) {
    const absent = (error as NodeJS.ErrnoException).code === 'ENOENT';
    throw new IntegrityError(LOCK_FILE, 'missing', {}, absent
      ? `the plugin directory "${root}" has no ${LOCK_FILE} (expected ${path}), which --locked needs; ${relock}`
      : isNotRegular(error)
        ? `${path} is ${error.kind}, not a regular file; remove it and ${relock}`
        : `cannot read ${path}: ${renderThrown(error)}; make it readable, or ${relock} again`, error);
  }
  const invalid = (what: string, cause?: unknown): IntegrityError => new IntegrityError(LOCK_FILE, 'missing', {},
    `${path} is not a valid plugd lock: ${what}; ${relock} again`, cause);
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (error) {
    throw invalid(`it is not JSON (${renderThrown(error)})`, error);
  }
  if (typeof doc !== 'object' || doc === null || Array.isArray(doc)) throw invalid('expected a JSON object');
  const { plugd, files } = doc as { plugd?: unknown; files?: unknown };
  if (typeof plugd !== 'string' || plugd === '') throw invalid(`"plugd" must be the version that wrote it, found ${JSON.stringify(plugd) ?? 'nothing'}`);
  if (typeof files !== 'object' || files === null || Array.isArray(files)) throw invalid('"files" must be an object of relative path -> sha256');
  const entries = Object.entries(files as Record<string, unknown>);
  for (const [file, hash] of entries) {
    if (!relativePosix(file)) throw invalid(`"${file}" in "files" is not a relative POSIX path inside the plugin directory`);
    if (typeof hash !== 'string' || !SHA256.test(hash)) {
      throw invalid(`the sha256 of "${file}" must be 64 lowercase hex digits, found ${JSON.stringify(hash) ?? 'nothing'}`);
    }
  }
  entries.sort(([a], [b]) => compareFiles(a, b));
  return { plugd, files: Object.fromEntries(entries) as Record<string, string> };
}

/** True for a non-empty relative POSIX path without `.`/`..`/empty segments or backslashes. */
function relativePosix(file: string): boolean {
  return file !== '' && !file.includes('\\') && !file.startsWith('/') &&
    file.split('/').every((part) => part !== '' && part !== '.' && part !== '..');
}
