// Import the library's entry first: under Jest, parallel first imports of a module graph that is not
// linked yet ('plugd' -> src/index.ts -> zod) fail with "request for 'zod' is not in cache".
import '../../src/index.js';
import { describe, expect, test } from '@jest/globals';
import { resolve } from 'node:path';
import { DuplicatePluginError, LateRegistrationError, LoadFailedError, PlugdError, PluginLoadError } from '../../src/core/errors.js';
import { Registry, type LoadReport } from '../../src/load/registry.js';

const globals = globalThis as Record<string, unknown>;

/** A comparable summary of a load: what was accepted, and every problem. */
function summary(registry: Registry, report: LoadReport): unknown {
  return {
    plugins: registry.plugins().map((p) => `${p.name} <- ${p.file}`),
    files: report.files.map((f) => `${f.file}: ${f.status} [${f.plugins.join(', ')}]`),
    errors: report.errors.map((e) => e.toJSON()),
  };
}

describe('Registry.load: all or nothing per module', () => {
  test('a module that throws any value keeps none of its registrations; its neighbour loads', async () => {
    const registry = new Registry();
    const report = await registry.load('fixtures/throws');
    expect(registry.plugins().map((p) => p.name)).toEqual(['io.test.throws.v1.ok']);
    expect(registry.size).toBe(1);
    const failed = report.files.filter((f) => f.status === 'failed');
    expect(failed).toHaveLength(14);
    for (const f of failed) {
      expect(f.plugins).toEqual([]);
      expect(f.errors.map((e) => [e.code, e.toJSON().reason, e.toJSON().file])).toEqual([['E_PLUGIN_LOAD', 'throw', f.file]]);
      expect(f.errors[0]).toBeInstanceOf(PluginLoadError);
      expect(registry.get(`io.test.throws.v1.${f.file.replace(/\.js$/, '')}`)).toBeUndefined();
    }
    expect(report.ok).toBe(false);
    expect(report.errors).toHaveLength(14);
    // Reports are JSON-safe although the raw values (a bigint, a symbol, a proxy...) stay in memory.
    expect(() => JSON.stringify(report.errors)).not.toThrow();
    expect(JSON.stringify(report.errors)).not.toContain('"thrown"');
  });

  test('syntax error, unresolvable imports and a timeout: the exact codes, files and reasons', async () => {
    const cases: [string, number | undefined, string[], string[]][] = [
      ['syntax-error', undefined, ['io.test.syntax.v1.ok'], ['E_PLUGIN_LOAD broken.js syntax']],
      ['unresolvable', undefined, ['io.test.unresolvable.v1.ok'], ['E_PLUGIN_LOAD bare.js resolve', 'E_PLUGIN_LOAD relative.js resolve']],
      ['never-settles', 300, ['io.test.hang.v1.ok'], ['E_PLUGIN_LOAD hang.js timeout']],
    ];
    for (const [fixture, timeout, plugins, errors] of cases) {
      const registry = new Registry();
      const report = await registry.load(`fixtures/${fixture}`, timeout === undefined ? {} : { timeout });
      expect([fixture, registry.plugins().map((p) => p.name)]).toEqual([fixture, plugins]);
      expect([fixture, report.errors.map((e) => `${e.code} ${String(e.toJSON().file)} ${String(e.toJSON().reason)}`)]).toEqual([fixture, errors]);
      expect(report.ok).toBe(false);
    }
  });

  test('invalid registrations: each file refused as a whole, reported once as E_INVALID_REGISTRATION', async () => {
    const registry = new Registry();
    const report = await registry.load('fixtures/invalid-registration');
    expect(registry.plugins().map((p) => p.name)).toEqual(['io.test.invalid.v1.ok']);
    expect(report.errors.map((e) => `${e.code} ${String(e.toJSON().file)}`)).toEqual([
      'E_INVALID_REGISTRATION init-not-function.js',
      'E_INVALID_REGISTRATION missing-init.js',
      'E_INVALID_REGISTRATION proxy-arg.js',
      'E_INVALID_REGISTRATION requires-self.js',
      'E_INVALID_REGISTRATION star-mixed.js',
      'E_INVALID_REGISTRATION string-arg.js',
      'E_INVALID_REGISTRATION type-space.js',
      'E_INVALID_REGISTRATION typo.js',
    ]);
  });

  test('a module that catches register()\'s error is still refused, valid registrations included', async () => {
    globals.__plugdCaughtInvalidFinished = undefined;
    const registry = new Registry();
    const report = await registry.load('fixtures/caught-invalid');
    expect(globals.__plugdCaughtInvalidFinished).toBe(true); // it did run to the end
    expect(summary(registry, report)).toEqual({
      plugins: [],
      files: ['swallow-duplicate.js: failed []', 'swallow.js: failed []'],
      errors: [
        expect.objectContaining({ code: 'E_DUPLICATE_PLUGIN', file: 'swallow-duplicate.js', plugin: 'io.test.caught.v1.dup', firstFile: 'swallow-duplicate.js' }),
        expect.objectContaining({ code: 'E_INVALID_REGISTRATION', file: 'swallow.js', plugin: 'io.test.caught.v1.invalid' }),
      ],
    });
  });

  test('a name registered twice in one file: the whole file is refused with E_DUPLICATE_PLUGIN', async () => {
    const registry = new Registry();
    const report = await registry.load('fixtures/duplicate-in-file');
    expect(summary(registry, report)).toEqual({
      plugins: ['io.test.dupfile.v1.ok <- ok.js'],
      files: ['ok.js: loaded [io.test.dupfile.v1.ok]', 'twice.js: failed []'],
      errors: [expect.objectContaining({ code: 'E_DUPLICATE_PLUGIN', file: 'twice.js', plugin: 'io.test.dupfile.v1.same', firstFile: 'twice.js' })],
    });
  });
});

