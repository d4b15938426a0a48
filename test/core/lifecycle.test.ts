/**
 * Starting and closing real fixture plugins: init order, contexts, dependencies, timeouts, skips,
 * disabled plugins, config validation and close failures.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, test } from '@jest/globals';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { ConfigError, DependencyError, PluginCloseError, PluginInitError } from '../../src/core/errors.js';
import type { PluginState, Running, StartOptions } from '../../src/core/lifecycle.js';
import type { InitContext } from '../../src/core/registration.js';
import { Registry } from '../../src/load/registry.js';

interface Recorded {
  __plugdDeps?: string[];
  __plugdCycle?: string[];
  __plugdMissing?: string[];
  __plugdStar?: string[];
  __plugdClose?: string[];
  __plugdInitFailures?: { signals: Record<string, AbortSignal>; closed: string[] };
  __plugdHostileSkip?: string[];
}
const recorded = globalThis as unknown as Recorded;

/** An instance the fixtures return: their name and their context. */
interface Instance {
  readonly name: string;
  readonly ctx: InitContext;
}

/** Loads `fixtures/<fixture>` into a fresh registry (expecting no load error) and starts it. */
async function start(fixture: string, options: StartOptions = {}): Promise<{ registry: Registry; running: Running }> {
  const registry = new Registry();
  const report = await registry.load(join('fixtures', fixture));
  expect(report.errors).toEqual([]);
  const running = await registry.start(options);
  return { registry, running };
}

function state(running: Running, name: string): PluginState {
  const found = running.plugins.find((p) => p.name === name);
  if (found === undefined) throw new Error(`no plugin state for ${name}`);
  return found;
}

function instance<T = Instance>(running: Running, name: string): T {
  const value = running.instance(name);
  if (value === undefined) throw new Error(`no instance for ${name}`);
  return value as T;
}

/** The error `fn` throws (fails the test when it does not throw). */
function thrownBy(fn: () => unknown): unknown {
  try {
    fn();
  } catch (error) {
    return error;
  }
  throw new Error('expected a throw');
}

