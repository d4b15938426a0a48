/**
 * io.plugd.store.v1.sqlite: a tiny labelled-record store over the shared metadata database
 * (`ctx.meta`), the seed of containerd's metadata service.
 */
import { register, z } from 'plugd';

/** A record: a kind, an id, and string labels. */
export interface Record {
  id: string;
  labels: Readonly<Partial<globalThis.Record<string, string>>>;
  createdAt: string;
}

/** What the store plugin provides to the plugins that require `io.plugd.store.v1`. */
export interface Store {
  put(kind: string, record: Record): void;
  get(kind: string, id: string): Record | undefined;
  list(kind: string): Record[];
  delete(kind: string, id: string): boolean;
}

register({
  type: 'io.plugd.store.v1',
  id: 'sqlite',
  config: z.object({ table: z.string().regex(/^\w+$/).default('example_records') }),
  init: (ctx): Store => {
    const db = ctx.meta;
    if (db === undefined) throw new Error('io.plugd.store.v1.sqlite needs the metadata database (ctx.meta)');
    const { table } = ctx.config;
    db.exec(`CREATE TABLE IF NOT EXISTS ${table} (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id))`);
    const put = db.prepare<[string, string, string]>(`INSERT OR REPLACE INTO ${table} (kind, id, body) VALUES (?, ?, ?)`);
    const get = db.prepare<[string, string], { body: string }>(`SELECT body FROM ${table} WHERE kind = ? AND id = ?`);
    const list = db.prepare<[string], { body: string }>(`SELECT body FROM ${table} WHERE kind = ? ORDER BY id`);
    const del = db.prepare<[string, string]>(`DELETE FROM ${table} WHERE kind = ? AND id = ?`);
    ctx.log.info({ table }, 'store ready');
    return {
      put: (kind, record) => { put.run(kind, record.id, JSON.stringify(record)); },
      get: (kind, id) => { const row = get.get(kind, id); return row === undefined ? undefined : JSON.parse(row.body) as Record; },
      list: (kind) => list.all(kind).map((row) => JSON.parse(row.body) as Record),
      delete: (kind, id) => del.run(kind, id).changes > 0,
    };
  },
});
