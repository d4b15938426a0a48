/**
 * plugd keeps no reference to a closed plugin: its instance, its context (logger, signal) and the
 * timers of bounded inits are released once it is stopped - checked with WeakRefs and a forced GC
 * in a child process (`node --expose-gc`, plain Node: Jest's VM cannot force a collection).
 */
import { describe, expect, test } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import { pathToFileURL } from 'node:url';

const lifecycle = pathToFileURL(resolve('dist/src/core/lifecycle.js')).href;
const graph = pathToFileURL(resolve('dist/src/core/graph.js')).href;

const script = `
const { Runtime } = await import(${JSON.stringify(lifecycle)});
const { resolveGraph } = await import(${JSON.stringify(graph)});
const refs = [];
const record = (id, requires, slow) => {
  const name = 'io.mem.v1.' + id;
  const registration = { name, type: 'io.mem.' + id, id, requires, config: undefined,
    // A big instance that holds its context: if anything of plugd keeps either, it shows.
    init: async (ctx) => { if (slow) await new Promise((r) => setTimeout(r, 5)); const i = { ctx, big: new Array(1e6).fill(id), signal: ctx.signal, log: ctx.log }; refs.push(new WeakRef(i)); return i; },
    close: async () => ({ handed: id }) };
  return { name, type: registration.type, id, requires, file: id + '.js', dir: '/', registration };
};
const records = [record('a', [], true), record('b', ['io.mem.a'], false)];
const runtime = await Runtime.create({ timeout: 1000 });
// Five versions: each reload stops both (b depends on a) and starts them again.
for (let version = 0; version < 5; version++) {
  await runtime.stop(new Set(['io.mem.v1.a', 'io.mem.v1.b']));
  await runtime.start(records, resolveGraph(records));
}
const collect = async () => {
  await new Promise((r) => setTimeout(r, 20));
  for (let i = 0; i < 5; i++) { globalThis.gc(); await new Promise((r) => setImmediate(r)); }
  return refs.filter((r) => r.deref() !== undefined).length;
};
const whileRunning = await collect();
await runtime.close();
console.log(JSON.stringify({ made: refs.length, whileRunning, afterClose: await collect() }));
`;

describe('memory', () => {
  test('stopped and closed plugins are collectable: plugd holds no instance, context, signal or timer', () => {
    const run = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    expect(run.stderr).toBe('');
    const result = JSON.parse(run.stdout.trim()) as { made: number; whileRunning: number; afterClose: number };
    // Five versions of two plugins: only the running version's two instances may be alive.
    expect(result).toEqual({ made: 10, whileRunning: 2, afterClose: 0 });
  });
});

test('start() never runs a plugin twice: a running one is kept unless it was stopped', async () => {
  const { Runtime } = await import('../../src/core/lifecycle.js');
  const { resolveGraph } = await import('../../src/core/graph.js');
  let inits = 0;
  const registration = { name: 'io.once.v1.x', type: 'io.once.v1', id: 'x', requires: [], config: undefined, init: () => ({ n: ++inits }), close: undefined };
  const records = [{ name: registration.name, type: registration.type, id: 'x', requires: [], file: 'x.js', dir: '/', registration }];
  const runtime = await Runtime.create();
  await runtime.start(records, resolveGraph(records));
  await runtime.start(records, resolveGraph(records));
  expect(inits).toBe(1);
  await runtime.stop(new Set(['io.once.v1.x']));
  await runtime.start(records, resolveGraph(records));
  expect(inits).toBe(2);
  expect(runtime.instance('io.once.v1.x')).toEqual({ n: 2 });
  await runtime.close();
});
