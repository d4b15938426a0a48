import { afterEach, describe, expect, test } from '@jest/globals';
import { z } from 'zod';
import { InvalidRegistrationError } from '../../src/core/errors.js';
import { nameOf, ownFields, quickCheck, registrationSchema, toIssues, validateRegistration } from '../../src/core/registration.js';

const init = (): object => ({});

function hostileProxy(): object {
  const trap = (): never => { throw new Error('trap fired'); };
  return new Proxy({}, {
    get: trap, has: trap, ownKeys: trap, getOwnPropertyDescriptor: trap, getPrototypeOf: trap, defineProperty: trap,
    set: trap, deleteProperty: trap, isExtensible: trap, preventExtensions: trap, setPrototypeOf: trap,
  });
}

describe('validateRegistration accepts', () => {
  test('a minimal registration, frozen, with its name and defaults', () => {
    const reg = validateRegistration({ type: 'io.plugd.store.v1', id: 'sqlite', init }, 'store.js');
    expect(reg).toEqual({ name: 'io.plugd.store.v1.sqlite', type: 'io.plugd.store.v1', id: 'sqlite', requires: [], config: undefined, init, close: undefined });
    expect(reg.init).toBe(init);
    expect(Object.isFrozen(reg)).toBe(true);
    expect(Object.isFrozen(reg.requires)).toBe(true);
  });

  test('every optional field', () => {
    const config = z.object({ path: z.string().default('meta.db') });
    const close = (): void => undefined;
    const reg = validateRegistration({ type: 'io.x.v1', id: 'all_of-it.2', requires: ['io.log.v1', 'io.log.v1', 'io.meta.v1'], config, init, close }, 'x.js');
    expect(reg.name).toBe('io.x.v1.all_of-it.2');
    expect(reg.requires).toEqual(['io.log.v1', 'io.meta.v1']); // duplicates dropped, order kept
    expect(reg.config).toBe(config);
    expect(reg.close).toBe(close);
  });

  test('requires ["*"] and an async init', () => {
    const reg = validateRegistration({ type: 'io.x.v1', id: 'last', requires: ['*'], init: async () => Promise.resolve(1) }, 'x.js');
    expect(reg.requires).toEqual(['*']);
  });

  test('a config schema from another copy of zod (anything with safeParse)', () => {
    const config = { safeParse: (input: unknown) => ({ success: true as const, data: input }) };
    expect(validateRegistration({ type: 'io.x.v1', id: 'y', config, init }, 'x.js').config).toBe(config);
  });
});

