// Comments on nodes, in each node's `.node-extras` slot. Members get the canvas's recent comments as
// `comment.snapshot` on every (re)connect, then `comment.created` / `comment.deleted` as they happen;
// share-link guests get none of these, so for them nothing here ever shows.

const byNode = new Map(); // node id → comments, oldest first
const open = new Set(); // node ids whose comment panel is open
let member = false; // set by the first snapshot: only members are sent comments, and may write them
let nextRef = 1;
const pending = new Map(); // ref → node id, for errors the server answers a comment with

function time(iso) {
  const date = new Date(iso);
  return date.toLocaleString(undefined, { dateStyle: "short", timeStyle: "short" });
}

function add(comment) {
  const list = byNode.get(comment.node) || [];
  if (!list.some((c) => c.id === comment.id)) list.push(comment);
  byNode.set(comment.node, list);
}

function slotOf(nodeId) {
  return document.querySelector(`#node-${CSS.escape(nodeId)} .node-extras`);
}

// Text is always set with textContent: a comment never becomes HTML here.
function paint(nodeId) {
  const slot = slotOf(nodeId);
  if (!slot || !member) return;
  const comments = byNode.get(nodeId) || [];
  const toggle = document.createElement("button");
  toggle.type = "button";
  toggle.className = "link comments-toggle";
  toggle.dataset.action = "comments";
  toggle.setAttribute("aria-expanded", String(open.has(nodeId)));
  toggle.textContent = comments.length ? `Comments (${comments.length})` : "Comment";
  toggle.addEventListener("click", () => {
    if (open.has(nodeId)) open.delete(nodeId);
    else open.add(nodeId);
    paint(nodeId);
    if (open.has(nodeId)) slotOf(nodeId)?.querySelector("textarea")?.focus();
  });
  const parts = [toggle];
  if (open.has(nodeId)) parts.push(panel(nodeId, comments));
  slot.replaceChildren(...parts);
}

// One comment as a list item: who, when (and, in the canvas's panel, a link to its node), what.
function commentItem(comment, where = null) {
  const item = document.createElement("li");
  item.className = "comment";
  item.dataset.id = comment.id;
  const head = document.createElement("div");
  head.className = "comment-head";
  const author = document.createElement("strong");
  author.textContent = comment.author;
  const when = document.createElement("span");
  when.className = "muted";
  when.textContent = ` · ${time(comment.created_at)}${where ? " · " : ""}`;
  head.append(author, when);
  if (where) head.append(where);
  const text = document.createElement("p");
  text.className = "comment-text";
  text.textContent = comment.text;
  item.append(head, text);
  return item;
}

function panel(nodeId, comments) {
  const box = document.createElement("div");
  box.className = "comments";
  const list = document.createElement("ol");
  list.className = "comment-list";
  for (const comment of comments) list.append(commentItem(comment));
  const form = document.createElement("form");
  form.className = "comment-form";
  const input = document.createElement("textarea");
  input.rows = 2;
  input.maxLength = 10000;
  input.placeholder = "Write a comment… (Enter sends)";
  input.setAttribute("aria-label", "Comment");
  const error = document.createElement("p");
  error.className = "error comment-error";
  error.hidden = true;
  const send = document.createElement("button");
  send.type = "submit";
  send.textContent = "Send";
  form.append(input, send, error);
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (!text) return;
    if (post(nodeId, text, error)) input.value = "";
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) {
      event.preventDefault();
      form.requestSubmit();
    }
  });
  box.append(list, form);
  return box;
}

// Sends a comment; false (with the reason in `error`) when the socket is not open.
function post(nodeId, text, error) {
  const ref = `c${nextRef++}`;
  if (!window.prism?.send({ type: "comment.create", node: nodeId, text, ref })) {
    error.textContent = "Not connected: the comment was not sent.";
    error.hidden = false;
    return false;
  }
  error.hidden = true;
  pending.set(ref, nodeId);
  return true;
}

function showError(event) {
  const nodeId = pending.get(event.ref);
  pending.delete(event.ref);
  const error = nodeId && (canvasPanel.open ? canvasPanel.error : slotOf(nodeId)?.querySelector(".comment-error"));
  if (!error) return;
  error.textContent = event.error?.message || "The comment was not saved.";
  error.hidden = false;
}

// The canvas menu's Comments panel: every comment on the canvas, newest first, each leading to its node;
// and a comment on the selected node.
const canvasPanel = {
  dialog: document.getElementById("comments-dialog"),
  get open() { return Boolean(this.dialog?.open); },
  get error() { return this.dialog.querySelector("[data-field=error]"); },
  target: null,

  show() {
    if (!this.dialog) return;
    const [selected] = window.prism?.selection() || [];
    this.target = selected || null;
    const form = this.dialog.querySelector("form");
    const input = form.querySelector("textarea");
    form.querySelector("[data-field=target]").textContent = this.target
      ? `On ${window.prism.describe(this.target)}`
      : "Select a node on the canvas to comment on it.";
    input.disabled = form.querySelector("button").disabled = !this.target || !member;
    this.error.hidden = true;
    this.render();
    this.dialog.showModal();
    if (!input.disabled) input.focus();
  },

  render() {
    if (!this.open) return;
    const all = [...byNode.values()].flat().sort((a, b) => b.created_at.localeCompare(a.created_at));
    const items = all.map((comment) => {
      const where = document.createElement("button");
      where.type = "button";
      where.className = "link";
      where.textContent = window.prism.node(comment.node) ? window.prism.describe(comment.node) : "a deleted node";
      where.title = "Show this node on the canvas";
      where.addEventListener("click", () => { this.dialog.close(); window.prism.show(comment.node); });
      return commentItem(comment, where);
    });
    this.dialog.querySelector("[data-field=list]").replaceChildren(...items);
    this.dialog.querySelector("[data-field=empty]").hidden = items.length > 0;
  },
};

if (canvasPanel.dialog) {
  const form = canvasPanel.dialog.querySelector("form");
  const input = form.querySelector("textarea");
  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const text = input.value.trim();
    if (text && canvasPanel.target && post(canvasPanel.target, text, canvasPanel.error)) input.value = "";
  });
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) { event.preventDefault(); form.requestSubmit(); }
  });
  document.addEventListener("prism:comments", () => canvasPanel.show());
}

const handlers = {
  "comment.snapshot"(event) {
    member = true;
    byNode.clear();
    for (const comment of event.comments || []) add(comment);
    // Every node on the page, each once: those that lost their comments since included.
    for (const element of document.querySelectorAll(".node[data-id]")) paint(element.dataset.id);
    canvasPanel.render();
  },
  "comment.created"(event) {
    add(event.comment);
    paint(event.comment.node);
    canvasPanel.render();
  },
  "comment.deleted"(event) {
    const list = (byNode.get(event.comment.node) || []).filter((c) => c.id !== event.comment.id);
    byNode.set(event.comment.node, list);
    paint(event.comment.node);
    canvasPanel.render();
  },
  "node.created"(event) {
    requestAnimationFrame(() => paint(event.node.id));
  },
  error(event) {
    if (event.ref && pending.has(event.ref)) showError(event);
  },
};

document.addEventListener("prism:event", (event) => handlers[event.detail.type]?.(event.detail));