describe('Registry.load: duplicates across files', () => {
  const expected = {
    plugins: ['io.test.dup.v1.shared <- a.js', 'io.test.dup.v1.bystander <- c.js'],
    files: ['a.js: loaded [io.test.dup.v1.shared]', 'b.js: failed []', 'c.js: loaded [io.test.dup.v1.bystander]'],
    errors: [{
      code: 'E_DUPLICATE_PLUGIN', file: 'b.js', plugin: 'io.test.dup.v1.shared', firstFile: 'a.js',
      message: expect.stringContaining('already by "a.js"') as unknown,
    }],
  };

  test('the earlier file in sorted order wins, although it finishes importing last; the loser keeps nothing', async () => {
    globals.__plugdDuplicateOrder = [];
    const registry = new Registry();
    const report = await registry.load('fixtures/duplicate');
    expect(globals.__plugdDuplicateOrder).toEqual(['b.js', 'a.js']); // timing favoured b.js
    expect(summary(registry, report)).toEqual(expected);
    expect(registry.get('io.test.dup.v1.unique-to-b')).toBeUndefined();
    expect(report.errors[0]).toBeInstanceOf(DuplicatePluginError);
    expect(report.ok).toBe(false);
  });

  test('is deterministic: the same result on every load', async () => {
    for (let i = 0; i < 5; i++) {
      const registry = new Registry();
      const report = await registry.load('fixtures/duplicate');
      expect([i, summary(registry, report)]).toEqual([i, expected]);
    }
  });

  test('plugins are registered in sorted file order, whatever the import timing', async () => {
    const registry = new Registry();
    const report = await registry.load('fixtures/order');
    // Zeta.js sorts first ("Z" < "a") and finishes last (it waits 20 ms).
    expect(registry.plugins().map((p) => p.file)).toEqual(['Zeta.js', 'a-b.js', 'a.js', 'a.mjs', 'a/index.js']);
    expect(report.plugins.map((p) => p.file)).toEqual(['Zeta.js', 'a-b.js', 'a.js', 'a.mjs', 'a/index.js']);
    expect(report.files.map((f) => f.file)).toEqual(['Zeta.js', 'a-b.js', 'a.js', 'a.mjs', 'a/index.js']);
    expect(report.ok).toBe(true);
  });

  test('a name already registered from another directory: firstFile points there, and the whole file is refused', async () => {
    const registry = new Registry();
    const one = await registry.load('fixtures/two-dirs/one');
    expect(one.ok).toBe(true);
    const two = await registry.load('fixtures/two-dirs/two');
    expect(two.errors.map((e) => e.toJSON())).toEqual([{
      code: 'E_DUPLICATE_PLUGIN', file: 'store.js', plugin: 'io.test.twodirs.v1.store', firstFile: '../one/store.js',
      message: expect.stringContaining('already by "../one/store.js"') as unknown,
    }]);
    expect(registry.plugins().map((p) => `${p.name} ${p.dir}`)).toEqual([`io.test.twodirs.v1.store ${resolve('fixtures/two-dirs/one')}`]);
    expect(registry.get('io.test.twodirs.v1.only-in-two')).toBeUndefined();
  });
});