async function until(condition: () => boolean, ms = 2000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const DEPS_ORDER = [
  'test.log.v1.console', 'test.log.v1.file', 'test.store.v1.disk', 'test.store.v1.mem',
  'test.http.v1.server', 'test.metrics.v1.prom', 'test.admin.v1.ui',
];

describe('dependency order (fixtures/deps)', () => {
  const open: Running[] = [];
  beforeEach(() => { recorded.__plugdDeps = []; });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((r) => r.close()));
  });

  test('registration order is file order, then order within the file', async () => {
    const registry = new Registry();
    await registry.load('fixtures/deps');
    expect(registry.plugins().map((p) => [p.file, p.name])).toEqual([
      ['a.js', 'test.http.v1.server'], ['a.js', 'test.metrics.v1.prom'],
      ['b.mjs', 'test.store.v1.disk'], ['b.mjs', 'test.store.v1.mem'],
      ['c/index.js', 'test.admin.v1.ui'], ['c/index.js', 'test.log.v1.console'],
      ['d.js', 'test.log.v1.file'],
    ]);
    expect(registry.resolve()).toMatchObject({ order: DEPS_ORDER, errors: [] });
  });

  test('init runs dependencies first, and close runs in exactly the reverse order', async () => {
    const { running } = await start('deps');
    expect(running.errors).toEqual([]);
    expect(running.plugins.map((p) => p.name)).toEqual(DEPS_ORDER);
    expect(running.plugins.every((p) => p.status === 'ok')).toBe(true);
    expect(running.plugins.every((p) => typeof p.initMs === 'number' && p.initMs >= 0)).toBe(true);
    expect(recorded.__plugdDeps).toEqual(DEPS_ORDER.map((name) => `init:${name}`));

    recorded.__plugdDeps = [];
    expect(await running.close()).toEqual([]);
    // test.log.v1.file has no close.
    expect(recorded.__plugdDeps).toEqual([...DEPS_ORDER].reverse()
      .filter((name) => name !== 'test.log.v1.file').map((name) => `close:${name}`));
  });

  test('onPlugin is called once per plugin, in init order', async () => {
    const seen: string[] = [];
    const { running } = await start('deps', { onPlugin: (s) => seen.push(`${s.name}:${s.status}`) });
    open.push(running);
    expect(seen).toEqual(DEPS_ORDER.map((name) => `${name}:ok`));
  });

  test('getAll returns every instance of a required type, in init order', async () => {
    const { running } = await start('deps');
    open.push(running);
    const server = instance<Instance & { storesAtInit: string[] }>(running, 'test.http.v1.server');
    expect(server.storesAtInit).toEqual(['test.store.v1.disk', 'test.store.v1.mem']);
    const disk = instance<Instance & { logsAtInit: string[] }>(running, 'test.store.v1.disk');
    expect(disk.logsAtInit).toEqual(['test.log.v1.console', 'test.log.v1.file']);
    const stores = server.ctx.getAll('test.store.v1');
    expect(stores).toHaveLength(2);
    expect(stores[0]).toBe(running.instance('test.store.v1.disk'));
    expect(stores[1]).toBe(running.instance('test.store.v1.mem'));
    // A fresh array each time: callers cannot corrupt the registry's list.
    stores.pop();
    expect(server.ctx.getAll('test.store.v1')).toHaveLength(2);
  });

  test('get returns the single instance of a type, and throws for none or several', async () => {
    const { running } = await start('deps');
    open.push(running);
    const prom = instance<Instance & { server: string }>(running, 'test.metrics.v1.prom');
    expect(prom.server).toBe('test.http.v1.server');
    expect(prom.ctx.get('test.http.v1')).toBe(running.instance('test.http.v1.server'));

    const server = instance(running, 'test.http.v1.server');
    const several = thrownBy(() => server.ctx.get('test.store.v1'));
    expect(several).toBeInstanceOf(DependencyError);
    expect((several as DependencyError).message).toMatch(/"test\.store\.v1".*2/);

    // A '*' plugin may ask for any type; none is running for this one.
    const ui = instance(running, 'test.admin.v1.ui');
    const none = thrownBy(() => ui.ctx.get('test.nothing.v1'));
    expect(none).toBeInstanceOf(DependencyError);
    expect((none as DependencyError).message).toMatch(/"test\.nothing\.v1".*0/);
    expect(ui.ctx.getAll('test.nothing.v1')).toEqual([]);
    expect(ui.ctx.getAll('test.log.v1')).toEqual([running.instance('test.log.v1.console'), running.instance('test.log.v1.file')]);
  });

  test('asking for a type that is not in requires throws, even when it is running', async () => {
    const { running } = await start('deps');
    open.push(running);
    const server = instance(running, 'test.http.v1.server');
    for (const ask of [() => server.ctx.get('test.log.v1'), () => server.ctx.getAll('test.log.v1')]) {
      const error = thrownBy(ask);
      expect(error).toBeInstanceOf(DependencyError);
      expect(error).toMatchObject({ code: 'E_DEPENDENCY', plugin: 'test.http.v1.server', missing: ['test.log.v1'] });
      expect((error as Error).message).toContain('requires');
    }
  });

  test('ctx has the identity, directories <root>/<name> and <state>/<name>, a logger and a signal', async () => {
    const base = await mkdtemp(join(tmpdir(), 'plugd-lifecycle-'));
    try {
      const root = join(base, 'root');
      const stateDir = join(base, 'state');
      const { running } = await start('deps', { root, state: stateDir });
      for (const name of DEPS_ORDER) {
        const { ctx } = instance(running, name);
        expect(ctx.name).toBe(name);
        expect(`${ctx.type}.${ctx.id}`).toBe(name);
        expect(ctx.root).toBe(join(root, name));
        expect(ctx.state).toBe(join(stateDir, name));
        expect(statSync(ctx.root).isDirectory()).toBe(true);
        expect(statSync(ctx.state).isDirectory()).toBe(true);
        expect(ctx.config).toEqual({});
        expect(typeof ctx.log.info).toBe('function');
        expect(ctx.log.bindings()).toMatchObject({ plugin: name });
        expect(ctx.signal).toBeInstanceOf(AbortSignal);
        expect(ctx.signal.aborted).toBe(false);
      }
      const server = instance(running, 'test.http.v1.server');
      expect(server.ctx).toMatchObject({ type: 'test.http.v1', id: 'server' });
      const all = DEPS_ORDER.map((name) => instance(running, name));
      await running.close();
      for (const i of all) expect(i.ctx.signal.aborted).toBe(true);
      // Closed: the runtime holds no instance any more.
      for (const name of DEPS_ORDER) expect(running.instance(name)).toBeUndefined();
      // Directories the caller gave are kept.
      expect(existsSync(join(root, 'test.http.v1.server'))).toBe(true);
    } finally {
      await rm(base, { recursive: true, force: true });
    }
  });

  test('without root/state, throwaway directories are used and removed on close', async () => {
    const { running } = await start('deps');
    const { ctx } = instance(running, 'test.store.v1.mem');
    expect(existsSync(ctx.root)).toBe(true);
    expect(existsSync(ctx.state)).toBe(true);
    expect(ctx.root.endsWith('test.store.v1.mem')).toBe(true);
    await running.close();
    expect(existsSync(ctx.root)).toBe(false);
    expect(existsSync(ctx.state)).toBe(false);
  });

  test('disabled plugins are never initialized; their dependents without another provider are skipped', async () => {
    const { running } = await start('deps', { disabled: ['test.log.v1.console', 'test.log.v1.file'] });
    open.push(running);
    expect(state(running, 'test.log.v1.console')).toMatchObject({ status: 'disabled' });
    expect(state(running, 'test.log.v1.file')).toMatchObject({ status: 'disabled' });
    expect(state(running, 'test.log.v1.console').error).toBeUndefined();
    const disk = state(running, 'test.store.v1.disk');
    expect(disk.status).toBe('skipped');
    expect(disk.error).toBeInstanceOf(DependencyError);
    expect(disk.error).toMatchObject({ code: 'E_DEPENDENCY', plugin: 'test.store.v1.disk', missing: ['test.log.v1'] });
    expect(disk.error?.message).toContain('test.log.v1.console');
    expect(disk.error?.message).toContain('disabled');
    // The other store provider is enough for the server.
    expect(state(running, 'test.http.v1.server').status).toBe('ok');
    expect(instance<Instance & { storesAtInit: string[] }>(running, 'test.http.v1.server').storesAtInit).toEqual(['test.store.v1.mem']);
    expect(recorded.__plugdDeps).toEqual(['init:test.store.v1.mem', 'init:test.http.v1.server', 'init:test.metrics.v1.prom', 'init:test.admin.v1.ui']);
    expect(running.errors).toEqual([disk.error]);
    expect(running.instance('test.log.v1.console')).toBeUndefined();
  });

  test('disabling every provider of a type skips its dependents transitively; the others go on', async () => {
    const { running } = await start('deps', { disabled: new Set(['test.store.v1.disk', 'test.store.v1.mem']) });
    open.push(running);
    expect(running.plugins.map((p) => [p.name, p.status])).toEqual([
      // Disabled plugins take no part in ordering: they keep their registration place and pull
      // nothing forward.
      ['test.store.v1.disk', 'disabled'], ['test.store.v1.mem', 'disabled'],
      ['test.log.v1.console', 'ok'], ['test.log.v1.file', 'ok'],
      ['test.admin.v1.ui', 'ok'],
      // Unresolvable once their providers are disabled: never ordered, listed after the others.
      ['test.http.v1.server', 'skipped'], ['test.metrics.v1.prom', 'skipped'],
    ]);
    expect(running.errors.map((e) => [e.code, e instanceof DependencyError ? e.plugin : '', e instanceof DependencyError ? e.missing : []])).toEqual([
      ['E_DEPENDENCY', 'test.http.v1.server', ['test.store.v1']],
      ['E_DEPENDENCY', 'test.metrics.v1.prom', ['test.http.v1']],
    ]);
    expect(running.errors[1]?.message).toContain('test.http.v1.server');
  });

  test('a plugin whose directory cannot be created fails when it uses it, alone; the others start and close normally', async () => {
    const root = await mkdtemp(join(tmpdir(), 'plugd-lifecycle-'));
    try {
      // A regular file where the server's root directory should go.
      await writeFile(join(root, 'test.http.v1.server'), 'in the way');
      const { running } = await start('deps', { root });
      const server = state(running, 'test.http.v1.server');
      expect(server.status).toBe('failed');
      expect(server.error).toBeInstanceOf(PluginInitError);
      expect(server.error).toMatchObject({ code: 'E_PLUGIN_INIT', plugin: 'test.http.v1.server', reason: 'throw' });
      expect(server.error?.message).toContain('test.http.v1.server');
      expect(state(running, 'test.metrics.v1.prom').status).toBe('skipped');
      expect(state(running, 'test.store.v1.mem').status).toBe('ok');
      expect(state(running, 'test.admin.v1.ui').status).toBe('ok');
      recorded.__plugdDeps = [];
      expect(await running.close()).toEqual([]);
      expect(recorded.__plugdDeps).toContain('close:test.log.v1.console');
    } finally {
      await rm(root, { recursive: true, force: true });
    }
  });

  test('close() is idempotent: every close runs once, and every call gets the same result', async () => {
    const { running } = await start('deps');
    recorded.__plugdDeps = [];
    const [first, second] = await Promise.all([running.close(), running.close()]);
    const third = await running.close();
    expect(first).toEqual([]);
    expect(second).toBe(first);
    expect(third).toBe(first);
    expect(recorded.__plugdDeps).toHaveLength(DEPS_ORDER.length - 1);
    expect(new Set(recorded.__plugdDeps).size).toBe(DEPS_ORDER.length - 1);
  });
});