describe('validateRegistration rejects', () => {
  const getterInit = { type: 'io.x.v1', id: 'getter', get init(): never { throw new Error('init getter fired'); } };

  // [label, raw registration, expected plugin name (undefined when unreadable), issue path, issue code, message fragment]
  const cases: [string, unknown, string | undefined, (string | number)[], string, string][] = [
    ['a typo\'d "requries" (with a hint)', { type: 'io.x.v1', id: 'typo', requries: ['io.log.v1'], init }, 'io.x.v1.typo', [], 'unrecognized_keys',
      '"requries": did you mean "requires"?'],
    ['an unknown key unlike any known one (no hint)', { type: 'io.x.v1', id: 'odd', init, wibble: true }, 'io.x.v1.odd', [], 'unrecognized_keys', 'wibble'],
    ['a missing init', { type: 'io.x.v1', id: 'no-init' }, 'io.x.v1.no-init', ['init'], 'custom', 'must be a function'],
    ['an init that is not a function', { type: 'io.x.v1', id: 'str-init', init: 'start me' }, 'io.x.v1.str-init', ['init'], 'custom', 'must be a function'],
    ['a close that is not a function', { type: 'io.x.v1', id: 'close', init, close: true }, 'io.x.v1.close', ['close'], 'custom', 'must be a function'],
    ['a config that is not a schema', { type: 'io.x.v1', id: 'cfg', init, config: { path: 'x' } }, 'io.x.v1.cfg', ['config'], 'custom', 'must be a zod schema'],
    ['a plugin requiring its own type', { type: 'io.x.v1', id: 'self', requires: ['io.x.v1'], init }, 'io.x.v1.self', ['requires'], 'custom',
      'cannot require its own type "io.x.v1"'],
    ['"*" mixed with a type', { type: 'io.x.v1', id: 'star', requires: ['*', 'io.log.v1'], init }, 'io.x.v1.star', ['requires'], 'custom',
      '"*" must be the only entry'],
    ['requires that is a string', { type: 'io.x.v1', id: 'req', requires: 'io.log.v1', init }, 'io.x.v1.req', ['requires'], 'invalid_type', 'expected array'],
    ['requires with a bad type name', { type: 'io.x.v1', id: 'req2', requires: ['io log'], init }, 'io.x.v1.req2', ['requires', 0], 'invalid_format',
      'must be a plugin type or "*"'],
    ['a type with a space', { type: 'io.x v1', id: 'space', init }, 'io.x v1.space', ['type'], 'invalid_format', 'must be a non-empty name'],
    ['a type starting with a dot', { type: '.io.x.v1', id: 'dot', init }, '.io.x.v1.dot', ['type'], 'invalid_format', 'must be a non-empty name'],
    ['a missing type', { id: 'no-type', init }, undefined, ['type'], 'invalid_type', 'expected string'],
    ['a numeric id', { type: 'io.x.v1', id: 7, init }, undefined, ['id'], 'invalid_type', 'expected string'],
    ['a string', 'io.x.v1.string', undefined, [], 'invalid_type', 'expected object, received string'],
    ['null', null, undefined, [], 'invalid_type', 'expected object, received null'],
    ['undefined', undefined, undefined, [], 'invalid_type', 'expected object, received undefined'],
    ['an array', [{ type: 'io.x.v1', id: 'y', init }], undefined, [], 'invalid_type', 'expected object, received array'],
    ['a function', init, undefined, [], 'invalid_type', 'expected object'],
    ['a hostile Proxy', hostileProxy(), undefined, [], 'unreadable', 'could not be read: Error: trap fired'],
    ['an object whose init getter throws', getterInit, 'io.x.v1.getter', [], 'unreadable', 'could not be read: Error: init getter fired'],
  ];

  test.each(cases)('%s', (_label, raw, plugin, path, code, fragment) => {
    let caught: unknown;
    try {
      validateRegistration(raw, 'dir/plugin.js');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(InvalidRegistrationError);
    const error = caught as InvalidRegistrationError;
    expect(error.code).toBe('E_INVALID_REGISTRATION');
    expect(error.file).toBe('dir/plugin.js');
    expect(error.plugin).toBe(plugin);
    expect(error.message).toContain('"dir/plugin.js"');
    if (plugin !== undefined) expect(error.message).toContain(`"${plugin}"`);
    expect(error.issues).toContainEqual({ code, path, message: expect.stringContaining(fragment) as unknown });
    expect(error.message).toContain(fragment);
    // JSON-safe issues: plain strings and numbers only.
    expect(JSON.parse(JSON.stringify(error.issues))).toEqual(error.issues);
  });

  test('every problem of one registration is reported at once', () => {
    try {
      validateRegistration({ type: 'io.x.v1', id: 'many', requries: [], init: 1, close: 2 }, 'm.js');
      throw new Error('not rejected');
    } catch (error) {
      expect(error).toBeInstanceOf(InvalidRegistrationError);
      const paths = (error as InvalidRegistrationError).issues.map((i) => i.path.join('.')).sort();
      expect(paths).toEqual(['', 'close', 'init']);
    }
  });
});

describe('toIssues', () => {
  test('turns issues from any zod (or garbage) into JSON-safe ones without throwing', () => {
    expect(toIssues([
      { code: 'too_small', path: ['a', 1], message: 'too small' },
      { code: 'unrecognized_keys', path: [], keys: ['inti'], message: 'Unrecognized key: "inti"' },
      { code: 'custom', path: [Symbol('s')], message: 'symbol in path' },
      null,
      hostileProxy(),
      { code: 5, path: 'nope', message: {} },
    ])).toEqual([
      { code: 'too_small', path: ['a', 1], message: 'too small' },
      { code: 'unrecognized_keys', path: [], message: 'Unrecognized key: "inti" ("inti": did you mean "init"?)' },
      { code: 'custom', path: ['Symbol(s)'], message: 'symbol in path' },
      { code: 'invalid', path: [], message: 'invalid' },
      { code: 'invalid', path: [], message: 'invalid' },
      { code: 'invalid', path: [], message: 'invalid' },
    ]);
  });
});

describe('nameOf', () => {
  test('is type.id when both are strings, else undefined; never throws', () => {
    expect(nameOf({ type: 'io.x.v1', id: 'y' })).toBe('io.x.v1.y');
    expect(nameOf({ type: 'io.x.v1' })).toBeUndefined();
    expect(nameOf({ type: 'io.x.v1', id: 1 })).toBeUndefined();
    expect(nameOf('io.x.v1.y')).toBeUndefined();
    expect(nameOf(hostileProxy())).toBeUndefined();
  });
});

describe('the quick check and the zod schema', () => {
  // The hot path validates by hand and asks zod only to explain a refusal: they must agree.
  const schema = z.object({});
  const cases: [string, unknown][] = [
    ['minimal', { type: 'io.x.v1', id: 'y', init }],
    ['everything', { type: 'io.x.v1', id: 'y', requires: ['io.a.v1', 'io.b.v1'], config: schema, init, close: init }],
    ['star', { type: 'io.x.v1', id: 'y', requires: ['*'], init }],
    ['empty requires', { type: 'io.x.v1', id: 'y', requires: [], init }],
    ['duplicate requires', { type: 'io.x.v1', id: 'y', requires: ['io.a.v1', 'io.a.v1'], init }],
    ['typo key', { type: 'io.x.v1', id: 'y', requries: [], init }],
    ['no init', { type: 'io.x.v1', id: 'y' }],
    ['init not a function', { type: 'io.x.v1', id: 'y', init: 42 }],
    ['close null', { type: 'io.x.v1', id: 'y', init, close: null }],
    ['config not a schema', { type: 'io.x.v1', id: 'y', init, config: {} }],
    ['config null', { type: 'io.x.v1', id: 'y', init, config: null }],
    ['requires a string', { type: 'io.x.v1', id: 'y', requires: 'io.a.v1', init }],
    ['requires null', { type: 'io.x.v1', id: 'y', requires: null, init }],
    ['requires a number', { type: 'io.x.v1', id: 'y', requires: [1], init }],
    ['requires a hole', { type: 'io.x.v1', id: 'y', requires: [, 'io.a.v1'], init }], // eslint-disable-line no-sparse-arrays
    ['star mixed', { type: 'io.x.v1', id: 'y', requires: ['*', 'io.a.v1'], init }],
    ['self', { type: 'io.x.v1', id: 'y', requires: ['io.x.v1'], init }],
    ['bad type', { type: 'io x', id: 'y', init }],
    ['empty id', { type: 'io.x.v1', id: '', init }],
    ['id with a slash', { type: 'io.x.v1', id: 'a/b', init }],
    ['type not a string', { type: 1, id: 'y', init }],
    ['an array', [{ type: 'io.x.v1', id: 'y', init }]],
    ['a string', 'io.x.v1'],
    ['null', null],
    ['undefined', undefined],
    ['a function', init],
    ['a class instance', Object.assign(new (class Reg {})(), { type: 'io.x.v1', id: 'y', init })],
    ['null prototype', Object.assign(Object.create(null) as object, { type: 'io.x.v1', id: 'y', init })],
    ['inherited init', Object.assign(Object.create({ init }) as object, { type: 'io.x.v1', id: 'y' })],
    ['inherited requires item', { type: 'io.x.v1', id: 'y', requires: Object.setPrototypeOf([, 'io.a.v1'], Object.assign([], { 0: 'io.b.v1' })) as unknown, init }], // eslint-disable-line no-sparse-arrays
  ];
  test.each(cases)('%s: same verdict', (_, raw) => {
    const fields = ownFields(raw);
    expect(quickCheck(fields) !== undefined).toBe(registrationSchema().safeParse(fields).success);
  });
});

describe('only own properties count (a polluted Object.prototype changes no registration)', () => {
  const proto = Object.prototype as Record<string, unknown>;
  afterEach(() => {
    delete proto.config;
    delete proto.close;
    delete proto.requires;
    delete proto.init;
    delete proto.type;
    delete proto.id;
  });

  function pollute(): { closed: unknown[] } {
    const closed: unknown[] = [];
    proto.config = { safeParse: () => ({ success: true, data: { stolen: true } }) };
    proto.close = (instance: unknown) => { closed.push(instance); };
    proto.requires = ['io.elsewhere.v1'];
    return { closed };
  }

  test('a registration without config, close or requires gets none of Object.prototype\'s', () => {
    pollute();
    for (const reg of [validateRegistration({ type: 'io.x.v1', id: 'y', init }, 'y.js'), quickCheck(ownFields({ type: 'io.x.v1', id: 'y', init }))]) {
      expect(reg).toMatchObject({ name: 'io.x.v1.y', requires: [], config: undefined, close: undefined });
    }
  });

  test('nor does a class instance\'s registration', () => {
    pollute();
    const reg = validateRegistration(Object.assign(new (class Reg {})(), { type: 'io.x.v1', id: 'z', init }), 'z.js');
    expect(reg).toMatchObject({ requires: [], config: undefined, close: undefined });
  });

  test('an inherited init, type or id does not make a registration valid', () => {
    proto.init = init;
    proto.type = 'io.x.v1';
    proto.id = 'y';
    expect(() => validateRegistration({}, 'e.js')).toThrow(InvalidRegistrationError);
    expect(nameOf({})).toBeUndefined();
  });
});
