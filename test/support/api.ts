/**
 * Runs the bundled example plugins (`dist/plugins`) under a real `plugd serve` and speaks raw HTTP
 * to their API: bodies in chunks, any header, any method.
 */
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { writeFile } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { tempPluginDir } from './cli.js';
import { msg, serve, type DaemonProcess } from './daemon.js';

/** The example daemon under test and the base URL of its HTTP API. */
export interface ExampleApi {
  /** The project directory: the daemon's cwd, its data under `.plugd/`. */
  dir: string;
  daemon: DaemonProcess;
  url: string;
  stop(): Promise<void>;
}

/** Starts `plugd serve` on the compiled example plugins, the HTTP API on a free port. */
export async function startExampleApi(): Promise<ExampleApi> {
  const dir = await tempPluginDir({});
  await writeFile(join(dir, 'plugd.toml'), `version = 1\nplugin_dir = "${resolve('dist/plugins')}"\n[plugins."io.plugd.api.v1.http"]\nport = 0\n`);
  const daemon = serve([], dir);
  await daemon.waitFor(msg('ready'));
  const url = String((await daemon.waitFor(msg('HTTP API listening'))).url);
  return {
    dir,
    daemon,
    url,
    stop: async () => {
      daemon.child.kill('SIGTERM');
      await daemon.exited();
    },
  };
}

/** One request: the body is written chunk by chunk, `pauseMs` apart (a chunked body unless `content-length` is set). */
export interface RawRequest {
  method?: string;
  path: string;
  headers?: Record<string, string | number>;
  chunks?: readonly (string | Buffer)[];
  pauseMs?: number;
}

/** What came back: status, headers, the raw text and the parsed JSON (undefined when not JSON). */
export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  text: string;
  json: unknown;
}

/**
 * Sends `req` with `http.request` and resolves with the response. The response may arrive before
 * the body is fully written (a 413): a write error after it is ignored.
 */
export async function send(url: string, req: RawRequest): Promise<RawResponse> {
  const json = req.chunks === undefined ? {} : { 'content-type': 'application/json' };
  const outgoing = httpRequest(url + req.path, { method: req.method ?? 'GET', headers: { ...json, ...req.headers } });
  const response = new Promise<RawResponse>((done, fail) => {
    outgoing.once('error', fail);
    outgoing.once('response', (res) => {
      const parts: Buffer[] = [];
      res.on('data', (chunk: Buffer) => parts.push(chunk));
      res.once('error', fail);
      res.once('end', () => {
        const text = Buffer.concat(parts).toString('utf8');
        done({ status: res.statusCode ?? 0, headers: res.headers, text, json: parse(text) });
      });
    });
  });
  void writeChunks(outgoing, req.chunks ?? [], req.pauseMs ?? 0).catch(() => undefined);
  return response;
}

async function writeChunks(outgoing: ReturnType<typeof httpRequest>, chunks: readonly (string | Buffer)[], pauseMs: number): Promise<void> {
  for (const [i, chunk] of chunks.entries()) {
    if (i > 0 && pauseMs > 0) await sleep(pauseMs);
    if (outgoing.destroyed) return;
    outgoing.write(chunk);
  }
  outgoing.end();
}

function parse(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** A JSON request: `body` serialized into one chunk. */
export const jsonRequest = (method: string, path: string, body?: unknown): RawRequest =>
  ({ method, path, ...(body === undefined ? {} : { chunks: [JSON.stringify(body)] }) });
