/**
 * The daemon's metadata database (containerd's `meta.db`): ONE better-sqlite3 connection to
 * `<root>/meta.db`, in WAL mode, shared with every plugin as `ctx.meta`. plugd keeps its own
 * inventory there - the runs of the daemon, the current state of each plugin and a history of
 * events - in tables whose names start with `plugd_` (a prefix reserved for plugd: plugins must
 * name their tables otherwise). The inventory survives restarts, so a restarted daemon can show
 * what the previous run did, and whether it stopped cleanly.
 *
 * Only the daemon loads this module; plugins only ever see the `Database` handle.
 */
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import type { PluginStatus } from '../core/lifecycle.js';

/** The state of one plugin as the daemon last recorded it (one row per plugin name). */
export interface PluginRow {
  /** `${type}.${id}`, the key of the row. */
  name: string;
  type: string;
  id: string;
  /** The plugin file, relative to the plugin directory. */
  file: string;
  /** The sha256 of the live version of its file, when known. */
  sha256: string | null;
  status: PluginStatus;
  /** The error code when not ok (e.g. `E_PLUGIN_INIT`). */
  errorCode: string | null;
  /** The error message when not ok. */
  errorMessage: string | null;
  /** Milliseconds its init took, when it ran. */
  initMs: number | null;
  /** 1 at first load, +1 each time a new version of its file went live. */
  generation: number;
  /** When the row was last written (ISO-8601, UTC). */
  updatedAt: string;
  /** The run that last wrote the row. */
  runId: number;
}

/** What an event records: the daemon starting, ready or stopping, or a step of one plugin or file. */
export type EventKind = 'start' | 'ready' | 'stop' | 'load' | 'init' | 'close' | 'reload' | 'unload';

/** One entry of the event history. */
export interface EventRow {
  /** Increasing across runs: a higher id is a newer event. */
  id: number;
  /** The run the event belongs to. */
  runId: number;
  /** When it was recorded (ISO-8601, UTC). */
  at: string;
  kind: EventKind;
  /** The plugin it is about, if any. */
  plugin: string | null;
  /** The plugin file it is about, if any. */
  file: string | null;
  /** Whether the step succeeded. */
  ok: boolean;
  /** How many milliseconds the step took, if measured. */
  ms: number | null;
  /** Free text: an error message, a reason, a count. */
  detail: string | null;
}

/** One run of the daemon, as {@link MetaStore.runs} lists it. */
interface RunRow {
  id: number;
  pid: number;
  version: string;
  startedAt: string;
  /** Null while the run is going on, or when it ended without {@link MetaStore.close} (a crash). */
  stoppedAt: string | null;
}

