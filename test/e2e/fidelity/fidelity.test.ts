/**
 * The fidelity suite, a differential test: a plugin observes under plugd what it observes under
 * plain Node. Realistic plugin shapes (fixtures/fidelity/, listed in shapes.ts) record what they
 * see - import.meta, stack frames, sibling files, packages, shared module instances - and the
 * records of each plugd mode are compared with plain Node's (the baseline: baseline/driver.mjs,
 * 'plugd' mapped to a recording stub), outside a project and inside one (see layout.ts):
 *
 *   check --init | serve (first load) | serve --watch: entry reload | serve --watch: sibling reload
 *
 * The one difference allowed is the generation query (`?plugd=<n>`) on the URLs of modules a
 * reload evaluated again: it is normalized away, and required on those modules' own URLs.
 *
 * Everything runs in real child processes (Node's own loader; Jest's VM has no module hooks), once
 * per project mode, in beforeAll (session.ts); each test then compares one shape in one mode.
 * Needs `npm run build`. PLUGD_FIDELITY_KEEP=1 keeps the temp dirs; PLUGD_FIDELITY_TABLE=<file>
 * writes a markdown table of which comparisons hold (and every comparison to <file>.json).
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { writeFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { compare } from './compare.js';
import { dispose, type Layout, type Place } from './layout.js';
import { NO_SHAPE } from './observations.js';
import { MODES, runProject, type ProjectRun } from './session.js';
import { shapesFor } from './shapes.js';

const PLACES: readonly Place[] = ['outside a project', 'inside a project'];
const runs = new Map<Place, ProjectRun>();
const layouts: Layout[] = [];

beforeAll(async () => {
  // Both project modes at once: each is mostly waiting on its own processes.
  const done = await Promise.allSettled(PLACES.map((place) => runProject(place)));
  done.forEach((d, i) => {
    if (d.status === 'rejected') throw d.reason;
    runs.set(PLACES[i]!, d.value.run);
    layouts.push(d.value.layout);
  });
}, 120_000);

afterAll(() => {
  const table = process.env.PLUGD_FIDELITY_TABLE;
  if (table !== undefined && runs.size > 0) {
    writeFileSync(table, markdownTable());
    writeFileSync(`${table}.json`, JSON.stringify(comparisons(), null, 1));
  }
  for (const layout of layouts) dispose(layout);
});

const runOf = (place: Place): ProjectRun => {
  const run = runs.get(place);
  if (run === undefined) throw new Error(`the ${place} run did not happen (see beforeAll)`);
  return run;
};

for (const place of PLACES) {
  describe(place, () => {
    test('the baseline is sound: plain Node loads every shape, and only throws.js fails, at line 16', () => {
      const first = runOf(place).baseline.first;
      const without = (phase: string): string[] => shapesFor(place === 'inside a project')
        .filter((s) => !first.some((r) => r.shape === s.name && r.phase === phase)).map((s) => s.name);
      expect({
        noTopRecord: without('top'),
        noInitRecord: without('init'),
        errors: first.filter((r) => r.phase === 'error'),
        reports: first.filter((r) => r.phase === 'report'),
      }).toEqual({
        noTopRecord: [],
        noInitRecord: [],
        errors: [],
        reports: [{ shape: 'throws', phase: 'report', plugin: 'io.fidelity.throws.v1.throws', at: 'throws.js:16' }],
      });
    });

    test('nothing goes wrong outside the shapes (processes, unattributed warnings)', () => {
      const run = runOf(place);
      const stray = MODES.flatMap((mode) => run.plugd[mode].filter((r) => r.shape === NO_SHAPE).map((r) => `${mode}: ${JSON.stringify(r)}`));
      expect([...run.general, ...stray]).toEqual([]);
    });

    for (const shape of shapesFor(place === 'inside a project')) {
      describe(`${shape.name}: ${shape.covers}`, () => {
        for (const mode of MODES) {
          test(mode, () => {
            const { actual, expected } = compare(runOf(place), shape, mode);
            expect(actual).toEqual(expected);
          });
        }
      });
    }
  });
}

/** Every comparison, for a closer look than Jest's diffs. */
function comparisons(): unknown[] {
  return [...runs].flatMap(([place, run]) => run.shapes.flatMap((shape) => MODES.map((mode) => ({ place, shape: shape.name, mode, ...compare(run, shape, mode) }))));
}

/** Which comparisons hold, shape by mode, per project mode. */
function markdownTable(): string {
  const lines: string[] = [];
  for (const [place, run] of runs) {
    const steps = Object.entries(run.ms).map(([step, ms]) => `${step} ${ms} ms`).join(', ');
    lines.push(`### ${place}`, '', steps, '', `| shape | ${MODES.join(' | ')} |`, `|---|${MODES.map(() => '---').join('|')}|`);
    for (const shape of run.shapes) {
      const cells = MODES.map((mode) => {
        const { actual, expected } = compare(run, shape, mode);
        return isDeepStrictEqual(actual, expected) ? 'ok' : 'DIFFERS';
      });
      lines.push(`| ${shape.name} | ${cells.join(' | ')} |`);
    }
    lines.push('');
  }
  return lines.join('\n');
}
