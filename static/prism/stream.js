// Applies canvas events to per-node state with sequence numbers: a snapshot sets the state, a delta
// is applied only if it is the next one, so a reconnect never duplicates or skips text.

export class NodeStreams {
  constructor() {
    this.nodes = new Map(); // id -> {text, reasoning, seq}
  }

  state(id) {
    if (!this.nodes.has(id)) this.nodes.set(id, { text: "", reasoning: "", seq: 0 });
    return this.nodes.get(id);
  }

  // Returns true when the snapshot is at least as new as what we have.
  snapshot(node) {
    const current = this.state(node.id);
    if ((node.seq || 0) < current.seq) return false;
    Object.assign(current, { text: node.text || "", reasoning: node.reasoning || "", seq: node.seq || 0 });
    return true;
  }

  // "applied" | "old" | "gap"
  delta(event) {
    const current = this.state(event.node);
    if (event.seq <= current.seq) return "old";
    if (event.seq !== current.seq + 1) return "gap";
    current.text += event.text || "";
    current.reasoning += event.reasoning || "";
    current.seq = event.seq;
    return "applied";
  }
}
