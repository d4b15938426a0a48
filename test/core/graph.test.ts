/**
 * resolveGraph on pure data: init order (dependencies first, otherwise registration order, '*'
 * last), missing types, cycles, and what becomes of the plugins that depend on unresolved ones.
 */
import { describe, expect, test } from '@jest/globals';
import { DependencyError } from '../../src/core/errors.js';
import { resolveGraph, type GraphNode } from '../../src/core/graph.js';

/** A node named after its type: `node('a', ['B'])` is plugin `a` of type `A`, requiring type `B`. */
function node(name: string, requires: string[] = [], type = name.toUpperCase()): GraphNode {
  return { name, type, requires };
}

interface ErrorShape {
  plugin: string;
  missing?: string[];
  cycle?: string[];
}

function shape(e: DependencyError): ErrorShape {
  const out: ErrorShape = { plugin: e.plugin };
  if (e.missing !== undefined) out.missing = e.missing;
  if (e.cycle !== undefined) out.cycle = e.cycle;
  return out;
}

interface Case {
  readonly title: string;
  readonly nodes: GraphNode[];
  readonly order: string[];
  readonly errors?: ErrorShape[];
}

const cases: Case[] = [
  {
    title: 'a chain registered backwards is initialized dependencies first',
    nodes: [node('c', ['B']), node('b', ['A']), node('a')],
    order: ['a', 'b', 'c'],
  },
  {
    title: 'independent plugins keep their registration order',
    nodes: [node('z'), node('x'), node('y')],
    order: ['z', 'x', 'y'],
  },
  {
    title: 'a dependency is pulled forward to just before its first dependent (DFS), not to the end',
    nodes: [node('a', ['C']), node('b'), node('c')],
    order: ['c', 'a', 'b'],
  },
  {
    title: 'every provider of a required type comes first, in registration order',
    nodes: [node('consumer', ['S']), node('s1', [], 'S'), node('other'), node('s2', [], 'S')],
    order: ['s1', 's2', 'consumer', 'other'],
  },
  {
    title: 'a type with several providers only some of which have dependencies',
    nodes: [node('user', ['S']), node('s1', ['L'], 'S'), node('s2', [], 'S'), node('l')],
    order: ['l', 's1', 's2', 'user'],
  },
  {
    title: 'a shared dependency is initialized once, before its first dependent',
    nodes: [node('a', ['C']), node('b', ['C']), node('c')],
    order: ['c', 'a', 'b'],
  },
  {
    title: "'*' plugins come after all others, in registration order",
    nodes: [node('star1', ['*']), node('a'), node('star2', ['*']), node('b', ['A'])],
    order: ['a', 'b', 'star1', 'star2'],
  },
  {
    title: "'*' plugins come after plugins that are pulled forward",
    nodes: [node('s', ['*']), node('b', ['C']), node('c')],
    order: ['c', 'b', 's'],
  },
  {
    title: 'a missing type leaves the plugin unresolved and the others ordered',
    nodes: [node('a', ['NOPE']), node('b')],
    order: ['b'],
    errors: [{ plugin: 'a', missing: ['NOPE'] }],
  },
  {
    title: 'only the missing types are listed',
    nodes: [node('a', ['B', 'NOPE', 'GONE']), node('b')],
    order: ['b'],
    errors: [{ plugin: 'a', missing: ['NOPE', 'GONE'] }],
  },
  {
    title: 'transitive dependents of an unresolved plugin are unresolved; errors in registration order',
    nodes: [node('c', ['B']), node('d'), node('b', ['A']), node('a', ['NOPE'])],
    order: ['d'],
    errors: [{ plugin: 'c', missing: ['B'] }, { plugin: 'b', missing: ['A'] }, { plugin: 'a', missing: ['NOPE'] }],
  },
  {
    title: 'a type with one unresolved and one resolved provider is still usable',
    nodes: [node('user', ['S']), node('s1', ['NOPE'], 'S'), node('s2', [], 'S')],
    order: ['s2', 'user'],
    errors: [{ plugin: 's1', missing: ['NOPE'] }],
  },
  {
    title: 'a 2-cycle is reported once, naming both members',
    nodes: [node('a', ['B']), node('ok'), node('b', ['A'])],
    order: ['ok'],
    errors: [{ plugin: 'a', cycle: ['a', 'b'] }],
  },
  {
    title: 'a 3-cycle is reported once, naming every member in registration order',
    nodes: [node('r', ['P']), node('q', ['R']), node('p', ['Q'])],
    order: [],
    errors: [{ plugin: 'r', cycle: ['r', 'q', 'p'] }],
  },
  {
    title: 'a 2-cycle and a 3-cycle side by side are two errors',
    nodes: [node('x'), node('p', ['Q']), node('a', ['B']), node('q', ['R']), node('b', ['A']), node('r', ['P'])],
    order: ['x'],
    errors: [{ plugin: 'p', cycle: ['p', 'q', 'r'] }, { plugin: 'a', cycle: ['a', 'b'] }],
  },
  {
    title: 'dependents of a cycle are unresolved (and are not cycle members)',
    nodes: [node('dep', ['A']), node('a', ['B']), node('b', ['A']), node('fine')],
    order: ['fine'],
    errors: [{ plugin: 'dep', missing: ['A'] }, { plugin: 'a', cycle: ['a', 'b'] }],
  },
  {
    title: 'a cycle leading into a healthy plugin leaves that plugin resolved',
    nodes: [node('a', ['B', 'H']), node('b', ['A']), node('h')],
    order: ['h'],
    errors: [{ plugin: 'a', cycle: ['a', 'b'] }],
  },
  {
    title: "a type whose only provider is a '*' plugin cannot be required",
    nodes: [node('needs', ['S']), node('s', ['*']), node('free')],
    order: ['free', 's'],
    errors: [{ plugin: 'needs', missing: ['S'] }],
  },
  {
    title: 'a type with a provider in a cycle and a healthy provider is still usable',
    nodes: [node('user', ['S']), node('s1', ['X'], 'S'), node('x', ['S']), node('s2', [], 'S')],
    order: ['s2', 'user'],
    errors: [{ plugin: 's1', cycle: ['s1', 'x'] }],
  },
  {
    title: "a type with a '*' provider cannot be required even when it also has a normal provider",
    nodes: [node('needs', ['S']), node('s1', ['*'], 'S'), node('s2', [], 'S')],
    order: ['s2', 's1'],
    errors: [{ plugin: 'needs', missing: ['S'] }],
  },
  {
    title: "a '*' plugin is never part of a cycle",
    nodes: [node('s', ['*']), node('a', ['S'])],
    order: ['s'],
    errors: [{ plugin: 'a', missing: ['S'] }],
  },
];

