/**
 * plugd's module hooks on Node < 22.15, where only `module.register` exists: this module runs in
 * Node's hooks thread. It holds that thread's {@link LoaderState} and answers the host through a
 * message port: an update is applied before the host's next import (the host awaits its reply),
 * and the host asks here for the import edges, which only this thread sees.
 */
import type { MessagePort } from 'node:worker_threads';
import { LoaderState, type Resolved, type StateUpdate } from './loader-state.js';

/** A message from the host: apply an update, or ask for importers. */
export type HostMessage =
  | { readonly id: number; readonly update: StateUpdate }
  | { readonly id: number; readonly importersOf: readonly string[] };

/** What `module.register` hands to {@link initialize}. */
export interface HooksData {
  readonly port: MessagePort;
  readonly plugd: string;
}

let state: LoaderState | undefined;

/** This thread's state, for the load hook (lock-thread.ts), registered later in the same thread. */
export function threadState(): LoaderState | undefined {
  return state;
}

/** Called by Node once, with the data given to `module.register`. */
export function initialize(data: HooksData): void {
  const own = (state = new LoaderState(data.plugd));
  data.port.on('message', (message: HostMessage) => {
    if ('update' in message) {
      own.apply(message.update);
      data.port.postMessage({ id: message.id });
    } else {
      data.port.postMessage({ id: message.id, files: [...own.importersOf(message.importersOf)] });
    }
  });
  data.port.unref();
}

/** Node's async resolve hook. */
export async function resolve(specifier: string, context: { parentURL?: string }, next: (s: string, c: unknown) => Promise<Resolved>): Promise<Resolved> {
  if (state === undefined) return next(specifier, context);
  if (specifier === 'plugd') return state.resolve(specifier, context.parentURL, () => ({ url: '' }));
  const resolved = await next(specifier, context);
  return state.resolve(specifier, context.parentURL, () => resolved);
}
