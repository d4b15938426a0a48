/**
 * The physical floor: plain Node importing the same number of same-sized modules in parallel with
 * `import()`, each calling a trivial global register - no scan library, no hooks, no validation.
 * Prints one JSON line: `{ count, ms, maxRssKb }`.
 */
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: floor.js <dir>');
const start = performance.now();
const registered: unknown[] = [];
(globalThis as { __benchRegister?: (r: unknown) => void }).__benchRegister = (r) => { registered.push(r); };
const files = (await readdir(dir)).filter((f) => f.endsWith('.js')).sort();
await Promise.all(files.map((f) => import(pathToFileURL(join(dir, f)).href)));
const ms = performance.now() - start;
process.stdout.write(JSON.stringify({ count: registered.length, ms, maxRssKb: process.resourceUsage().maxRSS }) + '\n');
