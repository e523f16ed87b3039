// The comparison page of one prompt: a column per response, a sortable metrics table and a word
// diff of two responses, all kept live from the canvas WebSocket.
// Model output is untrusted: answers go through the canvas's own Markdown renderer (markdown.js: raw
// HTML shown as text, DOMPurify after rendering); every other piece of model text (reasoning, errors,
// the diff) is set with textContent.
import { diffWords } from "./diff.js";
import { renderMarkdown } from "./markdown.js";
import { connectCanvas } from "./socket.js";
import { FINISHED } from "./store.js";
import { NodeStreams } from "./stream.js";

const data = JSON.parse(document.getElementById("compare-data").textContent);
const columns = document.getElementById("columns");
const table = document.getElementById("metrics-table");
const pickA = document.getElementById("diff-a");
const pickB = document.getElementById("diff-b");
const streams = new NodeStreams();
const responses = new Map(); // id -> the latest node payload, in column order
const dirty = new Set();
let sort = { key: null, dir: 1 };
let socket = null;
let frame = 0;
// The table shows each node's status and stored metrics, which a streamed chunk does not change: it is
// painted again only when a node does.
let tableStale = true;

const modelName = (node) => data.models[node.model]?.display_name || "Model";
const metric = (name) => (node) => node.metrics?.[name] ?? null;
const count = (name) => (node) => {
  const value = node.metrics?.[name];
  return value == null ? "—" : `${value}${node.metrics.usage_estimated ? " (est.)" : ""}`;
};

// One entry per table column: the value it sorts by and the text it shows.
const METRICS = {
  model: { value: modelName },
  status: { value: (node) => node.status },
  ttft: { value: metric("ttft_ms") },
  speed: { value: metric("tokens_per_s"), text: (node) => node.metrics?.tokens_per_s?.toFixed(1) ?? "—" },
  input: { value: metric("input_tokens"), text: count("input_tokens") },
  cached: { value: metric("cached_input_tokens") },
  output: { value: metric("output_tokens"), text: count("output_tokens") },
  reasoning: { value: metric("reasoning_tokens") },
  duration: {
    value: metric("duration_ms"),
    text: (node) => (node.metrics?.duration_ms == null ? "—" : `${(node.metrics.duration_ms / 1000).toFixed(2)} s`),
  },
  cost: {
    value: (node) => (node.cost == null ? null : Number(node.cost)),
    text: (node) => (node.cost != null ? `$${node.cost}` : FINISHED.has(node.status) ? "no price" : "—"),
  },
};

function field(element, name) {
  return element.querySelector(`[data-field="${name}"]`);
}

function upsert(node) {
  const known = responses.has(node.id);
  if (!known && !(node.kind === "response" && (node.parents || []).includes(data.prompt))) return;
  responses.set(node.id, node);
  streams.snapshot(node);
  if (!known) addChoice(node);
  tableStale = true;
  changed(node.id);
}

function changed(id) {
  dirty.add(id);
  if (!frame) frame = requestAnimationFrame(paint);
}

function paint() {
  cancelAnimationFrame(frame);
  frame = 0;
  for (const id of dirty) paintColumn(responses.get(id));
  document.getElementById("no-responses").hidden = responses.size > 0;
  if (tableStale) paintTable();
  tableStale = false;
  if (dirty.has(pickA.value) || dirty.has(pickB.value)) paintDiff();
  dirty.clear();
}

function paintColumn(node) {
  let element = document.getElementById(`column-${node.id}`);
  if (!element) {
    element = document.getElementById("column-template").content.firstElementChild.cloneNode(true);
    element.id = `column-${node.id}`;
    element.dataset.id = node.id;
    field(element, "title").textContent = modelName(node);
    field(element, "simulated").hidden = !data.models[node.model]?.simulated;
    columns.appendChild(element);
  }
  const state = streams.state(node.id);
  element.dataset.status = node.status;
  element.dataset.seq = state.seq;
  field(element, "status").textContent = node.status;
  const error = field(element, "error");
  error.hidden = !node.error;
  error.textContent = node.error ? `${node.error.code}: ${node.error.message}` : "";
  field(element, "reasoning-block").hidden = !state.reasoning;
  field(element, "reasoning").textContent = state.reasoning;
  renderMarkdown(field(element, "text"), state.text);
}

function sorted() {
  const nodes = [...responses.values()];
  if (!sort.key) return nodes;
  const value = METRICS[sort.key].value;
  // Missing values go last whichever way the column is sorted; Array.sort keeps ties in column order.
  return nodes.sort((a, b) => {
    const x = value(a), y = value(b);
    if (x == null || y == null) return (x == null) - (y == null);
    return sort.dir * (typeof x === "number" ? x - y : String(x).localeCompare(String(y)));
  });
}

function paintTable() {
  const rows = sorted().map((node) => {
    const row = document.createElement("tr");
    row.dataset.id = node.id;
    for (const [key, column] of Object.entries(METRICS)) {
      const cell = document.createElement("td");
      cell.dataset.key = key;
      cell.textContent = column.text ? column.text(node) : (column.value(node) ?? "—");
      row.appendChild(cell);
    }
    return row;
  });
  table.tBodies[0].replaceChildren(...rows);
  for (const th of table.tHead.rows[0].cells) {
    const order = th.dataset.key === sort.key ? (sort.dir > 0 ? "ascending" : "descending") : null;
    if (order) th.setAttribute("aria-sort", order);
    else th.removeAttribute("aria-sort");
  }
}

table.tHead.addEventListener("click", (event) => {
  const key = event.target.closest("th")?.dataset.key;
  if (!key) return;
  sort = { key, dir: sort.key === key ? -sort.dir : 1 };
  paintTable();
});

function addChoice(node) {
  const number = responses.size;
  for (const select of [pickA, pickB]) {
    const option = document.createElement("option");
    option.value = node.id;
    option.textContent = `${number}. ${modelName(node)}`;
    select.appendChild(option);
  }
  if (number === 2) pickB.selectedIndex = 1;
}

function paintDiff() {
  const out = document.getElementById("diff");
  if (!pickA.value || !pickB.value) {
    out.textContent = "";
    return;
  }
  const parts = diffWords(streams.state(pickA.value).text, streams.state(pickB.value).text).map(({ op, text }) => {
    if (op === "equal") return document.createTextNode(text);
    const mark = document.createElement(op === "insert" ? "ins" : "del");
    mark.textContent = text;
    return mark;
  });
  out.replaceChildren(...parts);
}

pickA.addEventListener("change", paintDiff);
pickB.addEventListener("change", paintDiff);

const handlers = {
  "node.snapshot": (event) => upsert(event.node),
  "node.created": (event) => upsert(event.node),
  "node.done": (event) => upsert(event.node),
  "node.error": (event) => upsert(event.node),
  "node.updated": (event) => {
    if (event.node.id === data.prompt) document.getElementById("prompt-text").textContent = event.node.text;
  },
  "node.delta": (event) => {
    const node = responses.get(event.node);
    if (!node) return;
    const result = streams.delta(event);
    if (result === "gap") socket?.reconnect(); // a fresh snapshot closes any gap
    if (result !== "applied") return;
    if (node.status === "queued") {
      node.status = "streaming";
      tableStale = true;
    }
    changed(node.id);
  },
};

for (const node of data.responses) upsert(node);
paint();
socket = connectCanvas(data.canvas, (event) => handlers[event.type]?.(event), (state) => {
  const badge = document.getElementById("connection");
  badge.dataset.state = state;
  badge.textContent = state;
});
