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
  /** The init order of the plugins that are not disabled (disabled ones keep their place, unchecked). */
  readonly order: string[];
  readonly errors?: ErrorShape[];
  readonly disabled?: string[];
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

/** A plugin as containerd writes it: `reg('io.x.v1', 'y', ['io.z.v1'])` is plugin `io.x.v1.y`. */
function reg(type: string, id: string, requires: string[] = []): GraphNode {
  return { name: `${type}.${id}`, type, requires };
}

/**
 * Disabled plugins take no part in ordering (containerd's `disabled_plugins` filter): they are
 * never an edge, so never a cycle member, and a disabled `'*'` plugin blocks nobody's type.
 */
const disabledCases: Case[] = [
  {
    title: 'a disabled plugin that would close a cycle is no cycle: the rest of its type and its dependents start',
    nodes: [reg('a', 'one', ['b']), reg('a', 'two'), reg('b', 'x', ['a'])],
    disabled: ['a.one'],
    order: ['a.two', 'b.x'],
  },
  {
    title: 'a disabled plugin in the middle of a 3-cycle leaves a chain whose end misses its type',
    nodes: [node('p', ['Q']), node('q', ['R']), node('r', ['P'])],
    disabled: ['r'],
    order: [],
    errors: [{ plugin: 'p', missing: ['Q'] }, { plugin: 'q', missing: ['R'] }],
  },
  {
    title: "a disabled '*' plugin does not block its type: a healthy sibling serves it",
    nodes: [node('needs', ['S']), node('s1', ['*'], 'S'), node('s2', [], 'S')],
    disabled: ['s1'],
    order: ['s2', 'needs'],
  },
  {
    title: "a disabled '*' plugin is not waited for, and keeps its registration place",
    nodes: [node('a'), node('star', ['*']), node('c', ['B']), node('b')],
    disabled: ['star'],
    order: ['a', 'b', 'c'],
  },
  {
    title: 'a disabled plugin with unmet requirements is not reported',
    nodes: [node('off', ['NOPE']), node('on')],
    disabled: ['off'],
    order: ['on'],
  },
  {
    title: 'a type whose only plugins are disabled cannot be required',
    nodes: [node('user', ['S']), node('s1', [], 'S'), node('s2', [], 'S'), node('free')],
    disabled: ['s1', 's2'],
    order: ['free'],
    errors: [{ plugin: 'user', missing: ['S'] }],
  },
  {
    title: 'a disabled provider is not waited for: a dependency no longer pulls it forward',
    nodes: [node('user', ['S']), node('x'), node('s1', ['X'], 'S'), node('s2', [], 'S')],
    disabled: ['s1'],
    order: ['s2', 'user', 'x'],
  },
];

/**
 * The cases of containerd's own plugin_test.go (TestContainerdPlugin, TestPluginGraph): the same
 * registrations give the same order. (Its disable filter matches on type; here the disabled
 * plugins are named.)
 */
const containerdCases: Case[] = [
  {
    title: "containerd: '*' requires everything else",
    nodes: [reg('grpc', 'introspection', ['*']), reg('service', 'container')],
    order: ['service.container', 'grpc.introspection'],
  },
  {
    title: 'containerd: a requirement comes first',
    nodes: [reg('service', 'container', ['metadata']), reg('metadata', 'bolt')],
    order: ['metadata.bolt', 'service.container'],
  },
  {
    title: 'containerd: several requirements come first, in registration order',
    nodes: [reg('metadata', 'bolt', ['content', 'snapshotter']), reg('snapshotter', 'overlayfs'), reg('content', 'content')],
    order: ['content.content', 'snapshotter.overlayfs', 'metadata.bolt'],
  },
  {
    title: 'containerd: a disabled plugin is left out',
    nodes: [reg('content', 'content'), reg('disable', 'disable')],
    disabled: ['disable.disable'],
    order: ['content.content'],
  },
  containerdRegistry(),
];

