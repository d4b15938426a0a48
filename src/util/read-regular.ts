/**
 * The one way plugd reads a file the user controls (the lock, the config, a plugin file it hashes):
 * only if it is a regular file. A FIFO opened for reading blocks until a writer comes (forever, in
 * a thread of libuv's pool, which no signal interrupts), a character device may never end. So the
 * file is opened non-blocking, its type is taken from the open descriptor (fstat), and it is read
 * from that same descriptor only when it is a regular file: what was checked is what is read.
 */
import { constants, type Stats } from 'node:fs';
import { lstat, open } from 'node:fs/promises';

/** Thrown (rejected) when a path exists but is not a regular file; `code` is {@link NOT_REGULAR}. */
export interface NotRegularFile extends Error {
  readonly code: typeof NOT_REGULAR;
  /** The path asked for. */
  readonly path: string;
  /** What it is instead, with its article: `a FIFO`, `a socket`, `a directory`... */
  readonly kind: string;
}

/** The `code` of a {@link NotRegularFile} rejection. */
export const NOT_REGULAR = 'E_NOT_REGULAR';

/** A regular file's bytes, and its stat as of the open (mode, owner, size). */
export interface RegularFile {
  readonly bytes: Buffer;
  readonly stats: Stats;
}

// O_NONBLOCK: the open itself returns at once on a FIFO with no writer. O_NOCTTY: opening a
// terminal never makes it the process's controlling terminal.
const FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY;

/**
 * Reads `path` if it is a regular file (following symlinks, as any read does). Rejects with a
 * {@link NotRegularFile} when it is something else (FIFO, socket, device, directory), else with the
 * system's error (ENOENT for a missing file or a dangling link, EACCES, ELOOP...). Never blocks on
 * what it opens.
 */
export async function readRegular(path: string): Promise<RegularFile> {
  let handle;
  try {
    handle = await open(path, process.platform === 'win32' ? 'r' : FLAGS);
  } catch (error) {
    // A Unix socket cannot be opened at all (ENXIO): say what it is rather than "no such device".
    if ((error as NodeJS.ErrnoException).code === 'ENXIO') {
      const info = await lstat(path).catch(() => undefined);
      if (info !== undefined) throw notRegular(path, info);
    }
    throw error;
  }
  try {
    const stats = await handle.stat();
    if (!stats.isFile()) throw notRegular(path, stats);
    return { bytes: await handle.readFile(), stats };
  } finally {
    await handle.close();
  }
}

/** The bytes of `path` if it is a regular file: {@link readRegular} without the stat. */
export async function readRegularFile(path: string): Promise<Buffer> {
  return (await readRegular(path)).bytes;
}

/** True when `error` is a {@link NotRegularFile} rejection. */
export function isNotRegular(error: unknown): error is NotRegularFile {
  return error instanceof Error && (error as { code?: unknown }).code === NOT_REGULAR;
}

/** What a file of type `info` is, with its article (`a FIFO`), or undefined for a regular file. */
export function fileKind(info: Pick<Stats, 'isFile' | 'isDirectory' | 'isFIFO' | 'isSocket' | 'isCharacterDevice' | 'isBlockDevice' | 'isSymbolicLink'>): string | undefined {
  if (info.isFile()) return undefined;
  if (info.isFIFO()) return 'a FIFO (named pipe)';
  if (info.isSocket()) return 'a socket';
  if (info.isCharacterDevice()) return 'a character device';
  if (info.isBlockDevice()) return 'a block device';
  if (info.isDirectory()) return 'a directory';
  if (info.isSymbolicLink()) return 'a symlink';
  return 'an unknown kind of file';
}

function notRegular(path: string, info: Stats): NotRegularFile {
  const kind = fileKind(info) ?? 'a regular file';
  return Object.assign(new Error(`"${path}" is ${kind}, not a regular file`), { code: NOT_REGULAR, path, kind }) as NotRegularFile;
}
