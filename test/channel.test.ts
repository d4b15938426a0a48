/** The channel: how register() finds the load its caller belongs to, from any copy of plugd. */
import { describe, expect, test } from '@jest/globals';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { channel, register, type LoadScope } from '../src/channel.js';
import { NoLoadInProgressError } from '../src/errors.js';

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

  test('the channel lives on globalThis under Symbol.for("plugd.channel"), shared by every copy', () => {
    const ch = channel();
    expect(channel()).toBe(ch);
    expect((globalThis as Record<symbol, unknown>)[Symbol.for('plugd.channel')]).toBe(ch);
    expect(ch.protocol).toBe(2);
  });

  test("reaches the scope of the caller's module, by its URL, with the very object given", () => {
    const ch = channel();
    const scope = recorder();
    ch.entries.set(thisFile, scope);
    try {
      const reg = { type: 'io.x.v1', id: 'y', init };
      register(reg);
      expect(scope.seen).toEqual([reg]);
      expect(scope.seen[0]).toBe(reg);
    } finally {
      ch.entries.delete(thisFile);
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
    ch.entries.set(thisFile, entry);
    ch.folders.set(dir, folder);
    try {
      register({ type: 'io.x.v1', id: 'y', init });
      expect([entry.seen.length, folder.seen.length]).toEqual([1, 0]);
    } finally {
      ch.entries.delete(thisFile);
      ch.folders.delete(dir);
    }
  });

  test('a scope that throws (an invalid registration) throws out of register()', () => {
    const ch = channel();
    ch.entries.set(thisFile, { register: () => { throw new Error('invalid'); } });
    try {
      expect(() => { register({ type: 'io.x.v1', id: 'y', init }); }).toThrow('invalid');
    } finally {
      ch.entries.delete(thisFile);
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
