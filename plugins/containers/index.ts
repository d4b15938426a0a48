/**
 * io.plugd.service.v1.containers: containers as labelled metadata records (containerd's metadata
 * service, without runtime state). A folder plugin: its sibling module holds the validation.
 */
import { register } from 'plugd';
import type { Record, Store } from '../store.js';
import { checkId, checkLabels } from './validate.js';

/** The containers service. */
export interface Containers {
  create(id: string, labels?: Partial<globalThis.Record<string, string>>): Record;
  get(id: string): Record | undefined;
  list(filter?: Partial<globalThis.Record<string, string>>): Record[];
  label(id: string, labels: Partial<globalThis.Record<string, string>>): Record;
  delete(id: string): boolean;
}

const KIND = 'container';

register({
  type: 'io.plugd.service.v1',
  id: 'containers',
  requires: ['io.plugd.store.v1'],
  init: (ctx): Containers => {
    const store = ctx.get<Store>('io.plugd.store.v1');
    const get = (id: string): Record => {
      const found = store.get(KIND, id);
      if (found === undefined) throw new Error(`container "${id}" not found`);
      return found;
    };
    return {
      create: (id, labels = {}) => {
        checkId(id);
        checkLabels(labels);
        if (store.get(KIND, id) !== undefined) throw new Error(`container "${id}" already exists`);
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
  },
});
