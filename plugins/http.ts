/**
 * io.plugd.api.v1.http: an HTTP JSON API on 127.0.0.1 that mounts every service plugin requiring
 * nothing of it - containerd's `Service.Register(server)`: each `io.plugd.service.v1` plugin with a
 * `mount(router)` adds its routes.
 *
 * Every answer is JSON; an error is `{ "error": message }` (plus `issues` for a rejected body). A
 * path no route has is 404; a method its routes lack is 405 with `Allow` (HEAD goes with GET). A
 * request body must be `content-type: application/json` (else 415), valid JSON in UTF-8 (else
 * 400) and at most MAX_BODY_BYTES (else 413, and the connection is closed unread). A handler's
 * unexpected throw is logged and answered 500 without its details.
 */
import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { register, z, type InitContext } from 'plugd';

/** What a route handler gets. */
export interface Request {
  params: Partial<Record<string, string>>;
  query: URLSearchParams;
  body: unknown;
}

/**
 * A route handler: returns the JSON body. For an HTTP error it throws an Error with a `status`
 * (and optionally `issues`, sent along); any other throw is logged and answered 500.
 */
export type Handler = (req: Request) => unknown;

/** What services mount their routes on. */
export interface Router {
  route(method: string, pattern: string, handler: Handler, status?: number): void;
}

/** A service plugin that exposes routes. */
export interface Mountable {
  mount(router: Router): void;
}

interface Route {
  method: string;
  parts: string[];
  handler: Handler;
  status: number;
}

/** The largest request body read, in bytes (1 MiB): a larger one is answered 413 and not read. */
export const MAX_BODY_BYTES = 1024 * 1024;

const httpError = (status: number, message: string): Error => Object.assign(new Error(message), { status });

/** The route for `method` on `path` with its decoded params, or the methods the path allows (none: 404). */
function find(routes: readonly Route[], method: string, path: string[]): { route: Route; params: Request['params'] } | { allow: string[] } {
  const allow: string[] = [];
  for (const route of routes) {
    const params = match(route.parts, path);
    if (params === undefined) continue;
    // HEAD is GET without the body (Node leaves the body out).
    if (route.method === method || (route.method === 'GET' && method === 'HEAD')) return { route, params };
    allow.push(...(route.method === 'GET' ? ['GET', 'HEAD'] : [route.method]));
  }
  return { allow };
}

function match(parts: string[], path: string[]): Request['params'] | undefined {
  if (parts.length !== path.length) return undefined;
  const params: Request['params'] = {};
  for (const [i, part] of parts.entries()) {
    const segment = path[i] ?? '';
    if (part.startsWith(':')) params[part.slice(1)] = decode(segment);
    else if (part !== segment) return undefined;
  }
  return params;
}

function decode(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw httpError(400, `the path segment "${segment}" is not valid percent-encoding`);
  }
}

/**
 * The body as JSON (undefined when empty). It is collected as bytes and decoded once, because a
 * character can be split across chunks; reading stops at MAX_BODY_BYTES.
 */
async function readJson(req: IncomingMessage): Promise<unknown> {
  const bytes = await readBody(req);
  if (bytes.length === 0) return undefined;
  if (!/^application\/json\s*(;|$)/i.test(req.headers['content-type'] ?? '')) {
    throw httpError(415, 'send the request body as JSON, with "content-type: application/json"');
  }
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch {
    throw httpError(400, 'the request body is not valid JSON in UTF-8');
  }
}

function readBody(req: IncomingMessage): Promise<Buffer> {
  const tooLarge = (): Error => httpError(413, `the request body is larger than ${MAX_BODY_BYTES} bytes`);
  return new Promise((resolve, reject) => {
    if (Number(req.headers['content-length']) > MAX_BODY_BYTES) { reject(tooLarge()); return; }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      // Stop reading: the 413 closes the connection (see `respond`).
      if (size > MAX_BODY_BYTES) { req.pause(); reject(tooLarge()); }
    });
    req.once('end', () => { resolve(Buffer.concat(chunks)); });
    // A client that hangs up mid-body is no server failure: a 4xx, not a logged 500.
    req.once('error', () => { reject(httpError(400, 'the request body was cut off')); });
  });
}

function send(res: ServerResponse, status: number, body: unknown, headers: OutgoingHttpHeaders = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body) + '\n');
}

/** Routes `req` to its handler and sends what it returns, or the error it throws, as JSON. */
async function respond(routes: readonly Route[], req: IncomingMessage, res: ServerResponse, log: InitContext['log']): Promise<void> {
  try {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const found = find(routes, req.method ?? 'GET', url.pathname.split('/'));
    if ('allow' in found) {
      const allow = found.allow.join(', ');
      if (allow === '') throw httpError(404, `no route for ${url.pathname}`);
      send(res, 405, { error: `${req.method ?? ''} is not allowed on ${url.pathname}: use ${allow}` }, { allow });
      return;
    }
    const body = await readJson(req);
    send(res, found.route.status, await found.route.handler({ params: found.params, query: url.searchParams, body }));
  } catch (error) {
    const status = (error as { status?: unknown }).status;
    if (typeof status !== 'number') {
      log.error({ err: error, method: req.method, url: req.url }, 'request failed');
      send(res, 500, { error: 'internal error: see the daemon log' });
      return;
    }
    const { message, issues } = error as Error & { issues?: unknown };
    // The rest of a refused body is never read, so nothing more can come on this connection.
    const close = status === 413 ? { connection: 'close' } : {};
    send(res, status, { error: message, ...(issues === undefined ? {} : { issues }) }, close);
  }
}

register({
  type: 'io.plugd.api.v1',
  id: 'http',
  requires: ['io.plugd.service.v1'],
  config: z.object({ host: z.string().default('127.0.0.1'), port: z.number().int().min(0).max(65535).default(8080) }),
  init: async (ctx) => {
    const routes: Route[] = [];
    const router: Router = {
      route: (method, pattern, handler, status = 200) => { routes.push({ method, parts: pattern.split('/'), handler, status }); },
    };
    for (const service of ctx.getAll<Partial<Mountable>>('io.plugd.service.v1')) service.mount?.(router);
    const server = createServer((req, res) => { void respond(routes, req, res, ctx.log); });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(ctx.config.port, ctx.config.host, () => { resolve(); });
    });
    const { address, port } = server.address() as AddressInfo;
    const url = `http://${address}:${port}`;
    ctx.log.info({ url, routes: routes.length }, 'HTTP API listening');
    return { server, url };
  },
  close: async ({ server }: { server: Server }) => {
    server.closeAllConnections();
    await new Promise((resolve) => { server.close(resolve); });
  },
});
