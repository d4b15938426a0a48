/**
 * The control socket on a real Unix socket in a temp dir: {@link listen} serves `/v1/plugins` and
 * `/v1/health` as JSON (health 503 until ready), 404 and 405 otherwise, makes the socket 0600,
 * refuses a second daemon on a live socket and replaces a stale one, refuses (and keeps) anything
 * else at the path and a path too long; {@link get} is the client.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { get, listen, MAX_SOCKET_PATH, SocketInUseError, SocketPathError, type ControlHandlers } from '../../src/daemon/control.js';

const servers: Server[] = [];
const temps: string[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise<void>((resolve) => { server.close(() => { resolve(); }); });
  }
  await Promise.all(temps.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/** A socket path in a fresh temp dir (short: Unix socket paths are limited to ~107 bytes). */
async function socketPath(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'plugd-ctl-'));
  temps.push(dir);
  return join(dir, 'plugd.sock');
}

/** Handlers whose answers the test can change between requests. */
function handlers(state: { plugins: unknown; ready: boolean }): ControlHandlers {
  return {
    plugins: () => state.plugins,
    health: () => ({ ready: state.ready, plugins: 2 }),
  };
}

async function serve(path: string, h: ControlHandlers): Promise<Server> {
  const server = await listen(path, h);
  servers.push(server);
  return server;
}

/** A raw request, for what {@link get} cannot send (other methods) or hides (headers). */
async function raw(path: string, method: string, route: string): Promise<{ status: number; type: string | undefined; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ socketPath: path, path: route, method, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => { text += chunk; });
      res.on('end', () => { resolve({ status: res.statusCode ?? 0, type: res.headers['content-type'], text }); });
    });
    req.once('error', reject);
    req.end();
  });
}

/** A plain HTTP server on `path` answering every request with `answer` (for the client's edge cases). */
async function plainServer(path: string, answer: (res: ServerResponse) => void): Promise<Server> {
  const server = createServer((_req, res) => { answer(res); });
  servers.push(server);
  await new Promise<void>((resolve) => { server.listen(path, resolve); });
  return server;
}

describe('listen: the endpoints', () => {
  test('GET /v1/plugins: 200 and the document as it is at the moment of the request', async () => {
    const path = await socketPath();
    const state = { plugins: { plugins: [{ name: 'A.a', status: 'ok' }] } as unknown, ready: true };
    await serve(path, handlers(state));
    expect(await get(path, '/v1/plugins')).toEqual({ status: 200, body: { plugins: [{ name: 'A.a', status: 'ok' }] } });
    state.plugins = { plugins: [] };
    expect(await get(path, '/v1/plugins')).toEqual({ status: 200, body: { plugins: [] } });
  });

  test('GET /v1/health: 503 while not ready, 200 once ready, with the whole health document', async () => {
    const path = await socketPath();
    const state = { plugins: {}, ready: false };
    await serve(path, handlers(state));
    expect(await get(path, '/v1/health')).toEqual({ status: 503, body: { ready: false, plugins: 2 } });
    state.ready = true;
    expect(await get(path, '/v1/health')).toEqual({ status: 200, body: { ready: true, plugins: 2 } });
    state.ready = false; // e.g. shutting down: not ready again
    expect((await get(path, '/v1/health')).status).toBe(503);
  });

  test('answers are JSON: a content-type of application/json and one JSON document per body', async () => {
    const path = await socketPath();
    await serve(path, handlers({ plugins: { n: 1 }, ready: true }));
    const res = await raw(path, 'GET', '/v1/plugins');
    expect(res.type).toBe('application/json');
    expect(res.text).toBe('{"n":1}\n');
  });

  test.each(['/', '/v1', '/v1/plugin', '/v1/plugins/extra', '/v2/health', '/v1/plugins?x=1'])('GET %s: 404 naming the endpoints there are', async (route) => {
    const path = await socketPath();
    await serve(path, handlers({ plugins: {}, ready: true }));
    const res = await get(path, route);
    expect(res.status).toBe(404);
    const body = res.body as { error: string };
    expect(body.error).toContain(route);
    expect(body.error).toContain('/v1/plugins');
    expect(body.error).toContain('/v1/health');
  });

  test.each(['POST', 'PUT', 'DELETE'])('%s: 405, only GET is supported', async (method) => {
    const path = await socketPath();
    let asked = 0;
    await serve(path, { plugins: () => { asked++; return {}; }, health: () => { asked++; return { ready: true }; } });
    const res = await raw(path, method, '/v1/plugins');
    expect(res.status).toBe(405);
    expect(JSON.parse(res.text)).toEqual({ error: 'only GET is supported' });
    expect(asked).toBe(0);
  });
});