describe('resolveGraph', () => {
  test.each(cases)('$title', ({ nodes, order, errors = [] }) => {
    const result = resolveGraph(nodes);
    expect(result.order).toEqual(order);
    expect(result.errors.map(shape)).toEqual(errors);
    // Every plugin is either ordered or unresolved, never both.
    const unresolved = [...result.unresolved.keys()].sort();
    const expectedUnresolved = nodes.map((n) => n.name).filter((name) => !order.includes(name)).sort();
    expect(unresolved).toEqual(expectedUnresolved);
    for (const e of result.errors) {
      expect(e).toBeInstanceOf(DependencyError);
      expect(e.code).toBe('E_DEPENDENCY');
      expect(e.message).toContain(`"${e.plugin}"`);
    }
  });

  test('every cycle member maps to the one cycle error, which names them all in its message', () => {
    const result = resolveGraph([node('c', ['A']), node('b', ['C']), node('a', ['B'])]);
    expect(result.errors).toHaveLength(1);
    const error = result.errors[0]!;
    expect(error.cycle).toEqual(['c', 'b', 'a']);
    expect(error.missing).toBeUndefined();
    for (const name of ['a', 'b', 'c']) {
      expect(result.unresolved.get(name)).toBe(error);
      expect(error.message).toContain(`"${name}"`);
    }
  });

  test('a missing-type error names the plugin and the type', () => {
    const result = resolveGraph([node('io.x.v1.a', ['io.nope.v1'], 'io.x.v1')]);
    const error = result.unresolved.get('io.x.v1.a');
    expect(error?.message).toContain('"io.x.v1.a"');
    expect(error?.message).toContain('"io.nope.v1"');
    expect(error?.toJSON()).toMatchObject({ code: 'E_DEPENDENCY', plugin: 'io.x.v1.a', missing: ['io.nope.v1'] });
  });

  test('an empty graph', () => {
    expect(resolveGraph([])).toMatchObject({ order: [], errors: [] });
  });

  test('a 100,000-plugin chain registered backwards orders without overflowing the stack', () => {
    const n = 100_000;
    const nodes: GraphNode[] = [];
    for (let i = 0; i < n; i++) nodes.push({ name: `p${i}`, type: `t${i}`, requires: i + 1 < n ? [`t${i + 1}`] : [] });
    const result = resolveGraph(nodes);
    expect(result.errors).toEqual([]);
    expect(result.order).toHaveLength(n);
    expect(result.order[0]).toBe(`p${n - 1}`);
    expect(result.order[n - 1]).toBe('p0');
    expect(result.order.every((name, i) => name === `p${n - 1 - i}`)).toBe(true);
  });

  test('a 100,000-plugin cycle is one error naming every member', () => {
    const n = 100_000;
    const nodes: GraphNode[] = [];
    for (let i = 0; i < n; i++) nodes.push({ name: `p${i}`, type: `t${i}`, requires: [`t${(i + 1) % n}`] });
    const result = resolveGraph(nodes);
    expect(result.order).toEqual([]);
    expect(result.errors).toHaveLength(1);
    expect(result.errors[0]?.cycle).toEqual(nodes.map((x) => x.name));
  });

  test('a 100,000-plugin chain hanging off a missing type leaves every one unresolved', () => {
    const n = 100_000;
    const nodes: GraphNode[] = [];
    for (let i = 0; i < n; i++) nodes.push({ name: `p${i}`, type: `t${i}`, requires: [i + 1 < n ? `t${i + 1}` : 'nope'] });
    const result = resolveGraph(nodes);
    expect(result.order).toEqual([]);
    expect(result.unresolved.size).toBe(n);
    expect(result.errors.map((e) => e.plugin)).toEqual(nodes.map((x) => x.name));
  });
});
