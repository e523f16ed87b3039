// Node elements: built from the page's <template id="node-template"> (templates/canvas/_node.html)
// and kept in step with the store. Every write goes through frame.js, so many changes to one node in
// one frame cost one write. Model text is rendered by markdown.js; every other model-supplied string
// (titles, errors) is set with textContent; reasoning is Markdown like the answer.

import { write } from "./frame.js";
import { renderMarkdown, ThrottledRenderer } from "./markdown.js";
import { metricsText } from "./metrics.js";
import { RUNNING } from "./store.js";

const FINISH_BADGES = { length: "truncated (length)", content_filter: "filtered (content_filter)" };

export class NodeView {
  constructor({ container, template, store, streams, models, onCreated }) {
    this.container = container;
    this.template = template.content.firstElementChild;
    this.store = store;
    this.streams = streams;
    this.models = models;
    this.onCreated = onCreated || (() => {});
    this.elements = new Map();
    this.rendered = new Map(); // id -> the text last rendered, to skip identical re-renders
    this.renderedReasoning = new Map();
    this.text = new ThrottledRenderer((id) => this.paintText(id));
  }

  element(id) { return this.elements.get(id); }

  ensure(node) {
    let element = this.elements.get(node.id);
    if (element) return element;
    element = this.template.cloneNode(true);
    element.id = `node-${node.id}`;
    element.dataset.id = node.id;
    element.dataset.kind = node.kind;
    element.classList.add(`node-${node.kind}`);
    if (node.kind === "prompt") {
      element.querySelector("[data-action=compare]").href = `/canvases/${node.canvas}/compare/${node.id}/`;
    }
    element.fields = {};
    for (const field of element.querySelectorAll("[data-field]")) element.fields[field.dataset.field] = field;
    element.metricSlots = {};
    for (const slot of element.querySelectorAll("[data-metric]")) element.metricSlots[slot.dataset.metric] = slot;
    this.elements.set(node.id, element);
    this.container.appendChild(element);
    this.onCreated(node, element);
    return element;
  }

  // Everything about the node, in the next frame (its Markdown at most every 100 ms).
  paint(id) {
    write(`paint:${id}`, () => this.paintNow(id));
  }

  // text: "throttled" (Markdown soon), "now", or "plain" (the raw text, formatted later by the caller).
  paintNow(id, text = "throttled") {
    const node = this.store.get(id);
    if (!node) return;
    const element = this.ensure(node);
    this.placeNow(id);
    const { fields } = element;
    fields.title.textContent = this.title(node);
    element.classList.toggle("blind-hidden", Boolean(node.hidden));
    if (node.kind === "response") {
      element.dataset.status = node.status;
      element.className = element.className.replace(/\bstatus-\S+/g, "").trim() + ` status-${node.status}`;
      // A run held back by its provider's concurrency limit says so until it has a slot.
      const waiting = node.waiting_for_slot && RUNNING.has(node.status);
      fields.status.textContent = waiting ? `waiting for a slot at ${node.waiting_for_slot}` : node.status;
      this.paintBadges(element, node);
      // The settings the answer was asked with (none for a blind answer still hidden).
      fields.title.title = settingsText(node.params);
      fields.error.hidden = !node.error;
      fields.error.textContent = node.error ? `${node.error.code}: ${node.error.message}` : "";
      this.paintMetrics(id);
    } else {
      const running = node.kind === "prompt" && this.store.runningChildren(id).length > 0;
      fields.status.textContent = running ? "running" : "";
      element.classList.toggle("has-running", running);
    }
    if (text === "now") this.paintText(id);
    else if (text === "plain") this.paintPlain(id);
    else this.text.request(id);
  }

  paintPlain(id) {
    const { fields } = this.elements.get(id);
    const node = this.store.get(id);
    const state = node.kind === "response" ? this.streams.state(id) : { text: node.text || "", reasoning: "" };
    fields.text.textContent = state.text;
    if (state.reasoning) {
      fields.reasoning.textContent = state.reasoning;
      fields["reasoning-block"].hidden = false;
    }
  }

  // A blind prompt's answer is "Answer C" until its model may be shown, then "C · its model".
  title(node) {
    if (node.kind === "response") {
      const name = this.models[node.model]?.display_name;
      if (node.label) return node.hidden || !name ? `Answer ${node.label}` : `${node.label} · ${name}`;
      return name || "Model";
    }
    if (node.kind === "prompt") return node.blind ? "Prompt (blind)" : "Prompt";
    return "Note";
  }

  paintBadges(element, node) {
    const label = FINISH_BADGES[node.finish_reason];
    const badges = element.fields.badges;
    if ((badges.textContent || "") === (label || "")) return;
    badges.replaceChildren();
    if (label) {
      const badge = document.createElement("span");
      badge.className = `badge finish-${node.finish_reason}`;
      badge.textContent = label;
      badges.appendChild(badge);
    }
  }

  paintMetrics(id) {
    const node = this.store.get(id);
    const element = this.elements.get(id);
    if (!node || !element || node.kind !== "response") return;
    const { text, reasoning } = this.streams.state(id);
    const values = metricsText(node, text, reasoning);
    for (const [name, slot] of Object.entries(element.metricSlots)) {
      if (slot.textContent !== values[name]) slot.textContent = values[name];
    }
  }

  // The node's position and size: one transform and two lengths, no layout read.
  place(id) { write(`place:${id}`, () => this.placeNow(id)); }

  placeNow(id) {
    const node = this.store.get(id);
    const element = this.elements.get(id);
    if (!node || !element) return;
    element.style.transform = `translate(${node.x}px, ${node.y}px)`;
    element.style.width = `${node.w}px`;
    element.style.height = `${node.h}px`;
  }

  // The node's text and reasoning as Markdown, each skipped when nothing changed.
  paintText(id) {
    const node = this.store.get(id);
    const element = this.elements.get(id);
    if (!node || !element) return;
    const { fields } = element;
    this.backlog?.delete(id);
    const state = node.kind === "response" ? this.streams.state(id) : { text: node.text || "", reasoning: "", seq: 0 };
    if (this.rendered.get(id) !== state.text) {
      const stick = RUNNING.has(node.status) && nearBottom(fields.body);
      renderMarkdown(fields.text, state.text);
      this.rendered.set(id, state.text);
      if (stick) fields.body.scrollTop = fields.body.scrollHeight;
    }
    if (node.kind === "response") {
      element.dataset.seq = state.seq;
      if (this.renderedReasoning.get(id) !== state.reasoning) {
        renderMarkdown(fields.reasoning, state.reasoning);
        this.renderedReasoning.set(id, state.reasoning);
      }
      fields["reasoning-block"].hidden = !state.reasoning;
      this.paintMetrics(id);
    }
  }

  remove(id) {
    this.elements.get(id)?.remove();
    this.elements.delete(id);
    this.rendered.delete(id);
    this.renderedReasoning.delete(id);
  }
}

// A streaming answer keeps its newest line in sight, unless the reader has scrolled up to read.
function nearBottom(body) {
  return body.scrollHeight - body.scrollTop - body.clientHeight < 48;
}

const SETTING_NAMES = { temperature: "temperature", max_tokens: "max tokens", reasoning_effort: "reasoning effort" };

export function settingsText(params) {
  return Object.entries(params || {}).map(([name, value]) => `${SETTING_NAMES[name] || name} ${value}`).join(" · ");
}