/** containerd's testRegistry() and the order its Graph gives (TestContainerdPlugin). */
function containerdRegistry(): Case {
  const io = (kind: string): string => `io.containerd.${kind}`;
  const T = {
    internal: io('internal.v1'), runtime: io('runtime.v1'), runtime2: io('runtime.v2'), service: io('service.v1'),
    grpc: io('grpc.v1'), snapshot: io('snapshotter.v1'), monitor: io('monitor.v1'), diff: io('differ.v1'),
    metadata: io('metadata.v1'), content: io('content.v1'), gc: io('gc.v1'), lease: io('lease.v1'), tracing: io('tracing.processor.v1'),
  };
  const nodes = [
    reg(T.monitor, 'cgroups'),
    reg(T.service, 'tasks-service', [T.runtime, T.runtime2, T.metadata, T.monitor]),
    reg(T.service, 'introspection-service'),
    reg(T.service, 'namespaces-service', [T.metadata]),
    reg(T.grpc, 'namespaces', [T.service]),
    reg(T.grpc, 'content', [T.service]),
    reg(T.grpc, 'containers', [T.service]),
    reg(T.service, 'containers-service', [T.metadata]),
    reg(T.grpc, 'events'),
    reg(T.grpc, 'leases', [T.lease]),
    reg(T.lease, 'manager', [T.metadata]),
    reg(T.grpc, 'diff', [T.service]),
    reg(T.service, 'diff-service', [T.diff]),
    reg(T.service, 'snapshots-service', [T.metadata]),
    reg(T.grpc, 'snapshots', [T.service]),
    reg(T.grpc, 'version'),
    reg(T.grpc, 'images', [T.service]),
    reg(T.gc, 'scheduler', [T.metadata]),
    reg(T.runtime2, 'task', [T.metadata]),
    reg(T.grpc, 'tasks', [T.service]),
    reg(T.grpc, 'introspection', ['*']),
    reg(T.service, 'content-service', [T.metadata]),
    reg(T.grpc, 'healthcheck'),
    reg(T.internal, 'opt'),
    reg(T.grpc, 'cri', [T.service]),
    reg(T.runtime, 'linux', [T.metadata]),
    reg(T.internal, 'restart', [T.service]),
    reg(T.diff, 'walking', [T.metadata]),
    reg(T.snapshot, 'native'),
    reg(T.snapshot, 'overlayfs'),
    reg(T.content, 'content'),
    reg(T.metadata, 'bolt', [T.content, T.snapshot]),
    reg(T.tracing, 'otlp'),
    reg(T.internal, 'tracing', [T.tracing]),
  ];
  const order = [
    'monitor.v1.cgroups', 'content.v1.content', 'snapshotter.v1.native', 'snapshotter.v1.overlayfs', 'metadata.v1.bolt',
    'runtime.v1.linux', 'runtime.v2.task', 'service.v1.tasks-service', 'service.v1.introspection-service',
    'service.v1.namespaces-service', 'service.v1.containers-service', 'differ.v1.walking', 'service.v1.diff-service',
    'service.v1.snapshots-service', 'service.v1.content-service', 'grpc.v1.namespaces', 'grpc.v1.content', 'grpc.v1.containers',
    'grpc.v1.events', 'lease.v1.manager', 'grpc.v1.leases', 'grpc.v1.diff', 'grpc.v1.snapshots', 'grpc.v1.version', 'grpc.v1.images',
    'gc.v1.scheduler', 'grpc.v1.tasks', 'grpc.v1.healthcheck', 'internal.v1.opt', 'grpc.v1.cri', 'internal.v1.restart',
    'tracing.processor.v1.otlp', 'internal.v1.tracing', 'grpc.v1.introspection',
  ].map(io);
  return { title: "containerd: containerd's own plugins give containerd's order", nodes, order };
}