describe('cycles (fixtures/cycle)', () => {
  beforeEach(() => { recorded.__plugdCycle = []; });

  test('each cycle is reported once, naming every member in registration order; dependents are unresolved', async () => {
    const registry = new Registry();
    await registry.load('fixtures/cycle');
    const graph = registry.resolve();
    expect(graph.order).toEqual(['test.free.v1.free']);
    expect(graph.errors.map((e) => ({ plugin: e.plugin, cycle: e.cycle, missing: e.missing }))).toEqual([
      { plugin: 'test.a.v1.one', cycle: ['test.a.v1.one', 'test.b.v1.two', 'test.c.v1.three'], missing: undefined },
      { plugin: 'test.d.v1.dependent', cycle: undefined, missing: ['test.b.v1'] },
      { plugin: 'test.ping.v1.ping', cycle: ['test.ping.v1.ping', 'test.pong.v1.pong'], missing: undefined },
    ]);
    for (const name of ['test.a.v1.one', 'test.b.v1.two', 'test.c.v1.three']) {
      expect(graph.errors[0]?.message).toContain(`"${name}"`);
    }
  });

  test('start initializes only the plugins outside and independent of the cycles', async () => {
    const { registry, running } = await start('cycle');
    expect(recorded.__plugdCycle).toEqual(['test.free.v1.free']);
    expect(state(running, 'test.free.v1.free').status).toBe('ok');
    const graph = registry.resolve();
    // Every distinct error behind a plugin that is not ok, each cycle's once: the graph's errors.
    expect(running.errors.map((e) => e.message).sort()).toEqual(graph.errors.map((e) => e.message).sort());
    for (const name of ['test.a.v1.one', 'test.b.v1.two', 'test.c.v1.three', 'test.d.v1.dependent', 'test.ping.v1.ping', 'test.pong.v1.pong']) {
      const s = state(running, name);
      expect(s.status).toBe('skipped');
      expect(s.error).toBeInstanceOf(DependencyError);
      expect(s.error?.message).toBe(graph.unresolved.get(name)?.message);
    }
    // Ordered plugins first, then the unresolved ones in registration order.
    expect(running.plugins.map((p) => p.name)).toEqual([
      'test.free.v1.free', 'test.a.v1.one', 'test.b.v1.two', 'test.c.v1.three', 'test.d.v1.dependent',
      'test.ping.v1.ping', 'test.pong.v1.pong',
    ]);
    expect(await running.close()).toEqual([]);
  });
});

