/**
 * The body of an isolated check (see check-isolated.ts): runs in a worker thread, where Node's own
 * module loader and plugd's module hooks import the plugins, and posts the JSON report back.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { check, type CheckOptions } from './check.js';

/** What the parent hands to the worker. */
export interface CheckRequest {
  readonly dir: string;
  readonly options: CheckOptions;
}

const { dir, options } = workerData as CheckRequest;
try {
  const { report } = await check(dir, options);
  parentPort?.postMessage({ report });
} catch (error) {
  // Only an unreadable directory throws: the parent rethrows it with its code.
  const { message, code } = error as NodeJS.ErrnoException;
  parentPort?.postMessage({ failure: { message, code } });
}
