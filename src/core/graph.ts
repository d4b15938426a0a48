/**
 * Orders plugins by their requirements, like containerd's `Graph`: every plugin after all plugins
 * of the types it requires, otherwise in registration order; plugins requiring `'*'` after all
 * others; disabled plugins take no part (containerd filters them out before ordering). Missing
 * types and cycles are reported, not thrown. Iterative throughout, so 100,000 plugins in a chain
 * cannot overflow the stack.
 */
import { DependencyError, type UnmetType } from './errors.js';

/** What the graph needs to know of a plugin. */
export interface GraphNode {
  readonly name: string;
  readonly type: string;
  readonly requires: readonly string[];
}

/** The ordered plugins and the ones whose requirements cannot be met. */
export interface GraphResult {
  /** Names of the resolvable plugins (and the disabled ones, at their place), in init order. */
  readonly order: readonly string[];
  /** Names of the unresolvable plugins, each with the error that says why. */
  readonly unresolved: ReadonlyMap<string, DependencyError>;
  /** One error per problem (a plugin with unmet requirements, or a whole cycle), in registration order. */
  readonly errors: readonly DependencyError[];
}

/** Options of {@link resolveGraph}. */
export interface GraphOptions {
  /**
   * Plugins that stay registered but will not be initialized. They take no part in ordering: no
   * plugin waits for them and they wait for none, so they are never in a cycle, and a disabled
   * `'*'` plugin does not block its type. They keep their registration place in `order` (so a
   * lifecycle can mark them), are never a usable dependency, and their own unmet requirements
   * are not reported.
   */
  readonly disabled?: ReadonlySet<string>;
}

/** Orders `nodes`, given in registration order. Linear in nodes + edges. */
export function resolveGraph(nodes: readonly GraphNode[], options: GraphOptions = {}): GraphResult {
  const disabled = options.disabled ?? new Set<string>();
  const off = new Uint8Array(nodes.length);
  if (disabled.size > 0) nodes.forEach((node, i) => { if (disabled.has(node.name)) off[i] = 1; });
  const types = internTypes(nodes, off);
  const edges = dependencyEdges(nodes, types, off);
  const { order, errors, unresolved } = orderWithCycles(nodes, types, edges);
  const resolved = checkRequirements(nodes, types, edges, order, disabled, { errors, unresolved });
  if (errors.length > 1) {
    const position = new Map(nodes.map((node, k) => [node.name, k]));
    errors.sort((a, b) => (position.get(a.plugin) ?? 0) - (position.get(b.plugin) ?? 0));
  }
  return { order: resolved, unresolved, errors };
}

/** The plugins' types interned to small integers, the plugins of each type, and which plugins run after all others. */
interface Types {
  readonly ids: Map<string, number>;
  readonly typeOf: Int32Array;
  /** The plugins of each type, in registration order. */
  readonly providers: number[][];
  /** Enabled plugins that require `'*'`. */
  readonly isStar: Uint8Array;
  /** Types with an enabled `'*'` plugin: requiring one is a cycle. */
  readonly typeHasStar: Uint8Array;
}

/** `off[i]` is 1 for a disabled plugin. */
function internTypes(nodes: readonly GraphNode[], off: Uint8Array): Types {
  const ids = new Map<string, number>();
  const typeOf = new Int32Array(nodes.length);
  const providers: number[][] = [];
  const isStar = new Uint8Array(nodes.length);
  nodes.forEach((node, i) => {
    let t = ids.get(node.type);
    if (t === undefined) {
      t = providers.length;
      ids.set(node.type, t);
      providers.push([]);
    }
    typeOf[i] = t;
    providers[t]?.push(i);
    // A disabled '*' plugin waits for nobody: it keeps its registration place like any disabled one.
    if (off[i] === 0 && node.requires.includes('*')) isStar[i] = 1;
  });
  const typeHasStar = new Uint8Array(providers.length);
  for (let i = 0; i < nodes.length; i++) if (isStar[i] === 1) typeHasStar[typeOf[i] ?? 0] = 1;
  return { ids, typeOf, providers, isStar, typeHasStar };
}