describe('missing dependencies (fixtures/missing-dependency)', () => {
  beforeEach(() => { recorded.__plugdMissing = []; });

  test('a missing type makes its plugin and its dependents unresolved; the others start', async () => {
    const { registry, running } = await start('missing-dependency');
    const graph = registry.resolve();
    expect(graph.order).toEqual(['test.cache.v1.lru']);
    expect(graph.errors.map((e) => [e.plugin, e.missing])).toEqual([
      ['test.api.v1.rest', ['test.db.v1']],
      ['test.db.v1.postgres', ['test.secrets.v1']],
    ]);
    expect(graph.errors[1]?.message).toContain('"test.secrets.v1"');
    expect(recorded.__plugdMissing).toEqual(['test.cache.v1.lru']);
    expect(running.errors.map((e) => e.message).sort()).toEqual(graph.errors.map((e) => e.message).sort());
    expect(running.plugins.map((p) => [p.name, p.status, p.error?.code])).toEqual([
      ['test.cache.v1.lru', 'ok', undefined],
      ['test.api.v1.rest', 'skipped', 'E_DEPENDENCY'],
      ['test.db.v1.postgres', 'skipped', 'E_DEPENDENCY'],
    ]);
    await running.close();
  });

  test('a disabled plugin is disabled, not skipped, even when its requirements are not met', async () => {
    const { running } = await start('missing-dependency', { disabled: ['test.db.v1.postgres'] });
    expect(state(running, 'test.db.v1.postgres').status).toBe('disabled');
    expect(state(running, 'test.db.v1.postgres').error).toBeUndefined();
    expect(state(running, 'test.api.v1.rest')).toMatchObject({ status: 'skipped', error: { code: 'E_DEPENDENCY' } });
    expect(state(running, 'test.cache.v1.lru').status).toBe('ok');
    await running.close();
  });
});

