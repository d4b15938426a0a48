/**
 * io.plugd.service.v1.containers: containers as labelled metadata records (containerd's metadata
 * service, without runtime state). A folder plugin: its sibling module holds the validation.
 */
import { register } from 'plugd';
import type { Router } from '../http.js';
import type { Record, Store } from '../store.js';
import { Id, Labels, NewContainer, parse } from './validate.js';

/** The containers service; `mount` exposes it on the HTTP API plugin. */
export interface Containers {
  mount(router: Router): void;
  create(id: string, labels?: Partial<globalThis.Record<string, string>>): Record;
  get(id: string): Record | undefined;
  /** The containers that have every label of `filter` (own labels only: `constructor` is no label). */
  list(filter?: ReadonlyMap<string, string>): Record[];
  label(id: string, labels: Partial<globalThis.Record<string, string>>): Record;
  delete(id: string): boolean;
}

const KIND = 'container';

function notFound(id: string): Error {
  return Object.assign(new Error(`container "${id}" not found`), { status: 404 });
}

/** `?label=key=value&label=...` as a Map: a plain object would take `__proto__=x` as its prototype. */
function labelFilter(query: URLSearchParams): Map<string, string> {
  const filter = new Map<string, string>();
  for (const pair of query.getAll('label')) {
    const eq = pair.indexOf('=');
    if (eq < 1) throw Object.assign(new Error(`invalid label filter "${pair}": use label=key=value`), { status: 400 });
    filter.set(pair.slice(0, eq), pair.slice(eq + 1));
  }
  return filter;
}

function hasLabels(record: Record, filter: ReadonlyMap<string, string>): boolean {
  return [...filter].every(([key, value]) => Object.hasOwn(record.labels, key) && record.labels[key] === value);
}

register({
  type: 'io.plugd.service.v1',
  id: 'containers',
  requires: ['io.plugd.store.v1'],
  init: (ctx): Containers => {
    const store = ctx.get<Store>('io.plugd.store.v1');
    const get = (id: string): Record => {
      const found = store.get(KIND, id);
      if (found === undefined) throw notFound(id);
      return found;
    };
    const service: Containers = {
      mount: (router) => {
        router.route('POST', '/v1/containers', ({ body }) => {
          const { id, labels } = parse(NewContainer, body, 'container');
          return service.create(id, labels);
        }, 201);
        router.route('GET', '/v1/containers', ({ query }) => service.list(labelFilter(query)));
        router.route('GET', '/v1/containers/:id', ({ params }) => get(params.id ?? ''));
        router.route('PATCH', '/v1/containers/:id/labels', ({ params, body }) => service.label(params.id ?? '', parse(Labels, body, 'labels')));
        router.route('DELETE', '/v1/containers/:id', ({ params }) => {
          if (!service.delete(params.id ?? '')) throw notFound(params.id ?? '');
          return { deleted: params.id };
        });
      },
      create: (id, labels = {}) => {
        parse(Id, id, 'container id');
        const valid = parse(Labels, labels, 'labels');
        if (store.get(KIND, id) !== undefined) throw Object.assign(new Error(`container "${id}" already exists`), { status: 409 });
        const record = { id, labels: valid, createdAt: new Date().toISOString() };
        store.put(KIND, record);
        ctx.log.info({ id }, 'container created');
        return record;
      },
      get: (id) => store.get(KIND, id),
      list: (filter = new Map()) => store.list(KIND).filter((r) => hasLabels(r, filter)),
      label: (id, labels) => {
        const valid = parse(Labels, labels, 'labels');
        const record = get(id);
        const updated = { ...record, labels: { ...record.labels, ...valid } };
        store.put(KIND, updated);
        return updated;
      },
      delete: (id) => store.delete(KIND, id),
    };
    return service;
  },
});
