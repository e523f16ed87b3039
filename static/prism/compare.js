// The comparison page of one prompt: a column per response, a sortable metrics table and a word
// diff of two responses, all kept live from the canvas WebSocket.
// Model output is untrusted: answers go through the canvas's own Markdown renderer (markdown.js: raw
// HTML shown as text, DOMPurify after rendering), their reasoning too; every other piece of model text
// (errors, the diff) is set with textContent.
// Votes: the two responses picked for the diff are A and B of a pairwise vote (keys 1–4), B makes A the
// best of all; on a blind prompt the columns say "Answer C" until one has voted, and the vote's reply
// brings the models. A judge model's votes are listed apart, with its rationale; the form below them asks
// one to judge each pair.
import { api } from "./api.js";
import { diffWords } from "./diff.js";
import { renderMarkdown } from "./markdown.js";
import { costText } from "./metrics.js";
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

const modelName = (node) => {
  const name = data.models[node.model]?.display_name;
  if (node.label) return node.hidden || !name ? `Answer ${node.label}` : `${node.label} · ${name}`;
  return name || "Model";
};
const votes = new Map((data.votes || []).map((vote) => [vote.id, vote]));
// The models that may judge, by id: the page is rendered without any model list (a blind prompt's page
// names no model), so they are asked for when a judge's vote or the judge form needs them.
const judges = new Map();
let judgesAsked = null;
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
    text: (node) => {
      if (node.hidden) return "hidden";
      return FINISHED.has(node.status) ? costText(node) : "—";
    },
  },
};

function field(element, name) {
  return element.querySelector(`[data-field="${name}"]`);
}

function upsert(node) {
  const known = responses.has(node.id);
  if (!known && !(node.kind === "response" && (node.parents || []).includes(data.prompt))) return;
  const before = responses.get(node.id);
  if (before && before.hidden && !node.hidden) renameChoice(node);
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
    columns.appendChild(element);
  }
  field(element, "title").textContent = modelName(node);
  field(element, "simulated").hidden = !data.models[node.model]?.simulated;
  field(element, "best").hidden = !(data.can_vote && node.status === "done" && finished().length >= 2);
  const state = streams.state(node.id);
  element.dataset.status = node.status;
  element.dataset.seq = state.seq;
  field(element, "status").textContent = node.status;
  const error = field(element, "error");
  error.hidden = !node.error;
  error.textContent = node.error ? `${node.error.code}: ${node.error.message}` : "";
  field(element, "reasoning-block").hidden = !state.reasoning;
  renderMarkdown(field(element, "reasoning"), state.reasoning);
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
    option.dataset.number = number;
    option.textContent = `${number}. ${modelName(node)}`;
    select.appendChild(option);
  }
  if (number === 2) pickB.selectedIndex = 1;
}

function renameChoice(node) {
  for (const option of document.querySelectorAll(`option[value="${CSS.escape(node.id)}"]`)) {
    option.textContent = `${option.dataset.number}. ${modelName(node)}`;
  }
}

// --- votes --------------------------------------------------------------------------------------------

const finished = () => [...responses.values()].filter((node) => node.status === "done");
const SIGNS = { a: "≻", b: "≺", tie: "=" };

function describe(vote) {
  const name = (id) => (responses.has(id) ? modelName(responses.get(id)) : "an answer");
  const what = vote.outcome === "both_bad"
    ? `${name(vote.a)} and ${name(vote.b)} both bad`
    : `${name(vote.a)} ${SIGNS[vote.outcome]} ${name(vote.b)}`;
  if (vote.judge.model) {
    const judge = judges.get(vote.judge.model)?.display_name || "a judge model";
    return `Judged by ${judge}: ${what}${vote.judge.rationale ? ` — ${vote.judge.rationale}` : ""}`;
  }
  return `${vote.judge.user}${vote.judge.user === data.user ? " (you)" : ""}: ${what}`;
}

function voteItems(list) {
  return list.map((vote) => {
    const item = document.createElement("li");
    item.dataset.id = vote.id;
    item.textContent = describe(vote);
    return item;
  });
}

function paintVotes() {
  // People's votes, then each judge model's apart (named once the model list has come).
  const all = [...votes.values()];
  const people = all.filter((vote) => vote.judge.user);
  const judged = all.filter((vote) => vote.judge.model);
  if (judged.some((vote) => !judges.has(vote.judge.model))) learnJudges().then(() => paintJudged(judged));
  document.getElementById("votes-list").replaceChildren(...voteItems(people));
  paintJudged(judged);
  document.getElementById("no-votes").hidden = people.length > 0;
  document.getElementById("judge-ask").hidden = !(data.can_vote && finished().length >= 2);
  document.getElementById("votes-blind").hidden = !(data.blind && [...responses.values()].some((node) => node.hidden));
  document.getElementById("vote-pick").hidden = !(data.can_vote && finished().length >= 2);
}

