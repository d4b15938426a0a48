/**
 * The daemon's control socket: HTTP/1.1 with JSON bodies on a Unix socket (mode 0600), like
 * containerd's. `GET /v1/plugins` gives the current state; `GET /v1/health` answers 503 until the
 * daemon is ready. Also the client side, for `plugd ls`.
 */
import { existsSync } from 'node:fs';
import { chmod, lstat, unlink } from 'node:fs/promises';
import { createServer, request, type Server } from 'node:http';
import { connect } from 'node:net';
import { dirname } from 'node:path';

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
 * A refusal to start: the socket cannot be made at its path (too long, something else is there,
 * no permission). The message names the path and says what to do.
 */
export class SocketPathError extends Error {
  override readonly name = 'SocketPathError';
}

/**
 * The longest socket path the platform takes, in bytes: `sun_path` holds 108 bytes on Linux and
 * 104 on macOS and the BSDs, one of them the terminating NUL. A longer path would be cut short by
 * the kernel, or refused with an error that does not name it.
 */
export const MAX_SOCKET_PATH = process.platform === 'linux' ? 107 : 103;

/**
 * Listens on `path` (mode 0600). Refuses when a live daemon already answers there, when the path
 * is too long for a socket, and when something other than a socket is there (it is never
 * deleted); removes a stale socket left by a daemon that died (nothing answers on it).
 */
export async function listen(path: string, handlers: ControlHandlers): Promise<Server> {
  await clearPath(path);
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
    server.once('error', (error: NodeJS.ErrnoException) => { reject(bindError(path, error)); });
    server.listen(path, () => { server.removeAllListeners('error'); resolve(); });
  });
  await chmod(path, 0o600);
  return server;
}

/**
 * Makes `path` free for a new socket: refuses a path too long, a live daemon, anything that is not
 * a socket and a socket plugd may not use; removes a stale socket (nothing answers on it).
 */
async function clearPath(path: string): Promise<void> {
  const bytes = Buffer.byteLength(path);
  if (bytes > MAX_SOCKET_PATH) {
    throw new SocketPathError(`the control socket path ${path} is ${bytes} bytes long, more than the ${MAX_SOCKET_PATH} a Unix socket path may have; use a shorter --state`);
  }
  const info = await lstat(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new SocketPathError(`cannot inspect the control socket path ${path}: ${message(error)}`);
  });
  if (info === undefined) return;
  if (!info.isSocket()) {
    throw new SocketPathError(`${path} exists and is not a socket; plugd does not delete it: move it away, or use another --state`);
  }
  const probe = await connectTo(path);
  if (probe === 'answers') throw new SocketInUseError(`another plugd daemon is running on ${path}; stop it or use another --state`);
  if (probe !== 'refused') {
    throw new SocketPathError(`cannot connect to the control socket ${path} to see whether a daemon answers there (${probe}); check its permissions, or use another --state`);
  }
  await unlink(path).catch((error: unknown) => {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw new SocketPathError(`cannot remove the stale control socket ${path} (${message(error)}); check the permissions of its folder, or remove it by hand`);
  });
}

/**
 * What connecting to the socket at `path` says: someone `answers`, nobody listens (`refused`: a
 * stale socket), or another error code (e.g. EACCES: not ours to judge).
 */
async function connectTo(path: string): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect(path);
    socket.once('connect', () => { socket.destroy(); resolve('answers'); });
    socket.once('error', (error: NodeJS.ErrnoException) => {
      resolve(error.code === 'ECONNREFUSED' || error.code === 'ENOENT' ? 'refused' : error.code ?? error.message);
    });
  });
}

/** A failed bind, named: permission problems say so (not a bare EACCES or EADDRINUSE). */
function bindError(path: string, error: NodeJS.ErrnoException): Error {
  if (error.code === 'ENOENT' || ((error.code === 'EACCES' || error.code === 'EPERM') && !existsSync(dirname(path)))) {
    // (libuv reports a bind in a missing folder as EACCES on Linux.)
    return new SocketPathError(`cannot create the control socket ${path}: its folder does not exist`);
  }
  if (error.code === 'EACCES' || error.code === 'EPERM') {
    return new SocketPathError(`cannot create the control socket ${path}: permission denied; make its folder writable by this user, or use another --state`);
  }
  if (error.code === 'EADDRINUSE') {
    return new SocketPathError(`cannot create the control socket ${path}: something appeared at that path while plugd started; stop what made it, or use another --state`);
  }
  return error;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
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
