/**
 * One daemon per `--root`: two daemons on one root would mix their inventories in one `meta.db`.
 * The lock is SQLite's own file lock (a POSIX record lock, through better-sqlite3) on a dedicated
 * file, `<root>/daemon.lock`, held by an immediate transaction that stays open for the whole run.
 * The kernel drops such a lock when its process dies, however it dies: there is no stale lock to
 * detect or take over, and a reused pid cannot fake a live holder. The holder's pid is written next
 * to it, in `<root>/daemon.pid`, only to name it when another daemon is refused.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';

/** The file whose lock the daemon holds while it runs, inside its root. */
export const ROOT_LOCK_FILE = 'daemon.lock';

/** The file naming the pid of the daemon that holds the lock, inside its root. */
export const ROOT_PID_FILE = 'daemon.pid';

/** A refusal to start: another live daemon holds the root. */
export class RootInUseError extends Error {
  override readonly name = 'RootInUseError';
  /** The root that is in use. */
  readonly root: string;
  /** The pid of the daemon that holds it, when known. */
  readonly pid: number | undefined;

  constructor(root: string, pid: number | undefined) {
    super(`another plugd daemon${pid === undefined ? '' : ` (pid ${pid})`} is running with --root ${root}; ` +
      'stop it, or give this one another --root (two daemons must not share one inventory)');
    this.root = root;
    this.pid = pid;
  }
}

/** The lock on a daemon's root, held until {@link RootLock.release} or the process ends. */
export interface RootLock {
  /** Releases the lock and removes the pid file. Idempotent, never throws. */
  release(): void;
}

/**
 * Takes the lock on `root` (creating the folder), or throws {@link RootInUseError} naming the root
 * and the holder's pid when another daemon holds it.
 *
 * @throws Error naming the lock file when it cannot be created or is not a SQLite file.
 */
export function lockRoot(root: string): RootLock {
  mkdirSync(root, { recursive: true });
  const path = join(root, ROOT_LOCK_FILE);
  let db: Database.Database;
  try {
    // No busy timeout: a held lock is an answer, not something to wait for.
    db = new Database(path, { timeout: 0 });
  } catch (error) {
    throw new Error(`cannot open the daemon lock "${path}": ${message(error)}`, { cause: error });
  }
  try {
    db.exec('BEGIN IMMEDIATE');
  } catch (error) {
    db.close();
    if ((error as { code?: unknown }).code === 'SQLITE_BUSY') throw new RootInUseError(root, holderPid(root));
    throw new Error(`cannot take the daemon lock "${path}": ${message(error)}; move the file away and start again`, { cause: error });
  }
  writePid(root);
  let held = true;
  return {
    release: () => {
      if (!held) return;
      held = false;
      rmSync(join(root, ROOT_PID_FILE), { force: true });
      try {
        db.close(); // rolls the empty transaction back, which drops the lock
      } catch {
        // The process is going away: the kernel drops the lock with it.
      }
    },
  };
}

/** Writes this process's pid next to the lock, atomically (a reader never sees half a pid). */
function writePid(root: string): void {
  const path = join(root, ROOT_PID_FILE);
  try {
    writeFileSync(`${path}.${process.pid}`, `${process.pid}\n`);
    renameSync(`${path}.${process.pid}`, path);
  } catch {
    // Only a refused daemon's message reads it: the lock itself is what keeps the root.
  }
}

/**
 * The pid of the daemon holding `root`'s lock. The holder writes it just after taking the lock,
 * so a refusal in between reads the previous holder's pid, which is no longer alive: the file is
 * read again for a moment until it names a live process.
 */
function holderPid(root: string): number | undefined {
  const deadline = Date.now() + 1000;
  for (;;) {
    const pid = readPid(join(root, ROOT_PID_FILE));
    if (pid !== undefined && alive(pid)) return pid;
    if (Date.now() >= deadline) return undefined;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

function readPid(path: string): number | undefined {
  try {
    const pid = Number(readFileSync(path, 'utf8').trim());
    return Number.isInteger(pid) && pid > 0 ? pid : undefined;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as { code?: unknown }).code === 'EPERM';
  }
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
