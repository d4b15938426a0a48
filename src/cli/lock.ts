/** `plugd lock <dir>`: writes `<dir>/plugd.lock` for `--locked`. */
import { stat } from 'node:fs/promises';
import { renderThrown } from '../core/errors.js';
import { writeLock } from '../load/integrity.js';
import { UsageError, parse, type Command } from './usage.js';

/** Runs `plugd lock`; resolves to the exit status (0), or rejects with a {@link UsageError} (exit 2). */
export const lockCommand: Command = async (args) => {
  const { positionals } = parse(args, {});
  const [dir, ...extra] = positionals;
  if (dir === undefined || extra.length > 0) throw new UsageError('usage: plugd lock <dir>');
  const info = await stat(dir).catch(() => undefined);
  if (info?.isDirectory() !== true) throw new UsageError(`plugd lock: "${dir}" is not a readable directory`);
  let written: Awaited<ReturnType<typeof writeLock>>;
  try {
    written = await writeLock(dir);
  } catch (error) {
    // An unreadable file or folder, or a directory we may not write to: one line, exit 2.
    throw new UsageError(`plugd lock: cannot lock "${dir}": ${renderThrown(error)}`);
  }
  const count = Object.keys(written.lock.files).length;
  process.stdout.write(`wrote ${written.path} (${count} files)\n`);
  return 0;
};
