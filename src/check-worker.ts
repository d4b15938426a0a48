/**
 * The body of an isolated check (see check-isolated.ts): runs in a worker thread, where Node's own
 * module loader and plugd's module hooks import the plugins, and posts to its parent a heartbeat,
 * its progress, and at the end the JSON report. Plugin code runs only here: whatever it does to
 * this thread's globals, the parent writes the report.
 */
import { parentPort } from 'node:worker_threads';
import { resolve } from 'node:path';
import { check, type CheckOptions, type CheckSupervision } from './check.js';
import { PluginInitError, PluginLoadError, type PlugdError } from './core/errors.js';
import { DEFAULT_TIMEOUT } from './core/lifecycle.js';
import { firstFrameBelow, type Location, type Place } from './util/locate.js';
import { realPath } from './util/real-path.js';
import type { Survey } from './load/plan.js';
import { surveyFromData, type SurveyData } from './load/survey-transfer.js';
import { safeStack } from './util/render.js';

/** A module or init that hung or ended an earlier worker, as the parent found it. */
export interface Verdict {
  /** `timeout`: it blocked the thread; `exit`: it called `process.exit(code)`. */
  readonly reason: 'timeout' | 'exit';
  /** The file it was in, relative to the checked directory (POSIX). */
  readonly file: string;
  /** Where in that file, when known. */
  readonly at?: Location;
  /** The exit code, for `exit`. */
  readonly code?: number;
}

/** What the parent hands to the worker. */
export interface CheckRequest {
  readonly dir: string;
  readonly options: CheckOptions;
  /** Units (a top-level file or a folder) not to import, with their verdicts. */
  readonly skip?: readonly (readonly [string, Verdict])[];
  /** Plugins not to initialize, with their verdicts. */
  readonly failed?: readonly (readonly [string, Verdict])[];
}

/** What the worker posts. */
export type WorkerMessage =
  | { readonly beat: true }
  | { readonly init: string }
  | { readonly exit: { readonly code: number; readonly place: Place | undefined } }
  | { readonly report: import('./check.js').CheckReport }
  | { readonly failure: { readonly message: string; readonly code?: string } };

/** How often the worker tells its parent that its event loop turns. */
export const BEAT_MS = 100;

/** What the parent posts, once: the request, and the survey of the directory it made while this worker started. */
export interface ParentMessage {
  readonly request: CheckRequest;
  readonly survey: SurveyData;
}

const port = parentPort;
if (port !== null) {
  // The beat starts at once: the parent's watchdog counts from the first one.
  const beat = (): void => { port.postMessage({ beat: true } satisfies WorkerMessage); };
  beat();
  setInterval(beat, BEAT_MS).unref();
  const { request, survey } = await new Promise<ParentMessage>((resolve) => { port.once('message', resolve); });
  await run(port.postMessage.bind(port), request, surveyFromData(survey));
}

async function run(post: (message: WorkerMessage) => void, request: CheckRequest, survey: Survey): Promise<void> {
  const { dir, options } = request;
  const realDir = realPath(resolve(dir));
  const strays = collectStrays(realDir);
  let reported = false;
  process.on('exit', (code) => {
    if (reported) return;
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 64;
    const stack = new Error('exit').stack ?? '';
    Error.stackTraceLimit = limit;
    post({ exit: { code, place: firstFrameBelow(stack, realDir) } });
  });
  try {
    const { report } = await check(dir, options, { ...supervision(request, post), survey });
    if (strays.length > 0) report.errors.push(...strays.map((e) => e.toJSON()));
    reported = true;
    post({ report: { ...report, ok: report.errors.length === 0 } });
  } catch (error) {
    // (The parent's survey read the directory: only a bug of plugd's own can get here.)
    const { message, code } = error as NodeJS.ErrnoException;
    reported = true;
    post(code === undefined ? { failure: { message } } : { failure: { message, code } });
  }
}

/** The check's supervision: progress posted to the parent, and the parent's verdicts as errors. */
function supervision(request: CheckRequest, post: (message: WorkerMessage) => void): CheckSupervision {
  const timeout = request.options.timeout ?? DEFAULT_TIMEOUT;
  const skip = new Map((request.skip ?? []).map(([unit, v]) => [unit, new PluginLoadError(v.file, v.reason, v.code, timeout, v.at)]));
  const failed = new Map((request.failed ?? []).map(([name, v]) => [name, new PluginInitError(name, v.file, v.reason, v.code, timeout, v.at)]));
  return { onInit: (name) => { post({ init: name }); }, skip, failed };
}

/**
 * Errors thrown from plugin callbacks after their module's top level ran (a timer, a rejected
 * promise nobody awaits): each is reported against the file its stack names.
 */
function collectStrays(realDir: string): PlugdError[] {
  const strays: PlugdError[] = [];
  const stray = (thrown: unknown): void => {
    const stack = safeStack(thrown);
    const place = stack === undefined ? undefined : firstFrameBelow(stack, realDir);
    const file = place === undefined ? '(unknown file)' : place.path.slice(realDir.length + 1);
    strays.push(new PluginLoadError(file, 'throw', thrown, undefined, place === undefined ? undefined : { line: place.line, ...(place.column === undefined ? {} : { column: place.column }) }));
  };
  process.on('uncaughtException', stray);
  process.on('unhandledRejection', stray);
  return strays;
}

