/**
 * The @fastify/autoload baseline: the same modules as Fastify plugins, autoloaded and booted with
 * `fastify.ready()`. Prints one JSON line: `{ count, ms, maxRssKb }`.
 */
import autoload from '@fastify/autoload';
import Fastify from 'fastify';

const dir = process.argv[2];
if (dir === undefined) throw new Error('usage: fastify.js <dir>');
let count = 0;
(globalThis as { __benchRegister?: () => void }).__benchRegister = () => { count++; };
const start = performance.now();
const app = Fastify();
await app.register(autoload, { dir, forceESM: true });
await app.ready();
const ms = performance.now() - start;
process.stdout.write(JSON.stringify({ count, ms, maxRssKb: process.resourceUsage().maxRSS }) + '\n');
await app.close();
