import { describe, expect, test } from '@jest/globals';
import {
  ConfigError, DependencyError, DuplicatePluginError, ErrorCodes, InvalidRegistrationError, LateRegistrationError,
  LoadFailedError, NoLoadInProgressError, PlugdError, PluginCloseError, PluginInitError, PluginLoadError,
  MAX_CAUSE_DEPTH, SkipPluginError, isSkip, ownData, renderThrown, safeGet, safeStack, skipReason,
} from '../../src/core/errors.js';

/** Counts every call of the hostile values' own code: rendering must not run it. */
let touched = 0;
const touch = (): never => {
  touched++;
  throw new Error('touched');
};

function hostileProxy(target: object = {}): object {
  const handler: ProxyHandler<object> = {};
  for (const trap of ['get', 'set', 'has', 'deleteProperty', 'ownKeys', 'getOwnPropertyDescriptor', 'defineProperty',
    'getPrototypeOf', 'setPrototypeOf', 'isExtensible', 'preventExtensions', 'apply', 'construct'] as const) {
    (handler as Record<string, unknown>)[trap] = touch;
  }
  return new Proxy(target, handler);
}

function hostileObject(): object {
  return {
    toString: touch,
    valueOf: touch,
    [Symbol.toPrimitive]: touch,
    [Symbol.for('nodejs.util.inspect.custom')]: touch,
    get message(): string { return touch(); },
  };
}

function revokedProxy(): object {
  const { proxy, revoke } = Proxy.revocable({}, {});
  revoke();
  return proxy;
}

class PluginConfigError extends Error {
  override name = 'PluginConfigError';
}

function hostileError(): Error {
  const error = new Error('hidden');
  // 'stack' first: redefining it makes V8 format the stack, which reads name and message.
  for (const key of ['stack', 'name', 'message']) Object.defineProperty(error, key, { get: touch });
  return error;
}

/** An Error whose class's `name` is a getter: its stack would be formatted by calling it. */
function getterNamedError(): Error {
  class Sneaky extends Error {
    override get name(): string { return touch(); }
  }
  const error = new Sneaky('readable');
  return error;
}

/** An Error whose prototype chain leads into a Proxy that traps everything. */
function errorWithHostileProto(): Error {
  const error = new Error('behind a proxy');
  Object.setPrototypeOf(error, hostileProxy());
  return error;
}

function namelessError(): Error {
  const error = new Error('no name');
  error.name = '';
  return error;
}

const circular: Record<string, unknown> = { id: 'loop' };
circular.self = circular;

