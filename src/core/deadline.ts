/**
 * Timeouts for a batch of work that starts together (the imports of one load): one timer for the
 * whole batch instead of a timer, a timeout promise and a `Promise.race` per module, which cost
 * a noticeable part of a load of thousands of modules.
 */
import { clampTimeout } from './lifecycle.js';

/** What {@link Deadlines.race} gives for work that did not settle in time. */
export const TIMED_OUT: unique symbol = Symbol('timed out');

interface Pending {
  readonly due: number;
  readonly expire: () => void;
}

/** Settles work, or gives {@link TIMED_OUT} once its time is up; every race has the same allowance. */
export class Deadlines {
  readonly #ms: number;
  /** Pending races in the order they started, which is also the order they fall due. */
  readonly #pending = new Set<Pending>();
  #timer: NodeJS.Timeout | undefined;

  /** Races get `ms` milliseconds each, from the moment they start. */
  constructor(ms: number) {
    this.#ms = clampTimeout(ms);
  }

  /** `work`'s outcome, or {@link TIMED_OUT} when it has not settled `ms` after this call. */
  race<T>(work: Promise<T>): Promise<T | typeof TIMED_OUT> {
    return new Promise((resolve, reject) => {
      const item: Pending = { due: performance.now() + this.#ms, expire: () => { resolve(TIMED_OUT); } };
      this.#pending.add(item);
      this.#arm();
      const done = (): void => {
        this.#pending.delete(item);
        if (this.#pending.size === 0) this.#disarm();
      };
      work.then((value) => { done(); resolve(value); }, (error: unknown) => { done(); reject(error); });
    });
  }

  /** One timer, for the earliest due race; it keeps the process alive while work is pending, as a timer per race did. */
  #arm(): void {
    if (this.#timer !== undefined) return;
    const first = this.#pending.values().next();
    if (first.done === true) return;
    this.#timer = setTimeout(() => { this.#expire(); }, Math.max(first.value.due - performance.now(), 1));
  }

  #disarm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #expire(): void {
    this.#timer = undefined;
    const now = performance.now();
    for (const item of this.#pending) {
      if (item.due > now) break;
      this.#pending.delete(item);
      item.expire();
    }
    this.#arm();
  }
}
