// The canvas page: renders nodes, applies live events, and keeps the prompt form's parents.
import { connectCanvas } from "./socket.js";
import { NodeStreams } from "./stream.js";

const page = document.getElementById("canvas-page");
const world = document.getElementById("world");
const models = JSON.parse(document.getElementById("models-data").textContent);
const streams = new NodeStreams();
const selected = new Set();
let socket = null;

function field(element, name) {
  return element.querySelector(`[data-field="${name}"]`);
}

function nodeElement(node) {
  let element = document.getElementById(`node-${node.id}`);
  if (element) return element;
  const template = document.getElementById("node-template");
  element = template.content.firstElementChild.cloneNode(true);
  element.id = `node-${node.id}`;
  element.dataset.id = node.id;
  world.appendChild(element);
  return element;
}

function metricsText(node) {
  const m = node.metrics || {};
  const parts = [];
  if (m.ttft_ms != null) parts.push(`TTFT ${m.ttft_ms} ms`);
  if (m.tokens_per_s) parts.push(`${m.tokens_per_s.toFixed(1)} tok/s`);
  if (m.output_tokens != null) parts.push(`${m.input_tokens} in · ${m.output_tokens} out${m.usage_estimated ? " (est.)" : ""}`);
  if (["done", "error", "cancelled", "interrupted"].includes(node.status)) {
    parts.push(node.cost == null ? "no price" : `$${node.cost}`);
  }
  return parts.join("  ");
}

// Text is always set with textContent: model output never becomes HTML here.
function render(node) {
  const element = nodeElement(node);
  element.className = `node node-${node.kind}` + (node.status ? ` status-${node.status}` : "");
  element.dataset.kind = node.kind;
  element.dataset.parents = (node.parents || []).join(",");
  element.style.left = `${node.x}px`;
  element.style.top = `${node.y}px`;
  element.style.width = `${node.w}px`;
  const title = node.kind === "response" ? (models[node.model]?.display_name || "Model") : node.kind[0].toUpperCase() + node.kind.slice(1);
  field(element, "title").textContent = title;
  field(element, "status").textContent = node.status || "";
  if (node.kind === "response") {
    streams.snapshot(node);
    paintText(node.id);
    field(element, "metrics").textContent = metricsText(node);
    const error = field(element, "error");
    error.hidden = !node.error;
    error.textContent = node.error ? `${node.error.code}: ${node.error.message}` : "";
  } else {
    field(element, "text").textContent = node.text;
  }
  drawEdges();
}

function paintText(id) {
  const element = document.getElementById(`node-${id}`);
  if (!element) return;
  const state = streams.state(id);
  field(element, "text").textContent = state.text;
  field(element, "reasoning").textContent = state.reasoning;
  field(element, "reasoning-block").hidden = !state.reasoning;
  element.dataset.seq = state.seq;
}

function setStatus(id, status) {
  const element = document.getElementById(`node-${id}`);
  if (!element || element.classList.contains(`status-${status}`)) return;
  element.className = element.className.replace(/status-\S+/, "") + ` status-${status}`;
  field(element, "status").textContent = status;
}

const handlers = {
  "node.snapshot": (event) => render(event.node),
  "node.created": (event) => render(event.node),
  "node.updated": (event) => render(event.node),
  "node.done": (event) => render(event.node),
  "node.error": (event) => render(event.node),
  "node.delta": (event) => {
    const result = streams.delta(event);
    if (result === "applied") { paintText(event.node); setStatus(event.node, "streaming"); }
    if (result === "gap") socket?.reconnect(); // a fresh snapshot closes any gap
  },
};

function drawEdges() {
  const svg = document.getElementById("edges");
  const lines = [];
  for (const child of world.querySelectorAll(".node")) {
    for (const parentId of (child.dataset.parents || "").split(",").filter(Boolean)) {
      const parent = document.getElementById(`node-${parentId}`);
      if (!parent) continue;
      const x1 = parent.offsetLeft + parent.offsetWidth / 2, y1 = parent.offsetTop + parent.offsetHeight;
      const x2 = child.offsetLeft + child.offsetWidth / 2, y2 = child.offsetTop;
      lines.push(`<path d="M${x1},${y1} C${x1},${(y1 + y2) / 2} ${x2},${(y1 + y2) / 2} ${x2},${y2}" />`);
    }
  }
  svg.innerHTML = lines.join("");
}

function seedFromPage() {
  for (const element of world.querySelectorAll(".node-response")) {
    streams.snapshot({
      id: element.dataset.id,
      text: field(element, "text").textContent,
      reasoning: field(element, "reasoning").textContent,
      seq: Number(element.dataset.seq || 0),
    });
  }
}

function updateFollowing() {
  const parents = document.getElementById("prompt-parents");
  if (!parents) return;
  parents.value = [...selected].join(",");
  document.getElementById("following").hidden = selected.size === 0;
  document.getElementById("following-count").textContent = selected.size;
  for (const element of world.querySelectorAll(".node")) element.classList.toggle("selected", selected.has(element.dataset.id));
}

world.addEventListener("click", (event) => {
  const button = event.target.closest("[data-action='follow-up']");
  if (!button) return;
  const id = button.closest(".node").dataset.id;
  if (!(event.shiftKey || event.metaKey || event.ctrlKey)) selected.clear();
  selected.add(id);
  updateFollowing();
  document.getElementById("prompt-text")?.focus();
});

document.getElementById("clear-parents")?.addEventListener("click", () => { selected.clear(); updateFollowing(); });

// The socket's node.created may have drawn a node before the form's response arrived; the socket's
// copy is the live one, and it comes first in the page.
function dropDuplicates() {
  const seen = new Set();
  for (const element of world.querySelectorAll(".node")) {
    if (seen.has(element.id)) element.remove();
    else seen.add(element.id);
  }
}

document.body.addEventListener("htmx:afterSwap", () => { dropDuplicates(); seedFromPage(); drawEdges(); selected.clear(); updateFollowing(); });
document.body.addEventListener("htmx:responseError", (event) => {
  const error = document.getElementById("prompt-error");
  error.hidden = false;
  error.textContent = event.detail.xhr.responseText || "The prompt could not be sent.";
});
document.body.addEventListener("htmx:beforeRequest", () => { const e = document.getElementById("prompt-error"); if (e) e.hidden = true; });

seedFromPage();
drawEdges();
socket = connectCanvas(page.dataset.canvas, (event) => handlers[event.type]?.(event), (state) => {
  const badge = document.getElementById("connection");
  badge.dataset.state = state;
  badge.textContent = state;
});
