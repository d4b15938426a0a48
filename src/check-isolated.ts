/**
 * {@link check} in a disposable worker thread. Plugin modules are then imported by Node's own
 * module loader, with plugd's module hooks, whatever runs the caller: a test runner's module system
 * (Jest's VM, Vitest) does not load them, so a fixture test sees exactly what `plugd check` sees.
 * The worker is gone afterwards, and with it every module the check imported.
 */
import type { CheckOptions, CheckReport, CheckResult } from './check.js';
import type { CheckRequest } from './check-worker.js';
import { reviveError } from './core/errors.js';
import { builtFile } from './util/built.js';

/** What the worker posts back. */
type Reply = { report: CheckReport } | { failure: { message: string; code?: string } };

/**
 * Checks `dir` in a worker thread. The result's errors are instances of plugd's error classes
 * rebuilt from the report (their `thrown` values and causes stay in the worker). Rejects when the
 * directory cannot be read, or when the worker ends without a report (plugin code that exits it).
 */
export async function checkIsolated(dir: string, options: CheckOptions = {}): Promise<CheckResult> {
  const request: CheckRequest = { dir, options };
  // (Loaded on use: this module is part of every plugd import, and a plain load needs no worker.)
  const { Worker } = process.getBuiltinModule('node:worker_threads');
  const worker = new Worker(builtFile('check-worker.js'), { workerData: request, stdout: false, stderr: false });
  const reply = await new Promise<Reply>((resolve, reject) => {
    let replied = false;
    worker.once('message', (message: Reply) => {
      replied = true;
      resolve(message);
    });
    worker.once('error', (error) => { reject(new Error(`checking "${dir}" failed in its worker: ${error.message}`, { cause: error })); });
    worker.once('exit', (code) => {
      if (!replied) reject(new Error(`checking "${dir}": its worker exited (code ${code}) before reporting; did a plugin call process.exit()?`));
    });
  });
  await worker.terminate();
  if ('failure' in reply) throw Object.assign(new Error(reply.failure.message), { code: reply.failure.code });
  return { report: reply.report, errors: reply.report.errors.map(reviveError) };
}