describe('init failures (fixtures/init-failures)', () => {
  const TIMEOUT = 100;
  let running: Running;
  let elapsed: number;

  // One run for the whole block; the tests only inspect it, and the last one closes it.
  beforeAll(async () => {
    recorded.__plugdInitFailures = { signals: {}, closed: [] };
    const started = Date.now();
    running = (await start('init-failures', { timeout: TIMEOUT })).running;
    elapsed = Date.now() - started;
  });
  afterAll(async () => {
    await running.close();
  });

  test.each([
    ['test.fail.v1.error', new Error('kaboom'), 'kaboom'],
    ['test.fail.v1.string', 'just a string', "'just a string'"],
    ['test.fail.v1.undefined', undefined, 'undefined'],
    ['test.fail.v1.object', { code: 'x' }, "{ code: 'x' }"],
    ['test.fail.v1.null', null, 'null'],
  ])('%s: any thrown value fails the plugin with reason "throw"', (name, thrown, rendered) => {
    const s = state(running, name);
    expect(s.status).toBe('failed');
    expect(s.error).toBeInstanceOf(PluginInitError);
    const error = s.error as PluginInitError;
    expect(error).toMatchObject({ code: 'E_PLUGIN_INIT', plugin: name, file: 'a-throws.js', reason: 'throw' });
    expect(error.thrown).toEqual(thrown);
    expect(error.message).toContain(name);
    expect(error.message).toContain(rendered);
    expect(running.instance(name)).toBeUndefined();
  });

  test('an init that never settles fails with reason "timeout", and its signal is aborted', () => {
    for (const name of ['test.hang.v1.forever', 'test.hang.v1.late']) {
      const s = state(running, name);
      expect(s.status).toBe('failed');
      expect(s.error).toBeInstanceOf(PluginInitError);
      expect(s.error).toMatchObject({ code: 'E_PLUGIN_INIT', plugin: name, file: 'b-hangs.js', reason: 'timeout' });
      expect(s.error?.message).toContain(`${TIMEOUT} ms`);
      expect(s.initMs).toBeGreaterThanOrEqual(TIMEOUT - 5);
      expect(recorded.__plugdInitFailures?.signals[name]?.aborted).toBe(true);
    }
    // Each init is bounded: the whole start takes about two timeouts, not forever.
    expect(elapsed).toBeLessThan(TIMEOUT * 2 + 2000);
  });

  test('an instance that arrives after the timeout is closed, not used', async () => {
    expect(recorded.__plugdInitFailures?.closed).toEqual([]);
    await until(() => (recorded.__plugdInitFailures?.closed.length ?? 0) > 0);
    expect(recorded.__plugdInitFailures?.closed).toEqual(['late']);
    expect(running.instance('test.hang.v1.late')).toBeUndefined();
    expect(state(running, 'test.hang.v1.late').status).toBe('failed');
  });

  test('SkipPluginError skips the plugin with its reason, and reports no error for it', () => {
    const s = state(running, 'test.optional.v1.gpu');
    expect(s.status).toBe('skipped');
    expect(s.skipReason).toBe('no GPU on this machine');
    expect(s.error).toBeUndefined();
    expect(running.errors.some((e) => (e as { plugin?: string }).plugin === 'test.optional.v1.gpu')).toBe(false);
    expect(recorded.__plugdInitFailures?.signals['test.optional.v1.gpu']?.aborted).toBe(true);
  });

  test('dependents of a skipped plugin are skipped with an E_DEPENDENCY naming it', () => {
    const s = state(running, 'test.consumer.v1.gpu-user');
    expect(s.status).toBe('skipped');
    expect(s.error).toBeInstanceOf(DependencyError);
    expect(s.error).toMatchObject({ code: 'E_DEPENDENCY', plugin: 'test.consumer.v1.gpu-user', missing: ['test.optional.v1'] });
    expect(s.error?.message).toContain('test.optional.v1.gpu');
    expect(s.error?.message).toContain('no GPU on this machine');
  });

  test('dependents of failed plugins are skipped with an E_DEPENDENCY naming them', () => {
    const failUser = state(running, 'test.consumer.v1.fail-user');
    expect(failUser.status).toBe('skipped');
    expect(failUser.error).toMatchObject({ code: 'E_DEPENDENCY', missing: ['test.fail.v1'] });
    expect(failUser.error?.message).toContain('test.fail.v1.error');
    const hangUser = state(running, 'test.consumer.v1.hang-user');
    expect(hangUser.status).toBe('skipped');
    expect(hangUser.error?.message).toContain('test.hang.v1.forever');
    const transitive = state(running, 'test.top.v1.transitive');
    expect(transitive.status).toBe('skipped');
    expect(transitive.error).toMatchObject({ code: 'E_DEPENDENCY', missing: ['test.consumer.v1'] });
  });

  test('the healthy plugin starts anyway, and every problem is reported once, in init order', () => {
    expect(state(running, 'test.healthy.v1.ok').status).toBe('ok');
    expect(instance<{ name: string }>(running, 'test.healthy.v1.ok').name).toBe('test.healthy.v1.ok');
    expect(running.errors.map((e) => [e.code, (e as { plugin?: string }).plugin])).toEqual([
      ['E_PLUGIN_INIT', 'test.fail.v1.error'],
      ['E_PLUGIN_INIT', 'test.fail.v1.string'],
      ['E_PLUGIN_INIT', 'test.fail.v1.undefined'],
      ['E_PLUGIN_INIT', 'test.fail.v1.object'],
      ['E_PLUGIN_INIT', 'test.fail.v1.null'],
      ['E_PLUGIN_INIT', 'test.hang.v1.forever'],
      ['E_PLUGIN_INIT', 'test.hang.v1.late'],
      ['E_DEPENDENCY', 'test.consumer.v1.gpu-user'],
      ['E_DEPENDENCY', 'test.consumer.v1.fail-user'],
      ['E_DEPENDENCY', 'test.consumer.v1.hang-user'],
      ['E_DEPENDENCY', 'test.top.v1.transitive'],
    ]);
    expect(running.errors.map((e) => e.toJSON())).toEqual(JSON.parse(JSON.stringify(running.errors)));
  });

  // Runs last in this block: it closes the shared run.
  test('failed and skipped plugins are not closed on shutdown; only the healthy one is', async () => {
    expect(recorded.__plugdInitFailures?.closed).toEqual(['late']);
    expect(await running.close()).toEqual([]);
    expect(recorded.__plugdInitFailures?.closed).toEqual(['late', 'ok']);
  });
});

