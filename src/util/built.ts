/**
 * Files of plugd's build that are loaded by URL (the module hooks' thread modules, the check
 * worker, the public entry that `'plugd'` resolves to). Found from the build's source root, one
 * folder above this module - which is where it is both in the compiled tree (`dist/src/util/`) and
 * in the bundle's shared chunks (`dist/src/chunks/`).
 */
const SOURCE_ROOT = new URL('../', import.meta.url);

/** The URL of the built module at `path` below the source root (e.g. `load/hooks-thread.js`). */
export function builtFile(path: string): URL {
  return new URL(path, SOURCE_ROOT);
}
