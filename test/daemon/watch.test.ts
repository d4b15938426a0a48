/**
 * {@link UnitWatcher} on a real plugin directory in a temp dir, with real chokidar, fs.watch and
 * timers: changes are reported per unit (a top-level name) once its files stayed quiet for the
 * stability window; dot entries and node_modules are not plugin code; new names are picked up;
 * {@link UnitWatcher.close} stops everything. Timings are short, waits generous (a loaded 2-core
 * machine): callbacks are awaited with a deadline, never a fixed sleep, except to show that
 * nothing is reported.
 */
import { afterEach, describe, expect, test } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, realpathSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { UnitWatcher, type WatchTiming } from '../../src/daemon/watch.js';

const TIMING: WatchTiming = { quietMs: 15, pollMs: 2, lingerMs: 50 };

/** The longest any one wait for a report may take. */
const DEADLINE = 5_000;

/** How long "nothing is reported" is watched for: well over the window, chokidar's 50 ms throttle and its ~100 ms unlink delay. */
const NOTHING_MS = 300;

const watchers: UnitWatcher[] = [];
const temps: string[] = [];
afterEach(async () => {
  await Promise.all(watchers.splice(0).map((w) => w.close()));
  for (const dir of temps.splice(0)) rmSync(dir, { recursive: true, force: true });
});

/** One report: the unit, when its first event was seen, and when it was reported (performance.now()). */
interface Report {
  unit: string;
  firstEventAt: number;
  at: number;
}

/** A fresh plugin directory (its real path: the watcher reports paths relative to it) holding `files`. */
function tempDir(files: Readonly<Record<string, string>> = {}): string {
  const dir = realpathSync(mkdtempSync(join(tmpdir(), 'plugd-watch-')));
  temps.push(dir);
  for (const [file, content] of Object.entries(files)) put(dir, file, content);
  return dir;
}

function put(dir: string, file: string, content: string): void {
  mkdirSync(dirname(join(dir, file)), { recursive: true });
  writeFileSync(join(dir, file), content);
}

/** A started watcher on `dir`, and the reports it makes. */
async function watching(dir: string, timing: WatchTiming = TIMING): Promise<{ watcher: UnitWatcher; reports: Report[] }> {
  const reports: Report[] = [];
  const watcher = new UnitWatcher(dir, timing, (unit, firstEventAt) => { reports.push({ unit, firstEventAt, at: performance.now() }); });
  watchers.push(watcher);
  await watcher.start();
  return { watcher, reports };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => { setTimeout(resolve, ms); });

/** Waits until `done()` holds, polling; fails after {@link DEADLINE} with `what`. */
async function until(what: string, done: () => boolean): Promise<void> {
  const end = performance.now() + DEADLINE;
  while (!done()) {
    if (performance.now() > end) throw new Error(`timed out after ${DEADLINE} ms waiting for ${what}`);
    await sleep(5);
  }
}

/** Waits for a report of `unit` (after the first `from` reports), and returns it. */
async function reportOf(reports: Report[], unit: string, from = 0): Promise<Report> {
  let found: Report | undefined;
  await until(`a report of ${unit}`, () => (found = reports.slice(from).find((r) => r.unit === unit)) !== undefined);
  if (found === undefined) throw new Error(`no report of ${unit}`); // (until() returned: it was found)
  return found;
}

/** Waits until no report came for `ms` (late events of an earlier change), so that the next one is the test's. */
async function settled(reports: Report[], ms = 150): Promise<void> {
  let seen = -1;
  while (seen !== reports.length) {
    seen = reports.length;
    await sleep(ms);
  }
}

const FILES: Readonly<Record<string, string>> = {
  'a.js': 'export const a = 1;\n',
  'b.js': 'export const b = 1;\n',
  'folder/index.js': "export * from './lib/util.js';\n",
  'folder/lib/util.js': 'export const u = 1;\n',
};

