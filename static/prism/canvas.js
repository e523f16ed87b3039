// The canvas page: wires the modules together, applies the WebSocket's events to the store and the
// view, and opens the page to other modules (presence, comments) without their editing this one:
// every event is re-published as a `prism:event` DOM event, and window.prism offers send(),
// canvasId, selection() and node().

import { Actions } from "./actions.js";
import { api } from "./api.js";
import { Composer } from "./composer.js";
import { Dragging } from "./drag.js";
import { Edges } from "./edges.js";
import { FAR_ZOOM, MarkdownBacklog } from "./backlog.js";
import { FocusView } from "./focus.js";
import { bindDrawer } from "./drawer.js";
import { write } from "./frame.js";
import { Gestures } from "./gestures.js";
import { bindKeys } from "./keys.js";
import { renderMarkdown } from "./markdown.js";
import { calibrate, canvasCost, forget, learnRatios, noteDelta, noteSeen } from "./metrics.js";
import { NodeView } from "./node-view.js";
import { Selection } from "./selection.js";
import { connectCanvas } from "./socket.js";
import { FINISHED, NodeStore, RUNNING } from "./store.js";
import { NodeStreams } from "./stream.js";
import { Viewport } from "./viewport.js";
import { Votes } from "./votes.js";

const page = document.getElementById("canvas-page");
const json = (id) => JSON.parse(document.getElementById(id).textContent);
const store = new NodeStore();
const streams = new NodeStreams();
const app = {
  canvasId: page.dataset.canvas,
  canWrite: page.dataset.canWrite === "true",
  models: json("models-data"),
  store,
  streams,
};
learnRatios(app.models);

app.view = new NodeView({
  container: document.getElementById("nodes"),
  template: document.getElementById("node-template"),
  store,
  streams,
  models: app.models,
  onCreated: (node, element) => element.classList.toggle("selected", app.selection?.has(node.id) || false),
});
app.backlog = new MarkdownBacklog(app);
app.view.backlog = app.backlog;
app.edges = new Edges(document.getElementById("edges"), store);
app.viewport = new Viewport(document.getElementById("viewport"), document.getElementById("world"), {
  key: `prism.view.${app.canvasId}`,
  zoomLabel: document.getElementById("zoom-level"),
  onChange: onViewChange,
});

// Zoomed far out, nodes show their titles only: nothing to read at that size, and far less to paint;
// further out still, where even a title is a smudge, they are plain boxes.
const TINY_ZOOM = 0.15;
function onViewChange(viewport) {
  const far = viewport.k < FAR_ZOOM;
  const tiny = viewport.k < TINY_ZOOM;
  if (viewport.element.classList.contains("far") !== far) viewport.element.classList.toggle("far", far);
  if (viewport.element.classList.contains("tiny") !== tiny) viewport.element.classList.toggle("tiny", tiny);
  if (app.backlog.stale.size) setTimeout(() => app.backlog.pass(), 0);
}
app.selection = new Selection({ store, view: app.view, band: document.getElementById("band"), viewport: app.viewport });
app.selection.onChange((selection) => write("edge-highlight", () => app.edges.highlight(selection.ids)));
app.dragging = new Dragging(app);
app.actions = new Actions(app);
app.votes = new Votes(app);
app.focus = new FocusView(app);
const form = document.getElementById("prompt-form");
app.composer = form ? new Composer(app, form) : null;

// What a press on the canvas means.
app.gestures = new Gestures(app.viewport.element, {
  pinch: (points) => app.viewport.startPinch(points),
  choose(event) {
    const target = event.target;
    if (app.spaceHeld || event.button === 1) return app.viewport.startPan(event);
    if (target.closest(".toolbar, .toast, button, a, input, textarea, select, summary, .note-editor")) return null;
    const element = target.closest(".node");
    if (!element) {
      if (event.shiftKey || event.ctrlKey || event.metaKey) return app.selection.startBand(event);
      return backgroundPan(event);
    }
    const id = element.dataset.id;
    if (target.closest("[data-resize]") && app.canWrite) return app.dragging.startResize(event, id);
    if (target.closest("[data-drag]")) {
      if (app.canWrite) return app.dragging.startMove(event, id);
      app.selection.press(id, event);
    }
    return null; // the text: left to the browser, so words can be selected (a click selects the node)
  },
});

