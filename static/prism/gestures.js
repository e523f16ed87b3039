// One pointer gesture at a time on the canvas. On pointerdown `choose` picks what the press means
// (pan, move nodes, resize, select with a box) and returns a gesture {move, end, cancel}, or null to
// leave the press to the browser (buttons, links, text selection). Two touching fingers become a
// pinch. Esc cancels the gesture under way.

export class Gestures {
  constructor(element, { choose, pinch }) {
    this.element = element;
    this.choose = choose;
    this.pinch = pinch;
    this.active = null; // {gesture, pointerId}
    this.touches = new Map(); // pointerId -> {x, y}, touch pointers only
    element.addEventListener("pointerdown", (e) => this.down(e));
    element.addEventListener("pointermove", (e) => this.moveTo(e));
    element.addEventListener("pointerup", (e) => this.up(e, false));
    element.addEventListener("pointercancel", (e) => this.up(e, true));
    element.addEventListener("lostpointercapture", (e) => { if (this.active?.pointerId === e.pointerId) this.up(e, false); });
  }

  down(event) {
    if (event.pointerType === "touch") {
      this.touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
      if (this.touches.size === 2) {
        this.cancel();
        this.active = { gesture: this.pinch(this.touches), pointerId: null };
        return;
      }
    }
    if (this.active || (event.pointerType === "mouse" && event.button === 2)) return;
    const gesture = this.choose(event);
    if (!gesture) return;
    event.preventDefault(); // no text selection or native drag while a gesture runs
    // The canvas takes the keyboard (a press no longer types into the composer), without scrolling.
    if (document.activeElement !== this.element) this.element.focus({ preventScroll: true });
    this.active = { gesture, pointerId: event.pointerId };
    this.element.setPointerCapture(event.pointerId);
  }

  moveTo(event) {
    if (this.touches.has(event.pointerId)) this.touches.set(event.pointerId, { x: event.clientX, y: event.clientY });
    if (!this.active) return;
    if (this.active.pointerId === null || this.active.pointerId === event.pointerId) this.active.gesture.move(event);
  }

  up(event, cancelled) {
    this.touches.delete(event.pointerId);
    const active = this.active;
    if (!active) return;
    if (active.pointerId === null) {
      if (this.touches.size < 2) this.active = null; // the pinch ends when a finger lifts
      return;
    }
    if (active.pointerId !== event.pointerId) return;
    this.active = null;
    if (this.element.hasPointerCapture(event.pointerId)) this.element.releasePointerCapture(event.pointerId);
    if (cancelled) active.gesture.cancel();
    else active.gesture.end(event);
  }

  // Esc: undo the gesture under way. True if there was one.
  cancel() {
    const active = this.active;
    if (!active) return false;
    this.active = null;
    if (active.pointerId !== null && this.element.hasPointerCapture(active.pointerId)) {
      this.element.releasePointerCapture(active.pointerId);
    }
    active.gesture.cancel();
    return true;
  }
}
