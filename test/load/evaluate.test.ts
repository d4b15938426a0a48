// Import the library's entry first: under Jest, parallel first imports of a module graph that is not
// linked yet ('plugd' -> src/index.ts -> zod) fail with "request for 'zod' is not in cache".
import '../../src/index.js';
import { describe, expect, test } from '@jest/globals';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DuplicatePluginError, InvalidRegistrationError, LateRegistrationError, NoLoadInProgressError, PluginLoadError } from '../../src/core/errors.js';
import { MAX_REGISTRATIONS_PER_MODULE, evaluate, type ModuleOutcome } from '../../src/load/evaluate.js';
import { register } from '../../src/core/channel.js';
import { scan } from '../../src/load/scan.js';
import { freshLoad, planDir, type LoadPlan } from '../../src/load/plan.js';

/** The plan of a whole-directory load whose modules evaluate afresh (as Registry.load does). */
async function freshPlan(dir: string): Promise<LoadPlan> {
  await freshLoad(dir);
  return planDir(dir);
}

const TIMEOUT = 5_000;
const NOT_COMPARED = Symbol('not compared');

async function run(fixture: string, timeout = TIMEOUT, late: LateRegistrationError[] = []): Promise<Record<string, ModuleOutcome>> {
  const dir = resolve('fixtures', fixture);
  const entries = await scan(dir);
  const outcomes = await evaluate(await freshPlan(dir), entries, { timeout, onLate: (e) => late.push(e) });
  expect(outcomes.map((o) => o.entry)).toEqual(entries); // one outcome per entry, in the entries' order
  return Object.fromEntries(outcomes.map((o) => [o.entry.file, o]));
}

/** The line and column of `error`, when it has them (a thrown Error's frame in its file). */
const located = (error: PluginLoadError): { line?: number; column?: number } =>
  (error.line === undefined ? {} : { line: error.line, ...(error.column === undefined ? {} : { column: error.column }) });

const names = (o: ModuleOutcome | undefined): string[] => (o?.registrations ?? []).map((r) => r.name);

/** The one error of an outcome, which must be a PluginLoadError. */
function onlyLoadError(o: ModuleOutcome | undefined): PluginLoadError {
  expect(o?.errors).toHaveLength(1);
  const error = o?.errors[0];
  expect(error).toBeInstanceOf(PluginLoadError);
  if (!(error instanceof PluginLoadError)) throw new Error('not a PluginLoadError');
  return error;
}

describe('evaluate: attribution', () => {
  test('each registration is attributed to the entry whose import made it, folder plugins included', async () => {
    const out = await run('ignored');
    expect(Object.keys(out)).toEqual(['a.js', 'b.mjs', 'folder/index.js', 'folder2/index.mjs']);
    expect(names(out['a.js'])).toEqual(['io.test.ignored.v1.a']);
    expect(names(out['b.mjs'])).toEqual(['io.test.ignored.v1.b']);
    expect(names(out['folder/index.js'])).toEqual(['io.test.ignored.v1.folder']);
    expect(names(out['folder2/index.mjs'])).toEqual(['io.test.ignored.v1.folder2']);
    for (const o of Object.values(out)) {
      expect(o.errors).toEqual([]);
      expect(o.vanished).toBe(false);
    }
  });

  test('a folder plugin can import its own siblings', async () => {
    const out = await run('ignored');
    const reg = out['folder/index.js']!.registrations[0]!;
    expect(await reg.init({} as never)).toEqual({ greeting: 'hello from folder/helper.js' });
  });

  test('a module that awaits before registering is still attributed to itself', async () => {
    const out = await run('order');
    expect(names(out['Zeta.js'])).toEqual(['io.test.order.v1.Zeta']);
    expect(names(out['a.mjs'])).toEqual(['io.test.order.v1.a_mjs']);
  });

  test('register() from outside any module being imported is E_NO_LOAD, even while a load is running', async () => {
    const dir = resolve('fixtures/never-settles');
    const pending = evaluate(await freshPlan(dir), await scan(dir), { timeout: 300, onLate: () => undefined });
    expect(() => { register({ type: 'io.x.v1', id: 'intruder', init: () => ({}) }); }).toThrow(NoLoadInProgressError);
    const out = await pending;
    for (const o of out) expect(names(o)).not.toContain('io.x.v1.intruder');
  });
});