describe('hostile skips (fixtures/hostile-skip)', () => {
  test('a SkipPluginError wrapped as a cause, and a skip whose message getter throws, are skips; the others start and close', async () => {
    recorded.__plugdHostileSkip = [];
    const { running } = await start('hostile-skip');
    expect(running.plugins.map((p) => [p.name, p.status])).toEqual([
      ['test.hostile.v1.started', 'ok'], ['test.hostile.v1.skip-getter', 'skipped'],
      ['test.hostile.v1.wrapped-skip', 'skipped'], ['test.hostile.v1.after', 'ok'],
    ]);
    expect(running.errors).toEqual([]);
    // The wrapped skip's reason is the SkipPluginError's; an unreadable message is rendered safely.
    expect(state(running, 'test.hostile.v1.wrapped-skip').skipReason).toBe('no GPU on this machine');
    expect(state(running, 'test.hostile.v1.skip-getter').skipReason).toBe('Error: <unreadable message>');
    expect(await running.close()).toEqual([]);
    expect(recorded.__plugdHostileSkip).toEqual(['close:after', 'close:started']);
  });
});

describe('a plugin that pollutes Object.prototype (fixtures/pollution)', () => {
  const proto = Object.prototype as Record<string, unknown>;
  afterEach(() => {
    delete proto.config;
    delete proto.close;
    delete proto.requires;
  });

  test('another plugin gets no config section or schema, close or requires from Object.prototype', async () => {
    const { registry, running } = await start('pollution');
    expect(Object.hasOwn(proto, 'config')).toBe(true); // the fixture did pollute
    expect(registry.plugins().map((p) => [p.name, p.requires])).toEqual([['test.pollution.v1.polluter', []], ['test.pollution.v1.victim', []]]);
    expect(running.plugins.map((p) => [p.name, p.status])).toEqual([['test.pollution.v1.polluter', 'ok'], ['test.pollution.v1.victim', 'ok']]);
    expect(running.errors).toEqual([]);
    expect(await running.close()).toEqual([]);
  });

  test('a config section is only ever an own property of the config given', async () => {
    const { running } = await start('pollution', { config: {} });
    expect(state(running, 'test.pollution.v1.victim').status).toBe('ok');
    await running.close();
  });
});

