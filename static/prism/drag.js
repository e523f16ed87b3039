// Moving and resizing nodes. Positions change in the store and on screen every frame (with only the
// moved nodes' edges redrawn); the server hears once, on drop, with a PATCH per node; everyone else
// then sees the move through node.updated. Esc during a drag puts everything back.

import { api } from "./api.js";

const CLICK_SLOP = 3; // pixels a press may wander and still count as a click
const MIN_W = 200;
const MIN_H = 100;
const NUDGE_SAVE_MS = 400;

export class Dragging {
  constructor(app) {
    this.app = app;
    this.pending = new Map(); // id -> saves in flight; their node.updated echoes must not move the node back
    this.nudged = new Set();
    this.nudgeTimer = null;
  }

  // True while the node's geometry is ours to decide (dragging, or a save not yet answered).
  holds(id) { return (this.pending.get(id) || 0) > 0; }

  startMove(event, id) {
    const { store, selection, viewport } = this.app;
    selection.press(id, event);
    const ids = selection.has(id) ? selection.list() : [id];
    const origins = new Map(ids.map((nodeId) => [nodeId, { x: store.get(nodeId).x, y: store.get(nodeId).y }]));
    const start = viewport.toWorld(event.clientX, event.clientY);
    const press = { x: event.clientX, y: event.clientY, modifier: event.shiftKey || event.ctrlKey || event.metaKey };
    let moved = false;
    for (const nodeId of ids) this.hold(nodeId);
    const apply = (dx, dy) => {
      for (const [nodeId, origin] of origins) this.moveTo(nodeId, origin.x + dx, origin.y + dy);
    };
    return {
      move: (e) => {
        if (!moved && Math.hypot(e.clientX - press.x, e.clientY - press.y) < CLICK_SLOP) return;
        if (!moved) this.app.view.container.classList.add("dragging");
        moved = true;
        const point = viewport.toWorld(e.clientX, e.clientY);
        apply(point.x - start.x, point.y - start.y);
      },
      end: () => {
        this.app.view.container.classList.remove("dragging");
        if (moved) this.save(ids, ["x", "y"]);
        else {
          for (const nodeId of ids) this.release(nodeId);
          // A plain click on a node of a larger selection narrows the selection to that node.
          if (!press.modifier) selection.only(id);
        }
      },
      cancel: () => {
        this.app.view.container.classList.remove("dragging");
        apply(0, 0);
        for (const nodeId of ids) this.release(nodeId);
      },
    };
  }

  startResize(event, id) {
    const { store, viewport } = this.app;
    const node = store.get(id);
    const origin = { w: node.w, h: node.h };
    const start = viewport.toWorld(event.clientX, event.clientY);
    this.hold(id);
    const size = (w, h) => {
      node.w = Math.max(MIN_W, w);
      node.h = Math.max(MIN_H, h);
      this.app.view.place(id);
      this.app.edges.touch(id);
    };
    let moved = false;
    return {
      move: (e) => {
        moved = true;
        const point = viewport.toWorld(e.clientX, e.clientY);
        size(origin.w + point.x - start.x, origin.h + point.y - start.y);
      },
      end: () => { if (moved) this.save([id], ["w", "h"]); else this.release(id); },
      cancel: () => { size(origin.w, origin.h); this.release(id); },
    };
  }

  // Arrow keys: move the selection now, save once the keys have rested.
  nudge(ids, dx, dy) {
    for (const id of ids) {
      const node = this.app.store.get(id);
      if (!node) continue;
      if (!this.nudged.has(id)) { this.nudged.add(id); this.hold(id); }
      this.moveTo(id, node.x + dx, node.y + dy);
    }
    clearTimeout(this.nudgeTimer);
    this.nudgeTimer = setTimeout(() => {
      const nudged = [...this.nudged];
      this.nudged.clear();
      this.save(nudged, ["x", "y"]);
    }, NUDGE_SAVE_MS);
  }

  moveTo(id, x, y) {
    const node = this.app.store.get(id);
    node.x = Math.round(x);
    node.y = Math.round(y);
    this.app.view.place(id);
    this.app.edges.touch(id);
  }

  hold(id) { this.pending.set(id, (this.pending.get(id) || 0) + 1); }

  release(id) {
    const count = (this.pending.get(id) || 1) - 1;
    if (count > 0) this.pending.set(id, count);
    else this.pending.delete(id);
  }

  async save(ids, keys) {
    await Promise.all(ids.map(async (id) => {
      const node = this.app.store.get(id);
      const body = Object.fromEntries(keys.map((key) => [key, node[key]]));
      try {
        const saved = await api("PATCH", `/nodes/${id}`, body);
        this.release(id);
        if (saved?.id) this.app.apply(saved);
      } catch (error) {
        this.release(id);
        this.app.toast(`Could not save the node's position: ${error.message}`);
      }
    }));
  }
}