describe('evaluate: hostile top-level throws', () => {
  // [file, rendering the message must contain, the raw thrown value (when it can be compared)].
  // Every row has three elements: jest.each would take a missing one for a `done` callback.
  const cases: [string, string | RegExp, unknown][] = [
    ['string.js', "'boom'", 'boom'],
    ['number.js', '42', 42],
    ['bigint.js', '10n', 10n],
    ['undefined.js', 'undefined', undefined],
    ['null.js', 'null', null],
    ['symbol.js', 'Symbol(x)', NOT_COMPARED],
    ['function.js', '[Function: namedThrower]', NOT_COMPARED],
    ['object.js', "{ code: 'x' }", NOT_COMPARED],
    ['null-prototype.js', "[Object: null prototype] { code: 'np' }", NOT_COMPARED],
    // A hostile value may be touched by the runtime on its way out (plain Node reads `stack` and
    // rejects with whatever the trap/getter threw); either way the message stays readable.
    ['proxy.js', /\[Proxy\]|Error: trap fired/, NOT_COMPARED],
    ['hostile-object.js', /message: \[Getter\]|Error: do not touch/, NOT_COMPARED],
    ['hostile-error.js', /Error: (do not touch|<unreadable message>)/, NOT_COMPARED],
    ['error-subclass.js', 'PluginConfigError: bad config', NOT_COMPARED],
    ['rejected-await.js', "'nope'", 'nope'],
  ];

  test('the fixture directory holds exactly these files and ok.js', async () => {
    expect((await scan('fixtures/throws')).map((e) => e.file).sort()).toEqual([...cases.map((c) => c[0]), 'ok.js'].sort());
  });

  test.each(cases)('%s: E_PLUGIN_LOAD, reason "throw", file and readable message', async (file, rendering, raw) => {
    const out = await run('throws');
    const o = out[file]!;
    const error = onlyLoadError(o);
    expect(error.code).toBe('E_PLUGIN_LOAD');
    expect(error.reason).toBe('throw');
    expect(error.file).toBe(file);
    expect(error.message).toContain(`"${file}" threw while loading: `);
    if (typeof rendering === 'string') expect(error.message).toContain(`threw while loading: ${rendering};`);
    else expect(error.message).toMatch(rendering);
    if (raw !== NOT_COMPARED) {
      expect(error.thrown).toBe(raw);
      expect(error.cause).toBe(raw);
    }
    if (file === 'symbol.js') expect((error.thrown as symbol).description).toBe('x');
    // (An Error's stack names where in the file it was thrown: line and column, checked elsewhere.)
    expect(error.toJSON()).toEqual({ code: 'E_PLUGIN_LOAD', message: error.message, file, reason: 'throw', ...located(error) });
    // The registration it made before throwing is in the outcome, for the registry to refuse.
    expect(names(o)).toEqual([`io.test.throws.v1.${file.replace(/\.js$/, '')}`]);
  });

  test('a neighbour of throwing modules loads fine', async () => {
    const out = await run('throws');
    expect(out['ok.js']!.errors).toEqual([]);
    expect(names(out['ok.js'])).toEqual(['io.test.throws.v1.ok']);
  });
});

