/**
 * The daemon's metadata database (containerd's `meta.db`): `<root>/meta.db`, in WAL mode, through
 * two better-sqlite3 connections. One is shared with every plugin as `ctx.meta`; the other is
 * plugd's own, which no plugin can reach, so a plugin that closes `ctx.meta` or leaves it in a
 * transaction cannot stop plugd's bookkeeping. plugd keeps its inventory there - the runs of the
 * daemon, the current state of each plugin and a history of events - in tables whose names start
 * with `plugd_` (a prefix reserved for plugd: plugins must name their tables otherwise). The
 * inventory survives restarts, so a restarted daemon can show what the previous run did, and
 * whether it stopped cleanly.
 *
 * Only the daemon loads this module; plugins only ever see the `Database` handle.
 */
import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import { performance } from 'node:perf_hooks';
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

/**
 * How often, at most, a write checks that the database file is still the one opened (milliseconds):
 * a connection to a file deleted under it keeps writing into the deleted file without an error.
 */
const FILE_CHECK_MS = 1000;

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

/** What {@link MetaStore.health} reports: whether every inventory write of this run went through. */
export type MetaHealth = { ok: true } | { ok: false; error: string; failedWrites: number };

/** Options of {@link MetaStore.open}. */
export interface MetaOpenOptions {
  /** The daemon's version, recorded with the run. */
  version: string;
  /** The pid recorded with the run (default: this process's pid). */
  pid?: number;
  /** Called once, at the first inventory write that fails, with why (for one warning line). */
  onProblem?: (error: string) => void;
}

/**
 * plugd's inventory in the metadata database, for one run of the daemon.
 *
 * Writes never throw: the inventory is a record of what the daemon did, not the source of truth
 * (that is the daemon's memory), so a write that fails - the disk is full, another process holds
 * the lock past the busy timeout, a plugin broke a `plugd_` table, the file was deleted - is
 * dropped rather than allowed to crash the daemon or fail a plugin's init. The first failure is
 * reported once through `onProblem`, and {@link MetaStore.health} reports it for the rest of the
 * run. Reads and {@link MetaStore.open} do throw.
 */
export class MetaStore {
  /** The plugins' better-sqlite3 connection, handed to every plugin as `ctx.meta`. */
  readonly db: Database.Database;
  /** The id of the run this store started (a new one at every {@link MetaStore.open}). */
  readonly runId: number;
  /** plugd's own connection: the inventory's reads and writes. */
  readonly #own: Database.Database;
  readonly #statements: Statements;
  readonly #path: string;
  /** The device and inode of the file opened: another one at the path means it was replaced. */
  readonly #identity: string;
  readonly #onProblem: ((error: string) => void) | undefined;
  #problem: string | undefined;
  #failedWrites = 0;
  #checkedAt = performance.now();
  #closed = false;

  private constructor(own: Database.Database, shared: Database.Database, runId: number, statements: Statements,
    path: string, onProblem: ((error: string) => void) | undefined) {
    this.#own = own;
    this.db = shared;
    this.runId = runId;
    this.#statements = statements;
    this.#path = path;
    this.#identity = fileIdentity(path) ?? '';
    this.#onProblem = onProblem;
  }