// A drag on the background pans; a click there (no drag) clears the selection.
function backgroundPan(event) {
  const pan = app.viewport.startPan(event);
  const start = { x: event.clientX, y: event.clientY };
  let moved = false;
  return {
    move(e) { moved ||= Math.hypot(e.clientX - start.x, e.clientY - start.y) > 3; pan.move(e); },
    end(e) { pan.end(e); if (!moved) app.selection.clear(); },
    cancel() { pan.cancel(); },
  };
}

// Merges a node payload (from the socket or an HTTP reply) into the store and repaints it.
app.apply = (payload, { seen = false } = {}) => {
  let incoming = payload;
  if (app.dragging.holds(payload.id)) {
    const { x, y, w, h, ...rest } = payload; // our own drag or save decides where it is for now
    incoming = { ...store.get(payload.id), ...rest };
  }
  const before = store.get(payload.id);
  const geometry = before && `${before.x},${before.y},${before.w},${before.h}`;
  const status = before?.status;
  const node = store.upsert(incoming);
  if (node.kind === "response") {
    streams.snapshot(payload);
    if (seen && RUNNING.has(node.status)) noteSeen(node.id);
  }
  app.view.paint(node.id);
  app.votes.touch(node);
  if (!before || geometry !== `${node.x},${node.y},${node.w},${node.h}`) app.edges.touch(node.id);
  if (!before) paintEmptyHint();
  if (node.kind === "response" && status !== node.status) {
    for (const parent of node.parents) app.view.paint(parent); // the question's "running" mark
    if (FINISHED.has(node.status)) {
      forget(node.id);
      updateCost();
      calibrate(node, streams.state(node.id).text, streams.state(node.id).reasoning);
    }
  }
  return node;
};

function onDelta(event) {
  const result = streams.delta(event);
  if (result === "gap") { socket?.reconnect(); return; } // a fresh snapshot closes any gap
  if (result !== "applied") return;
  noteDelta(event.node, (event.text || "").length + (event.reasoning || "").length);
  const node = store.get(event.node);
  if (node && node.status === "queued") {
    node.status = "streaming";
    app.view.paint(node.id);
    for (const parent of node.parents) app.view.paint(parent);
  } else {
    app.view.text.request(event.node);
  }
}

// A node deleted, here or by someone else: gone from the page with its edges, its question repainted.
app.removeNode = (id) => {
  const node = store.get(id);
  if (!node) return;
  store.remove(id);
  app.view.remove(id);
  app.edges.forget(id);
  app.backlog.delete(id);
  forget(id);
  app.selection.set(app.selection.list());
  for (const parent of node.parents) { app.view.paint(parent); app.votes.touch(store.get(parent)); }
  updateCost();
  paintEmptyHint();
};

// An empty canvas says what to do; the first node sends the explanation away.
function paintEmptyHint() {
  const hint = document.getElementById("empty-hint");
  if (hint && hint.hidden !== store.size > 0) hint.hidden = store.size > 0;
}

const handlers = {
  "node.snapshot": (event) => app.apply(event.node),
  "node.created": (event) => app.apply(event.node, { seen: true }),
  "node.updated": (event) => app.apply(event.node),
  "node.done": (event) => app.apply(event.node),
  "node.error": (event) => app.apply(event.node),
  "node.delta": onDelta,
  "node.deleted": (event) => app.removeNode(event.node),
  // The author showed which model gave each answer: everyone, share-link guests included.
  "prompt.revealed": (event) => {
    for (const [id, model] of Object.entries(event.models || {})) app.models[id] ||= model;
    for (const node of [event.prompt, ...event.responses]) app.apply(node);
  },
  "vote.recorded": (event) => app.votes.recorded(event.vote),
  "vote.deleted": (event) => app.votes.deleted(event.vote),
};

function updateCost() {
  write("cost", () => {
    const { total, unpriced } = canvasCost(store.all());
    const element = document.getElementById("canvas-cost");
    element.querySelector("[data-field=total]").textContent = total;
    const note = element.querySelector("[data-field=unpriced]");
    note.hidden = unpriced === 0;
    note.textContent = `(${unpriced} without a price)`;
  });
}

