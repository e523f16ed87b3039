// The selected nodes: click selects one, Shift/Ctrl/Cmd+click adds or removes one, Shift+drag on the
// background draws a box, Ctrl+A takes all. The selection is what a follow-up, a note, R or Stop act on.

import { write } from "./frame.js";

export class Selection {
  constructor({ store, view, band, viewport }) {
    this.store = store;
    this.view = view;
    this.band = band; // the rubber-band element, in screen coordinates over the viewport
    this.viewport = viewport;
    this.ids = new Set();
    this.listeners = [];
  }

  has(id) { return this.ids.has(id); }
  list() { return [...this.ids]; }
  get size() { return this.ids.size; }
  onChange(listener) { this.listeners.push(listener); }

  set(ids) {
    const next = new Set([...ids].filter((id) => this.store.has(id)));
    const changed = new Set([...this.ids, ...next].filter((id) => this.ids.has(id) !== next.has(id)));
    if (!changed.size) return;
    this.ids = next;
    write("selection", () => {
      for (const id of this.view.elements.keys()) {
        const element = this.view.element(id);
        const on = this.ids.has(id);
        if (element.classList.contains("selected") !== on) element.classList.toggle("selected", on);
      }
    });
    for (const listener of this.listeners) listener(this);
  }

  only(id) { this.set([id]); }
  clear() { this.set([]); }
  all() { this.set(this.store.nodes.keys()); }

  toggle(id) {
    const next = new Set(this.ids);
    if (next.has(id)) next.delete(id);
    else next.add(id);
    this.set(next);
  }

  // A press on a node: with a modifier it toggles; otherwise it selects that node alone unless it is
  // already part of the selection (so a group can be dragged together).
  press(id, event) {
    if (event.shiftKey || event.ctrlKey || event.metaKey) this.toggle(id);
    else if (!this.ids.has(id)) this.only(id);
  }

  // Shift+drag on the background: every node the box touches joins the selection held at the start.
  startBand(event) {
    const start = this.viewport.toWorld(event.clientX, event.clientY);
    const origin = { x: event.clientX, y: event.clientY };
    const before = new Set(this.ids);
    const box = this.viewport.box;
    const show = (e) => {
      const left = Math.min(origin.x, e.clientX) - box.left;
      const top = Math.min(origin.y, e.clientY) - box.top;
      write("band", () => {
        Object.assign(this.band.style, {
          transform: `translate(${left}px, ${top}px)`,
          width: `${Math.abs(e.clientX - origin.x)}px`,
          height: `${Math.abs(e.clientY - origin.y)}px`,
        });
        this.band.hidden = false;
      });
    };
    const hide = () => write("band", () => { this.band.hidden = true; });
    return {
      move: (e) => {
        show(e);
        const end = this.viewport.toWorld(e.clientX, e.clientY);
        const rect = { x1: Math.min(start.x, end.x), y1: Math.min(start.y, end.y), x2: Math.max(start.x, end.x), y2: Math.max(start.y, end.y) };
        const inside = [];
        for (const node of this.store.all()) {
          if (node.x < rect.x2 && node.x + node.w > rect.x1 && node.y < rect.y2 && node.y + node.h > rect.y1) inside.push(node.id);
        }
        this.set([...before, ...inside]);
      },
      end: hide,
      cancel: () => { hide(); this.set(before); },
    };
  }
}