describe('Registry.load: late registrations', () => {
  test('reported as E_LATE_REGISTRATION with file and plugin; the on-time plugin stays', async () => {
    const registry = new Registry();
    const report = await registry.load('fixtures/late-registration');
    expect(registry.plugins().map((p) => `${p.name} <- ${p.file}`)).toEqual(['io.test.late.v1.on-time <- late.js', 'io.test.late.v1.other <- other.js']);
    const late = report.files.find((f) => f.file === 'late.js')!;
    expect(late.status).toBe('loaded');
    expect(late.plugins).toEqual(['io.test.late.v1.on-time']);
    expect(late.errors.map((e) => e.toJSON()).sort((a, b) => String(a.plugin).localeCompare(String(b.plugin)))).toEqual([
      { code: 'E_LATE_REGISTRATION', file: 'late.js', plugin: 'io.test.late.v1.from-immediate', message: expect.stringContaining('after the module finished loading') as unknown },
      { code: 'E_LATE_REGISTRATION', file: 'late.js', plugin: 'io.test.late.v1.from-timeout', message: expect.stringContaining('"late.js"') as unknown },
    ]);
    for (const e of late.errors) expect(e).toBeInstanceOf(LateRegistrationError);
    expect(registry.get('io.test.late.v1.from-timeout')).toBeUndefined();
    expect(registry.get('io.test.late.v1.from-immediate')).toBeUndefined();
    // failed.js threw: one E_PLUGIN_LOAD, and its late call is not reported on top.
    expect(report.files.find((f) => f.file === 'failed.js')!.errors.map((e) => e.code)).toEqual(['E_PLUGIN_LOAD']);
    expect(registry.get('io.test.late.v1.from-failed')).toBeUndefined();
    expect(report.errors.map((e) => e.code).sort()).toEqual(['E_LATE_REGISTRATION', 'E_LATE_REGISTRATION', 'E_PLUGIN_LOAD']);
    expect(report.ok).toBe(false);
  });

  test('a registration arriving after load() returned goes to onLateRegistration, never into the registry', async () => {
    const registry = new Registry();
    const late: LateRegistrationError[] = [];
    const report = await registry.load('fixtures/late-after-load', { onLateRegistration: (e) => late.push(e) });
    expect(report.ok).toBe(true);
    expect(late).toEqual([]);
    await new Promise((r) => setTimeout(r, 300));
    expect(late.map((e) => [e.code, e.file, e.plugin])).toEqual([['E_LATE_REGISTRATION', 'slow.js', 'io.test.lateafter.v1.much-later']]);
    expect(registry.plugins().map((p) => p.name)).toEqual(['io.test.lateafter.v1.on-time']);
  });
});

