/**
 * The daemon's metadata database, on real sqlite files in temp dirs: schema and WAL, the plugin
 * inventory, the event history, runs across restarts, coexistence with plugins' tables, and the
 * failures `open` reports and writes swallow.
 */
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { MetaStore, type PluginRow } from '../../src/daemon/meta.js';

let dir: string;
let path: string;
const opened: MetaStore[] = [];

/** Opens a store on `path` (default: the test's `meta.db`), closed after the test. */
function open(version = '1.0.0', at = path): MetaStore {
  const store = MetaStore.open(at, { version, pid: 4242 });
  opened.push(store);
  return store;
}

/** The error `fn` throws (fails the test when it does not throw). */
function thrownBy(fn: () => unknown): Error {
  try {
    fn();
  } catch (error) {
    if (error instanceof Error) return error;
    throw new Error(`expected an Error, got ${String(error)}`);
  }
  throw new Error('expected a throw');
}

function plugin(name: string, overrides: Partial<Omit<PluginRow, 'updatedAt' | 'runId'>> = {}): Omit<PluginRow, 'updatedAt' | 'runId'> {
  const dot = name.lastIndexOf('.');
  return {
    name, type: name.slice(0, dot), id: name.slice(dot + 1), file: `${name.slice(dot + 1)}.js`,
    sha256: 'ab'.repeat(32), status: 'ok', errorCode: null, errorMessage: null, initMs: 1.5, generation: 1,
    ...overrides,
  };
}

const ISO = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'plugd-meta-'));
  path = join(dir, 'root', 'meta.db');
});

afterEach(async () => {
  for (const store of opened.splice(0)) store.close();
  await rm(dir, { recursive: true, force: true });
});

