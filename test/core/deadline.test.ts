/**
 * Deadlines: one timer for a batch of races (the imports of a load), each with its own allowance
 * from when it started; settled work passes through, late work gives TIMED_OUT, and no timer is
 * left once nothing is pending.
 */
import { describe, expect, test } from '@jest/globals';
import { Deadlines, TIMED_OUT } from '../../src/core/deadline.js';

const never = new Promise<never>(() => undefined);
const after = <T>(ms: number, value: T): Promise<T> => new Promise((resolve) => { setTimeout(resolve, ms, value); });
const timers = (): number => process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;

describe('Deadlines', () => {
  test('settled work passes through: its value, or its rejection', async () => {
    const d = new Deadlines(1000);
    await expect(d.race(Promise.resolve(42))).resolves.toBe(42);
    await expect(d.race(Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    await expect(d.race(after(5, 'later'))).resolves.toBe('later');
  });

  test('work that does not settle in time gives TIMED_OUT; the rest of the batch is unaffected', async () => {
    const d = new Deadlines(30);
    const results = await Promise.all([d.race(never), d.race(after(5, 'quick')), d.race(never)]);
    expect(results).toEqual([TIMED_OUT, 'quick', TIMED_OUT]);
  });

  test('each race has its own allowance from when it started', async () => {
    const d = new Deadlines(40);
    const first = d.race(never);
    await after(25, undefined);
    const second = d.race(after(30, 'in time')); // settles 55 ms after the first started: late for the first, not for it
    expect(await Promise.all([first, second])).toEqual([TIMED_OUT, 'in time']);
  });

  test('one timer for the batch, and none left once nothing is pending', async () => {
    const before = timers();
    const d = new Deadlines(60_000);
    let release = (): void => undefined;
    const work = new Promise<string>((resolve) => { release = () => { resolve('x'); }; });
    const races = [d.race(work), d.race(work), d.race(work)];
    expect(timers()).toBe(before + 1);
    release();
    expect(await Promise.all(races)).toEqual(['x', 'x', 'x']);
    expect(timers()).toBe(before);
  });

  test('when the earliest race settles, the timer re-arms for the next one, which still times out', async () => {
    const d = new Deadlines(40);
    const early = d.race(after(5, 'early'));
    await after(20, undefined);
    const late = d.race(never);
    expect(await early).toBe('early');
    expect(await late).toBe(TIMED_OUT);
  });

  test('an allowance of Infinity or NaN is clamped as Node timers allow', async () => {
    await expect(new Deadlines(Infinity).race(after(5, 'ok'))).resolves.toBe('ok');
    await expect(new Deadlines(Number.NaN).race(never)).resolves.toBe(TIMED_OUT);
  });
});
