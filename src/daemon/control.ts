/**
 * The daemon's control socket: HTTP/1.1 with JSON bodies on a Unix socket (mode 0600), like
 * containerd's. `GET /v1/plugins` gives the current state; `GET /v1/health` answers 503 until the
 * daemon is ready. Also the client side, for `plugd ls`.
 */
import { chmod, unlink } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';

/** What the control server serves. */
export interface ControlHandlers {
  /** The `plugd ls --json` document, at the moment of the request. */
  plugins(): unknown;
  /** Whether the daemon is ready, and what else health reports. */
  health(): { ready: boolean } & Record<string, unknown>;
}

/** A refusal to start: another live daemon answers on the socket. */
export class SocketInUseError extends Error {
  override readonly name = 'SocketInUseError';
}

/**
 * Listens on `path` (mode 0600). Refuses when a live daemon already answers there; removes a
 * stale socket left by one that died.
 */
export async function listen(path: string, handlers: ControlHandlers): Promise<Server> {
  if (await answers(path)) throw new SocketInUseError(`another plugd daemon is running on ${path}; stop it or use another --state`);
  await unlink(path).catch(() => undefined);
  const server = createServer((req, res) => {
    const send = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body) + '\n');
    };
    if (req.method !== 'GET') { send(405, { error: 'only GET is supported' }); return; }
    if (req.url === '/v1/plugins') { send(200, handlers.plugins()); return; }
    if (req.url === '/v1/health') { const h = handlers.health(); send(h.ready ? 200 : 503, h); return; }
    send(404, { error: `no such endpoint: ${req.url ?? ''} (try /v1/plugins or /v1/health)` });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(path, () => { server.off('error', reject); resolve(); });
  });
  await chmod(path, 0o600);
  return server;
}

/** True when something accepts connections on the socket at `path`. */
async function answers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => { socket.destroy(); resolve(true); });
    socket.once('error', () => { resolve(false); });
  });
}

/** `GET <route>` on the daemon's socket: its status and parsed JSON body; rejects when nothing answers. */
export async function get(path: string, route: string, timeoutMs = 5_000): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: route, method: 'GET', timeout: timeoutMs }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => {
        try {
          resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) as unknown });
        } catch (error) {
          reject(error instanceof Error ? error : new Error(String(error)));
        }
      });
    });
    req.once('timeout', () => { req.destroy(new Error(`no answer from ${path} within ${timeoutMs} ms`)); });
    req.once('error', reject);
    req.end();
  });
}
