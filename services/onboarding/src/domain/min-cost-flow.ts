// Successive shortest paths with Dijkstra on reduced costs (the scheme of AtCoder Library's mcf_graph):
// costs must be non-negative; `dual` is kept so that every edge with residual capacity has a non-negative
// reduced cost cost - dual[to] + dual[from], which is also what the buddy matcher's optimality certificate reads.

export interface FlowEdge {
  to: number;
  rev: number;
  cap: number;
  cost: number;
}

export class MinCostFlow {
  readonly graph: FlowEdge[][];
  readonly dual: Float64Array;
  readonly #positions: Array<[number, number]> = [];

  constructor(nodes: number) {
    this.graph = Array.from({ length: nodes }, () => []);
    this.dual = new Float64Array(nodes);
  }

  addEdge(from: number, to: number, cap: number, cost: number): number {
    if (cost < 0) throw new RangeError("MinCostFlow needs non-negative costs");
    const fromList = this.graph[from] as FlowEdge[];
    const toList = this.graph[to] as FlowEdge[];
    const index = this.#positions.length;
    this.#positions.push([from, fromList.length]);
    fromList.push({ to, rev: toList.length + (from === to ? 1 : 0), cap, cost });
    toList.push({ to: from, rev: fromList.length - 1, cap: 0, cost: -cost });
    return index;
  }

  /** Units that went through the edge returned by addEdge. */
  flowOn(edgeIndex: number): number {
    const [from, at] = this.#positions[edgeIndex] as [number, number];
    const edge = (this.graph[from] as FlowEdge[])[at] as FlowEdge;
    return ((this.graph[edge.to] as FlowEdge[])[edge.rev] as FlowEdge).cap;
  }

  /** Sends up to `limit` units from s to t at minimum cost; returns the flow and its cost. */
  flow(s: number, t: number, limit: number): { flow: number; cost: number } {
    const n = this.graph.length;
    const dist = new Float64Array(n);
    const visited = new Uint8Array(n);
    let flow = 0;
    let cost = 0;
    const heap = new BinaryHeap();
    while (flow < limit) {
      dist.fill(Number.POSITIVE_INFINITY);
      visited.fill(0);
      heap.clear();
      dist[s] = 0;
      heap.push(0, s);
      while (heap.size > 0) {
        const v = heap.pop();
        if (visited[v]) continue;
        visited[v] = 1;
        if (v === t) break;
        const edges = this.graph[v] as FlowEdge[];
        const dv = dist[v] as number;
        const dualV = this.dual[v] as number;
        for (let i = 0; i < edges.length; i++) {
          const e = edges[i] as FlowEdge;
          if (e.cap === 0) continue;
          const nd = dv + e.cost - (this.dual[e.to] as number) + dualV;
          if (nd < (dist[e.to] as number)) {
            dist[e.to] = nd;
            heap.push(nd, e.to);
          }
        }
      }
      if (!visited[t]) break;
      const dt = dist[t] as number;
      for (let v = 0; v < n; v++) {
        if (visited[v]) this.dual[v] = (this.dual[v] as number) - (dt - (dist[v] as number));
      }
      // Primal-dual: after the dual update every shortest path runs over edges of reduced cost 0 between
      // visited nodes; send along as many of them as a depth-first search finds before the next Dijkstra.
      const pathCost = -(this.dual[s] as number);
      const sent = this.#augmentAdmissible(s, t, limit - flow, visited);
      flow += sent;
      cost += sent * pathCost;
    }
    return { flow, cost };
  }

  #augmentAdmissible(s: number, t: number, limit: number, visited: Uint8Array): number {
    const n = this.graph.length;
    const next = new Int32Array(n);
    const dead = new Uint8Array(n);
    const onPath = new Uint8Array(n);
    const stackNode: number[] = [];
    const stackEdge: number[] = [];
    let sent = 0;
    while (sent < limit) {
      // One path by iterative DFS with a current-edge pointer per node (dead ends are never revisited).
      stackNode.length = 0;
      stackEdge.length = 0;
      let v = s;
      let found = false;
      while (!found) {
        const edges = this.graph[v] as FlowEdge[];
        let advanced = false;
        while ((next[v] as number) < edges.length) {
          const i = next[v] as number;
          const e = edges[i] as FlowEdge;
          if (
            e.cap > 0 &&
            visited[e.to] &&
            !dead[e.to] &&
            !onPath[e.to] &&
            e.cost - (this.dual[e.to] as number) + (this.dual[v] as number) === 0
          ) {
            stackNode.push(v);
            stackEdge.push(i);
            onPath[v] = 1;
            v = e.to;
            advanced = true;
            break;
          }
          next[v] = i + 1;
        }
        if (v === t) {
          found = true;
          break;
        }
        if (!advanced) {
          dead[v] = 1;
          if (stackNode.length === 0) return sent;
          v = stackNode.pop() as number;
          stackEdge.pop();
          onPath[v] = 0;
          next[v] = (next[v] as number) + 1;
        }
      }
      for (const u of stackNode) onPath[u] = 0;
      let push = limit - sent;
      for (let k = 0; k < stackNode.length; k++) {
        const e = (this.graph[stackNode[k] as number] as FlowEdge[])[stackEdge[k] as number] as FlowEdge;
        push = Math.min(push, e.cap);
      }
      for (let k = 0; k < stackNode.length; k++) {
        const e = (this.graph[stackNode[k] as number] as FlowEdge[])[stackEdge[k] as number] as FlowEdge;
        e.cap -= push;
        ((this.graph[e.to] as FlowEdge[])[e.rev] as FlowEdge).cap += push;
      }
      sent += push;
    }
    return sent;
  }
}
/** A binary min-heap of (key, node) pairs in parallel typed arrays, grown as needed. */
class BinaryHeap {
  #keys = new Float64Array(1024);
  #nodes = new Int32Array(1024);
  size = 0;

  clear(): void {
    this.size = 0;
  }

  push(key: number, node: number): void {
    if (this.size === this.#keys.length) {
      const keys = new Float64Array(this.size * 2);
      keys.set(this.#keys);
      this.#keys = keys;
      const nodes = new Int32Array(this.size * 2);
      nodes.set(this.#nodes);
      this.#nodes = nodes;
    }
    let i = this.size++;
    const keys = this.#keys;
    const nodes = this.#nodes;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if ((keys[parent] as number) <= key) break;
      keys[i] = keys[parent] as number;
      nodes[i] = nodes[parent] as number;
      i = parent;
    }
    keys[i] = key;
    nodes[i] = node;
  }

  pop(): number {
    const keys = this.#keys;
    const nodes = this.#nodes;
    const top = nodes[0] as number;
    const last = --this.size;
    const key = keys[last] as number;
    const node = nodes[last] as number;
    let i = 0;
    for (;;) {
      let child = 2 * i + 1;
      if (child >= last) break;
      if (child + 1 < last && (keys[child + 1] as number) < (keys[child] as number)) child++;
      if ((keys[child] as number) >= key) break;
      keys[i] = keys[child] as number;
      nodes[i] = nodes[child] as number;
      i = child;
    }
    keys[i] = key;
    nodes[i] = node;
    return top;
  }
}
