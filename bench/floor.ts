/**
 * The floor: plain Node importing the same modules from their files, in place and in parallel
 * with `import()`, each calling a trivial global register - no scan library, no validation.
 * Prints one JSON line: `{ count, ms, maxRssKb }`.
 *
 * With `--hooks`, plugd's module hooks are installed first and learn the directory, exactly as
 * plugd's load does before it imports (the same module, the same update): the difference to the
 * plain floor is what the resolve hook costs on this Node version, apart from everything else
 * plugd does.
 */
import { readdir, realpath } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: floor.js <dir> [--hooks]');
const start = performance.now();
const real = await realpath(dir);
if (process.argv.includes('--hooks')) {
  const { moduleHooks } = await import('../src/load/hooks.js');
  await moduleHooks().apply({ kind: 'dir', dir: `${pathToFileURL(real).href}/`, generation: 0 });
}
const registered: unknown[] = [];
(globalThis as { __benchRegister?: (r: unknown) => void }).__benchRegister = (r) => { registered.push(r); };
const files = (await readdir(real)).filter((f) => f.endsWith('.js')).sort();
await Promise.all(files.map((f) => import(pathToFileURL(join(real, f)).href)));
const ms = performance.now() - start;
process.stdout.write(JSON.stringify({ count: registered.length, ms, maxRssKb: process.resourceUsage().maxRSS }) + '\n');