/**
 * The edges, flat: node i depends on `edges[offsets[i]..offsets[i+1])`, the enabled non-star
 * providers of every type it requires. Star plugins wait for everyone: an edge to one can never be
 * satisfied, so it is left out here and reported by checkRequirements. A disabled plugin has no
 * edges either way. Each requirement is interned once as well (`reqTypes[reqOffsets[i]..]`, -1:
 * no such type).
 */
interface Edges {
  readonly offsets: Int32Array;
  readonly edges: Int32Array;
  readonly reqOffsets: Int32Array;
  readonly reqTypes: readonly number[];
}

function dependencyEdges(nodes: readonly GraphNode[], { ids, providers, isStar }: Types, off: Uint8Array): Edges {
  const offsets = new Int32Array(nodes.length + 1);
  const targets: number[] = [];
  const reqOffsets = new Int32Array(nodes.length + 1);
  const reqTypes: number[] = [];
  nodes.forEach((node, i) => {
    if (isStar[i] === 0) {
      for (const type of node.requires) {
        const t = ids.get(type) ?? -1;
        reqTypes.push(t);
        const list = providers[t];
        if (list === undefined || off[i] === 1) continue;
        for (const p of list) if (isStar[p] === 0 && off[p] === 0) targets.push(p);
      }
    }
    offsets[i + 1] = targets.length;
    reqOffsets[i + 1] = reqTypes.length;
  });
  return { offsets, edges: Int32Array.from(targets), reqOffsets, reqTypes };
}

/** Dependencies first; every cycle named once (its members unresolved); star plugins last. */
function orderWithCycles(nodes: readonly GraphNode[], { isStar }: Types, { offsets, edges }: Edges):
  { order: number[]; errors: DependencyError[]; unresolved: Map<string, DependencyError> } {
  const unresolved = new Map<string, DependencyError>();
  const errors: DependencyError[] = [];
  const inCycle = new Uint8Array(nodes.length);
  let order = dfsOrder(offsets, edges, isStar, inCycle);
  if (order === undefined) {
    // A back edge was seen: name every cycle, then order what is outside them.
    for (const members of findCycles(offsets, edges)) {
      const names = members.map((m) => nodes[m]?.name ?? '');
      const error = new DependencyError(names[0] ?? '', { cycle: names });
      errors.push(error);
      for (const [k, m] of members.entries()) {
        inCycle[m] = 1;
        unresolved.set(names[k] ?? '', error);
      }
    }
    order = dfsOrder(offsets, edges, isStar, inCycle) ?? [];
  }
  for (let i = 0; i < nodes.length; i++) if (isStar[i] === 1) order.push(i);
  return { order, errors, unresolved };
}

/**
 * Walks `order`, each node after its dependencies: a type is usable once one of its plugins is
 * ok. Returns the names that resolved (disabled ones keep their place); adds an error for each
 * plugin with an unmet requirement.
 */
function checkRequirements(nodes: readonly GraphNode[], types: Types, edges: Edges, order: readonly number[],
  disabled: ReadonlySet<string>, out: { errors: DependencyError[]; unresolved: Map<string, DependencyError> }): string[] {
  const okCount = new Int32Array(types.providers.length);
  const resolved: string[] = [];
  for (const i of order) {
    const node = nodes[i];
    if (node === undefined) continue;
    if (disabled.has(node.name)) {
      resolved.push(node.name);
      continue;
    }
    const unmet = unmetTypes(nodes, types, edges, i, okCount, disabled);
    if (unmet === undefined) {
      const t = types.typeOf[i] ?? 0;
      okCount[t] = (okCount[t] ?? 0) + 1;
      resolved.push(node.name);
      continue;
    }
    const error = DependencyError.unresolved(node.name, unmet);
    out.unresolved.set(node.name, error);
    out.errors.push(error);
  }
  return resolved;
}

/**
 * The required types of node `i` that have no usable plugin yet (`okCount`: ok plugins by type),
 * each with why: no plugin of it, an enabled `'*'` plugin of it (requiring it is a cycle), or
 * plugins that are all disabled or unresolved. Undefined when every requirement is met.
 */