describe('UnitWatcher: changes', () => {
  test('a change to a top-level file reports that file, after the change, with the time of its first event', async () => {
    const dir = tempDir(FILES);
    const { reports } = await watching(dir);
    const before = performance.now();
    put(dir, 'a.js', 'export const a = 2;\n');
    const report = await reportOf(reports, 'a.js');
    expect(report.firstEventAt).toBeGreaterThanOrEqual(before);
    expect(report.at).toBeGreaterThanOrEqual(report.firstEventAt);
    expect(reports.map((r) => r.unit)).not.toContain('b.js');
    expect(reports.map((r) => r.unit)).not.toContain('folder');
  });

  test.each([
    ['a folder plugin\'s entry', 'folder/index.js'],
    ['a file deep in the folder', 'folder/lib/util.js'],
    ['a new file in the folder', 'folder/lib/new.js'],
  ])('a change to %s (%s) reports the folder', async (_what, file) => {
    const dir = tempDir(FILES);
    const { reports } = await watching(dir);
    put(dir, file, 'export const changed = true;\n');
    await reportOf(reports, 'folder');
    expect(reports.map((r) => r.unit)).not.toContain('a.js');
  });

  test('a burst of writes is one report, made once the file stayed quiet for the window after the last write', async () => {
    // A longer window than the burst's gaps, however loaded the machine: the burst is one change.
    const timing: WatchTiming = { quietMs: 200, pollMs: 2, lingerMs: 50 };
    const dir = tempDir(FILES);
    const { reports } = await watching(dir, timing);
    let last = 0;
    for (let i = 0; i < 10; i++) {
      put(dir, 'a.js', `export const a = ${'9'.repeat(i + 1)};\n`); // a new size each time: every write is a change
      last = performance.now();
      await sleep(3);
    }
    const report = await reportOf(reports, 'a.js');
    // (A timer may fire a little early: a few ms of slack.)
    expect(report.at - last).toBeGreaterThanOrEqual(timing.quietMs - 5);
    await sleep(NOTHING_MS);
    expect(reports.map((r) => r.unit)).toEqual(['a.js']);
  });

  test('a removed file is reported (it is gone), and dropped from the names', async () => {
    const dir = tempDir(FILES);
    const { watcher, reports } = await watching(dir);
    rmSync(join(dir, 'b.js'));
    await reportOf(reports, 'b.js');
    expect(watcher.snapshot('b.js')).toBe('gone');
    await until('b.js to leave names()', () => !watcher.names().includes('b.js'));
  });

  test('dot entries and node_modules are not plugin code: changes to them are not reported', async () => {
    const dir = tempDir({ ...FILES, '.env': 'A=1\n', 'folder/.cache/x.js': '', 'folder/node_modules/dep/index.js': '' });
    const { reports } = await watching(dir);
    put(dir, '.env', 'A=2\n');
    put(dir, '.hidden.js', 'export {};\n');
    put(dir, 'node_modules/dep/index.js', 'export {};\n');
    put(dir, 'folder/.cache/x.js', 'changed');
    put(dir, 'folder/node_modules/dep/index.js', 'changed');
    await sleep(NOTHING_MS);
    expect(reports).toEqual([]);
    // The watcher was live all along: a plugin change is still reported.
    put(dir, 'a.js', 'export const a = 3;\n');
    await reportOf(reports, 'a.js');
  });
});

describe('UnitWatcher: new names', () => {
  test('a new top-level file is reported, watched from then on, and listed in names()', async () => {
    const dir = tempDir(FILES);
    const { watcher, reports } = await watching(dir);
    put(dir, 'c.js', 'export const c = 1;\n');
    await reportOf(reports, 'c.js');
    expect(watcher.names()).toContain('c.js');
    await settled(reports);
    const from = reports.length;
    put(dir, 'c.js', 'export const c = 22;\n');
    await reportOf(reports, 'c.js', from);
  });

  test('a new folder plugin is reported, and so is a later change deep inside it', async () => {
    const dir = tempDir(FILES);
    const { watcher, reports } = await watching(dir);
    put(dir, 'fresh/index.js', 'export const f = 1;\n');
    await reportOf(reports, 'fresh');
    expect(watcher.names()).toContain('fresh');
    await settled(reports);
    const from = reports.length;
    put(dir, 'fresh/lib/deep.js', 'export const d = 1;\n');
    await reportOf(reports, 'fresh', from);
  });

  test('an empty directory: start() resolves, and the first plugin written is picked up', async () => {
    const dir = tempDir();
    const { watcher, reports } = await watching(dir);
    expect(watcher.names()).toEqual([]);
    put(dir, 'first.js', 'export {};\n');
    await reportOf(reports, 'first.js');
    expect(watcher.names()).toEqual(['first.js']);
  });
});