describe('evaluate: import failures', () => {
  test('a syntax error is E_PLUGIN_LOAD with reason "syntax"', async () => {
    const out = await run('syntax-error');
    const error = onlyLoadError(out['broken.js']);
    expect(error.reason).toBe('syntax');
    expect(error.file).toBe('broken.js');
    expect(error.message).toMatch(/"broken\.js" could not be parsed: SyntaxError: /);
    expect(names(out['broken.js'])).toEqual([]);
    expect(out['ok.js']!.errors).toEqual([]);
  });

  test.each([
    ['bare.js', 'plugd-no-such-package-anywhere'],
    ['relative.js', 'no-such-helper.mjs'],
  ])('%s: an unresolvable import is E_PLUGIN_LOAD with reason "resolve"', async (file, specifier) => {
    const out = await run('unresolvable');
    const error = onlyLoadError(out[file]);
    expect(error.reason).toBe('resolve');
    expect(error.file).toBe(file);
    expect(error.message).toContain(`"${file}" imports a module that cannot be found`);
    expect(error.message).toContain(specifier);
    expect(out[file]!.vanished).toBe(false);
    expect(out['ok.js']!.errors).toEqual([]);
  });

  test('a never-settling top-level await times out after the timeout; its neighbour loads', async () => {
    const start = performance.now();
    const out = await run('never-settles', 300);
    const elapsed = performance.now() - start;
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(5_000);
    const error = onlyLoadError(out['hang.js']);
    expect(error.reason).toBe('timeout');
    expect(error.file).toBe('hang.js');
    expect(error.message).toContain('"hang.js" did not finish loading within 300 ms');
    expect(error.cause).toBeUndefined();
    expect(out['ok.js']!.errors).toEqual([]);
    expect(names(out['ok.js'])).toEqual(['io.test.hang.v1.ok']);
  });

  test('an entry that vanished before its import is flagged, with no error', async () => {
    const dir = resolve('fixtures/ignored');
    const [a] = await scan(dir);
    const gone = { file: 'gone.js', path: join(dir, 'gone.js') };
    const out = await evaluate(await freshPlan(dir), [a!, gone], { timeout: TIMEOUT, onLate: () => undefined });
    expect(out[1]).toEqual({ entry: gone, registrations: [], errors: [], vanished: true, url: pathToFileURL(gone.path).href });
    expect(out[0]!.vanished).toBe(false);
    expect(names(out[0])).toEqual(['io.test.ignored.v1.a']);
  });
});

describe('evaluate: registration errors', () => {
  test('each invalid registration thrown out of the top level is reported once, as E_INVALID_REGISTRATION', async () => {
    const out = await run('invalid-registration');
    const expected: Record<string, string | undefined> = {
      'init-not-function.js': 'io.test.invalid.v1.init-not-function',
      'missing-init.js': 'io.test.invalid.v1.missing-init',
      'proxy-arg.js': undefined,
      'requires-self.js': 'io.test.invalid.v1.requires-self',
      'star-mixed.js': 'io.test.invalid.v1.star-mixed',
      'string-arg.js': undefined,
      'type-space.js': 'io.test invalid.v1.type-space',
      'typo.js': 'io.test.invalid.v1.typo',
    };
    expect(Object.keys(out).sort()).toEqual([...Object.keys(expected), 'ok.js'].sort());
    for (const [file, plugin] of Object.entries(expected)) {
      const errors = out[file]!.errors;
      expect([file, errors.map((e) => e.code)]).toEqual([file, ['E_INVALID_REGISTRATION']]);
      const error = errors[0] as InvalidRegistrationError;
      expect(error).toBeInstanceOf(InvalidRegistrationError);
      expect(error.file).toBe(file);
      expect(error.plugin).toBe(plugin);
      expect(error.issues.length).toBeGreaterThan(0);
    }
    expect((out['typo.js']!.errors[0] as InvalidRegistrationError).message).toContain('did you mean "requires"?');
    expect(out['ok.js']!.errors).toEqual([]);
  });

  test('a module that catches register()\'s error still carries it (it finished evaluating)', async () => {
    const out = await run('caught-invalid');
    expect((globalThis as Record<string, unknown>).__plugdCaughtInvalidFinished).toBe(true);
    const swallow = out['swallow.js']!;
    expect(swallow.errors.map((e) => e.code)).toEqual(['E_INVALID_REGISTRATION']);
    expect((swallow.errors[0] as InvalidRegistrationError).plugin).toBe('io.test.caught.v1.invalid');
    expect(names(swallow)).toEqual(['io.test.caught.v1.valid']);
    const dup = out['swallow-duplicate.js']!;
    expect(dup.errors.map((e) => e.code)).toEqual(['E_DUPLICATE_PLUGIN']);
    expect(names(dup)).toEqual(['io.test.caught.v1.dup']);
  });

  test('a name registered twice in one file: register() throws E_DUPLICATE_PLUGIN, reported once', async () => {
    const out = await run('duplicate-in-file');
    const twice = out['twice.js']!;
    expect(twice.errors).toHaveLength(1);
    const error = twice.errors[0] as DuplicatePluginError;
    expect(error).toBeInstanceOf(DuplicatePluginError);
    expect(error).toMatchObject({ code: 'E_DUPLICATE_PLUGIN', file: 'twice.js', firstFile: 'twice.js', plugin: 'io.test.dupfile.v1.same' });
    expect(error.message).toContain('twice in the same file');
    expect(names(twice)).toEqual(['io.test.dupfile.v1.first', 'io.test.dupfile.v1.same']);
    expect(out['ok.js']!.errors).toEqual([]);
  });
});

