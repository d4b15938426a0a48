/**
 * Where a blocked worker thread is stuck: its parent pauses it through the inspector (a busy
 * loop gives its own thread no chance to say anything) and reads the top of its stack. Only an
 * isolated check whose worker stopped beating uses it; the inspector session is closed after.
 */
import type { Session } from 'node:inspector';
import type { Place } from './util/locate.js';
import { fileURLToPath } from 'node:url';

/** One call frame of the inspector's `Debugger.paused` event (the fields read here). */
interface CallFrame {
  readonly location: { readonly scriptId: string; readonly lineNumber: number; readonly columnNumber?: number };
}

/** A message from the worker's inspector. */
interface InspectorMessage {
  readonly id?: number;
  readonly method?: string;
  readonly params?: { readonly scriptId?: string; readonly url?: string; readonly callFrames?: readonly CallFrame[] };
}

/**
 * Pauses the worker thread `threadId` and returns the first frame of its stack in a
 * file below `dir` (absolute, real), if any; undefined when nothing answers within `ms`.
 */
export async function whereBlocked(threadId: number, dir: string, ms = 2_000): Promise<Place | undefined> {
  // (Loaded on use: a check whose worker never blocks needs no inspector.)
  const { Session: InspectorSession } = process.getBuiltinModule('node:inspector');
  const session = new InspectorSession();
  session.connect();
  try {
    const found = pauseAndLocate(session, threadId, dir);
    return await Promise.race([found, new Promise<undefined>((r) => { setTimeout(() => { r(undefined); }, ms).unref(); })]);
  } catch {
    return undefined;
  } finally {
    session.disconnect();
  }
}

function pauseAndLocate(session: Session, threadId: number, dir: string): Promise<Place | undefined> {
  const post = (method: string, params: object): Promise<unknown> =>
    new Promise((resolve, reject) => { session.post(method, params, (error, result) => { if (error === null) resolve(result); else reject(error); }); });
  const scripts = new Map<string, string>();
  return new Promise((resolve, reject) => {
    let sessionId: string | undefined;
    const send = (id: number, method: string): Promise<unknown> =>
      post('NodeWorker.sendMessageToWorker', { sessionId, message: JSON.stringify({ id, method, params: {} }) });
    // The inspector numbers workers its own way; their title names the thread: `[worker 3]`
    // (Node 20), `[worker 3] WorkerThread` (Node 24).
    const title = new RegExp(`^\\[worker ${threadId}\\](?:\\s|$)`);
    session.on('NodeWorker.attachedToWorker', ({ params }: { params: { sessionId: string; workerInfo: { title: string } } }) => {
      if (sessionId !== undefined || !title.test(params.workerInfo.title)) return;
      sessionId = params.sessionId;
      send(1, 'Debugger.enable').then(() => send(2, 'Debugger.pause')).catch(reject);
    });
    session.on('NodeWorker.receivedMessageFromWorker', ({ params }: { params: { message: string } }) => {
      const message = JSON.parse(params.message) as InspectorMessage;
      if (message.method === 'Debugger.scriptParsed' && message.params?.scriptId !== undefined) scripts.set(message.params.scriptId, message.params.url ?? '');
      if (message.method !== 'Debugger.paused') return;
      resolve(firstPlace(message.params?.callFrames ?? [], scripts, dir));
      send(3, 'Debugger.disable').catch(() => undefined);
    });
    post('NodeWorker.enable', { waitForDebuggerOnStart: false }).catch(reject);
  });
}

/** The first of `frames` in a file below `dir`, 1-based. */
function firstPlace(frames: readonly CallFrame[], scripts: ReadonlyMap<string, string>, dir: string): Place | undefined {
  const prefix = dir.endsWith('/') ? dir : `${dir}/`;
  for (const { location } of frames) {
    const url = scripts.get(location.scriptId) ?? '';
    if (!url.startsWith('file:')) continue;
    const path = fileURLToPath(url.replace(/\?.*$/, ''));
    if (!path.startsWith(prefix)) continue;
    return { path, line: location.lineNumber + 1, ...(location.columnNumber === undefined ? {} : { column: location.columnNumber + 1 }) };
  }
  return undefined;
}