describe('UnitWatcher: names, unitOf, signatures, snapshot', () => {
  test('names(): every top-level name but dot entries and node_modules (plugins, other files, the lock)', async () => {
    const dir = tempDir({ ...FILES, 'notes.txt': 'x', 'plugd.lock': '{}', '.git/HEAD': 'ref', '.env': '', 'node_modules/dep/index.js': '' });
    const { watcher } = await watching(dir);
    expect(watcher.names().sort()).toEqual(['a.js', 'b.js', 'folder', 'notes.txt', 'plugd.lock']);
  });

  test('unitOf(): the top-level name of a path in the directory, undefined for the directory and outside it', () => {
    const dir = tempDir();
    const watcher = new UnitWatcher(dir, TIMING, () => undefined);
    const cases: [string, string | undefined][] = [
      [join(dir, 'a.js'), 'a.js'],
      [join(dir, 'folder'), 'folder'],
      [join(dir, 'folder', 'index.js'), 'folder'],
      [join(dir, 'folder', 'lib', 'deep', 'x.js'), 'folder'],
      [dir, undefined],
      [dirname(dir), undefined],
      [join(dir, '..', 'elsewhere.js'), undefined],
      [`${dir}-sibling/a.js`, undefined],
      ['/', undefined],
    ];
    for (const [path, unit] of cases) expect([path, watcher.unitOf(path)]).toEqual([path, unit]);
  });

  test('signatures() of a file: its absolute path -> size:mtimeMs:ino', () => {
    const dir = tempDir(FILES);
    const watcher = new UnitWatcher(dir, TIMING, () => undefined);
    const path = join(dir, 'a.js');
    const s = statSync(path);
    expect(watcher.signatures('a.js')).toEqual(new Map([[path, `${s.size}:${s.mtimeMs}:${s.ino}:${s.mode}:${s.uid}:${s.gid}`]]));
  });

  test('signatures() of a folder: each of its files, sorted by path, without dot entries or node_modules', () => {
    const dir = tempDir({
      ...FILES,
      'folder/.eslintrc': '{}',
      'folder/.cache/x.js': '',
      'folder/node_modules/dep/index.js': '',
      'folder/lib/node_modules/dep/index.js': '',
      'folder/z/last.js': '',
      'folder/B.js': '',
    });
    const watcher = new UnitWatcher(dir, TIMING, () => undefined);
    const signatures = watcher.signatures('folder');
    const files = ['B.js', 'index.js', 'lib/util.js', 'z/last.js'].map((f) => join(dir, 'folder', f));
    expect([...(signatures?.keys() ?? [])]).toEqual(files);
    for (const file of files) {
      const s = statSync(file);
      expect(signatures?.get(file)).toBe(`${s.size}:${s.mtimeMs}:${s.ino}:${s.mode}:${s.uid}:${s.gid}`);
    }
  });

  test('a chmod changes the snapshot (the permission checks may say otherwise now); a dangling link or a FIFO has one, not "gone"', () => {
    const dir = tempDir(FILES);
    const watcher = new UnitWatcher(dir, TIMING, () => undefined);
    const before = watcher.snapshot('a.js');
    chmodSync(join(dir, 'a.js'), 0o600);
    expect(watcher.snapshot('a.js')).not.toBe(before);
    symlinkSync('nowhere.js', join(dir, 'dangling.js'));
    expect(watcher.snapshot('dangling.js')).not.toBe('gone');
    execFileSync('mkfifo', [join(dir, 'folder/fifo.js')]);
    expect([...(watcher.signatures('folder')?.keys() ?? [])]).toContain(join(dir, 'folder/fifo.js'));
  });

  test('signatures() of a missing unit is undefined; of an empty folder, an empty map', () => {
    const dir = tempDir();
    mkdirSync(join(dir, 'empty'));
    const watcher = new UnitWatcher(dir, TIMING, () => undefined);
    expect(watcher.signatures('missing.js')).toBeUndefined();
    expect(watcher.signatures('empty')).toEqual(new Map());
  });

  test('snapshot(): the signatures as one string, "gone" for a missing unit', () => {
    const dir = tempDir(FILES);
    mkdirSync(join(dir, 'empty'));
    const watcher = new UnitWatcher(dir, TIMING, () => undefined);
    const sig = (file: string): string => {
      const s = statSync(join(dir, file));
      return `${join(dir, file)}:${s.size}:${s.mtimeMs}:${s.ino}:${s.mode}:${s.uid}:${s.gid}`;
    };
    expect(watcher.snapshot('a.js')).toBe(sig('a.js'));
    expect(watcher.snapshot('folder')).toBe(`${sig('folder/index.js')}|${sig('folder/lib/util.js')}`);
    expect(watcher.snapshot('empty')).toBe('');
    expect(watcher.snapshot('missing.js')).toBe('gone');
  });

  test('snapshot(): changes with a plugin file, not with a dotfile or node_modules beside it', () => {
    const dir = tempDir({ ...FILES, 'folder/.notes': 'x', 'folder/node_modules/dep/index.js': '' });
    const watcher = new UnitWatcher(dir, TIMING, () => undefined);
    const before = watcher.snapshot('folder');
    put(dir, 'folder/.notes', 'a longer note');
    put(dir, 'folder/node_modules/dep/index.js', 'export const changed = true;\n');
    expect(watcher.snapshot('folder')).toBe(before);
    put(dir, 'folder/lib/util.js', 'export const u = 12345;\n');
    expect(watcher.snapshot('folder')).not.toBe(before);
    rmSync(join(dir, 'folder'), { recursive: true });
    expect(watcher.snapshot('folder')).toBe('gone');
  });
});

