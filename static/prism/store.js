// What the page knows of each node: the latest payload per id, and who follows whom. An older copy
// of a node (an HTTP reply that lost the race with the socket) never undoes a newer one.

export const RUNNING = new Set(["queued", "streaming"]);
export const FINISHED = new Set(["done", "error", "cancelled", "interrupted"]);
const RANK = { queued: 0, streaming: 1, done: 2, error: 2, cancelled: 2, interrupted: 2 };
const GEOMETRY = ["x", "y", "w", "h"];

export class NodeStore {
  constructor() {
    this.nodes = new Map(); // id -> node payload
    this.children = new Map(); // id -> Set of child ids
  }

  get(id) { return this.nodes.get(id); }
  has(id) { return this.nodes.has(id); }
  all() { return this.nodes.values(); }
  get size() { return this.nodes.size; }
  childrenOf(id) { return this.children.get(id) || new Set(); }

  // Merges a payload in and returns the node as it now stands.
  upsert(payload) {
    const current = this.nodes.get(payload.id);
    if (!current) {
      const node = { ...payload, parents: payload.parents || [] };
      this.nodes.set(node.id, node);
      for (const parent of node.parents) {
        if (!this.children.has(parent)) this.children.set(parent, new Set());
        this.children.get(parent).add(node.id);
      }
      return node;
    }
    if (isStale(current, payload)) {
      for (const key of GEOMETRY) current[key] = payload[key];
    } else {
      Object.assign(current, payload, { parents: current.parents });
    }
    return current;
  }

  // Forgets a deleted node; its children keep their other parents (the server deleted its edges too).
  remove(id) {
    const node = this.nodes.get(id);
    if (!node) return false;
    this.nodes.delete(id);
    for (const parent of node.parents) this.children.get(parent)?.delete(id);
    for (const childId of this.childrenOf(id)) {
      const child = this.nodes.get(childId);
      if (child) child.parents = child.parents.filter((parent) => parent !== id);
    }
    this.children.delete(id);
    return true;
  }

  // The prompt's answers (what goes with it when it is deleted).
  answersOf(id) {
    return [...this.childrenOf(id)].filter((child) => this.nodes.get(child)?.kind === "response");
  }

  // The prompt's responses that are still running, for "stop the whole fan-out".
  runningChildren(id) {
    return [...this.childrenOf(id)].filter((child) => RUNNING.has(this.nodes.get(child)?.status));
  }
}

function isStale(current, payload) {
  if (current.kind !== "response") return false;
  return RANK[payload.status] < RANK[current.status] || (payload.seq || 0) < (current.seq || 0);
}
