/** Real paths, as Node's module loader resolves them. */
import { realpathSync } from 'node:fs';

/**
 * The real path of `path` (symlinks resolved, as Node imports a module from its target), or
 * `path` itself when it cannot be resolved (gone: whoever reads it next says so).
 */
export function realPath(path: string): string {
  try {
    return realpathSync.native(path);
  } catch {
    return path;
  }
}