describe('listen: the socket file', () => {
  test('is a socket with mode 0600', async () => {
    const path = await socketPath();
    await serve(path, handlers({ plugins: {}, ready: true }));
    const info = await stat(path);
    expect(info.isSocket()).toBe(true);
    expect(info.mode & 0o777).toBe(0o600);
  });

  test('a second server on a live socket is refused, and the first keeps answering', async () => {
    const path = await socketPath();
    await serve(path, handlers({ plugins: { first: true }, ready: true }));
    const second = listen(path, handlers({ plugins: { second: true }, ready: true }));
    await expect(second).rejects.toBeInstanceOf(SocketInUseError);
    await expect(second).rejects.toThrow(`another plugd daemon is running on ${path}`);
    expect(await get(path, '/v1/plugins')).toEqual({ status: 200, body: { first: true } });
  });

  test('a stale socket left by a daemon that died is replaced', async () => {
    const path = await socketPath();
    // A process that listens on the socket and is killed: the socket file stays, with no one behind it.
    const child = spawn(process.execPath, ['-e', `require('node:net').createServer().listen(${JSON.stringify(path)}, () => console.log('up'))`], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve, reject) => {
      child.stdout.once('data', () => { resolve(); });
      child.once('exit', (code) => { reject(new Error(`the child exited early (${String(code)})`)); });
    });
    const exited = new Promise<void>((resolve) => { child.once('exit', () => { resolve(); }); });
    child.kill('SIGKILL');
    await exited;
    expect((await stat(path)).isSocket()).toBe(true);
    await expect(get(path, '/v1/health')).rejects.toThrow(/ECONNREFUSED/);

    await serve(path, handlers({ plugins: {}, ready: true }));
    expect(await get(path, '/v1/health')).toEqual({ status: 200, body: { ready: true, plugins: 2 } });
    expect((await stat(path)).mode & 0o777).toBe(0o600);
  }, 10_000);

  test('a regular file at the path is refused and never deleted', async () => {
    const path = await socketPath();
    await writeFile(path, 'my precious data');
    const refused = listen(path, handlers({ plugins: {}, ready: true }));
    await expect(refused).rejects.toBeInstanceOf(SocketPathError);
    await expect(refused).rejects.toThrow(`${path} exists and is not a socket; plugd does not delete it`);
    expect(await readFile(path, 'utf8')).toBe('my precious data');
  });

  test('a folder at the path is refused and kept', async () => {
    const path = await socketPath();
    await mkdir(path);
    await expect(listen(path, handlers({ plugins: {}, ready: true }))).rejects.toThrow(/is not a socket/);
    expect((await stat(path)).isDirectory()).toBe(true);
  });

  test('a path longer than a Unix socket path may be is refused, naming it; nothing is created', async () => {
    const dir = dirname(await socketPath());
    const deep = join(dir, 'x'.repeat(60), 'y'.repeat(60));
    await mkdir(deep, { recursive: true });
    const path = join(deep, 'plugd.sock');
    expect(Buffer.byteLength(path)).toBeGreaterThan(MAX_SOCKET_PATH);
    const refused = listen(path, handlers({ plugins: {}, ready: true }));
    await expect(refused).rejects.toBeInstanceOf(SocketPathError);
    await expect(refused).rejects.toThrow(`the control socket path ${path} is ${Buffer.byteLength(path)} bytes long`);
    expect(await readdir(deep)).toEqual([]);
  });

  test('a path in a missing folder rejects, saying so (nothing is created)', async () => {
    const path = join(dirname(await socketPath()), 'no-such-dir', 'plugd.sock');
    const refused = listen(path, handlers({ plugins: {}, ready: true }));
    await expect(refused).rejects.toBeInstanceOf(SocketPathError);
    await expect(refused).rejects.toThrow('its folder does not exist');
    expect(existsSync(path)).toBe(false);
  });

  test('closing the server removes the socket: the next listen starts cleanly', async () => {
    const path = await socketPath();
    const first = await listen(path, handlers({ plugins: { n: 1 }, ready: true }));
    await new Promise<void>((resolve) => { first.close(() => { resolve(); }); });
    expect(existsSync(path)).toBe(false);
    await serve(path, handlers({ plugins: { n: 2 }, ready: true }));
    expect((await get(path, '/v1/plugins')).body).toEqual({ n: 2 });
  });
});

describe('get: the client', () => {
  test('rejects when no socket is there', async () => {
    const path = await socketPath();
    await expect(get(path, '/v1/health')).rejects.toThrow(/ENOENT/);
  });

  test('gives any status with its parsed body (not only 2xx)', async () => {
    const path = await socketPath();
    await plainServer(path, (res) => { res.writeHead(418, { 'content-type': 'application/json' }); res.end('{"teapot":true}'); });
    expect(await get(path, '/anything')).toEqual({ status: 418, body: { teapot: true } });
  });

  test('rejects a body that is not JSON', async () => {
    const path = await socketPath();
    await plainServer(path, (res) => { res.writeHead(200); res.end('<html>'); });
    await expect(get(path, '/v1/plugins')).rejects.toBeInstanceOf(SyntaxError);
  });

  test('rejects when the server does not answer within the timeout', async () => {
    const path = await socketPath();
    await plainServer(path, () => undefined); // accepts, never answers
    const started = performance.now();
    await expect(get(path, '/v1/health', 100)).rejects.toThrow(`no answer from ${path} within 100 ms`);
    expect(performance.now() - started).toBeGreaterThanOrEqual(90);
  });
});
