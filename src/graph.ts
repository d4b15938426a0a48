/**
 * Orders plugins by their requirements, like containerd's `Graph`: every plugin after all plugins
 * of the types it requires, otherwise in registration order; plugins requiring `'*'` after all
 * others. Missing types and cycles are reported, not thrown. Iterative throughout, so 100,000
 * plugins in a chain cannot overflow the stack.
 */
import { DependencyError } from './errors.js';

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
   * Plugins that stay registered but will not be initialized: they keep their place in `order`
   * (so a lifecycle can mark them), are never a usable dependency, and their own unmet
   * requirements are not reported.
   */
  readonly disabled?: ReadonlySet<string>;
}

/** Orders `nodes`, given in registration order. */
export function resolveGraph(nodes: readonly GraphNode[], options: GraphOptions = {}): GraphResult {
  const disabled = options.disabled ?? new Set<string>();
  const n = nodes.length;
  const byType = new Map<string, number[]>();
  nodes.forEach((node, i) => {
    const list = byType.get(node.type);
    if (list === undefined) byType.set(node.type, [i]);
    else list.push(i);
  });
  const isStar = nodes.map((node) => node.requires.includes('*'));
  // deps[i]: the providers of every type node i requires. Star plugins wait for everyone, so an
  // edge to one can never be satisfied: it is left out here and reported below.
  const deps: number[][] = nodes.map((node, i) =>
    isStar[i] === true ? [] : node.requires.flatMap((t) => (byType.get(t) ?? []).filter((p) => isStar[p] !== true)));

  const cycles = findCycles(n, deps);
  const unresolved = new Map<string, DependencyError>();
  const errors: DependencyError[] = [];
  for (const members of cycles) {
    const names = members.map((m) => nodes[m]?.name ?? '');
    const error = new DependencyError(names[0] ?? '', { cycle: names });
    errors.push(error);
    for (const name of names) unresolved.set(name, error);
  }

  // Non-star plugins first (dependencies first, otherwise registration order), then star plugins.
  const order = dfsOrder(deps, (i) => isStar[i] !== true && !unresolved.has(nodes[i]?.name ?? ''));
  for (let i = 0; i < n; i++) if (isStar[i] === true) order.push(i);

  const ok = new Uint8Array(n);
  const resolved: string[] = [];
  const whyNot = (p: number): string => {
    const name = nodes[p]?.name ?? '';
    return isStar[p] === true ? 'runs after all others ("*")' : disabled.has(name) ? 'is disabled' : 'is unresolved';
  };
  for (const i of order) {
    const node = nodes[i];
    if (node === undefined) continue;
    if (disabled.has(node.name)) {
      resolved.push(node.name);
      continue;
    }
    const absent: string[] = [];
    const blocked: string[] = [];
    if (isStar[i] !== true) {
      for (const type of node.requires) {
        const providers = byType.get(type);
        if (providers === undefined) absent.push(type);
        else if (providers.some((p) => isStar[p] === true) || !providers.some((p) => ok[p] === 1)) {
          blocked.push(`"${type}" (${providers.map((p) => `"${nodes[p]?.name ?? ''}" ${whyNot(p)}`).join(', ')})`);
          absent.push(type);
        }
      }
    }
    if (absent.length === 0) {
      ok[i] = 1;
      resolved.push(node.name);
      continue;
    }
    const error = unmetError(node.name, absent, blocked);
    unresolved.set(node.name, error);
    errors.push(error);
  }
  const position = new Map(nodes.map((node, i) => [node.name, i]));
  errors.sort((a, b) => (position.get(a.plugin) ?? 0) - (position.get(b.plugin) ?? 0));
  return { order: resolved, unresolved, errors };
}

/**
 * The error of a plugin whose required types (`missing`) have no usable plugin; `blocked`
 * describes those that have plugins, none usable, and why.
 */
function unmetError(plugin: string, missing: readonly string[], blocked: readonly string[]): DependencyError {
  const unregistered = missing.length - blocked.length;
  const parts = [...blocked];
  if (unregistered > 0) {
    parts.unshift(missing.filter((t) => !blocked.some((b) => b.startsWith(`"${t}" (`))).map((t) => `"${t}" (no plugin of that type is registered)`).join(', '));
  }
  return new DependencyError(plugin, { missing: [...missing] },
    `plugin "${plugin}" cannot start: it requires ${parts.join(', ')}; ` +
    (unregistered > 0 ? 'add a plugin of that type or remove the requirement' : 'fix or enable the plugins it requires first'));
}

/** Post-order DFS from each included node in index order: each node comes after what it requires. */
function dfsOrder(deps: readonly number[][], include: (i: number) => boolean): number[] {
  const n = deps.length;
  const seen = new Uint8Array(n);
  const cursor = new Int32Array(n);
  const out: number[] = [];
  const stack: number[] = [];
  for (let root = 0; root < n; root++) {
    if (seen[root] === 1 || !include(root)) continue;
    seen[root] = 1;
    stack.push(root);
    while (stack.length > 0) {
      const top = stack[stack.length - 1] ?? 0;
      const edges = deps[top] ?? [];
      const c = cursor[top] ?? 0;
      if (c < edges.length) {
        cursor[top] = c + 1;
        const next = edges[c] ?? 0;
        if (seen[next] === 0 && include(next)) {
          seen[next] = 1;
          stack.push(next);
        }
      } else {
        stack.pop();
        out.push(top);
      }
    }
  }
  return out;
}

/** Tarjan's strongly connected components, iteratively; returns those that are cycles, members sorted. */
function findCycles(n: number, deps: readonly number[][]): number[][] {
  const index = new Int32Array(n).fill(-1);
  const low = new Int32Array(n);
  const onStack = new Uint8Array(n);
  const cursor = new Int32Array(n);
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
      const edges = deps[v] ?? [];
      const c = cursor[v] ?? 0;
      if (c < edges.length) {
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
      if (component.length > 1 || edges.includes(v)) cycles.push(component.sort((a, b) => a - b));
    }
  }
  return cycles.sort((a, b) => (a[0] ?? 0) - (b[0] ?? 0));
}
