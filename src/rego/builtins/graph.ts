// Builtins of OPA's "graph" category (graph.reachable, graph.reachable_paths). Registered at
// import time. `walk` is registered elsewhere.
//
// A graph is an object from vertex to a set or array of neighbour vertices. Neighbour lists of
// any other type count as "no neighbours" (OPA ignores them too).
import { RObject, RSet, type Value } from '../value.js';
import { registerBuiltins } from './registry.js';

function neighbours(edges: Value): Value[] {
  if (Array.isArray(edges)) return edges;
  if (edges instanceof RSet) return edges.values();
  return [];
}

function vertices(v: Value): Value[] {
  return Array.isArray(v) ? v : (v as RSet).values();
}

/** Every vertex reachable from `initial` (breadth first); initial vertices count only if in the graph. */
export function reachable(graph: RObject, initial: Value): RSet {
  const queue = [...vertices(initial)];
  const reached = new RSet();
  for (let i = 0; i < queue.length; i++) {
    const node = queue[i];
    if (reached.has(node)) continue;
    const edges = graph.get(node);
    if (edges === undefined) continue;
    for (const n of neighbours(edges)) if (!reached.has(n)) queue.push(n);
    reached.add(node);
  }
  return reached;
}

/**
 * Every maximal path from each initial vertex, as OPA computes them: a path ends at a vertex
 * without neighbours, before a neighbour that is not in the graph, or where it would revisit a
 * vertex already on it (cycle).
 */
export function reachablePaths(graph: RObject, initial: Value): RSet {
  const out = new RSet();
  const walk = (node: Value, path: Value[], onPath: RSet): void => {
    const edges = graph.get(node);
    if (edges === undefined) {
      out.add(path);
      return;
    }
    const here = [...path, node];
    const next = neighbours(edges);
    if (next.length === 0) {
      out.add(here);
      return;
    }
    const seen = onPath.copy();
    seen.add(node);
    for (const n of next) {
      if (seen.has(n)) out.add(here);
      else walk(n, here, seen);
    }
  };
  for (const root of vertices(initial)) {
    const edges = graph.get(root);
    if (edges === undefined) continue;
    const next = neighbours(edges);
    if (next.length === 0) {
      out.add([root]);
      continue;
    }
    for (const n of next) walk(n, [root], RSet.from([root]));
  }
  return out;
}

const GRAPH = 'object[any,set[any]|array[any]]';
// Declared array-first so type errors read "one of {array, set}" as OPA's do.
const INITIAL = 'array[any]|set[any]';

registerBuiltins(
  {
    name: 'graph.reachable',
    args: [GRAPH, INITIAL],
    result: 'set[any]',
    category: 'graph',
    impl: ([g, init]) => reachable(g as RObject, init),
  },
  {
    name: 'graph.reachable_paths',
    args: [GRAPH, INITIAL],
    result: 'set[array[any]]',
    category: 'graph',
    impl: ([g, init]) => reachablePaths(g as RObject, init),
  },
);