describe('resolveGraph', () => {
  test.each([...cases, ...disabledCases, ...containerdCases])('$title', ({ nodes, order, errors = [], disabled = [] }) => {
    const off = new Set(disabled);
    const result = resolveGraph(nodes, { disabled: off });
    expect(result.order.filter((name) => !off.has(name))).toEqual(order);
    expect(result.errors.map(shape)).toEqual(errors);
    // Every plugin is either ordered or unresolved, never both; a disabled one is always ordered.
    const unresolved = [...result.unresolved.keys()].sort();
    const expectedUnresolved = nodes.map((n) => n.name).filter((name) => !order.includes(name) && !off.has(name)).sort();
    expect(unresolved).toEqual(expectedUnresolved);
    expect(result.order.filter((name) => off.has(name)).sort()).toEqual([...off].sort());
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

  test("requiring the type of a '*' plugin is reported as a cycle, not as an unresolved healthy sibling", () => {
    const result = resolveGraph([node('needs', ['S', 'NOPE']), node('s1', ['*'], 'S'), node('s2', [], 'S')]);
    const error = result.unresolved.get('needs');
    expect(error?.toJSON()).toMatchObject({ code: 'E_DEPENDENCY', plugin: 'needs', missing: ['S', 'NOPE'] });
    expect(error?.message).toContain('requiring the type of a "*" plugin is a cycle');
    expect(error?.message).toContain('"s1"');
    expect(error?.message).not.toContain('"s2"');
    expect(error?.message).not.toMatch(/unresolved/);
    expect(error?.message).toContain('"NOPE" (no plugin of that type is registered)');
  });

  test('requiring a type whose only plugins are disabled names the disabled plugins', () => {
    const result = resolveGraph([node('user', ['S']), node('s1', [], 'S'), node('s2', [], 'S')], { disabled: new Set(['s1', 's2']) });
    const error = result.unresolved.get('user');
    expect(error?.toJSON()).toMatchObject({ code: 'E_DEPENDENCY', plugin: 'user', missing: ['S'] });
    expect(error?.message).toContain('"s1" is disabled');
    expect(error?.message).toContain('"s2" is disabled');
  });

  test('disabled plugins, a \'*\' one too, keep their registration place in order and pull nothing forward', () => {
    const nodes = [node('a'), node('star', ['*']), node('c', ['B']), node('off', ['D']), node('b'), node('d')];
    expect(resolveGraph(nodes, { disabled: new Set(['star', 'off']) }).order).toEqual(['a', 'star', 'b', 'c', 'off', 'd']);
  });

  test("random acyclic graphs with disabled plugins: the same order as containerd's Graph", () => {
    const random = seeded(12);
    for (let round = 0; round < 2000; round++) {
      const { nodes, disabled } = randomGraph(random);
      const result = resolveGraph(nodes, { disabled });
      const context = JSON.stringify({ nodes, disabled: [...disabled] });
      expect([context, result.errors.map((e) => e.message)]).toEqual([context, []]);
      expect([context, result.order.filter((name) => !disabled.has(name))]).toEqual([context, containerdGraph(nodes, disabled)]);
    }
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

/** A small deterministic generator (mulberry32): the same graphs on every run. */
function seeded(seed: number): (n: number) => number {
  let a = seed;
  return (n) => {
    a = (a + 0x6d2b79f5) | 0;
    let x = Math.imul(a ^ (a >>> 15), 1 | a);
    x = (x + Math.imul(x ^ (x >>> 7), 61 | x)) ^ x;
    return Math.floor((((x ^ (x >>> 14)) >>> 0) / 4294967296) * n);
  };
}

/**
 * A random graph that is acyclic once its disabled plugins are set aside, on which containerd's
 * Graph neither panics nor skips a requirement: each enabled plugin requires only types all of
 * whose enabled plugins come before it in a hidden rank, at least one of them; at most one
 * enabled `'*'` plugin, whose type no enabled plugin requires. Disabled plugins require anything.
 */
function randomGraph(random: (n: number) => number): { nodes: GraphNode[]; disabled: Set<string> } {
  const count = 1 + random(10);
  const typeCount = 1 + random(6);
  const drafts = Array.from({ length: count }, (_, i) => ({
    name: `t${random(typeCount)}.p${i}`, rank: random(1000), off: random(4) === 0, star: random(8) === 0,
  }));
  const typeOf = (name: string): string => name.slice(0, name.indexOf('.'));
  const enabledStars = drafts.filter((d) => d.star && !d.off);
  for (const d of enabledStars.slice(1)) d.star = false;
  const starTypes = new Set(drafts.filter((d) => d.star && !d.off).map((d) => typeOf(d.name)));
  const types = [...new Set(drafts.map((d) => typeOf(d.name)))];
  const nodes = drafts.map((d): GraphNode => {
    const type = typeOf(d.name);
    if (d.star) return { name: d.name, type, requires: ['*'] };
    const usable = types.filter((t) => {
      if (t === type) return false;
      if (d.off) return true;
      const enabled = drafts.filter((o) => typeOf(o.name) === t && !o.off);
      return !starTypes.has(t) && enabled.length > 0 && enabled.every((o) => o.rank < d.rank);
    });
    return { name: d.name, type, requires: usable.filter(() => random(2) === 0) };
  });
  return { nodes, disabled: new Set(drafts.filter((d) => d.off).map((d) => d.name)) };
}

/**
 * containerd's `Registry.Graph`, step for step: the disabled plugins count as handled from the
 * start; each plugin in registration order comes after its requirements, found depth first (a
 * `'*'` requirement matches every other plugin); a plugin met again on its own path is a cycle.
 */
function containerdGraph(nodes: readonly GraphNode[], disabled: ReadonlySet<string>): string[] {
  const handled = new Set(nodes.filter((n) => disabled.has(n.name)));
  const ordered: string[] = [];
  const visit = (path: readonly GraphNode[]): void => {
    const current = path[path.length - 1];
    for (const type of current?.requires ?? []) {
      for (const other of nodes) {
        if ((type !== '*' && other.type !== type) || other === current || handled.has(other)) continue;
        if (path.slice(0, -1).includes(other)) throw new Error(`circular plugin dependency at ${other.name}`);
        visit([...path, other]);
        handled.add(other);
        ordered.push(other.name);
      }
    }
  };
  for (const n of nodes) {
    if (handled.has(n)) continue;
    visit([n]);
    handled.add(n);
    ordered.push(n.name);
  }
  return ordered;
}
