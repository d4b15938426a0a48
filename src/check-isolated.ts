/**
 * {@link check} in a disposable worker thread, supervised from this one. Plugin modules are
 * imported by Node's own module loader, with plugd's module hooks, whatever runs the caller (a
 * test runner's module system does not load them). Plugin code runs only in the worker, so it
 * cannot touch the clock or the report, which stay here:
 *
 * - a worker that stops beating for longer than the timeout is blocked (a busy loop in a module's
 *   top level or in an init): it is paused through the inspector to find the file and line, and
 *   ended;
 * - a worker that ends without a report was ended by plugin code (`process.exit()`), which names
 *   its file from its stack;
 * - either way the check runs again in a new worker, with that module (or init) failed for the
 *   reason found, until a worker reports. What plugins print goes to stderr, never into a report.
 */
import { resolve } from 'node:path';
import type { Worker } from 'node:worker_threads';
import type { CheckOptions, CheckReport, CheckResult } from './check.js';
import type { CheckRequest, ParentMessage, Verdict, WorkerMessage } from './check-worker.js';
import { checkPolicy } from './check.js';
import { surveyDir } from './load/plan.js';
import { surveyToData, type SurveyData } from './load/survey-transfer.js';
import { whereBlocked } from './check-watchdog.js';
import { DEFAULT_TIMEOUT } from './core/lifecycle.js';
import { reviveError } from './core/errors.js';
import { unitOf } from './load/scan.js';
import { builtFile } from './util/built.js';
import type { Place } from './util/locate.js';
import { realPath } from './util/real-path.js';

/** How a worker ended without a report: blocked, or ended by plugin code; and what it was doing. */
interface Stopped {
  readonly how: 'timeout' | 'exit';
  readonly place: Place | undefined;
  readonly code?: number;
  /** The plugin whose init was running, if the worker was past loading. */
  readonly init: string | undefined;
}

/**
 * Checks `dir` in a worker thread (see above). The result's errors are instances of plugd's error
 * classes rebuilt from the report (their `thrown` values and causes stay in the worker). Rejects
 * when the directory cannot be read, or when plugin code stopped a worker where no file of the
 * directory can be blamed.
 */
export async function checkIsolated(dir: string, options: CheckOptions = {}, started?: Worker): Promise<CheckResult> {
  const realDir = realPath(resolve(dir));
  // The directory is surveyed here while the worker starts (a worker takes ~100 ms to boot).
  const survey = surveyDir(resolve(dir), checkPolicy(options)).then(surveyToData);
  survey.catch(() => undefined); // (awaited by every run)
  const skip = new Map<string, Verdict>();
  const failed = new Map<string, Verdict>();
  let worker = started;
  for (;;) {
    const outcome = await runWorker({ dir, options, skip: [...skip], failed: [...failed] }, realDir, survey, worker);
    worker = undefined;
    if ('report' in outcome) return { report: outcome.report, errors: outcome.report.errors.map(reviveError) };
    const blamed = blame(outcome, realDir);
    const verdicts = outcome.init === undefined ? skip : failed;
    const key = outcome.init ?? (blamed === undefined ? undefined : unitOf(blamed.file));
    if (blamed === undefined || key === undefined || verdicts.has(key)) throw unblamable(dir, outcome, blamed);
    verdicts.set(key, blamed);
  }
}

/** One worker's run: its report, or how it stopped without one. */
function runWorker(request: CheckRequest, realDir: string, survey: Promise<SurveyData>, started?: Worker): Promise<{ report: CheckReport } | Stopped> {
  const timeout = request.options.timeout ?? DEFAULT_TIMEOUT;
  const worker = started ?? startCheckWorker();
  worker.ref();
  // Whatever plugins print is theirs, not the report's.
  worker.stdout.pipe(process.stderr, { end: false });
  worker.stderr.pipe(process.stderr, { end: false });
  return new Promise((settle, reject) => {
    survey.then((data) => { worker.postMessage({ request, survey: data } satisfies ParentMessage); }, reject);
    // (Counted from the worker's first beat: how long it takes to start is not plugin code's.)
    let lastBeat: number | undefined;
    let init: string | undefined;
    let exit: Stopped | undefined;
    let blocked = false;
    const watchdog = setInterval(() => {
      if (lastBeat === undefined || Date.now() - lastBeat <= timeout) return;
      clearInterval(watchdog);
      blocked = true;
      void whereBlocked(worker.threadId, realDir).then(async (place) => {
        await worker.terminate();
        settle({ how: 'timeout', place, init });
      });
    }, Math.min(100, timeout));
    worker.on('message', (message: WorkerMessage) => {
      lastBeat = Date.now();
      if ('init' in message) init = message.init;
      else if ('exit' in message) exit = { how: 'exit', place: message.exit.place, code: message.exit.code, init };
      else if ('report' in message) settle(message);
      else if ('failure' in message) reject(Object.assign(new Error(message.failure.message), { code: message.failure.code }));
    });
    worker.once('error', (error) => { reject(new Error(`checking "${request.dir}" failed in its worker: ${error.message}`, { cause: error })); });
    worker.once('exit', (code) => {
      clearInterval(watchdog);
      // (Ended by the watchdog: it settles with what it found.)
      if (!blocked) settle(exit ?? { how: 'exit', place: undefined, code, init });
    });
  }).finally(() => worker.terminate()) as Promise<{ report: CheckReport } | Stopped>;
}

/** A new check worker, idle until it is sent its request. */
export function startCheckWorker(url = builtFile('check-worker.js')): Worker {
  const { Worker: WorkerThread } = process.getBuiltinModule('node:worker_threads');
  return new WorkerThread(url, { stdout: true, stderr: true });
}

/** The verdict on what stopped a worker: the file (and line) its stack names, if it is in the directory. */
function blame(stopped: Stopped, realDir: string): Verdict | undefined {
  const { place } = stopped;
  if (place === undefined) return undefined;
  const file = place.path.slice(realDir.length + 1).split('\\').join('/');
  const at = { line: place.line, ...(place.column === undefined ? {} : { column: place.column }) };
  return { reason: stopped.how, file, at, ...(stopped.code === undefined ? {} : { code: stopped.code }) };
}

/** The error for a worker that plugin code stopped where no plugin of the directory can be blamed. */
function unblamable(dir: string, stopped: Stopped, blamed: Verdict | undefined): Error {
  const what = stopped.how === 'timeout' ? 'blocked its thread' : `ended its thread (exit code ${String(stopped.code)})`;
  const where = blamed === undefined ? 'no plugin file is on its stack' : `in "${blamed.file}"${blamed.at === undefined ? '' : ` line ${blamed.at.line}`}, which no plugin entry can be failed for`;
  return new Error(`checking "${dir}": plugin code ${what}${stopped.init === undefined ? '' : ` during the init of "${stopped.init}"`}; ${where}`);
}
