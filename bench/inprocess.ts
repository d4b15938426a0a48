/**
 * plugd's load as a library call: scan, import, register and order a directory in a fresh
 * registry. Prints one JSON line: `{ count, ms, maxRssKb }`. The load timeout is raised (as for
 * `plugd check` in run.ts): a large directory on a slow or busy machine must be timed, not cut off.
 */
import { Registry } from '../src/index.js';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: inprocess.js <dir>');
const start = performance.now();
const registry = new Registry();
const report = await registry.load(dir, { timeout: 600_000 });
registry.resolve();
const ms = performance.now() - start;
if (!report.ok) throw new Error(`bench directory did not load cleanly: ${report.errors[0]?.message ?? ''}`);
process.stdout.write(JSON.stringify({ count: registry.size, ms, maxRssKb: process.resourceUsage().maxRSS }) + '\n');