describe('MetaStore.open', () => {
  test('creates the folder, the database and the plugd_ tables, in WAL mode with a busy timeout', () => {
    const store = open();
    expect(existsSync(path)).toBe(true);
    const tables = store.db
      .prepare<[], { name: string }>("SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'plugd\\_%' ESCAPE '\\' ORDER BY name")
      .all().map((t) => t.name);
    expect(tables).toEqual(['plugd_events', 'plugd_plugins', 'plugd_runs']);
    expect(store.db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(store.db.pragma('busy_timeout', { simple: true })).toBeGreaterThan(0);
    expect(store.db.pragma('user_version', { simple: true })).toBeGreaterThanOrEqual(1);
    store.event({ kind: 'start' });
    expect(existsSync(`${path}-wal`)).toBe(true);
  });

  test('starts a run with the pid, the version and an ISO-8601 UTC start time', () => {
    const store = open('2.3.4');
    const [run] = store.runs();
    expect(run).toEqual({ id: store.runId, pid: 4242, version: '2.3.4', startedAt: expect.stringMatching(ISO), stoppedAt: null });
  });

  test('uses this process\'s pid by default', () => {
    const store = MetaStore.open(path, { version: '1.0.0' });
    opened.push(store);
    expect(store.runs()[0]?.pid).toBe(process.pid);
  });

  test('throws an Error naming the path when a directory is at that path', async () => {
    await mkdir(path, { recursive: true });
    const error = thrownBy(() => open());
    expect(error.message).toContain(`"${path}"`);
    expect(error.message).toMatch(/cannot open the metadata database/);
  });

  test('throws naming the path when its folder cannot be created (a file is in the way)', async () => {
    await writeFile(join(dir, 'file'), 'not a folder');
    const at = join(dir, 'file', 'meta.db');
    expect(thrownBy(() => open('1.0.0', at)).message).toContain(`"${at}"`);
  });

  test('throws naming the path when the file is not a sqlite database', async () => {
    await mkdir(join(dir, 'root'));
    await writeFile(path, 'this is not a database, '.repeat(100));
    const error = thrownBy(() => open());
    expect(error.message).toContain(`"${path}"`);
    // better-sqlite3's SqliteError, from whichever Jest realm loaded the addon first: no instanceof.
    expect((error.cause as { code?: unknown }).code).toBe('SQLITE_NOTADB');
    // What to do about it, and not a hint about directories.
    expect(error.message).toContain('not a usable SQLite database; move it away');
    expect(error.message).not.toContain('directory');
  });

  test('random bytes at the path: "not a database", with the fix', async () => {
    await mkdir(join(dir, 'root'));
    await writeFile(path, randomBytes(8192));
    const error = thrownBy(() => open());
    expect(error.message).toMatch(/file is not a database; it is not a usable SQLite database; move it away \(e\.g\. mv /);
  });

  test('refuses a database whose schema is newer than this plugd knows, and leaves it untouched', () => {
    open().close();
    const raw = new Database(path);
    raw.pragma('user_version = 999');
    raw.close();
    expect(thrownBy(() => open()).message).toMatch(/schema version 999 is newer/);
    const check = new Database(path);
    expect(check.pragma('user_version', { simple: true })).toBe(999);
    expect(check.prepare('SELECT COUNT(*) AS n FROM plugd_runs').get()).toEqual({ n: 1 });
    check.close();
  });
});

describe('plugins', () => {
  test('recordPlugin inserts, then updates the row with the same name', () => {
    const store = open();
    store.recordPlugin(plugin('io.plugd.store.v1.sqlite'));
    store.recordPlugin(plugin('io.plugd.http.v1.server', { status: 'failed', errorCode: 'E_PLUGIN_INIT', errorMessage: 'boom', initMs: null }));
    store.recordPlugin(plugin('io.plugd.store.v1.sqlite', { generation: 2, sha256: 'cd'.repeat(32), initMs: 3 }));
    expect(store.plugins()).toEqual([
      {
        ...plugin('io.plugd.http.v1.server', { status: 'failed', errorCode: 'E_PLUGIN_INIT', errorMessage: 'boom', initMs: null }),
        updatedAt: expect.stringMatching(ISO), runId: store.runId,
      },
      { ...plugin('io.plugd.store.v1.sqlite', { generation: 2, sha256: 'cd'.repeat(32), initMs: 3 }), updatedAt: expect.stringMatching(ISO), runId: store.runId },
    ]);
  });

  test('keeps null sha256 and every status', () => {
    const store = open();
    for (const status of ['ok', 'failed', 'skipped', 'disabled'] as const) {
      store.recordPlugin(plugin(`a.${status}`, { status, sha256: null }));
    }
    expect(store.plugins().map((p) => [p.name, p.status, p.sha256])).toEqual([
      ['a.disabled', 'disabled', null], ['a.failed', 'failed', null], ['a.ok', 'ok', null], ['a.skipped', 'skipped', null],
    ]);
  });

  test('forgetPlugin removes one plugin, and forgetting an unknown one is harmless', () => {
    const store = open();
    store.recordPlugin(plugin('a.one'));
    store.recordPlugin(plugin('a.two'));
    store.forgetPlugin('a.one');
    store.forgetPlugin('a.never');
    expect(store.plugins().map((p) => p.name)).toEqual(['a.two']);
  });
});

describe('events', () => {
  test('are returned newest first, with their fields, and ok defaulting to true', () => {
    const store = open();
    store.event({ kind: 'start' });
    store.event({ kind: 'load', file: 'store.js', ms: 2.25 });
    store.event({ kind: 'init', plugin: 'a.b', file: 'b.js', ok: false, ms: 7, detail: 'boom' });
    const events = store.events();
    expect(events).toEqual([
      { id: expect.any(Number), runId: store.runId, at: expect.stringMatching(ISO), kind: 'init', plugin: 'a.b', file: 'b.js', ok: false, ms: 7, detail: 'boom' },
      { id: expect.any(Number), runId: store.runId, at: expect.stringMatching(ISO), kind: 'load', plugin: null, file: 'store.js', ok: true, ms: 2.25, detail: null },
      { id: expect.any(Number), runId: store.runId, at: expect.stringMatching(ISO), kind: 'start', plugin: null, file: null, ok: true, ms: null, detail: null },
    ]);
    const ids = events.map((e) => e.id);
    expect([...ids].sort((a, b) => b - a)).toEqual(ids);
  });

  test('limit defaults to 100 and bounds the newest events', () => {
    const store = open();
    for (let i = 0; i < 120; i++) store.event({ kind: 'load', detail: String(i) });
    expect(store.events()).toHaveLength(100);
    expect(store.events({ limit: 3 }).map((e) => e.detail)).toEqual(['119', '118', '117']);
    expect(store.events({ limit: 0 })).toEqual([]);
    expect(store.events({ limit: Infinity })).toHaveLength(120);
  });
});

describe('across restarts', () => {
  test('a reopened database shows the previous run\'s plugins, events and run, stopped', () => {
    const first = open('1.0.0');
    first.event({ kind: 'start' });
    first.recordPlugin(plugin('a.kept'));
    first.event({ kind: 'stop' });
    first.close();

    const second = open('1.1.0');
    expect(second.runId).not.toBe(first.runId);
    expect(second.runId).toBeGreaterThan(first.runId);
    expect(second.plugins()).toEqual([{ ...plugin('a.kept'), updatedAt: expect.stringMatching(ISO), runId: first.runId }]);
    expect(second.events().map((e) => [e.kind, e.runId])).toEqual([['stop', first.runId], ['start', first.runId]]);

    const runs = second.runs();
    expect(runs.map((r) => [r.id, r.version])).toEqual([[second.runId, '1.1.0'], [first.runId, '1.0.0']]);
    expect(runs[0]?.stoppedAt).toBeNull();
    expect(runs[1]?.stoppedAt).toMatch(ISO);
    expect(Date.parse(runs[1]!.stoppedAt!)).toBeGreaterThanOrEqual(Date.parse(runs[1]!.startedAt));
  });

  test('events can be read per run; a new run restamps the plugins it records', () => {
    const first = open();
    first.event({ kind: 'start' });
    first.recordPlugin(plugin('a.one'));
    first.close();
    const second = open();
    second.event({ kind: 'start' });
    second.event({ kind: 'ready' });
    second.recordPlugin(plugin('a.one', { generation: 2 }));
    expect(second.events({ runId: first.runId }).map((e) => e.kind)).toEqual(['start']);
    expect(second.events({ runId: second.runId }).map((e) => e.kind)).toEqual(['ready', 'start']);
    expect(second.events({ runId: second.runId, limit: 1 }).map((e) => e.kind)).toEqual(['ready']);
    expect(second.events().map((e) => e.runId)).toEqual([second.runId, second.runId, first.runId]);
    expect(second.plugins()).toMatchObject([{ name: 'a.one', generation: 2, runId: second.runId }]);
  });

  test('a run that never closed (a crash) keeps a null stoppedAt; runs() honours its limit', () => {
    const crashed = MetaStore.open(path, { version: '1.0.0', pid: 1 });
    crashed.db.close(); // the process died: close() never ran
    const next = open();
    expect(next.runs()).toMatchObject([{ id: next.runId, stoppedAt: null }, { id: crashed.runId, pid: 1, stoppedAt: null }]);
    expect(next.runs(1).map((r) => r.id)).toEqual([next.runId]);
  });
});

describe('the shared handle', () => {
  test('tables a plugin creates coexist with plugd\'s, and survive a restart', () => {
    const store = open();
    store.db.exec('CREATE TABLE example_records (kind TEXT NOT NULL, id TEXT NOT NULL, body TEXT NOT NULL, PRIMARY KEY (kind, id))');
    store.db.prepare('INSERT INTO example_records VALUES (?, ?, ?)').run('k', '1', '{}');
    store.recordPlugin(plugin('io.plugd.store.v1.sqlite'));
    store.event({ kind: 'init', plugin: 'io.plugd.store.v1.sqlite' });
    store.close();

    const again = open();
    expect(again.db.prepare('SELECT kind, id, body FROM example_records').all()).toEqual([{ kind: 'k', id: '1', body: '{}' }]);
    expect(again.plugins().map((p) => p.name)).toEqual(['io.plugd.store.v1.sqlite']);
    expect(again.events().map((e) => e.kind)).toEqual(['init']);
  });

  test('a second connection (another reader, e.g. a CLI) sees the inventory while the daemon runs', () => {
    const store = open();
    store.recordPlugin(plugin('a.live'));
    const reader = new Database(path, { readonly: true });
    try {
      expect(reader.prepare('SELECT name, status FROM plugd_plugins').all()).toEqual([{ name: 'a.live', status: 'ok' }]);
    } finally {
      reader.close();
    }
  });
});

describe('failures and close', () => {
  test('close() is idempotent and closes the shared handle', () => {
    const store = open();
    store.close();
    expect(store.db.open).toBe(false);
    expect(() => { store.close(); }).not.toThrow();
  });

  test('writes after close() are dropped, not thrown', () => {
    const store = open();
    store.close();
    expect(() => {
      store.recordPlugin(plugin('a.late'));
      store.forgetPlugin('a.late');
      store.event({ kind: 'stop' });
    }).not.toThrow();
    const again = open();
    expect(again.plugins()).toEqual([]);
    expect(again.events()).toEqual([]);
  });

  test('a failing write is dropped, and later writes still work', () => {
    const store = open();
    store.db.exec('DROP TABLE plugd_events'); // a misbehaving plugin
    expect(() => { store.event({ kind: 'init' }); }).not.toThrow();
    store.recordPlugin(plugin('a.still'));
    expect(store.plugins().map((p) => p.name)).toEqual(['a.still']);
  });

  test('a plugin closing its handle (ctx.meta) does not stop the inventory, nor the stop record', () => {
    const problems: string[] = [];
    const store = MetaStore.open(path, { version: '1.0.0', onProblem: (e) => { problems.push(e); } });
    opened.push(store);
    store.db.close();
    store.recordPlugin(plugin('a.after'));
    store.event({ kind: 'init', plugin: 'a.after' });
    expect(store.plugins().map((p) => p.name)).toEqual(['a.after']);
    expect(store.health()).toEqual({ ok: true });
    expect(() => { store.close(); }).not.toThrow();
    const again = open();
    expect(again.runs()[1]).toMatchObject({ id: store.runId, stoppedAt: expect.stringMatching(ISO) });
    expect(problems).toEqual([]);
  });

  test('failed writes are reported once, and health keeps the first failure with the count', () => {
    const problems: string[] = [];
    const store = MetaStore.open(path, { version: '1.0.0', onProblem: (e) => { problems.push(e); } });
    opened.push(store);
    store.db.exec('DROP TABLE plugd_events; DROP TABLE plugd_plugins'); // a misbehaving plugin
    store.event({ kind: 'init' });
    store.event({ kind: 'init' });
    store.recordPlugin(plugin('a.lost'));
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/no such table: plugd_events/);
    expect(store.health()).toEqual({ ok: false, error: problems[0], failedWrites: 3 });
  });

  test('a database file deleted while the store is open is reported (its writes would be lost)', async () => {
    const problems: string[] = [];
    const store = MetaStore.open(path, { version: '1.0.0', onProblem: (e) => { problems.push(e); } });
    opened.push(store);
    expect(store.health()).toEqual({ ok: true });
    await rm(path);
    store.event({ kind: 'init' }); // goes through, into the deleted file: no error from SQLite
    const health = store.health();
    expect(health).toMatchObject({ ok: false, error: expect.stringContaining(`"${path}" was deleted or replaced`) as unknown });
    expect(problems).toHaveLength(1);
    store.health();
    expect(problems).toHaveLength(1);
  });

  test('close() records the stop even when a plugin left a transaction open', () => {
    const store = open();
    store.db.exec('CREATE TABLE example (x)');
    store.db.exec('BEGIN');
    store.db.exec('INSERT INTO example VALUES (1)');
    store.close();
    const again = open();
    expect(again.runs()[1]).toMatchObject({ id: store.runId, stoppedAt: expect.stringMatching(ISO) });
    expect(again.db.prepare('SELECT COUNT(*) AS n FROM example').get()).toEqual({ n: 0 });
  });
});