/**
 * The schema, as an ordered list of migrations: migration `i` takes the database from
 * `PRAGMA user_version = i` to `i + 1`. Never edit a migration that has shipped - a new column or
 * table is a new entry at the end. Statuses and event kinds are not CHECK-constrained, so that a new
 * value needs no table rebuild (the TypeScript types guard what is written).
 */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE plugd_runs (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     pid INTEGER NOT NULL,
     version TEXT NOT NULL,
     started_at TEXT NOT NULL,
     stopped_at TEXT
   );
   CREATE TABLE plugd_plugins (
     name TEXT PRIMARY KEY,
     type TEXT NOT NULL,
     id TEXT NOT NULL,
     file TEXT NOT NULL,
     sha256 TEXT,
     status TEXT NOT NULL,
     error_code TEXT,
     error_message TEXT,
     init_ms REAL,
     generation INTEGER NOT NULL,
     updated_at TEXT NOT NULL,
     run_id INTEGER NOT NULL
   );
   CREATE TABLE plugd_events (
     id INTEGER PRIMARY KEY AUTOINCREMENT,
     run_id INTEGER NOT NULL,
     at TEXT NOT NULL,
     kind TEXT NOT NULL,
     plugin TEXT,
     file TEXT,
     ok INTEGER NOT NULL,
     ms REAL,
     detail TEXT
   );
   CREATE INDEX plugd_events_by_run ON plugd_events (run_id, id);`,
];

/** Milliseconds a statement waits for a lock held by another connection before failing. */
const BUSY_TIMEOUT_MS = 5000;

/** The default number of rows {@link MetaStore.events} and {@link MetaStore.runs} return. */
const DEFAULT_LIMIT = 100;

const PLUGIN_COLUMNS = `name, type, id, file, sha256, status, error_code AS errorCode,
  error_message AS errorMessage, init_ms AS initMs, generation, updated_at AS updatedAt, run_id AS runId`;
const EVENT_COLUMNS = 'id, run_id AS runId, at, kind, plugin, file, ok, ms, detail';
const RUN_COLUMNS = 'id, pid, version, started_at AS startedAt, stopped_at AS stoppedAt';

type PluginParams = Omit<PluginRow, 'updatedAt' | 'runId'> & { updatedAt: string; runId: number };
type EventParams = Omit<EventRow, 'id' | 'ok'> & { ok: 0 | 1 };
type RawEvent = Omit<EventRow, 'ok'> & { ok: number };

/** The prepared statements, made once when the store opens. */
interface Statements {
  readonly upsertPlugin: Database.Statement<[PluginParams]>;
  readonly deletePlugin: Database.Statement<[string]>;
  readonly listPlugins: Database.Statement<[], PluginRow>;
  readonly insertEvent: Database.Statement<[EventParams]>;
  readonly listEvents: Database.Statement<[number], RawEvent>;
  readonly listRunEvents: Database.Statement<[number, number], RawEvent>;
  readonly listRuns: Database.Statement<[number], RunRow>;
  readonly stopRun: Database.Statement<[string, number]>;
}

/**
 * plugd's inventory in the shared metadata database, for one run of the daemon.
 *
 * Writes never throw: the inventory is a record of what the daemon did, not the source of truth
 * (that is the daemon's memory), so a write that fails - the disk is full, another process holds
 * the lock past the busy timeout, a plugin closed the shared handle or broke a `plugd_` table -
 * is dropped rather than allowed to crash the daemon or fail a plugin's init. This module has no
 * logger and does not report the drop. Reads and {@link MetaStore.open} do throw.
 */
export class MetaStore {
  /** The shared better-sqlite3 handle, handed to every plugin as `ctx.meta`. */
  readonly db: Database.Database;
  /** The id of the run this store started (a new one at every {@link MetaStore.open}). */
  readonly runId: number;
  readonly #statements: Statements;
  #closed = false;

  private constructor(db: Database.Database, runId: number, statements: Statements) {
    this.db = db;
    this.runId = runId;
    this.#statements = statements;
  }

  /**
   * Opens the database at `path` (creating its folder and the database; WAL journal; a busy
   * timeout; the `plugd_` tables migrated to the current schema), and starts a new run recording
   * `info.version` and `info.pid` (default: this process's pid).
   *
   * @throws Error naming `path` when the database cannot be opened or migrated (a directory or a
   *   non-database file at that path, an unwritable folder, a schema newer than this plugd knows).
   */
  static open(path: string, info: { version: string; pid?: number }): MetaStore {
    let db: Database.Database | undefined;
    try {
      mkdirSync(dirname(path), { recursive: true });
      db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
      db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
      db.pragma('journal_mode = WAL');
      // The usual companion of WAL: still safe against corruption, and far fewer fsyncs.
      db.pragma('synchronous = NORMAL');
      migrate(db);
      const statements = prepare(db);
      const started = db
        .prepare<[number, string, string]>('INSERT INTO plugd_runs (pid, version, started_at) VALUES (?, ?, ?)')
        .run(info.pid ?? process.pid, info.version, now());
      return new MetaStore(db, Number(started.lastInsertRowid), statements);
    } catch (error) {
      try {
        db?.close();
      } catch {
        // Already failing: the error that matters is the one below.
      }
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(
        `cannot open the metadata database "${path}": ${reason}; ` +
          'check that the path is a writable file location (not a directory) inside --root',
        { cause: error },
      );
    }
  }

  /** Upserts the current state of one plugin (keyed by name), stamped with this run and the time. */
  recordPlugin(row: Omit<PluginRow, 'updatedAt' | 'runId'>): void {
    this.#write(() => this.#statements.upsertPlugin.run({
      name: row.name,
      type: row.type,
      id: row.id,
      file: row.file,
      sha256: row.sha256 ?? null,
      status: row.status,
      errorCode: row.errorCode ?? null,
      errorMessage: row.errorMessage ?? null,
      initMs: row.initMs ?? null,
      generation: row.generation,
      updatedAt: now(),
      runId: this.runId,
    }));
  }

  /** Removes a plugin that is no longer registered (e.g. its file was deleted). */
  forgetPlugin(name: string): void {
    this.#write(() => this.#statements.deletePlugin.run(name));
  }

  /** Every recorded plugin, ordered by name (including those last written by an earlier run). */
  plugins(): PluginRow[] {
    return this.#statements.listPlugins.all();
  }

  /** Appends an event to the history of this run; `ok` defaults to true. */
  event(e: { kind: EventKind; plugin?: string; file?: string; ok?: boolean; ms?: number; detail?: string }): void {
    this.#write(() => this.#statements.insertEvent.run({
      runId: this.runId,
      at: now(),
      kind: e.kind,
      plugin: e.plugin ?? null,
      file: e.file ?? null,
      ok: e.ok === false ? 0 : 1,
      ms: e.ms ?? null,
      detail: e.detail ?? null,
    }));
  }

  /**
   * The newest events first, across runs, or of the run `runId` only. `limit` defaults to 100;
   * `Infinity` returns them all.
   */
  events(options: { limit?: number; runId?: number } = {}): EventRow[] {
    const limit = sqlLimit(options.limit);
    const rows = options.runId === undefined
      ? this.#statements.listEvents.all(limit)
      : this.#statements.listRunEvents.all(options.runId, limit);
    return rows.map((row) => ({ ...row, ok: row.ok !== 0 }));
  }

  /**
   * The runs, newest first (`limit` defaults to 100): id, pid, version, startedAt, and stoppedAt -
   * null while the run is going on, or when it ended without {@link MetaStore.close} (a crash).
   */
  runs(limit?: number): { id: number; pid: number; version: string; startedAt: string; stoppedAt: string | null }[] {
    return this.#statements.listRuns.all(sqlLimit(limit));
  }

  /**
   * Marks this run stopped and closes the database. Idempotent, and never throws. Call it LAST,
   * after every plugin closed: the handle the plugins hold as `ctx.meta` is closed with it. A
   * transaction a plugin left open is rolled back (closing would roll it back anyway) so that the
   * stop is recorded.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    if (!this.db.open) return;
    if (this.db.inTransaction) this.#write(() => this.db.exec('ROLLBACK'));
    this.#write(() => this.#statements.stopRun.run(now(), this.runId));
    this.#write(() => this.db.pragma('optimize'));
    this.#write(() => this.db.close());
  }

  /** Runs a write, dropping its failure (see the class comment for why). */
  #write(write: () => unknown): void {
    try {
      write();
    } catch {
      // Dropped on purpose: the inventory must never take the daemon down.
    }
  }
}

/** Brings the schema to the newest version, in one immediate transaction. */
function migrate(db: Database.Database): void {
  db.transaction(() => {
    const version = db.pragma('user_version', { simple: true }) as number;
    if (version > MIGRATIONS.length) {
      throw new Error(
        `its schema version ${version} is newer than this plugd knows (${MIGRATIONS.length}); ` +
          'run a newer plugd or use another --root',
      );
    }
    for (const migration of MIGRATIONS.slice(version)) db.exec(migration);
    if (version < MIGRATIONS.length) db.pragma(`user_version = ${MIGRATIONS.length}`);
  }).immediate();
}

function prepare(db: Database.Database): Statements {
  return {
    upsertPlugin: db.prepare<[PluginParams]>(
      `INSERT INTO plugd_plugins (name, type, id, file, sha256, status, error_code, error_message, init_ms,
         generation, updated_at, run_id)
       VALUES (@name, @type, @id, @file, @sha256, @status, @errorCode, @errorMessage, @initMs,
         @generation, @updatedAt, @runId)
       ON CONFLICT (name) DO UPDATE SET type = excluded.type, id = excluded.id, file = excluded.file,
         sha256 = excluded.sha256, status = excluded.status, error_code = excluded.error_code,
         error_message = excluded.error_message, init_ms = excluded.init_ms,
         generation = excluded.generation, updated_at = excluded.updated_at, run_id = excluded.run_id`,
    ),
    deletePlugin: db.prepare<[string]>('DELETE FROM plugd_plugins WHERE name = ?'),
    listPlugins: db.prepare<[], PluginRow>(`SELECT ${PLUGIN_COLUMNS} FROM plugd_plugins ORDER BY name`),
    insertEvent: db.prepare<[EventParams]>(
      `INSERT INTO plugd_events (run_id, at, kind, plugin, file, ok, ms, detail)
       VALUES (@runId, @at, @kind, @plugin, @file, @ok, @ms, @detail)`,
    ),
    listEvents: db.prepare<[number], RawEvent>(`SELECT ${EVENT_COLUMNS} FROM plugd_events ORDER BY id DESC LIMIT ?`),
    listRunEvents: db.prepare<[number, number], RawEvent>(
      `SELECT ${EVENT_COLUMNS} FROM plugd_events WHERE run_id = ? ORDER BY id DESC LIMIT ?`,
    ),
    listRuns: db.prepare<[number], RunRow>(`SELECT ${RUN_COLUMNS} FROM plugd_runs ORDER BY id DESC LIMIT ?`),
    stopRun: db.prepare<[string, number]>('UPDATE plugd_runs SET stopped_at = ? WHERE id = ?'),
  };
}

/** The current time, ISO-8601 UTC with milliseconds. */
function now(): string {
  return new Date().toISOString();
}

/** A SQL LIMIT from an optional count: the default when absent, -1 (no limit) for Infinity. */
function sqlLimit(limit: number | undefined): number {
  if (limit === undefined || Number.isNaN(limit)) return DEFAULT_LIMIT;
  if (limit === Infinity) return -1;
  return Math.max(0, Math.floor(limit));
}
