/**
 * io.plugd.service.v1.containers: containers as labelled metadata records (containerd's metadata
 * service, without runtime state). A folder plugin: its sibling module holds the validation.
 */
import { register } from 'plugd';
import type { Router } from '../http.js';
import type { Record, Store } from '../store.js';
import { checkId, checkLabels } from './validate.js';

/** The containers service; `mount` exposes it on the HTTP API plugin. */
export interface Containers {
  mount(router: Router): void;
  create(id: string, labels?: Partial<globalThis.Record<string, string>>): Record;
  get(id: string): Record | undefined;
  list(filter?: Partial<globalThis.Record<string, string>>): Record[];
  label(id: string, labels: Partial<globalThis.Record<string, string>>): Record;
  delete(id: string): boolean;
}

const KIND = 'container';

type Labels = Partial<globalThis.Record<string, string>>;

function notFound(id: string): Error {
  return Object.assign(new Error(`container "${id}" not found`), { status: 404 });
}

function labelsOf(value: unknown): Labels {
  if (value === undefined) return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw Object.assign(new Error('labels must be an object of strings'), { status: 400 });
  }
  return value;
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
          const { id, labels } = (body ?? {}) as { id?: unknown; labels?: unknown };
          if (typeof id !== 'string') throw Object.assign(new Error('give the container an "id"'), { status: 400 });
          return service.create(id, labelsOf(labels));
        }, 201);
        router.route('GET', '/v1/containers', ({ query }) => {
          const filter: Labels = {};
          for (const pair of query.getAll('label')) {
            const [key = '', value = ''] = pair.split('=', 2);
            filter[key] = value;
          }
          return service.list(filter);
        });
        router.route('GET', '/v1/containers/:id', ({ params }) => service.get(params.id ?? '') ?? (() => { throw notFound(params.id ?? ''); })());
        router.route('PATCH', '/v1/containers/:id/labels', ({ params, body }) => service.label(params.id ?? '', labelsOf(body)));
        router.route('DELETE', '/v1/containers/:id', ({ params }) => {
          if (!service.delete(params.id ?? '')) throw notFound(params.id ?? '');
          return { deleted: params.id };
        });
      },
      create: (id, labels = {}) => {
        try {
          checkId(id);
          checkLabels(labels);
        } catch (error) {
          throw Object.assign(error as Error, { status: 400 });
        }
        if (store.get(KIND, id) !== undefined) throw Object.assign(new Error(`container "${id}" already exists`), { status: 409 });
        const record = { id, labels, createdAt: new Date().toISOString() };
        store.put(KIND, record);
        ctx.log.info({ id }, 'container created');
        return record;
      },
      get: (id) => store.get(KIND, id),
      list: (filter = {}) => store.list(KIND).filter((r) => Object.entries(filter).every(([k, v]) => r.labels[k] === v)),
      label: (id, labels) => {
        checkLabels(labels);
        const record = get(id);
        const updated = { ...record, labels: { ...record.labels, ...labels } };
        store.put(KIND, updated);
        return updated;
      },
      delete: (id) => store.delete(KIND, id),
    };
    return service;
  },
});