describe('config (fixtures/config)', () => {
  const open: Running[] = [];
  afterEach(async () => {
    await Promise.all(open.splice(0).map((r) => r.close()));
  });

  test('with no section, the schema fills in its defaults; without a schema config is {}', async () => {
    const { running } = await start('config');
    open.push(running);
    expect(running.errors).toEqual([]);
    expect(instance(running, 'test.cfg.v1.server').ctx.config).toEqual({ port: 8080, host: 'localhost', tls: { enabled: false } });
    expect(instance(running, 'test.client.v1.client').ctx.config).toEqual({ retries: 3 });
    expect(instance(running, 'test.plain.v1.plain').ctx.config).toEqual({});
  });

  test('a section is validated and completed with defaults; a schemaless plugin gets its section as is', async () => {
    const { running } = await start('config', {
      config: {
        'test.cfg.v1.server': { port: 9000, tls: { cert: 'c.pem' } },
        'test.plain.v1.plain': { anything: [1, 2] },
        'test.unknown.v1.nobody': { ignored: true },
      },
    });
    open.push(running);
    expect(running.errors).toEqual([]);
    expect(instance(running, 'test.cfg.v1.server').ctx.config).toEqual({ port: 9000, host: 'localhost', tls: { enabled: false, cert: 'c.pem' } });
    expect(instance(running, 'test.plain.v1.plain').ctx.config).toEqual({ anything: [1, 2] });
  });

  test.each([
    ['a wrong type', { port: 'eighty' }, ['port']],
    ['an out-of-range value', { port: 70000 }, ['port']],
    ['a nested wrong type', { tls: { enabled: 'yes' } }, ['tls', 'enabled']],
    ['an unknown key (strict schema)', { prot: 80 }, []],
    ['a section that is not an object', 'port=80', []],
  ])('%s gives E_CONFIG with the plugin and the issues; init is not called; dependents are skipped', async (_, section, path) => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } });
    const { running } = await start('config', { config: { 'test.cfg.v1.server': section }, logger });
    open.push(running);
    const server = state(running, 'test.cfg.v1.server');
    expect(server.status).toBe('failed');
    expect(server.error).toBeInstanceOf(ConfigError);
    const error = server.error as ConfigError;
    expect(error).toMatchObject({ code: 'E_CONFIG', plugin: 'test.cfg.v1.server' });
    expect(error.issues.length).toBeGreaterThan(0);
    expect(error.issues[0]?.path).toEqual(path);
    expect(error.message).toContain('test.cfg.v1.server');
    expect(error.toJSON()).toMatchObject({ code: 'E_CONFIG', plugin: 'test.cfg.v1.server', issues: error.issues });
    expect(lines.some((l) => l.includes('server starting'))).toBe(false);
    expect(running.instance('test.cfg.v1.server')).toBeUndefined();

    const client = state(running, 'test.client.v1.client');
    expect(client.status).toBe('skipped');
    expect(client.error).toMatchObject({ code: 'E_DEPENDENCY', missing: ['test.cfg.v1'] });
    expect(client.error?.message).toContain('test.cfg.v1.server');
    expect(state(running, 'test.plain.v1.plain').status).toBe('ok');
    expect(running.errors.map((e) => e.code)).toEqual(['E_CONFIG', 'E_DEPENDENCY']);
  });

  test('ctx.log is a pino child of the given logger, bound to the plugin name', async () => {
    const lines: string[] = [];
    const logger = pino({ level: 'info' }, { write: (line: string) => { lines.push(line); } });
    const { running } = await start('config', { logger });
    open.push(running);
    const entries = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(entries).toContainEqual(expect.objectContaining({ plugin: 'test.cfg.v1.server', port: 8080, msg: 'server starting' }));
    expect(instance(running, 'test.client.v1.client').ctx.log.bindings()).toMatchObject({ plugin: 'test.client.v1.client' });
  });
});

