/**
 * What plugd must give for one shape in one mode, next to what it gave.
 *
 * - A first load (`check --init`, `serve`) gives exactly the baseline's records, and no
 *   generation query anywhere.
 * - A reload gives, from the baseline of the directory as it now is: the `top` records of the
 *   modules that must evaluate again (the changed files and their importers up to the entries),
 *   every other record of the shape (its plugins init again), and one `reload` line per reloading
 *   entry with result `live`; each re-evaluated module's own URL carries a generation query, and
 *   the URLs of those modules are the only ones that may.
 *   A shape with nothing changed gives nothing at all.
 * - The bus shape's two plugins hold one instance of lib/bus.js in every load: the entry reload
 *   keeps it, the edit of lib/bus.js replaces it for both.
 */
import { join } from 'node:path';
import { comparable, queriesMissingAfterReload, queriesOnFirstLoad, type Observation } from './observations.js';
import type { Mode, ProjectRun } from './session.js';
import { reevaluated, type Shape } from './shapes.js';

/** What is compared: the normalized records, and problems that equality of records cannot show. */
export interface Outcome {
  records: unknown[];
  problems: string[];
}

export function compare(run: ProjectRun, shape: Shape, mode: Mode): { actual: Outcome; expected: Outcome } {
  const mine = (records: readonly Observation[]): Observation[] => records.filter((r) => r.shape === shape.name);
  const actual = mine(run.plugd[mode]);
  const problems = shape.name === 'bus' ? busProblems(run, mode) : [];

  if (mode === 'check --init' || mode === 'serve') {
    return {
      actual: { records: comparable(actual), problems: [...queriesOnFirstLoad(actual), ...problems] },
      expected: { records: comparable(mine(run.baseline.first)), problems: [] },
    };
  }
  const changed = mode === 'serve --watch: entry reload' ? shape.units.map((u) => u.module) : shape.edit === undefined ? [] : [shape.edit.file];
  const again = reevaluated(shape, changed);
  const reloading = shape.units.filter((u) => again.has(u.module));
  const baseline = mine(run.baseline[mode === 'serve --watch: entry reload' ? 'entry' : 'sibling']);
  const expected = reloading.length === 0 ? [] : [
    ...baseline.filter((r) => r.phase !== 'top' || (typeof r.module === 'string' && again.has(r.module))),
    ...reloading.map((u): Observation => ({ shape: shape.name, phase: 'reload', entry: u.entry, result: 'live' })),
  ];
  const files = new Set([...again].map((m) => join(run.layout.plugins, m)));
  return {
    actual: { records: comparable(actual, files), problems: [...queriesMissingAfterReload(actual, again), ...problems] },
    expected: { records: comparable(expected), problems: [] },
  };
}

/** The bus shape's instance rules, from the `$serial` its plugins saw at init (lib/bus.js's evaluation count in the process). */
function busProblems(run: ProjectRun, mode: Mode): string[] {
  const serials = (records: readonly Observation[]): unknown[] =>
    [...new Set(records.filter((r) => r.shape === 'bus' && r.phase === 'init').map((r) => r.$serial))];
  const now = serials(run.plugd[mode]);
  const problems: string[] = [];
  if (now.length > 1) problems.push(`bus-a.js and bus-b.js hold different instances of lib/bus.js (serials ${now.join(', ')})`);
  const before = mode === 'serve --watch: entry reload' ? serials(run.plugd.serve) : mode === 'serve --watch: sibling reload' ? serials(run.plugd['serve --watch: entry reload']) : [];
  if (now.length !== 1 || before.length !== 1) return problems;
  if (mode === 'serve --watch: entry reload' && now[0] !== before[0]) problems.push(`the entry reload made a new lib/bus.js (serial ${String(before[0])} -> ${String(now[0])}), though it did not change`);
  if (mode === 'serve --watch: sibling reload' && now[0] === before[0]) problems.push(`after lib/bus.js changed, the plugins still hold its old instance (serial ${String(now[0])})`);
  return problems;
}
