// Keyboard shortcuts for the canvas (listed in templates/canvas/_help.html, which `?` opens). They
// never fire while the reader types in a field; Space held down turns any drag into a pan. A node with
// the keyboard focus has keys of its own first (node-focus.js).

import { bindNodeFocus } from "./node-focus.js";

const NUDGE = 10;
const NUDGE_FAR = 50;
const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

function typing(target) {
  return target.closest?.("input, textarea, select, [contenteditable=''], [contenteditable=true]");
}

export function bindKeys(app) {
  const help = document.getElementById("help");
  const viewportElement = app.viewport.element;
  const toggleHelp = () => (help.open ? help.close() : help.showModal());
  document.getElementById("help-button")?.addEventListener("click", toggleHelp);
  app.spaceHeld = false;
  const onNodeKey = bindNodeFocus(app);

  document.addEventListener("keyup", (event) => {
    if (event.key === " ") { app.spaceHeld = false; viewportElement.classList.remove("space"); }
  });
  window.addEventListener("blur", () => { app.spaceHeld = false; viewportElement.classList.remove("space"); });

  document.addEventListener("keydown", (event) => {
    // An open dialog (help, or what the canvas menu opens) handles its own keys and Esc.
    if (event.defaultPrevented || document.querySelector("dialog[open]")) return;
    if (typing(event.target)) {
      if (event.key === "Escape") event.target.blur();
      return;
    }
    if (event.target.closest?.("button, a, summary") && (event.key === "Enter" || event.key === " ")) return;
    if (onNodeKey(event)) { event.preventDefault(); return; }
    const selected = app.selection.list();
    const mod = event.ctrlKey || event.metaKey;
    if (mod && !event.altKey && event.key.toLowerCase() === "a") { event.preventDefault(); app.selection.all(); return; }
    if (mod || event.altKey) return; // the browser's own shortcuts stay the browser's
    if (ARROWS[event.key]) {
      if (!selected.length || !app.canWrite) return;
      event.preventDefault();
      const [dx, dy] = ARROWS[event.key];
      const step = event.shiftKey ? NUDGE_FAR : NUDGE;
      app.dragging.nudge(selected, dx * step, dy * step);
      return;
    }
    const action = SHORTCUTS[event.key];
    if (!action) return;
    event.preventDefault();
    action(app, selected, toggleHelp);
  });
}

const single = (selected) => (selected.length === 1 ? selected[0] : null);
const pairVote = (outcome) => (app, selected) => app.canWrite && app.votes.pair(selected, outcome);

const SHORTCUTS = {
  "?": (app, selected, toggleHelp) => toggleHelp(),
  f: (app) => app.actions.fit(),
  n: (app) => app.actions.newNote(),
  r: (app, selected) => app.canWrite && app.actions.regenerate(selected),
  ".": (app, selected) => app.canWrite && app.actions.stop(selected),
  s: (app, selected) => app.canWrite && app.actions.stop(selected),
  e: (app, selected) => single(selected) && app.actions.edit(single(selected)),
  c: (app, selected) => single(selected) && app.actions.copy(single(selected)),
  Delete: (app, selected) => app.canWrite && app.actions.remove(selected),
  v: (app, selected) => single(selected) && app.focus.show(single(selected)),
  Enter: (app) => app.composer?.focus(),
  1: pairVote("a"),
  2: pairVote("b"),
  3: pairVote("tie"),
  4: pairVote("both_bad"),
  b: (app, selected) => app.canWrite && app.votes.best(selected),
  "+": (app) => app.viewport.zoomCentre(1.25),
  "=": (app) => app.viewport.zoomCentre(1.25),
  "-": (app) => app.viewport.zoomCentre(0.8),
  _: (app) => app.viewport.zoomCentre(0.8),
  0: (app) => app.viewport.zoomTo(1),
  " ": (app) => { app.spaceHeld = true; app.viewport.element.classList.add("space"); },
  Escape: (app) => { if (!app.gestures.cancel()) app.selection.clear(); },
};
for (const key of ["f", "n", "r", "s", "e", "c", "b", "v"]) SHORTCUTS[key.toUpperCase()] = SHORTCUTS[key];
