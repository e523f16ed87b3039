// Keyboard access to nodes: Tab reaches them (in the order they were made), the arrow keys move to the
// nearest node in that direction, Enter selects the focused node (Shift+Enter adds it), F follows it up.
// A focused node is brought into view; the focus ring is drawn inside it (canvas.css).

const DIRECTIONS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

// The node nearest to `from` whose centre lies in the direction (dx, dy), straight ahead preferred.
export function nearestNode(nodes, from, dx, dy) {
  const centre = (n) => ({ x: n.x + n.w / 2, y: n.y + n.h / 2 });
  const origin = centre(from);
  let best = null;
  let bestScore = Infinity;
  for (const node of nodes) {
    if (node.id === from.id) continue;
    const c = centre(node);
    const ahead = (c.x - origin.x) * dx + (c.y - origin.y) * dy;
    if (ahead <= 0) continue;
    const aside = Math.abs((c.x - origin.x) * dy + (c.y - origin.y) * dx);
    const score = ahead + 2 * aside;
    if (score < bestScore) { best = node; bestScore = score; }
  }
  return best;
}

export function bindNodeFocus(app) {
  const { view, store, viewport } = app;
  // The browser would scroll the clipped viewport to show a focused node; the canvas pans instead.
  view.container.addEventListener("focusin", (event) => {
    const element = event.target.closest?.(".node");
    if (!element || event.target !== element) return;
    viewport.element.scrollTop = 0;
    viewport.element.scrollLeft = 0;
    const node = store.get(element.dataset.id);
    if (node) viewport.reveal([node]);
  });

  // Keys pressed on a focused node (not on a button inside it); true when handled.
  return function onNodeKey(event) {
    const element = event.target.closest?.(".node");
    if (!element || event.target !== element || event.ctrlKey || event.metaKey || event.altKey) return false;
    const id = element.dataset.id;
    if (DIRECTIONS[event.key] && !event.shiftKey) {
      const [dx, dy] = DIRECTIONS[event.key];
      const next = nearestNode(store.all(), store.get(id), dx, dy);
      if (next) view.element(next.id)?.focus({ preventScroll: true });
      return true;
    }
    if (event.key === "Enter") {
      if (event.shiftKey) app.selection.toggle(id);
      else app.selection.only(id);
      return true;
    }
    if (event.key === "f" || event.key === "F") {
      if (!app.canWrite) return false;
      app.actions.followUp(id, event.shiftKey);
      return true;
    }
    return false;
  };
}
