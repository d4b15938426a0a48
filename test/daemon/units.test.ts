/**
 * The daemon's desired state on pure data: {@link decide} (which version of each unit is live, in
 * sorted order, duplicates refused, a kept version while the new one is refused) and
 * {@link affected} (which plugins a change restarts: the changed ones and, transitively, their
 * dependents; `'*'` plugins on any change).
 */
import { describe, expect, test } from '@jest/globals';
import type { ValidRegistration } from '../../src/core/registration.js';
import type { PluginRecord } from '../../src/core/record.js';
import { affected, decide, type Unit, type Version } from '../../src/daemon/units.js';

/** A registration `<type>.<id>`; a new object each call (a new version of it). */
function reg(type: string, id: string, requires: string[] = []): ValidRegistration {
  return Object.freeze({ name: `${type}.${id}`, type, id, requires: Object.freeze([...requires]), config: undefined, init: () => ({}), close: undefined });
}

function record(r: ValidRegistration, file = `${r.id}.js`): PluginRecord {
  return { name: r.name, type: r.type, id: r.id, requires: r.requires, file, dir: '/plugins', registration: r };
}

function version(digest: string, ...registrations: ValidRegistration[]): Version {
  return { digest, registrations };
}

function unit(entry: string, good: Version | undefined, kept?: Version): Unit {
  return { entry, good, kept, generation: 1, attempted: good?.digest, loadErrors: [] };
}

const units = (...list: Unit[]): Map<string, Unit> => new Map(list.map((u) => [u.entry.split('/')[0] ?? u.entry, u]));

describe('decide', () => {
  test('commits every unit in sorted entry order, folder plugins by their folder', () => {
    const d = decide('/plugins', units(
      unit('b.js', version('b', reg('B', 'b'))),
      unit('a/index.js', version('a', reg('A', 'a1'), reg('A', 'a2'))),
      unit('c.mjs', version('c', reg('C', 'c'))),
    ));
    expect(d.records.map((r) => [r.name, r.file])).toEqual([['A.a1', 'a/index.js'], ['A.a2', 'a/index.js'], ['B.b', 'b.js'], ['C.c', 'c.mjs']]);
    expect([...d.live.keys()].sort()).toEqual(['a', 'b.js', 'c.mjs']);
    expect(d.refused.size).toBe(0);
  });

  test('the earlier file owns a name; the later one is refused whole, naming the owner', () => {
    const d = decide('/plugins', units(unit('b.js', version('b', reg('X', 'x'), reg('B', 'b'))), unit('a.js', version('a', reg('X', 'x')))));
    expect(d.records.map((r) => r.name)).toEqual(['X.x']);
    expect(d.refused.get('b.js')?.map((e) => e.toJSON())).toEqual([expect.objectContaining({ code: 'E_DUPLICATE_PLUGIN', file: 'b.js', plugin: 'X.x', firstFile: 'a.js' })]);
    expect(d.live.has('b.js')).toBe(false);
  });

  test('a refused new version leaves its kept version live', () => {
    const kept = version('old', reg('B', 'b'));
    const d = decide('/plugins', units(unit('a.js', version('a', reg('X', 'x'))), unit('b.js', version('new', reg('X', 'x')), kept)));
    expect(d.records.map((r) => r.name)).toEqual(['X.x', 'B.b']);
    expect(d.live.get('b.js')).toBe(kept);
    expect(d.refused.has('b.js')).toBe(true);
  });

  test('a unit that never loaded cleanly has nothing live', () => {
    const d = decide('/plugins', units(unit('a.js', undefined)));
    expect(d.records).toEqual([]);
    expect(d.live.size).toBe(0);
  });
});

describe('affected', () => {
  // a <- b <- c (c requires B, b requires A); d stands alone; s requires '*'.
  const a = reg('A', 'a');
  const b = reg('B', 'b', ['A']);
  const c = reg('C', 'c', ['B']);
  const d = reg('D', 'd');
  const s = reg('S', 's', ['*']);
  const t = reg('T', 't', ['S']);
  const before = [a, b, c, d].map((r) => record(r));
  const sorted = (set: Set<string>): string[] => [...set].sort();

  interface Case {
    readonly title: string;
    readonly after: PluginRecord[];
    readonly start: string[];
    readonly stop: string[];
    readonly before?: PluginRecord[];
  }
  const cases: Case[] = [
    { title: 'nothing changed: nothing restarts', after: before, start: [], stop: [] },
    { title: 'a leaf replaced: only itself', after: [a, b, c, reg('D', 'd')].map((r) => record(r)), start: ['D.d'], stop: ['D.d'] },
    { title: 'the root of a chain replaced: its dependents transitively', after: [reg('A', 'a'), b, c, d].map((r) => record(r)), start: ['A.a', 'B.b', 'C.c'], stop: ['A.a', 'B.b', 'C.c'] },
    { title: 'a plugin removed: it stops, its dependents restart', after: [b, c, d].map((r) => record(r)), start: ['B.b', 'C.c'], stop: ['A.a', 'B.b', 'C.c'] },
    { title: 'a plugin added: it starts, and whoever requires its type restarts', before: [b, c, d].map((r) => record(r)), after: [a, b, c, d].map((r) => record(r)), start: ['A.a', 'B.b', 'C.c'], stop: ['B.b', 'C.c'] },
    { title: "any change restarts a '*' plugin, and its dependents", before: [...before, record(s), record(t)], after: [a, b, c, reg('D', 'd'), s, t].map((r) => record(r)), start: ['D.d', 'S.s', 'T.t'], stop: ['D.d', 'S.s', 'T.t'] },
  ];

  // A record holding the same registration object is unchanged; reg() makes a new version.
  test.each(cases)('$title', ({ before: from = before, after, start, stop }) => {
    const result = affected(from, after);
    expect(sorted(result.start)).toEqual(start);
    expect(sorted(result.stop)).toEqual(stop);
  });

  test('2,000 plugins in a chain: a change at its root restarts all of them', () => {
    const chain = Array.from({ length: 2000 }, (_, i) => record(reg(`T${i}`, `p${i}`, i === 0 ? [] : [`T${i - 1}`])));
    const after = [record(reg('T0', 'p0')), ...chain.slice(1)];
    expect(affected(chain, after).start.size).toBe(2000);
  });
});