// Helpers other modules use.
app.textOf = (id) => {
  const node = store.get(id);
  return node?.kind === "response" ? streams.state(id).text : node?.text || "";
};
app.describe = (id) => {
  const node = store.get(id);
  if (!node) return id;
  const title = app.view.title(node);
  const text = app.textOf(id).replace(/\s+/g, " ").trim();
  return `${title}: ${text.length > 60 ? `${text.slice(0, 60)}…` : text || "(empty)"}`;
};
let toastTimer = null;
app.toast = (message) => {
  const toast = document.getElementById("toast");
  toast.textContent = message;
  toast.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { toast.hidden = true; }, 4000);
};

// First paint: every node placed with its plain text at once; the Markdown of the nodes in view
// follows at once, the rest in idle time (backlog.js), so a large canvas is usable straight away.
function boot() {
  for (const payload of json("nodes-data")) {
    store.upsert(payload);
    if (payload.kind === "response") streams.snapshot(payload);
  }
  for (const node of store.all()) {
    if (node.kind === "response" && FINISHED.has(node.status)) calibrate(node, node.text, node.reasoning);
    app.view.ensure(node);
    app.view.paintNow(node.id, "plain");
    app.votes.touch(node);
    if (app.textOf(node.id)) app.backlog.add(node.id);
  }
  app.edges.drawAll();
  if (!app.viewport.restore()) app.actions.fit();
  showLinkedNode();
  updateCost();
  paintEmptyHint();
  app.viewport.apply();
  performance.mark("prism:placed"); // every node is in the page, placed, with its plain text
  app.backlog.onVisibleDone = ready;
  app.backlog.pass();
}

// A link from search (/canvases/<id>/#node-<node id>) opens the canvas on that node, selected.
function showLinkedNode() {
  const id = decodeURIComponent(window.location.hash.replace(/^#node-/, ""));
  const node = window.location.hash.startsWith("#node-") && store.get(id);
  if (!node) return;
  app.selection.only(id);
  app.viewport.reveal([node]);
}

function ready() {
  performance.mark("prism:ready"); // and the Markdown of every node in view is rendered
  document.documentElement.dataset.canvasReady = "true";
  document.dispatchEvent(new CustomEvent("prism:ready"));
}

// The elapsed time of running responses moves on even between deltas.
setInterval(() => {
  for (const node of store.all()) {
    if (node.kind === "response" && RUNNING.has(node.status)) write(`metrics:${node.id}`, () => app.view.paintMetrics(node.id));
  }
}, 1000);

boot();
bindKeys(app);
bindDrawer(app);

const socket = connectCanvas(
  app.canvasId,
  (event) => {
    handlers[event.type]?.(event);
    document.dispatchEvent(new CustomEvent("prism:event", { detail: event }));
  },
  (state) => {
    const badge = document.getElementById("connection");
    if (state === "live" && badge.dataset.state === "offline") resync();
    badge.dataset.state = state;
    badge.textContent = state;
  },
);

// After a lost connection the snapshots cover only what still runs: answers that ended, and nodes
// made or moved meanwhile, come from the API. (A share-link guest may not call it; its page stays as
// the socket leaves it.)
async function resync() {
  try {
    const canvas = await api("GET", `/canvases/${app.canvasId}`);
    for (const node of canvas.nodes) app.apply(node);
  } catch {
    /* the next reconnect tries again */
  }
}

window.prism = {
  canvasId: app.canvasId,
  send: (message) => socket.send(message),
  selection: () => app.selection.list(),
  // A copy of the node as this page knows it, with the text streamed so far.
  node(id) {
    const node = store.get(id);
    if (!node) return null;
    const copy = structuredClone(node);
    if (node.kind === "response") Object.assign(copy, streams.state(id));
    return copy;
  },
  renderMarkdown,
  viewport: app.viewport,
  // Each node's kind, parents and age, for the canvas menu (which question to compare).
  outline: () => [...store.all()].map(({ id, kind, parents, created_at }) => ({ id, kind, parents, created_at })),
  describe: (id) => app.describe(id),
  // Select one node and bring it into view.
  show(id) {
    const node = store.get(id);
    if (!node) return;
    app.selection.only(id);
    app.viewport.reveal([node]);
  },
  toast: (message) => app.toast(message),
};