describe('evaluate: late registrations', () => {
  test('registrations from a timer or setImmediate after the module finished go to onLate', async () => {
    const late: LateRegistrationError[] = [];
    const out = await run('late-registration', TIMEOUT, late);
    expect(names(out['late.js'])).toEqual(['io.test.late.v1.on-time']);
    expect(out['late.js']!.errors).toEqual([]);
    await new Promise((r) => setTimeout(r, 20));
    expect(late.map((e) => `${e.file} ${e.plugin}`).sort()).toEqual([
      'late.js io.test.late.v1.from-immediate',
      'late.js io.test.late.v1.from-timeout',
    ]);
    for (const e of late) {
      expect(e).toBeInstanceOf(LateRegistrationError);
      expect(e.code).toBe('E_LATE_REGISTRATION');
    }
    // A module that failed is reported once: its late call is not reported again.
    expect(out['failed.js']!.errors.map((e) => e.code)).toEqual(['E_PLUGIN_LOAD']);
    expect(late.some((e) => e.file === 'failed.js')).toBe(false);
  });
});

describe('evaluate: hostile values (fixtures/hostile-values)', () => {
  const recorded = globalThis as { __plugdTouched?: number; __plugdManyRefusals?: Record<string, number> };

  test('a thrown Error with getters, or a Proxy, is reported without running a getter or a trap', async () => {
    recorded.__plugdTouched = 0;
    const out = await run('hostile-values');
    expect(recorded.__plugdTouched).toBe(0);
    const error = onlyLoadError(out['counting-error.js']);
    expect(error).toMatchObject({ reason: 'throw', file: 'counting-error.js' });
    expect(error.message).toContain('threw while loading: Error: <unreadable message>;');
    const proxy = onlyLoadError(out['counting-proxy.js']);
    expect(proxy).toMatchObject({ reason: 'throw', file: 'counting-proxy.js' });
    expect(proxy.message).toContain('threw while loading: [Proxy];');
    expect(proxy.line).toBeUndefined();
    expect(recorded.__plugdTouched).toBe(0);
  });

  test(`100,000 register() calls: the first ${MAX_REGISTRATIONS_PER_MODULE} are taken, every further one throws one typed error naming the file`, async () => {
    const out = await run('hostile-values');
    const o = out['many-registrations.js']!;
    expect(o.registrations).toHaveLength(MAX_REGISTRATIONS_PER_MODULE);
    expect(o.errors).toHaveLength(1);
    const error = o.errors[0];
    expect(error).toBeInstanceOf(InvalidRegistrationError);
    expect(error).toMatchObject({ code: 'E_INVALID_REGISTRATION', file: 'many-registrations.js', issues: [{ code: 'too_many_registrations', path: [] }] });
    expect(error?.message).toContain(`more than ${MAX_REGISTRATIONS_PER_MODULE} times`);
    expect(recorded.__plugdManyRefusals).toEqual({ E_INVALID_REGISTRATION: 100_000 - MAX_REGISTRATIONS_PER_MODULE });
  });
});