describe("'*' plugins (fixtures/star)", () => {
  beforeEach(() => { recorded.__plugdStar = []; });

  test("'*' plugins init after all others (in registration order) and see them; they close first", async () => {
    const { running } = await start('star');
    expect(recorded.__plugdStar).toEqual(['test.base.v1.one', 'test.late.v1.x', 'test.audit.v1.first', 'test.audit.v1.second']);
    const first = instance<Instance & { bases: string[]; lates: string[] }>(running, 'test.audit.v1.first');
    expect(first.bases).toEqual(['test.base.v1.one']);
    expect(first.lates).toEqual(['test.late.v1.x']);

    const needs = state(running, 'test.needs-audit.v1.x');
    expect(needs.status).toBe('skipped');
    expect(needs.error).toMatchObject({ code: 'E_DEPENDENCY', missing: ['test.audit.v1'] });

    recorded.__plugdStar = [];
    await running.close();
    expect(recorded.__plugdStar).toEqual(['close:test.audit.v1.second', 'close:test.audit.v1.first', 'close:test.late.v1.x', 'close:test.base.v1.one']);
  });
});

describe('close failures (fixtures/close-failures)', () => {
  beforeEach(() => { recorded.__plugdClose = []; });

  test('throwing, rejecting and hanging closes are reported as E_PLUGIN_CLOSE and do not stop the others', async () => {
    const { running } = await start('close-failures', { closeTimeout: 100 });
    expect(running.errors).toEqual([]);
    const ids = ['throws', 'hangs', 'rejects', 'fine', 'last'];
    const instances = ids.map((id) => instance<{ ctx: InitContext }>(running, `test.close.v1.${id}`));
    expect(recorded.__plugdClose).toEqual(['init:throws', 'init:hangs', 'init:rejects', 'init:fine', 'init:last']);
    recorded.__plugdClose = [];

    const started = Date.now();
    const errors = await running.close();
    expect(Date.now() - started).toBeLessThan(2000);
    expect(recorded.__plugdClose).toEqual(['close:last', 'close:fine', 'close:rejects', 'close:hangs', 'close:throws']);
    expect(errors.every((e) => e instanceof PluginCloseError)).toBe(true);
    expect(errors.map((e) => e.toJSON()).map((c) => [c.code, c.plugin, c.reason, c.file])).toEqual([
      ['E_PLUGIN_CLOSE', 'test.close.v1.rejects', 'throw', 'c.js'],
      ['E_PLUGIN_CLOSE', 'test.close.v1.hangs', 'timeout', 'b.js'],
      ['E_PLUGIN_CLOSE', 'test.close.v1.throws', 'throw', 'a.js'],
    ]);
    expect(errors[0]?.message).toContain("'nope'");
    expect(errors[1]?.message).toContain('100 ms');
    expect(errors[2]?.message).toContain('close exploded');
    expect((errors[2] as PluginCloseError).thrown).toBeInstanceOf(Error);
    for (const i of instances) expect(i.ctx.signal.aborted).toBe(true);

    // Idempotent: the same errors, no close runs twice.
    expect(await running.close()).toBe(errors);
    expect(recorded.__plugdClose).toHaveLength(5);
  });

  test('closeTimeout defaults to the init timeout', async () => {
    const { running } = await start('close-failures', { timeout: 150 });
    const started = Date.now();
    const errors = await running.close();
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    expect(errors.find((e) => e.toJSON().reason === 'timeout')?.message).toContain('150 ms');
  });
});
