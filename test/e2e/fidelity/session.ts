/**
 * One project mode of the fidelity suite, end to end, with real processes on one plugin directory:
 *
 * 1. the baseline (plain Node) and `plugd check --init`, side by side;
 * 2. `plugd serve --watch`: its first load;
 * 3. the entry reload: `assets/rename.txt` is replaced by rename, then every entry is touched
 *    (bytes appended); every unit must reload once. Then the baseline again, on the directory as
 *    it now is;
 * 4. the sibling reload: each shape's sibling edit (lib/bus.js, tsc/util.js, ...); the units that
 *    import the edited file must reload. Then the baseline again.
 *
 * Each load's records are the modules' own observations (one file per process; a reload's are
 * the lines it appended) plus what the loader reported (see observations.ts), plus whether the
 * state shape's file landed in the real directory.
 */
import { existsSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { edit, makeLayout, replaceByRename, touch, type Layout, type Place } from './layout.js';
import { attribute, fromCheck, fromLog, readLines, type Observation } from './observations.js';
import { Daemon, msg, outFile, runBaseline, runCheck, type Exit } from './processes.js';
import { reevaluated, shapesFor, type Shape } from './shapes.js';

/** What plugd is compared in. */
export type Mode = 'check --init' | 'serve' | 'serve --watch: entry reload' | 'serve --watch: sibling reload';
export const MODES: readonly Mode[] = ['check --init', 'serve', 'serve --watch: entry reload', 'serve --watch: sibling reload'];

/** The plain-Node baselines: of the directory as first loaded, after the entry reload's changes, after the sibling edits. */
export type BaselineOf = 'first' | 'entry' | 'sibling';

export interface ProjectRun {
  readonly layout: Layout;
  readonly shapes: readonly Shape[];
  readonly baseline: Readonly<Record<BaselineOf, Observation[]>>;
  readonly plugd: Readonly<Record<Mode, Observation[]>>;
  /** Problems that belong to no shape (a process that failed outright, a warning about no file). */
  readonly general: string[];
  /** Milliseconds each step took (a reload's includes waiting for it), and `total`. */
  readonly ms: Record<string, number>;
}

/** Generous for a loaded 2-core machine; a reload that does not come at all costs this once per round. */
const RELOAD_WAIT_MS = { entry: 8_000, sibling: 5_000 };
/** No log line for this long after a round's reloads: a stray reload would have shown by then. */
const QUIET_MS = 400;

export async function runProject(place: Place): Promise<{ run: ProjectRun; layout: Layout }> {
  const started = performance.now();
  const ms: Record<string, number> = {};
  let lapStart = started;
  const lap = (step: string): void => {
    const now = performance.now();
    ms[step] = Math.round(now - lapStart);
    ms.total = Math.round(now - started);
    lapStart = now;
  };
  const layout = makeLayout(place);
  const shapes = shapesFor(layout.inProject);
  const entries = shapes.flatMap((s) => s.units.map((u) => u.entry)).sort();
  const general: string[] = [];
  const records = (label: string): Observation[] => attribute(readLines(outFile(layout, label)), shapes, layout.plugins);

  const baseline = async (label: string): Promise<Observation[]> => {
    const exit = await runBaseline(layout, entries, label);
    noteExit(general, label, exit, 0);
    const observed = records(label);
    return [...observed, ...landed(layout, label, observed)];
  };

  const [first, checked] = await Promise.all([baseline('baseline'), runCheck(layout, 'check')]);
  noteExit(general, 'plugd check', checked, 1);
  const report = fromCheck(checked.stdout, shapes, layout.plugins);
  general.push(...report.problems);
  const checkObserved = records('check');
  const check = [...checkObserved, ...report.records, ...landed(layout, 'check', checkObserved)];
  lap('baseline + check');

  const plugd: Record<Mode, Observation[]> = { 'check --init': check, serve: [], 'serve --watch: entry reload': [], 'serve --watch: sibling reload': [] };
  const after: Record<BaselineOf, Observation[]> = { first, entry: [], sibling: [] };
  const daemon = new Daemon(layout, 'serve');
  try {
    if (!(await daemon.waitFor([msg('ready')], 0, 20_000))) {
      general.push(`plugd serve never logged "ready"; stderr: ${daemon.stderr().slice(0, 2_000)}`);
      return { run: { layout, shapes, baseline: after, plugd, general, ms }, layout };
    }
    await daemon.settle(QUIET_MS);
    // How much of the log and of the observations file the earlier loads took.
    let seen = { lines: 0, records: 0 };
    const load = (): Observation[] => {
      const observed = attribute(readLines(outFile(layout, 'serve')).slice(seen.records), shapes, layout.plugins);
      const reported = fromLog(daemon.lines.slice(seen.lines), shapes, layout.plugins);
      seen = { lines: daemon.lines.length, records: seen.records + observed.length };
      return [...observed, ...reported, ...landed(layout, 'serve', observed)];
    };
    plugd.serve = load();
    lap('serve');

    // The entry reload: every unit changes.
    const from = daemon.lines.length;
    replaceByRename(layout, 'assets/rename.txt', 'v2: replaced by rename before the reload\n');
    for (const entry of entries) touch(layout, entry);
    await daemon.waitFor(entries.map((file) => msg('reload', { file })), from, RELOAD_WAIT_MS.entry);
    await daemon.settle(QUIET_MS);
    plugd['serve --watch: entry reload'] = load();
    lap('entry reload');
    after.entry = await baseline('baseline-entry');
    lap('baseline after the entry reload');

    // The sibling reload: the files the units import change; the units importing them reload.
    const edited = shapes.filter((s) => s.edit !== undefined);
    const reloading = edited.flatMap((s) => {
      const again = reevaluated(s, [s.edit!.file]);
      return s.units.filter((u) => again.has(u.module)).map((u) => u.entry);
    });
    const from2 = daemon.lines.length;
    for (const s of edited) edit(layout, s.edit!.file, s.edit!.from, s.edit!.to);
    await daemon.waitFor(reloading.map((file) => msg('reload', { file })), from2, RELOAD_WAIT_MS.sibling);
    await daemon.settle(QUIET_MS);
    plugd['serve --watch: sibling reload'] = load();
    lap('sibling reload');
    after.sibling = await baseline('baseline-sibling');
    lap('baseline after the sibling reload');
  } finally {
    await daemon.stop();
    lap('stop');
  }
  return { run: { layout, shapes, baseline: after, plugd, general, ms }, layout };
}

/**
 * The state shape's check: did the file its init wrote land in the real plugin directory? A
 * `landed` record when the file is there or the init ran (its content, or null); the file is then
 * removed so that the next load must write it again.
 */
function landed(layout: Layout, label: string, observed: readonly Observation[]): Observation[] {
  const name = `written-${label}.txt`;
  const path = join(layout.plugins, name);
  const there = existsSync(path);
  const ran = observed.some((r) => r.shape === 'state' && r.phase === 'init');
  const content = there ? readFileSync(path, 'utf8') : null;
  rmSync(path, { force: true });
  return there || ran ? [{ shape: 'state', module: 'state.js', phase: 'landed', content }] : [];
}

function noteExit(general: string[], what: string, exit: Exit, expected: number): void {
  if (exit.code !== expected) general.push(`${what} exited with ${String(exit.code)} (expected ${expected}); stderr: ${exit.stderr.slice(0, 2_000)}`);
}
