/**
 * io.plugd.api.v1.http: an HTTP JSON API on 127.0.0.1 that mounts every service plugin requiring
 * nothing of it - containerd's `Service.Register(server)`: each `io.plugd.service.v1` plugin with a
 * `mount(router)` adds its routes.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { register, z } from 'plugd';

/** What a route handler gets. */
export interface Request {
  params: Partial<Record<string, string>>;
  query: URLSearchParams;
  body: unknown;
}

/** A route handler: returns the JSON body; throws an Error with a `status` for an HTTP error. */
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

function match(route: Route, method: string, path: string[]): Partial<Record<string, string>> | undefined {
  if (route.method !== method || route.parts.length !== path.length) return undefined;
  const params: Partial<Record<string, string>> = {};
  for (let i = 0; i < path.length; i++) {
    const part = route.parts[i] ?? '';
    if (part.startsWith(':')) params[part.slice(1)] = decodeURIComponent(path[i] ?? '');
    else if (part !== path[i]) return undefined;
  }
  return params;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of req) text += String(chunk);
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw Object.assign(new Error('the request body is not valid JSON'), { status: 400 });
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
    const server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://localhost');
      const path = url.pathname.split('/');
      const send = (status: number, body: unknown): void => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body) + '\n');
      };
      for (const route of routes) {
        const params = match(route, req.method ?? 'GET', path);
        if (params === undefined) continue;
        readJson(req)
          .then((body) => route.handler({ params, query: url.searchParams, body }))
          .then((result) => { send(route.status, result); })
          .catch((error: unknown) => {
            const status = (error as { status?: unknown }).status;
            send(typeof status === 'number' ? status : 500, { error: error instanceof Error ? error.message : String(error) });
          });
        return;
      }
      send(404, { error: `no route for ${req.method ?? ''} ${url.pathname}` });
    });
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
