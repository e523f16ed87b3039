// The figures under each response and the canvas's total cost. While a response streams, time to
// first token, speed and tokens are estimated here from the deltas as they arrive; node.done then
// brings the provider's real figures. Tokens are counted from characters (answer and reasoning, as
// the provider counts both), at the characters-per-token ratio that model's answers showed: the last
// one this browser saw (kept in localStorage), else the one the server measured over its recent answers
// (served with the page); a model that never answered with a usage report is estimated from the text
// itself, split roughly as a tokenizer would split it: a model's tokenizer is not ours to know.

import { FINISHED, RUNNING } from "./store.js";

const RATIOS_KEY = "prism.charsPerToken";
const live = new Map(); // id -> {seen, first, last, chars}
const ratios = loadRatios(); // model id -> characters per output token, as last reported
const served = new Map(); // model id -> characters per output token, over the model's recent answers
const guessed = new Map(); // node id -> {length, ratio}: the text estimate, redone as the text grows

function loadRatios() {
  try {
    return new Map(Object.entries(JSON.parse(localStorage.getItem(RATIOS_KEY)) || {}));
  } catch {
    return new Map();
  }
}

// The server's figures, from the page's models (`chars_per_token`, null where none is known).
export function learnRatios(models) {
  for (const model of Object.values(models)) if (model.chars_per_token) served.set(model.id, model.chars_per_token);
}

function knownRatio(model) { return ratios.get(model) || served.get(model) || null; }

// Roughly as a BPE tokenizer splits text: a common word is one token and a long one a few, a number
// one per three digits, a run of punctuation one, a CJK character about one; spaces ride along.
const PIECES = /[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\p{Script=Hangul}]|\p{L}+|\p{N}+|[^\s\p{L}\p{N}]+/gu;
const LETTERS_PER_TOKEN = 8;
export function estimateTokens(text) {
  let tokens = 0;
  for (const [piece] of text.matchAll(PIECES)) {
    if (/\p{L}/u.test(piece)) tokens += Math.ceil(piece.length / LETTERS_PER_TOKEN);
    else if (/\p{N}/u.test(piece)) tokens += Math.ceil(piece.length / 3);
    else tokens += Math.ceil(piece.length / 4);
  }
  return tokens;
}

// Characters per token for this answer: its model's known ratio, else its own text's estimate (redone
// only as the text grows by a quarter: the ratio settles quickly and the count reads the whole text).
function ratioFor(node, text) {
  const known = knownRatio(node.model);
  if (known) return known;
  const memo = guessed.get(node.id);
  if (memo && text.length < memo.length * 1.25) return memo.ratio;
  const tokens = estimateTokens(text);
  const ratio = tokens ? Math.min(20, Math.max(0.5, text.length / tokens)) : 4;
  guessed.set(node.id, { length: Math.max(text.length, 1), ratio });
  return ratio;
}

// A finished answer whose provider reported its usage tells how long that model's tokens are.
export function calibrate(node, text, reasoning) {
  const m = node.metrics || {};
  const chars = (text || "").length + (reasoning || "").length;
  if (node.hidden || !node.model || m.usage_estimated || !m.output_tokens || chars < 200) return;
  const ratio = chars / m.output_tokens;
  if (!(ratio > 0.5 && ratio < 20) || ratios.get(node.model) === ratio) return;
  ratios.set(node.model, ratio);
  try {
    localStorage.setItem(RATIOS_KEY, JSON.stringify(Object.fromEntries(ratios)));
  } catch {
    /* storage full or off: the ratio holds for this page */
  }
}

export function noteSeen(id) {
  if (!live.has(id)) live.set(id, { seen: performance.now(), first: null, last: null, chars: 0, seenQueued: true });
}

export function noteDelta(id, chars) {
  const now = performance.now();
  let entry = live.get(id);
  // A response already streaming when the page loaded: its TTFT is not ours to measure.
  if (!entry) live.set(id, (entry = { seen: now, first: null, last: null, chars: 0, seenQueued: false }));
  if (entry.first == null) entry.first = now;
  entry.last = now;
  entry.chars += chars;
}

export function forget(id) { live.delete(id); guessed.delete(id); }

