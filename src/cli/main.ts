#!/usr/bin/env node
/**
 * The `plugd` executable. It imports nothing of plugd before it starts what takes long to start:
 * `plugd check` runs plugin code in a worker thread, which takes ~100 ms to boot, so that thread
 * is started first and boots while this one loads the rest of plugd and surveys the directory
 * (run.ts, check-isolated.ts). Everything else happens in run.ts.
 */
import type { Early } from './usage.js';

const argv = process.argv.slice(2);
const early: Early = argv[0] === 'check' ? { checkWorker: startCheckWorker() } : {};
const { run } = await import('./run.js');
run(argv, early);

/** The check's worker, idle until it is sent its request; it keeps nothing alive on its own. */
function startCheckWorker(): Early['checkWorker'] {
  const { Worker } = process.getBuiltinModule('node:worker_threads');
  const worker = new Worker(new URL('../check-worker.js', import.meta.url), { stdout: true, stderr: true });
  worker.unref();
  return worker;
}