function unmetTypes(nodes: readonly GraphNode[], { providers, isStar, typeHasStar }: Types, { reqOffsets, reqTypes }: Edges,
  i: number, okCount: Int32Array, disabled: ReadonlySet<string>): UnmetType[] | undefined {
  const nameOf = (p: number): string => nodes[p]?.name ?? '';
  const requires = nodes[i]?.requires ?? [];
  let unmet: UnmetType[] | undefined;
  for (let r = reqOffsets[i] ?? 0, k = 0; r < (reqOffsets[i + 1] ?? 0); r++, k++) {
    const t = reqTypes[r] ?? -1;
    if (t !== -1 && typeHasStar[t] === 0 && (okCount[t] ?? 0) > 0) continue;
    const type = requires[k] ?? '';
    const list = providers[t] ?? [];
    (unmet ??= []).push(t === -1 ? { type, kind: 'unregistered' }
      : typeHasStar[t] === 1 ? { type, kind: 'star', plugins: list.filter((p) => isStar[p] === 1).map(nameOf) }
        : { type, kind: 'blocked', plugins: list.map((p) => ({ name: nameOf(p), disabled: disabled.has(nameOf(p)) })) });
  }
  return unmet;
}

/**
 * Post-order DFS from each non-star node outside cycles, in index order: each node comes after
 * what it requires. Returns `undefined` when it meets a back edge (a cycle it must not order).
 */
function dfsOrder(offsets: Int32Array, edges: Int32Array, isStar: Uint8Array, inCycle: Uint8Array): number[] | undefined {
  const n = offsets.length - 1;
  const state = new Uint8Array(n); // 0 new, 1 on the stack, 2 done
  const cursor = Int32Array.from(offsets.subarray(0, n));
  const out: number[] = [];
  const stack: number[] = [];
  for (let root = 0; root < n; root++) {
    if (state[root] !== 0 || isStar[root] === 1 || inCycle[root] === 1) continue;
    state[root] = 1;
    stack.push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] ?? 0;
      const c = cursor[top] ?? 0;
      if (c < (offsets[top + 1] ?? 0)) {
        cursor[top] = c + 1;
        const next = edges[c] ?? 0;
        if (inCycle[next] === 1) continue;
        if (state[next] === 1) return undefined;
        if (state[next] === 0) {
          state[next] = 1;
          stack.push(next);
        }
      } else {
        stack.pop();
        state[top] = 2;
        out.push(top);
      }
    }
  }
  return out;
}

/** Tarjan's strongly connected components, iteratively; returns those that are cycles, members sorted. */
function findCycles(offsets: Int32Array, edges: Int32Array): number[][] {
  const n = offsets.length - 1;
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const cursor = Int32Array.from(offsets.subarray(0, n));
  const stack: number[] = [];
  const call: number[] = [];
  const cycles: number[][] = [];
  let counter = 0;
  for (let root = 0; root < n; root++) {
    if (index[root] !== -1) continue;
    call.push(root);
    while (call.length > 0) {
      const v = call[call.length - 1] ?? 0;
      if (index[v] === -1) {
        index[v] = low[v] = counter++;
        stack.push(v);
        onStack[v] = 1;
      }
      const c = cursor[v] ?? 0;
      if (c < (offsets[v + 1] ?? 0)) {
        cursor[v] = c + 1;
        const w = edges[c] ?? 0;
        if (index[w] === -1) call.push(w);
        else if (onStack[w] === 1) low[v] = Math.min(low[v] ?? 0, index[w] ?? 0);
        continue;
      }
      call.pop();
      const parent = call[call.length - 1];
      if (parent !== undefined) low[parent] = Math.min(low[parent] ?? 0, low[v] ?? 0);
      if (low[v] !== index[v]) continue;
      const component: number[] = [];
      let w: number;
      do {
        w = stack.pop() ?? v;
        onStack[w] = 0;
        component.push(w);
      } while (w !== v);
      if (component.length > 1 || edges.subarray(offsets[v] ?? 0, offsets[v + 1] ?? 0).includes(v)) cycles.push(component.sort((a, b) => a - b));
    }
  }
  return cycles.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
}
