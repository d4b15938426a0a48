/** The channel: how register() finds the load its caller belongs to. */
import { describe, expect, test } from '@jest/globals';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { channel, register, type LoadScope } from '../../src/core/channel.js';
import { NoLoadInProgressError } from '../../src/core/errors.js';

const init = (): object => ({});
const thisFile = pathToFileURL(fileURLToPath(import.meta.url)).href;

function hostileProxy(): object {
  const trap = (): never => { throw new Error('trap'); };
  return new Proxy({}, { get: trap, has: trap, ownKeys: trap, getPrototypeOf: trap, getOwnPropertyDescriptor: trap });
}

function recorder(): LoadScope & { seen: unknown[] } {
  const seen: unknown[] = [];
  return { seen, register: (raw) => { seen.push(raw); } };
}

/**
 * Makes `scope` this module's scope, as a load does: under its URL, and as the newest version of it
 * (Jest's module VM names files by path in stack frames, which reach the newest version).
 */
function enter(scope: LoadScope): () => void {
  const ch = channel();
  ch.entries.set(thisFile, scope);
  ch.newest.set(thisFile, scope);
  return () => {
    ch.entries.delete(thisFile);
    ch.newest.delete(thisFile);
  };
}

describe('register', () => {
  test('throws E_NO_LOAD when plugd is not loading the caller, whatever it is given', () => {
    for (const raw of [{ type: 'io.x.v1', id: 'y', init }, 'not even a registration', hostileProxy()]) {
      let caught: unknown;
      try {
        register(raw as never);
      } catch (error) {
        caught = error;
      }
      expect(caught).toBeInstanceOf(NoLoadInProgressError);
      expect((caught as NoLoadInProgressError).code).toBe('E_NO_LOAD');
      expect((caught as Error).message).toContain('register()');
      expect((caught as Error).message).toContain('channel.test.ts');
    }
  });

  test('the channel is private to plugd: nothing on globalThis lets plugin code reach it', () => {
    const ch = channel();
    expect(channel()).toBe(ch);
    const reachable = [...Object.getOwnPropertyNames(globalThis), ...Object.getOwnPropertySymbols(globalThis)]
      .map((key) => Reflect.get(globalThis, key) as unknown);
    expect(reachable).not.toContain(ch);
    expect(reachable).not.toContain(ch.entries);
    expect(Object.isFrozen(ch)).toBe(true);
  });

  test("reaches the scope of the caller's module, by its URL, with the very object given", () => {
    const scope = recorder();
    const leave = enter(scope);
    try {
      const reg = { type: 'io.x.v1', id: 'y', init };
      register(reg);
      expect(scope.seen).toEqual([reg]);
      expect(scope.seen[0]).toBe(reg);
    } finally {
      leave();
    }
  });

  test('a module inside a folder plugin reaches the scope of its folder', () => {
    const ch = channel();
    const scope = recorder();
    const folder = thisFile.slice(0, thisFile.lastIndexOf('/') + 1);
    ch.folders.set(folder, scope);
    try {
      register({ type: 'io.x.v1', id: 'from-folder', init });
      expect(scope.seen).toHaveLength(1);
    } finally {
      ch.folders.delete(folder);
    }
  });

  test('an entry scope wins over an enclosing folder scope', () => {
    const ch = channel();
    const entry = recorder();
    const folder = recorder();
    const dir = thisFile.slice(0, thisFile.lastIndexOf('/') + 1);
    const leave = enter(entry);
    ch.folders.set(dir, folder);
    try {
      register({ type: 'io.x.v1', id: 'y', init });
      expect([entry.seen.length, folder.seen.length]).toEqual([1, 0]);
    } finally {
      leave();
      ch.folders.delete(dir);
    }
  });

  test('a scope that throws (an invalid registration) throws out of register()', () => {
    const leave = enter({ register: () => { throw new Error('invalid'); } });
    try {
      expect(() => { register({ type: 'io.x.v1', id: 'y', init }); }).toThrow('invalid');
    } finally {
      leave();
    }
  });

  test('the caller lookup leaves Error.prepareStackTrace and Error.stackTraceLimit as they were', () => {
    const prepare: unknown = Reflect.get(Error, 'prepareStackTrace');
    const limit = Error.stackTraceLimit;
    expect(() => { register({ type: 'io.x.v1', id: 'y', init }); }).toThrow(NoLoadInProgressError);
    expect(Reflect.get(Error, 'prepareStackTrace')).toBe(prepare);
    expect(Error.stackTraceLimit).toBe(limit);
  });
});