function seconds(ms) { return ms < 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`; }

export function dollars(value) {
  if (value === 0) return "$0";
  const digits = value < 0.01 ? 6 : 4;
  return `$${value.toFixed(digits).replace(/0+$/, "").replace(/\.$/, "")}`;
}

// {ttft, speed, tokens, cost}: the text of each metric slot ("" hides it).
export function metricsText(node, text, reasoning = "") {
  const m = node.metrics || {};
  // A blind answer's speed would tell its model apart: not even the page's own estimate is shown.
  if (node.hidden) return hiddenText(node, text);
  if (RUNNING.has(node.status)) return liveText(node, text, reasoning);
  const out = { ttft: "", speed: "", tokens: "", cost: "" };
  if (m.ttft_ms != null) out.ttft = `TTFT ${m.ttft_ms} ms`;
  const { outputTokens, tokensPerS, mark } = m.usage_estimated ? estimatedOutput(node, text, reasoning) : { outputTokens: m.output_tokens, tokensPerS: m.tokens_per_s, mark: "" };
  const speed = [];
  if (tokensPerS) speed.push(`${mark}${tokensPerS.toFixed(1)} tok/s`);
  if (m.duration_ms != null) speed.push(seconds(m.duration_ms));
  out.speed = speed.join(" · ");
  if (m.output_tokens != null) {
    const extra = [];
    if (m.cached_input_tokens) extra.push(`${m.cached_input_tokens} cached`);
    if (m.reasoning_tokens && !mark) extra.push(`${m.reasoning_tokens} reasoning`);
    out.tokens = `${mark}${m.input_tokens ?? "?"} in · ${mark}${outputTokens} out${extra.length ? ` (${extra.join(", ")})` : ""}`;
  }
  if (FINISHED.has(node.status)) out.cost = costText(node);
  return out;
}

// An answer that ended without its provider's usage report (stopped, cut off) has figures the server
// estimated at four characters a token; the page counts its text as it did while the answer streamed
// instead, and marks them "~" like every estimate.
function estimatedOutput(node, text, reasoning) {
  const m = node.metrics;
  const all = (text || "") + (reasoning || "");
  const outputTokens = all ? Math.max(1, Math.round(all.length / ratioFor(node, all))) : m.output_tokens;
  const generatingS = (m.duration_ms - m.ttft_ms) / 1000;
  const tokensPerS = m.ttft_ms != null && generatingS > 0 && outputTokens ? outputTokens / generatingS : null;
  return { outputTokens, tokensPerS, mark: "~" };
}

function hiddenText(node, text) {
  const out = { ttft: "", speed: "", tokens: "", cost: "" };
  const m = node.metrics || {};
  if (RUNNING.has(node.status)) out.tokens = `~${Math.max(1, Math.round((text || "").length / ratioFor(node, text || "")))} out`;
  else if (m.output_tokens != null) out.tokens = `${m.input_tokens ?? "?"} in · ${m.output_tokens} out`;
  if (FINISHED.has(node.status)) out.cost = "speed and cost show once you vote";
  return out;
}

function liveText(node, text, reasoning) {
  const out = { ttft: "", speed: "", tokens: "", cost: "" };
  const entry = live.get(node.id);
  if (!entry || entry.first == null) {
    if (entry?.seenQueued) out.ttft = `waiting ${seconds(performance.now() - entry.seen)}`;
    return out;
  }
  if (entry.seenQueued) out.ttft = `TTFT ~${Math.round(entry.first - entry.seen)} ms`;
  const elapsed = performance.now() - entry.first;
  const all = (text || "") + (reasoning || "");
  const ratio = ratioFor(node, all);
  const tokens = Math.max(1, Math.round(all.length / ratio));
  const streamed = entry.chars / ratio;
  const rate = entry.last > entry.first ? streamed / ((entry.last - entry.first) / 1000) : 0;
  out.speed = [rate ? `~${rate.toFixed(1)} tok/s` : "", seconds(elapsed)].filter(Boolean).join(" · ");
  out.tokens = `~${tokens} out`;
  return out;
}

// A finished answer with tokens but no cost had no price (the usage pages count it the same way); one
// that used no tokens, cancelled in its queue say, cost nothing at any price.
function unpriced(node) {
  const m = node.metrics || {};
  return node.cost == null && ((m.input_tokens || 0) > 0 || (m.output_tokens || 0) > 0);
}

// A finished answer's cost as every page writes it.
export function costText(node) {
  if (node.cost != null) return `$${node.cost}`;
  return unpriced(node) ? "no price" : "$0";
}

// The canvas's spend so far: the sum of its finished responses' costs, and how many had no price.
export function canvasCost(nodes) {
  let total = 0;
  let count = 0;
  for (const node of nodes) {
    if (node.kind !== "response" || !FINISHED.has(node.status) || node.hidden) continue;
    if (unpriced(node)) count += 1;
    else total += Number(node.cost || 0);
  }
  return { total: dollars(total), unpriced: count };
}