async function vote(body) {
  try {
    const result = await api("POST", `/nodes/${data.prompt}/votes`, body);
    for (const recorded of result.votes || [result.vote]) votes.set(recorded.id, recorded);
    if (result.responses.some((node) => node.model && !data.models[node.model])) await learnModels();
    for (const node of result.responses) upsert(node);
    tableStale = true;
    for (const id of responses.keys()) changed(id);
    paintVotes();
    say(body.best ? "Best answer saved." : "Vote saved.");
  } catch (error) {
    say(`Could not vote: ${error.message}`);
  }
}

function paintJudged(judged) {
  const list = document.getElementById("judge-votes");
  list.replaceChildren(...voteItems(judged));
  list.hidden = judged.length === 0;
}

// --- a judge model -----------------------------------------------------------------------------------

function learnJudges() {
  judgesAsked ||= api("GET", "/models").then((models) => {
    for (const model of models) judges.set(model.id, model);
  }).catch(() => { judgesAsked = null; });
  return judgesAsked;
}

document.getElementById("judge-ask").addEventListener("toggle", async (event) => {
  const select = document.getElementById("judge-model");
  if (!event.target.open || select.options.length) return;
  await learnJudges();
  select.replaceChildren(...[...judges.values()].map((model) => new Option(model.display_name, model.id)));
});

document.getElementById("judge-go").addEventListener("click", async () => {
  const model = document.getElementById("judge-model").value;
  if (!model) return;
  try {
    const rubric = document.getElementById("judge-rubric").value;
    const { judgement } = await api("POST", `/nodes/${data.prompt}/judge`, { model, rubric });
    say(`The judge is comparing ${judgement.pairs} pair${judgement.pairs === 1 ? "" : "s"} in both orders…`);
    document.getElementById("no-votes").hidden = false;
  } catch (error) {
    say(`Could not ask the judge: ${error.message}`);
  }
});

// The names of models revealed by one's vote: the page was rendered without them.
async function learnModels() {
  try {
    for (const model of await api("GET", "/models")) data.models[model.id] ||= model;
  } catch {
    /* the columns keep their labels */
  }
}

function say(message) {
  const status = document.getElementById("connection");
  status.title = message;
  document.getElementById("no-votes").textContent = message;
}

function votePair(outcome) {
  if (!pickA.value || !pickB.value) return;
  if (outcome === "best") { vote({ best: pickA.value }); return; }
  if (pickA.value === pickB.value) { say("Pick two different responses to compare."); return; }
  vote({ a: pickA.value, b: pickB.value, outcome });
}

document.getElementById("vote-pick").addEventListener("click", (event) => {
  const button = event.target.closest("[data-outcome]");
  if (button) votePair(button.dataset.outcome);
});
columns.addEventListener("click", (event) => {
  const button = event.target.closest("[data-field=best]");
  if (button) vote({ best: button.closest(".column").dataset.id });
});
const KEYS = { 1: "a", 2: "b", 3: "tie", 4: "both_bad", b: "best", B: "best" };
document.addEventListener("keydown", (event) => {
  if (!data.can_vote || event.ctrlKey || event.metaKey || event.altKey || event.defaultPrevented) return;
  if (event.target.closest?.("input, textarea, select, [contenteditable]")) return;
  const outcome = KEYS[event.key];
  if (!outcome || finished().length < 2) return;
  event.preventDefault();
  votePair(outcome);
});

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
    else if (responses.has(event.node.id)) upsert(event.node); // revealed to this person, or moved
  },
  "prompt.revealed": (event) => {
    if (event.prompt.id !== data.prompt) return;
    for (const [id, model] of Object.entries(event.models || {})) data.models[id] ||= model;
    for (const node of event.responses) upsert(node);
    paintVotes();
  },
  "vote.recorded": (event) => {
    if (event.vote.prompt !== data.prompt) return;
    votes.set(event.vote.id, event.vote);
    paintVotes();
  },
  "vote.deleted": (event) => {
    votes.delete(event.vote.id);
    paintVotes();
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
paintVotes();
socket = connectCanvas(data.canvas, (event) => handlers[event.type]?.(event), (state) => {
  const badge = document.getElementById("connection");
  badge.dataset.state = state;
  badge.textContent = state;
});