describe('Registry: independent instances', () => {
  test('two registries loading the same directory each evaluate every module afresh', async () => {
    const before = (globals.__plugdCounterEvaluations as number | undefined) ?? 0;
    const r1 = new Registry();
    const r2 = new Registry();
    expect((await r1.load('fixtures/counter')).ok).toBe(true);
    expect(globals.__plugdCounterEvaluations).toBe(before + 1);
    expect((await r2.load('fixtures/counter')).ok).toBe(true);
    expect(globals.__plugdCounterEvaluations).toBe(before + 2);
    const p1 = r1.get('io.test.counter.v1.count')!;
    const p2 = r2.get('io.test.counter.v1.count')!;
    expect(p1.file).toBe('count.js');
    expect(p2.file).toBe('count.js');
    // Fresh evaluation: each registry holds its own module instance's functions.
    expect(p1.registration.init).not.toBe(p2.registration.init);
    // No duplicate across registries.
    expect(r2.size).toBe(1);

    const [a, b] = await Promise.all([new Registry().load('fixtures/counter'), new Registry().load('fixtures/counter')]);
    expect(globals.__plugdCounterEvaluations).toBe(before + 4);
    expect(a.plugins.map((p) => p.name)).toEqual(['io.test.counter.v1.count']);
    expect(b.plugins.map((p) => p.name)).toEqual(['io.test.counter.v1.count']);
  });

  test('one registry refuses a second load while the first is running', async () => {
    const registry = new Registry();
    const first = registry.load('fixtures/never-settles', { timeout: 300 });
    await expect(registry.load('fixtures/good')).rejects.toMatchObject({ code: 'E_REGISTRY_BUSY' });
    expect((await first).plugins.map((p) => p.name)).toEqual(['io.test.hang.v1.ok']);
    // Once it is done, loading again works.
    expect((await registry.load('fixtures/counter')).ok).toBe(true);
  });
});

describe('Registry.load: options and edges', () => {
  test('failFast throws a LoadFailedError (AggregateError, E_LOAD_FAILED) of the typed errors', async () => {
    const reported = await new Registry().load('fixtures/duplicate');
    let caught: unknown;
    try {
      await new Registry().load('fixtures/duplicate', { failFast: true });
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(LoadFailedError);
    expect(caught).toBeInstanceOf(AggregateError);
    const error = caught as LoadFailedError;
    expect(error.code).toBe('E_LOAD_FAILED');
    expect(error.name).toBe('LoadFailedError');
    expect(error.message).toContain(resolve('fixtures/duplicate'));
    expect(error.errors.map((e) => e.toJSON())).toEqual(reported.errors.map((e) => e.toJSON()));
    for (const e of error.errors) expect(e).toBeInstanceOf(PlugdError);
    expect(error.errors[0]).toBeInstanceOf(DuplicatePluginError);
  });

  test('failFast on a clean directory returns the report', async () => {
    const registry = new Registry();
    const report = await registry.load('fixtures/ignored', { failFast: true });
    expect(report.ok).toBe(true);
    expect(registry.plugins().map((p) => p.name)).toEqual(['io.test.ignored.v1.a', 'io.test.ignored.v1.b', 'io.test.ignored.v1.folder', 'io.test.ignored.v1.folder2']);
  });

  test('the report: absolute dir, records with dir and file, duration', async () => {
    const registry = new Registry();
    const report = await registry.load('fixtures/ignored');
    expect(report.dir).toBe(resolve('fixtures/ignored'));
    expect(report.durationMs).toBeGreaterThan(0);
    expect(report.durationMs).toBeLessThan(10_000);
    const folder = registry.get('io.test.ignored.v1.folder')!;
    expect(folder).toMatchObject({ type: 'io.test.ignored.v1', id: 'folder', file: 'folder/index.js', dir: resolve('fixtures/ignored'), requires: [] });
    expect(folder.registration.name).toBe('io.test.ignored.v1.folder');
    expect(report.files.every((f) => f.status === 'loaded' && f.errors.length === 0)).toBe(true);
  });

  test('a directory that does not exist is an error, not an empty success', async () => {
    await expect(new Registry().load('fixtures/no-such-directory')).rejects.toMatchObject({ code: 'ENOENT' });
  });
});
