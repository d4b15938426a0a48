/**
 * The load hook of plugd's module hooks on Node < 22.15, registered in Node's hooks thread with
 * the first locked load only: every load hook is a thread hop per module, which a load without a
 * lock need not pay. It checks each module's bytes against the lock (LoaderState.checkLoaded),
 * with the state that hooks-thread.ts keeps in the same thread.
 */
import { threadState } from './hooks-thread.js';
import type { Loaded } from './loader-state.js';

/** Node's async load hook. */
export async function load(url: string, context: unknown, next: (u: string, c: unknown) => Promise<Loaded>): Promise<Loaded> {
  const loaded = await next(url, context);
  threadState()?.checkLoaded(url, loaded.source);
  return loaded;
}