describe('renderThrown', () => {
  // [label, value factory, exact rendering or a pattern it must contain]
  const cases: [string, () => unknown, string | RegExp][] = [
    ['string', () => 'boom', "'boom'"],
    ['empty string', () => '', "''"],
    ['number', () => 42, '42'],
    ['NaN', () => NaN, 'NaN'],
    ['bigint', () => 10n, '10n'],
    ['undefined', () => undefined, 'undefined'],
    ['null', () => null, 'null'],
    ['boolean', () => false, 'false'],
    ['symbol', () => Symbol('x'), 'Symbol(x)'],
    ['named function', () => function namedThrower(): void { /* empty */ }, '[Function: namedThrower]'],
    ['class', () => PluginConfigError, '[class PluginConfigError extends Error]'],
    ['plain object', () => ({ code: 'x' }), "{ code: 'x' }"],
    ['null-prototype object', () => Object.assign(Object.create(null) as object, { code: 'np' }), "[Object: null prototype] { code: 'np' }"],
    ['array', () => [1, 'two'], "[ 1, 'two' ]"],
    ['circular object', () => circular, /\[Circular \*1\]/],
    ['hostile proxy', () => hostileProxy(), '[Proxy]'],
    ['hostile function proxy', () => hostileProxy(function target(): void { /* empty */ }), '[Proxy]'],
    ['revoked proxy', () => revokedProxy(), '[Proxy]'],
    ['Proxy of an Error', () => new Proxy(new Error('inside'), {}), '[Proxy]'],
    ['object holding a hostile proxy', () => ({ inner: hostileProxy() }), /inner: Proxy \[/],
    ['hostile object', () => hostileObject(), /message: \[Getter\]/],
    ['Error', () => new Error('boom'), 'Error: boom'],
    ['TypeError without message', () => new TypeError(), 'TypeError'],
    ['Error subclass', () => new PluginConfigError('bad config'), 'PluginConfigError: bad config'],
    ['Error with an empty name', () => namelessError(), 'Error: no name'],
    ['Error whose name/message/stack getters throw', () => hostileError(), 'Error: <unreadable message>'],
    ['huge string', () => 'x'.repeat(10_000), /\.\.\. 9500 more characters/],
  ];

  test.each(cases)('%s is rendered readably, without throwing', (_label, make, expected) => {
    const value = make();
    let rendered: string | undefined;
    expect(() => { rendered = renderThrown(value); }).not.toThrow();
    if (typeof expected === 'string') expect(rendered).toBe(expected);
    else expect(rendered).toMatch(expected);
    expect(rendered!.length).toBeLessThan(2_000);
  });

  test('never runs a value\'s own code (traps, toString, getters, custom inspectors), Errors included', () => {
    touched = 0;
    for (const value of [hostileProxy(), hostileProxy(function target(): void { /* empty */ }), hostileObject(), revokedProxy(),
      hostileError(), getterNamedError(), errorWithHostileProto(), { inner: hostileProxy() }]) {
      renderThrown(value);
      new PluginLoadError('x.js', 'throw', value);
    }
    expect(touched).toBe(0);
  });

  test('an Error is rendered by its data properties, its own or its classes\'', () => {
    expect(renderThrown(getterNamedError())).toBe('Error: readable');
    expect(renderThrown(errorWithHostileProto())).toBe('Error: behind a proxy');
  });

  test('a PluginLoadError of each hostile value has a message naming the file and the rendering', () => {
    for (const [, make, expected] of cases) {
      const value = make();
      const error = new PluginLoadError('dir/x.js', 'throw', value);
      expect(error.message).toContain('"dir/x.js"');
      if (typeof expected === 'string') expect(error.message).toContain(expected);
      else expect(error.message).toMatch(expected);
      expect(error.thrown).toBe(value);
      expect(error.cause).toBe(value);
    }
  });
});

describe('safeGet, ownData and safeStack', () => {
  test('safeGet reads a data property, own or inherited, and never a getter or through a Proxy', () => {
    touched = 0;
    expect(safeGet(new PluginConfigError('x'), 'name')).toBe('PluginConfigError');
    expect(safeGet(Object.create({ a: 2 }) as object, 'a')).toBe(2);
    expect(safeGet({ get a(): number { return touch(); } }, 'a')).toBeUndefined();
    expect(safeGet(Object.create(hostileProxy()) as object, 'a')).toBeUndefined();
    expect(touched).toBe(0);
  });

  test('ownData reads own data properties only', () => {
    expect(ownData({ a: 1 }, 'a')).toBe(1);
    expect(ownData(Object.create({ a: 2 }) as object, 'a')).toBeUndefined();
    expect(ownData({ get a(): number { return touch(); } }, 'a')).toBeUndefined();
    expect(ownData(new Proxy({ a: 1 }, {}), 'a')).toBeUndefined();
    expect(ownData(null, 'a')).toBeUndefined();
  });

  test('safeStack reads an Error\'s stack, but never when formatting it would run a getter', () => {
    touched = 0;
    expect(safeStack(new Error('plain'))).toContain('Error: plain');
    expect(safeStack({ stack: 'a data stack' })).toBe('a data stack');
    expect(safeStack(getterNamedError())).toBeUndefined();
    expect(safeStack(hostileError())).toBeUndefined();
    expect(safeStack(new Proxy(new Error('x'), {}))).toBeUndefined();
    expect(touched).toBe(0);
  });

  test('reads a property without ever throwing', () => {
    expect(safeGet({ a: 1 }, 'a')).toBe(1);
    expect(safeGet(hostileProxy(), 'a')).toBeUndefined();
    expect(safeGet(hostileObject(), 'message')).toBeUndefined();
    expect(safeGet(revokedProxy(), 'a')).toBeUndefined();
    expect(safeGet('str', 'length')).toBeUndefined();
    expect(safeGet(null, 'a')).toBeUndefined();
    expect(safeGet(undefined, 'a')).toBeUndefined();
  });
});

describe('error classes', () => {
  const issues = [{ code: 'unrecognized_keys', path: [], message: 'Unrecognized key: "requries"' }];
  const thrownBigint = 10n;

  interface Case {
    /** The error under test. */
    error: PlugdError;
    /** Its class. */
    Class: abstract new (...args: never[]) => PlugdError;
    code: string;
    name: string;
    /** Own fields it must have (thrown and cause included). */
    fields: Record<string, unknown>;
    /** Its toJSON() fields besides code and message. */
    json: Record<string, unknown>;
    /** Words its message must contain. */
    words: string[];
  }
  const cases: Case[] = [
    { error: new PluginLoadError('a.js', 'throw', thrownBigint), Class: PluginLoadError, code: 'E_PLUGIN_LOAD', name: 'PluginLoadError',
      fields: { file: 'a.js', reason: 'throw', thrown: thrownBigint, cause: thrownBigint },
      json: { file: 'a.js', reason: 'throw' }, words: ['"a.js"', '10n'] },
    { error: new PluginLoadError('sub/index.js', 'timeout', undefined, 250), Class: PluginLoadError, code: 'E_PLUGIN_LOAD', name: 'PluginLoadError',
      fields: { file: 'sub/index.js', reason: 'timeout', thrown: undefined, cause: undefined },
      json: { file: 'sub/index.js', reason: 'timeout' }, words: ['"sub/index.js"', '250 ms'] },
    { error: new PluginLoadError('s.js', 'syntax', new SyntaxError('Unexpected token')), Class: PluginLoadError, code: 'E_PLUGIN_LOAD',
      name: 'PluginLoadError', fields: { file: 's.js', reason: 'syntax' }, json: { file: 's.js', reason: 'syntax' },
      words: ['"s.js"', 'SyntaxError: Unexpected token'] },
    { error: new PluginLoadError('r.js', 'resolve', Object.assign(new Error('Cannot find package'), { code: 'ERR_MODULE_NOT_FOUND' })),
      Class: PluginLoadError, code: 'E_PLUGIN_LOAD', name: 'PluginLoadError',
      fields: { file: 'r.js', reason: 'resolve' }, json: { file: 'r.js', reason: 'resolve' }, words: ['"r.js"', 'Cannot find package'] },
    { error: new InvalidRegistrationError('t.js', 'io.x.v1.y', issues), Class: InvalidRegistrationError, code: 'E_INVALID_REGISTRATION',
      name: 'InvalidRegistrationError', fields: { file: 't.js', plugin: 'io.x.v1.y', issues },
      json: { file: 't.js', plugin: 'io.x.v1.y', issues }, words: ['"t.js"', '"io.x.v1.y"', 'requries'] },
    { error: new InvalidRegistrationError('t.js', undefined, issues), Class: InvalidRegistrationError, code: 'E_INVALID_REGISTRATION',
      name: 'InvalidRegistrationError', fields: { file: 't.js', plugin: undefined, issues }, json: { file: 't.js', issues }, words: ['"t.js"'] },
    { error: new DuplicatePluginError('b.js', 'io.x.v1.y', 'a.js'), Class: DuplicatePluginError, code: 'E_DUPLICATE_PLUGIN',
      name: 'DuplicatePluginError', fields: { file: 'b.js', plugin: 'io.x.v1.y', firstFile: 'a.js' },
      json: { file: 'b.js', plugin: 'io.x.v1.y', firstFile: 'a.js' }, words: ['"b.js"', '"a.js"', '"io.x.v1.y"'] },
    { error: new DuplicatePluginError('a.js', 'io.x.v1.y', 'a.js'), Class: DuplicatePluginError, code: 'E_DUPLICATE_PLUGIN',
      name: 'DuplicatePluginError', fields: { file: 'a.js', plugin: 'io.x.v1.y', firstFile: 'a.js' },
      json: { file: 'a.js', plugin: 'io.x.v1.y', firstFile: 'a.js' }, words: ['"a.js"', 'twice in the same file'] },
    { error: new LateRegistrationError('l.js', 'io.x.v1.late'), Class: LateRegistrationError, code: 'E_LATE_REGISTRATION',
      name: 'LateRegistrationError', fields: { file: 'l.js', plugin: 'io.x.v1.late' }, json: { file: 'l.js', plugin: 'io.x.v1.late' },
      words: ['"l.js"', '"io.x.v1.late"'] },
    { error: new DependencyError('io.x.v1.y', { missing: ['io.log.v1'] }), Class: DependencyError, code: 'E_DEPENDENCY', name: 'DependencyError',
      fields: { plugin: 'io.x.v1.y', missing: ['io.log.v1'], cycle: undefined }, json: { plugin: 'io.x.v1.y', missing: ['io.log.v1'] },
      words: ['"io.x.v1.y"', '"io.log.v1"'] },
    { error: new DependencyError('io.a.v1.a', { cycle: ['io.a.v1.a', 'io.b.v1.b'] }), Class: DependencyError, code: 'E_DEPENDENCY',
      name: 'DependencyError', fields: { plugin: 'io.a.v1.a', missing: undefined, cycle: ['io.a.v1.a', 'io.b.v1.b'] },
      json: { plugin: 'io.a.v1.a', cycle: ['io.a.v1.a', 'io.b.v1.b'] }, words: ['"io.a.v1.a"', '"io.b.v1.b"', 'cycle'] },
    { error: new PluginInitError('io.x.v1.y', 'y.js', 'throw', Symbol('x')), Class: PluginInitError, code: 'E_PLUGIN_INIT', name: 'PluginInitError',
      fields: { plugin: 'io.x.v1.y', file: 'y.js', reason: 'throw' }, json: { plugin: 'io.x.v1.y', file: 'y.js', reason: 'throw' },
      words: ['"io.x.v1.y"', '"y.js"', 'Symbol(x)'] },
    { error: new PluginInitError('io.x.v1.y', undefined, 'timeout', undefined, 100), Class: PluginInitError, code: 'E_PLUGIN_INIT',
      name: 'PluginInitError', fields: { plugin: 'io.x.v1.y', file: undefined, reason: 'timeout', cause: undefined },
      json: { plugin: 'io.x.v1.y', reason: 'timeout' }, words: ['"io.x.v1.y"', '100 ms'] },
    { error: new PluginCloseError('io.x.v1.y', 'y.js', 'throw', { code: 'x' }), Class: PluginCloseError, code: 'E_PLUGIN_CLOSE',
      name: 'PluginCloseError', fields: { plugin: 'io.x.v1.y', file: 'y.js', reason: 'throw' },
      json: { plugin: 'io.x.v1.y', file: 'y.js', reason: 'throw' }, words: ['"io.x.v1.y"', "{ code: 'x' }"] },
    { error: new ConfigError(issues, { plugin: 'io.x.v1.y', file: 'plugd.toml' }), Class: ConfigError, code: 'E_CONFIG', name: 'ConfigError',
      fields: { plugin: 'io.x.v1.y', file: 'plugd.toml', issues }, json: { plugin: 'io.x.v1.y', file: 'plugd.toml', issues },
      words: ['"io.x.v1.y"', '"plugd.toml"'] },
    { error: new NoLoadInProgressError(), Class: NoLoadInProgressError, code: 'E_NO_LOAD', name: 'NoLoadInProgressError',
      fields: {}, json: {}, words: ['register()'] },
  ];

  test.each(cases)('$name ($code) has its code, name, fields and JSON form', ({ error, Class, code, name, fields, json, words }) => {
    expect(error).toBeInstanceOf(Error);
    expect(error).toBeInstanceOf(PlugdError);
    expect(error).toBeInstanceOf(Class);
    expect(error.code).toBe(code);
    expect(error.name).toBe(name);
    expect(error.toString()).toMatch(new RegExp(`^${name}: `));
    expect(Object.values(ErrorCodes)).toContain(error.code);
    for (const [key, value] of Object.entries(fields)) {
      expect([key, (error as unknown as Record<string, unknown>)[key]]).toEqual([key, value]);
    }
    for (const word of words) expect(error.message).toContain(word);
    const out = error.toJSON();
    expect(out).toEqual({ code, message: error.message, ...json });
    expect(out).not.toHaveProperty('thrown');
    expect(out).not.toHaveProperty('cause');
    expect(out).not.toHaveProperty('stack');
    // JSON-safe, whatever was thrown (a bigint would make JSON.stringify throw).
    expect(JSON.parse(JSON.stringify(error))).toEqual(out);
  });

  test('every code of ErrorCodes is unique', () => {
    const codes = Object.values(ErrorCodes);
    expect(new Set(codes).size).toBe(codes.length);
    expect(codes).toEqual(expect.arrayContaining(['E_PLUGIN_LOAD', 'E_INVALID_REGISTRATION', 'E_DUPLICATE_PLUGIN',
      'E_LATE_REGISTRATION', 'E_DEPENDENCY', 'E_PLUGIN_INIT', 'E_CONFIG']));
  });

  test('LoadFailedError is an AggregateError of the typed errors', () => {
    const errors = [new DuplicatePluginError('b.js', 'io.x.v1.y', 'a.js'), new PluginLoadError('c.js', 'throw', 'boom')];
    const error = new LoadFailedError('/plugins', errors);
    expect(error).toBeInstanceOf(AggregateError);
    expect(error).toBeInstanceOf(Error);
    expect(error.code).toBe('E_LOAD_FAILED');
    expect(error.name).toBe('LoadFailedError');
    expect(error.errors).toEqual(errors);
    expect(error.errors[0]).toBe(errors[0]);
    expect(error.message).toContain('"/plugins"');
    expect(error.message).toContain('2 problem(s)');
    expect(error.message).toContain('E_DUPLICATE_PLUGIN');
    expect(error.message).toContain("'boom'");
  });

  test('SkipPluginError is recognized by isSkip, from any realm, and nothing else is', () => {
    const skip = new SkipPluginError('no GPU here');
    expect(skip).toBeInstanceOf(Error);
    expect(skip.code).toBe('E_SKIP_PLUGIN');
    expect(skip.name).toBe('SkipPluginError');
    expect(skip.message).toBe('no GPU here');
    expect(isSkip(skip)).toBe(true);
    // What another copy of plugd would throw: a native Error with the same code.
    expect(isSkip(Object.assign(new Error('elsewhere'), { code: 'E_SKIP_PLUGIN' }))).toBe(true);
    expect(isSkip({ code: 'E_SKIP_PLUGIN' })).toBe(false);
    expect(isSkip(new Error('plain'))).toBe(false);
    expect(isSkip('E_SKIP_PLUGIN')).toBe(false);
    expect(isSkip(hostileProxy())).toBe(false);
    expect(isSkip(hostileError())).toBe(false);
  });

  test('a SkipPluginError wrapped as an Error\'s own cause is a skip, up to MAX_CAUSE_DEPTH links deep', () => {
    const wrap = (inner: unknown, depth: number): unknown => {
      let at = inner;
      for (let i = 0; i < depth; i++) at = new Error(`wrapper ${i}`, { cause: at });
      return at;
    };
    const skip = new SkipPluginError('no GPU here');
    expect(isSkip(wrap(skip, 1))).toBe(true);
    expect(skipReason(wrap(skip, 1))).toBe('no GPU here');
    expect(isSkip(wrap(skip, MAX_CAUSE_DEPTH))).toBe(true);
    expect(isSkip(wrap(skip, MAX_CAUSE_DEPTH + 1))).toBe(false);
    // A loop ends at the bound.
    const loop = new Error('loop');
    (loop as { cause?: unknown }).cause = loop;
    expect(isSkip(loop)).toBe(false);
    expect(skipReason(new Error('plain'))).toBeUndefined();
  });

  test('a cause behind a getter, an inherited cause or a Proxy in the chain is never followed', () => {
    touched = 0;
    const skip = new SkipPluginError('hidden');
    const getter = new Error('outer');
    Object.defineProperty(getter, 'cause', { get: () => { touch(); return skip; } });
    expect(isSkip(getter)).toBe(false);
    const inherited = Object.create(new Error('proto', { cause: skip })) as Error;
    expect(isSkip(new Error('outer', { cause: inherited }))).toBe(false);
    expect(isSkip(new Error('outer', { cause: new Proxy(skip, {}) }))).toBe(false);
    expect(isSkip(new Error('outer', { cause: hostileProxy() }))).toBe(false);
    expect(touched).toBe(0);
  });

  test('a skip whose message is a throwing getter is still a skip, with a safe reason', () => {
    touched = 0;
    const skip = Object.assign(new Error(), { code: 'E_SKIP_PLUGIN' });
    Object.defineProperty(skip, 'message', { get: touch });
    expect(isSkip(skip)).toBe(true);
    expect(skipReason(skip)).toBe('Error: <unreadable message>');
    expect(touched).toBe(0);
  });
});
