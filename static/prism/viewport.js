// The infinite canvas: one CSS transform on the world element (translate, then scale) moves and
// zooms every node and edge at once. Pan with the wheel or a drag, zoom around the pointer with
// Ctrl+wheel, a pinch or the buttons. The view is remembered per canvas for this browser tab.

import { write } from "./frame.js";

const MIN_ZOOM = 0.05;
const MAX_ZOOM = 2.5;
const GRID = 24;

const clamp = (value, low, high) => Math.min(high, Math.max(low, value));

export class Viewport {
  constructor(element, world, { key, zoomLabel, onChange }) {
    this.element = element;
    this.world = world;
    this.key = key;
    this.zoomLabel = zoomLabel;
    this.onChange = onChange || (() => {});
    this.x = 40;
    this.y = 40;
    this.k = 1;
    this.box = element.getBoundingClientRect();
    new ResizeObserver(() => { this.box = element.getBoundingClientRect(); }).observe(element);
    element.addEventListener("wheel", (event) => this.onWheel(event), { passive: false });
  }

  restore() {
    try {
      const saved = JSON.parse(sessionStorage.getItem(this.key) || "null");
      if (saved && [saved.x, saved.y, saved.k].every(Number.isFinite)) {
        this.set(saved.x, saved.y, saved.k);
        return true;
      }
    } catch { /* a corrupt entry is ignored */ }
    return false;
  }

  set(x, y, k = this.k) {
    this.k = clamp(k, MIN_ZOOM, MAX_ZOOM);
    this.x = x;
    this.y = y;
    write("viewport", () => this.apply());
  }

  apply() {
    this.world.style.transform = `translate(${this.x}px, ${this.y}px) scale(${this.k})`;
    this.element.style.backgroundPosition = `${this.x}px ${this.y}px`;
    this.element.style.backgroundSize = `${GRID * this.k}px ${GRID * this.k}px`;
    if (this.zoomLabel) this.zoomLabel.textContent = `${Math.round(this.k * 100)}%`;
    clearTimeout(this.saveTimer);
    this.saveTimer = setTimeout(() => sessionStorage.setItem(this.key, JSON.stringify({ x: this.x, y: this.y, k: this.k })), 300);
    this.onChange(this);
  }

  toWorld(clientX, clientY) {
    return { x: (clientX - this.box.left - this.x) / this.k, y: (clientY - this.box.top - this.y) / this.k };
  }

  // The world rectangle on screen now.
  visible() {
    return { x: -this.x / this.k, y: -this.y / this.k, w: this.box.width / this.k, h: this.box.height / this.k };
  }

  panBy(dx, dy) { this.set(this.x + dx, this.y + dy); }

  zoomAt(clientX, clientY, factor) {
    const point = this.toWorld(clientX, clientY);
    const k = clamp(this.k * factor, MIN_ZOOM, MAX_ZOOM);
    this.set(clientX - this.box.left - point.x * k, clientY - this.box.top - point.y * k, k);
  }

  zoomCentre(factor) {
    this.zoomAt(this.box.left + this.box.width / 2, this.box.top + this.box.height / 2, factor);
  }

  zoomTo(k) { this.zoomCentre(k / this.k); }

  // Shows the whole of the given world boxes, no larger than actual size.
  fit(boxes, padding = 40) {
    const bounds = union(boxes);
    if (!bounds) { this.set(40, 40, 1); return; }
    const room = (size) => Math.max(1, size - 2 * padding);
    const k = clamp(Math.min(room(this.box.width) / bounds.w, room(this.box.height) / bounds.h, 1), MIN_ZOOM, MAX_ZOOM);
    this.set(
      (this.box.width - bounds.w * k) / 2 - bounds.x * k,
      Math.max(padding, (this.box.height - bounds.h * k) / 2) - bounds.y * k,
      k,
    );
  }

  // Pans as little as needed to bring the boxes into view; zooms out if they cannot fit as they are.
  reveal(boxes, padding = 40) {
    const b = union(boxes);
    if (!b) return;
    const view = this.visible();
    const pad = padding / this.k;
    if (b.w > view.w - 2 * pad || b.h > view.h - 2 * pad) {
      this.fit(boxes, padding);
      return;
    }
    let dx = 0;
    let dy = 0;
    if (b.x + b.w > view.x + view.w - pad) dx = view.x + view.w - pad - (b.x + b.w);
    if (b.x < view.x + pad) dx = view.x + pad - b.x;
    if (b.y + b.h > view.y + view.h - pad) dy = view.y + view.h - pad - (b.y + b.h);
    if (b.y < view.y + pad) dy = view.y + pad - b.y;
    if (dx || dy) this.panBy(dx * this.k, dy * this.k);
  }

  onWheel(event) {
    if (event.ctrlKey || event.metaKey) {
      // Ctrl+wheel, and a trackpad pinch (which Chromium reports as Ctrl+wheel).
      event.preventDefault();
      const delta = event.deltaMode === 1 ? event.deltaY * 20 : event.deltaY;
      this.zoomAt(event.clientX, event.clientY, Math.exp(-delta * 0.0025));
      return;
    }
    const body = event.target.closest?.(".node-body");
    if (body && canScroll(body, event.deltaY)) return; // the answer's own text scrolls first
    event.preventDefault();
    const scale = event.deltaMode === 1 ? 20 : event.deltaMode === 2 ? this.box.height : 1;
    this.panBy(-event.deltaX * scale, -event.deltaY * scale);
  }

  // Drag to pan. Returns a gesture for gestures.js.
  startPan(event) {
    let last = { x: event.clientX, y: event.clientY };
    this.element.classList.add("panning");
    const done = () => this.element.classList.remove("panning");
    return {
      move: (e) => { this.panBy(e.clientX - last.x, e.clientY - last.y); last = { x: e.clientX, y: e.clientY }; },
      end: done,
      cancel: done,
    };
  }

  // Two fingers: zoom by the change in their distance, pan by the move of their midpoint.
  startPinch(points) {
    const [a, b] = [...points.values()];
    let distance = Math.hypot(a.x - b.x, a.y - b.y) || 1;
    let mid = { x: (a.x + b.x) / 2, y: (a.y + b.y) / 2 };
    return {
      move: () => {
        const [p, q] = [...points.values()];
        if (!p || !q) return;
        const nextDistance = Math.hypot(p.x - q.x, p.y - q.y) || 1;
        const nextMid = { x: (p.x + q.x) / 2, y: (p.y + q.y) / 2 };
        this.panBy(nextMid.x - mid.x, nextMid.y - mid.y);
        this.zoomAt(nextMid.x, nextMid.y, nextDistance / distance);
        distance = nextDistance;
        mid = nextMid;
      },
      end() {},
      cancel() {},
    };
  }
}

function canScroll(element, deltaY) {
  if (element.scrollHeight <= element.clientHeight) return false;
  if (deltaY < 0) return element.scrollTop > 0;
  return element.scrollTop + element.clientHeight < element.scrollHeight - 1;
}

export function union(boxes) {
  let x1 = Infinity;
  let y1 = Infinity;
  let x2 = -Infinity;
  let y2 = -Infinity;
  for (const b of boxes) {
    x1 = Math.min(x1, b.x);
    y1 = Math.min(y1, b.y);
    x2 = Math.max(x2, b.x + b.w);
    y2 = Math.max(y2, b.y + b.h);
  }
  return x1 === Infinity ? null : { x: x1, y: y1, w: x2 - x1, h: y2 - y1 };
}
