// The focus view: one prompt's answers laid out as columns at full size over the canvas, so a wide
// fan-out reads like the compare page without leaving the canvas. It follows the answers while they
// stream; Esc (or Close) goes back to the canvas as it was.

import { write } from "./frame.js";
import { renderMarkdown } from "./markdown.js";
import { metricsText } from "./metrics.js";

export class FocusView {
  constructor(app) {
    this.app = app;
    this.element = document.getElementById("focus-view");
    this.columns = this.element.querySelector("[data-field=columns]");
    this.template = document.getElementById("focus-column-template").content.firstElementChild;
    this.promptId = null;
    this.returnTo = null;
    this.element.querySelector("[data-action=close-focus]").addEventListener("click", () => this.close());
    // While open, keys belong to this view: Esc closes it, and the canvas's shortcuts stay quiet.
    document.addEventListener("keydown", (event) => {
      if (!this.open) return;
      if (event.key === "Escape") { event.preventDefault(); this.close(); }
      event.stopPropagation();
    }, true);
    document.addEventListener("prism:event", (event) => this.onEvent(event.detail));
  }

  get open() { return this.promptId !== null; }

  // id: a prompt, or an answer (its prompt is shown).
  show(id) {
    const { store } = this.app;
    const node = store.get(id);
    if (!node) return;
    const promptId = node.kind === "prompt" ? id : node.parents.find((parent) => store.get(parent)?.kind === "prompt");
    if (!promptId) { this.app.toast("Focus shows a question's answers: select a question or an answer."); return; }
    this.returnTo = document.activeElement;
    this.promptId = promptId;
    this.columns.replaceChildren();
    this.element.hidden = false;
    document.body.classList.add("focusing");
    this.paintAll();
    this.element.querySelector("[data-action=close-focus]").focus();
  }

  close() {
    if (!this.open) return;
    this.promptId = null;
    this.element.hidden = true;
    this.columns.replaceChildren();
    document.body.classList.remove("focusing");
    this.returnTo?.focus?.();
  }

  answers() {
    const { store } = this.app;
    return [...store.childrenOf(this.promptId)]
      .map((id) => store.get(id))
      .filter((node) => node?.kind === "response")
      .sort((a, b) => a.x - b.x || a.y - b.y);
  }

  paintAll() {
    const prompt = this.app.store.get(this.promptId);
    renderMarkdown(this.element.querySelector("[data-field=prompt]"), prompt?.text || "");
    const answers = this.answers();
    this.element.querySelector("[data-field=count]").textContent = `${answers.length} answer(s)`;
    for (const answer of answers) this.paintColumn(answer.id);
    // Columns in the canvas's left-to-right order.
    for (const answer of answers) this.columns.appendChild(this.column(answer.id));
  }

  column(id) {
    let column = this.columns.querySelector(`[data-id="${id}"]`);
    if (!column) {
      column = this.template.cloneNode(true);
      column.dataset.id = id;
      this.columns.appendChild(column);
    }
    return column;
  }

  paintColumn(id) {
    const { store, streams, view } = this.app;
    const node = store.get(id);
    if (!node) return;
    const column = this.column(id);
    const field = (name) => column.querySelector(`[data-field=${name}]`);
    const state = streams.state(id);
    column.dataset.status = node.status;
    field("title").textContent = view.title(node);
    field("status").textContent = node.status;
    const metrics = metricsText(node, state.text, state.reasoning);
    field("metrics").textContent = [metrics.ttft, metrics.speed, metrics.tokens, metrics.cost].filter(Boolean).join(" · ");
    field("reasoning-block").hidden = !state.reasoning;
    if (column.renderedReasoning !== state.reasoning) {
      renderMarkdown(field("reasoning"), state.reasoning);
      column.renderedReasoning = state.reasoning;
    }
    if (column.renderedText !== state.text) {
      renderMarkdown(field("text"), state.text);
      column.renderedText = state.text;
    }
    field("error").hidden = !node.error;
    field("error").textContent = node.error ? `${node.error.code}: ${node.error.message}` : "";
  }

  onEvent(event) {
    if (!this.open) return;
    const id = typeof event.node === "string" ? event.node : event.node?.id;
    const node = id && this.app.store.get(id);
    if (!node || !node.parents.includes(this.promptId)) {
      if (event.type === "prompt.revealed") write("focus:all", () => this.open && this.paintAll());
      return;
    }
    if (!this.columns.querySelector(`[data-id="${id}"]`)) write("focus:all", () => this.open && this.paintAll());
    else write(`focus:${id}`, () => this.open && this.paintColumn(id));
  }
}
