// Edges from parents to children as SVG paths, from the parent's bottom edge to the child's top edge.
// Geometry comes from the store, never from the DOM, and a moved node redraws only its own edges.

import { write } from "./frame.js";

const SVG = "http://www.w3.org/2000/svg";

export class Edges {
  constructor(svg, store) {
    this.svg = svg;
    this.store = store;
    this.paths = new Map(); // "parent>child" -> <path>
  }

  // Redraws, in the next frame, every edge into and out of the node.
  touch(id) {
    const node = this.store.get(id);
    if (!node) return;
    for (const parent of node.parents) this.schedule(parent, id);
    for (const child of this.store.childrenOf(id)) this.schedule(id, child);
  }

  schedule(parent, child) {
    write(`edge:${parent}>${child}`, () => this.draw(parent, child));
  }

  draw(parentId, childId, into = this.svg) {
    const parent = this.store.get(parentId);
    const child = this.store.get(childId);
    if (!parent || !child) return;
    const key = `${parentId}>${childId}`;
    let path = this.paths.get(key);
    if (!path) {
      path = document.createElementNS(SVG, "path");
      path.dataset.parent = parentId;
      path.dataset.child = childId;
      this.paths.set(key, path);
      into.appendChild(path);
    }
    path.setAttribute("d", curve(parent, child));
  }

  // Removes every edge into and out of a deleted node.
  forget(id) {
    for (const [key, path] of this.paths) {
      if (path.dataset.parent === id || path.dataset.child === id) {
        path.remove();
        this.paths.delete(key);
      }
    }
  }

  // Every edge at once, for the first paint of a large canvas: one append for all paths.
  drawAll() {
    const fragment = document.createDocumentFragment();
    for (const node of this.store.all()) {
      for (const parent of node.parents) this.draw(parent, node.id, fragment);
    }
    this.svg.appendChild(fragment);
  }

  // Marks the edges of the selected nodes, so a merge's inputs are easy to see.
  highlight(ids) {
    for (const path of this.paths.values()) {
      const on = ids.has(path.dataset.parent) || ids.has(path.dataset.child);
      if (path.classList.contains("selected") !== on) path.classList.toggle("selected", on);
    }
  }
}

function curve(parent, child) {
  const x1 = parent.x + parent.w / 2;
  const y1 = parent.y + parent.h;
  const x2 = child.x + child.w / 2;
  const y2 = child.y;
  const bend = Math.max(40, Math.abs(y2 - y1) / 2);
  return `M${x1},${y1} C${x1},${y1 + bend} ${x2},${y2 - bend} ${x2},${y2}`;
}
