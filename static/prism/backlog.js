// Markdown for nodes the page has not formatted yet (a large canvas at load): the nodes in view
// first, in slices of a few milliseconds so the page keeps answering, then the rest in idle time.
// Zoomed far out, nodes show only their titles (see FAR_ZOOM), so nothing needs formatting.

import { idle } from "./frame.js";

export const FAR_ZOOM = 0.35;
const SLICE_MS = 8;
const MARGIN = 0.5; // of a screen, around the view, formatted as if visible

export class MarkdownBacklog {
  constructor(app) {
    this.app = app;
    this.stale = new Set(); // ids whose text shows as plain text for now
    this.running = false;
    this.idleQueued = false;
    this.onVisibleDone = null; // called once, when the first screenful is formatted
  }

  add(id) { this.stale.add(id); }
  delete(id) { this.stale.delete(id); }

  // The stale nodes on or near the screen, nearest the centre first.
  visibleStale() {
    const { viewport, store } = this.app;
    if (viewport.k < FAR_ZOOM) return [];
    const v = viewport.visible();
    const x1 = v.x - v.w * MARGIN;
    const y1 = v.y - v.h * MARGIN;
    const x2 = v.x + v.w * (1 + MARGIN);
    const y2 = v.y + v.h * (1 + MARGIN);
    const cx = v.x + v.w / 2;
    const cy = v.y + v.h / 2;
    const found = [];
    for (const id of this.stale) {
      const n = store.get(id);
      if (n && n.x < x2 && n.x + n.w > x1 && n.y < y2 && n.y + n.h > y1) found.push(n);
    }
    return found.sort((a, b) => Math.hypot(a.x - cx, a.y - cy) - Math.hypot(b.x - cx, b.y - cy)).map((n) => n.id);
  }

  // Formats what is in view now (the first slice synchronously), then goes on in the background.
  pass() {
    if (this.running) return;
    this.running = true;
    const slice = () => {
      const queue = this.visibleStale();
      const until = performance.now() + SLICE_MS;
      while (queue.length && performance.now() < until) this.format(queue.shift());
      if (queue.length) { setTimeout(slice, 0); return; }
      this.running = false;
      if (this.onVisibleDone) { const done = this.onVisibleDone; this.onVisibleDone = null; done(); }
      this.background();
    };
    slice();
  }

  background() {
    if (this.idleQueued) return;
    if (!this.stale.size) { performance.mark("prism:formatted"); return; } // every node's Markdown is rendered
    this.idleQueued = true;
    idle((deadline) => {
      this.idleQueued = false;
      for (const id of this.stale) {
        if (!deadline.didTimeout && deadline.timeRemaining() < 1) break;
        this.format(id);
        if (deadline.didTimeout) break;
      }
      this.background();
    });
  }

  format(id) {
    this.stale.delete(id);
    this.app.view.paintText(id);
  }
}