describe('UnitWatcher: recheck', () => {
  test('files that changed since the reload are reported again, with no event needed', async () => {
    const dir = tempDir(FILES);
    const { watcher, reports } = await watching(dir);
    const seen = watcher.snapshot('folder');
    put(dir, 'folder/lib/util.js', 'export const u = 777;\n');
    await settled(reports); // the events of the write, and their report
    const from = reports.length;
    watcher.recheck('folder', seen);
    await reportOf(reports, 'folder', from);
  });

  test('files unchanged since the reload are not reported: the linger ends quietly', async () => {
    const dir = tempDir(FILES);
    const { watcher, reports } = await watching(dir);
    watcher.recheck('a.js', watcher.snapshot('a.js'));
    await sleep(TIMING.lingerMs + NOTHING_MS);
    expect(reports).toEqual([]);
  });
});

describe('UnitWatcher: close', () => {
  test('after close(), changes are no longer reported', async () => {
    const dir = tempDir(FILES);
    const { watcher, reports } = await watching(dir);
    await watcher.close();
    put(dir, 'a.js', 'export const a = 4;\n');
    put(dir, 'folder/lib/util.js', 'export const u = 4;\n');
    put(dir, 'new.js', 'export {};\n');
    await sleep(NOTHING_MS);
    expect(reports).toEqual([]);
  });

  test('close() cancels a unit being polled, and settle() after close() does nothing', async () => {
    const dir = tempDir(FILES);
    const { watcher, reports } = await watching(dir);
    watcher.settle('a.js', performance.now());
    await watcher.close();
    watcher.settle('b.js', performance.now());
    await sleep(NOTHING_MS);
    expect(reports).toEqual([]);
  });

  test('settle() on an open watcher does report (the control for the test above)', async () => {
    const dir = tempDir(FILES);
    const { watcher, reports } = await watching(dir);
    const at = performance.now();
    watcher.settle('a.js', at);
    const report = await reportOf(reports, 'a.js');
    expect(report.firstEventAt).toBe(at);
    expect(report.at - at).toBeGreaterThanOrEqual(TIMING.quietMs - 5);
  });
});
