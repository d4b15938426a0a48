/** This copy of plugd as a package: where it is installed, and its version. */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let root: string | undefined;
let cached: string | undefined;

/** The root of the plugd package this module belongs to (where its package.json names it). */
export function packageRoot(): string {
  if (root !== undefined) return root;
  for (let d = dirname(fileURLToPath(import.meta.url)); ; d = dirname(d)) {
    const manifest = join(d, 'package.json');
    if (existsSync(manifest) && (JSON.parse(readFileSync(manifest, 'utf8')) as { name?: unknown }).name === 'plugd') return (root = d);
    if (dirname(d) === d) throw new Error(`cannot find plugd's package.json above ${fileURLToPath(import.meta.url)}`);
  }
}

/** The version of this copy of plugd. */
export function version(): string {
  cached ??= (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  return cached;
}