  /**
   * Opens the database at `path` (creating its folder and the database; WAL journal; a busy
   * timeout; the `plugd_` tables migrated to the current schema) with plugd's connection and the
   * plugins' one, and starts a new run recording `version` and `pid` (default: this process's).
   *
   * @throws Error naming `path` when the database cannot be opened or migrated (a directory or a
   *   non-database file at that path, an unwritable folder, a schema newer than this plugd knows),
   *   saying how to fix it.
   */
  static open(path: string, options: MetaOpenOptions): MetaStore {
    let own: Database.Database | undefined;
    let shared: Database.Database | undefined;
    try {
      mkdirSync(dirname(path), { recursive: true });
      own = connect(path);
      own.pragma('journal_mode = WAL');
      migrate(own);
      const statements = prepare(own);
      shared = connect(path);
      const started = own
        .prepare<[number, string, string]>('INSERT INTO plugd_runs (pid, version, started_at) VALUES (?, ?, ?)')
        .run(options.pid ?? process.pid, options.version, now());
      return new MetaStore(own, shared, Number(started.lastInsertRowid), statements, path, options.onProblem);
    } catch (error) {
      for (const db of [shared, own]) {
        try {
          db?.close();
        } catch {
          // Already failing: the error that matters is the one below.
        }
      }
      throw openError(path, error);
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
   * Whether every inventory write of this run went through, and the database file is still the one
   * opened (not deleted or replaced). Once a write failed, the inventory of this run is incomplete:
   * the first failure is kept, with the count of failed writes.
   */
  health(): MetaHealth {
    if (!this.#closed) this.#checkFile();
    return this.#problem === undefined ? { ok: true } : { ok: false, error: this.#problem, failedWrites: this.#failedWrites };
  }

  /**
   * Closes the plugins' connection, marks this run stopped and closes plugd's own. Idempotent,
   * synchronous (it may run in a `process.on('exit')` handler), and never throws. Call it LAST,
   * after every plugin closed: `ctx.meta` is closed with it. Closing the plugins' connection first
   * rolls back a transaction a plugin left open, whose lock would hold up the stop record.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    try {
      if (this.db.open) this.db.close();
    } catch {
      // A plugin's handle that will not close cannot keep plugd from recording the stop.
    }
    this.#write(() => this.#statements.stopRun.run(now(), this.runId));
    this.#write(() => this.#own.pragma('optimize'));
    try {
      this.#own.close();
    } catch {
      // Nothing left to do with it.
    }
  }

  /** Runs a write; a failure is dropped (see the class comment for why) and reported once. */
  #write(write: () => unknown): void {
    if (!this.#own.open) return;
    try {
      write();
    } catch (error) {
      this.#failed(error instanceof Error ? error.message : String(error));
    }
    if (performance.now() - this.#checkedAt >= FILE_CHECK_MS) this.#checkFile();
  }

  /** Notes that the database file was deleted or replaced since it was opened. */
  #checkFile(): void {
    this.#checkedAt = performance.now();
    if (fileIdentity(this.#path) === this.#identity) return;
    this.#failed(`the metadata database "${this.#path}" was deleted or replaced while the daemon runs: ` +
      'what this run records is lost; restart the daemon to start a fresh one');
  }

  #failed(error: string): void {
    this.#failedWrites++;
    if (this.#problem !== undefined) return;
    this.#problem = error;
    this.#onProblem?.(error);
  }
}

/** A connection to `path` with plugd's settings: a busy timeout, and WAL's usual synchronous mode. */
function connect(path: string): Database.Database {
  const db = new Database(path, { timeout: BUSY_TIMEOUT_MS });
  db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  // The usual companion of WAL: still safe against corruption, and far fewer fsyncs.
  db.pragma('synchronous = NORMAL');
  return db;
}

/** The device and inode of the file at `path`, or undefined when there is none. */
function fileIdentity(path: string): string | undefined {
  const info = statSync(path, { throwIfNoEntry: false });
  return info === undefined ? undefined : `${info.dev}:${info.ino}`;
}

/** Why the database at `path` cannot be opened, and what to do about it. */
function openError(path: string, error: unknown): Error {
  const reason = error instanceof Error ? error.message : String(error);
  const code = (error as { code?: unknown } | undefined)?.code;
  const fix = code === 'SQLITE_NOTADB' || code === 'SQLITE_CORRUPT'
    ? `it is not a usable SQLite database; move it away (e.g. mv "${path}" "${path}.bad") and start again: ` +
      'plugd creates a fresh one (the inventory of earlier runs, and plugins\' tables in it, stay in the moved file)'
    : 'check that the path is a writable file location (not a directory) inside --root';
  return new Error(`cannot open the metadata database "${path}": ${reason}; ${fix}`, { cause: error });
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
