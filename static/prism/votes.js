// Votes on a prompt's answers. Under a prompt with two or more finished answers, each finished answer
// has a "Best" button (it wins over each other finished one); with two finished answers of one prompt
// selected, the vote bar (keys 1–4) says which is better, the left one being A. The prompt shows who
// voted and what the current person voted, and each judge model's votes apart; the author of a blind
// prompt may reveal it to everyone.
// A vote's reply carries the prompt's answers as the voter may now see them (a blind prompt's models
// show once one has voted), which replace the page's copies. Names and texts are set with textContent.

import { api } from "./api.js";
import { write } from "./frame.js";

const SIGNS = { a: "≻", b: "≺", tie: "=", both_bad: "both bad:" };

function json(id) {
  const element = document.getElementById(id);
  return element ? JSON.parse(element.textContent) : [];
}

// A line of a prompt's vote summary. The card keeps it to one line, so its whole text is on hover.
function summaryLine(className, text, title = text) {
  const line = document.createElement("p");
  line.className = className;
  line.textContent = text;
  line.title = title;
  return line;
}

export class Votes {
  constructor(app) {
    this.app = app;
    this.me = document.getElementById("canvas-page").dataset.user || null;
    this.byPrompt = new Map(); // prompt id → Map(vote id → vote)
    for (const vote of json("votes-data")) this.remember(vote);
    this.bar = document.getElementById("vote-bar");
    this.bar?.addEventListener("click", (event) => {
      const button = event.target.closest("[data-outcome]");
      if (button) this.pair(app.selection.list(), button.dataset.outcome);
    });
    app.selection.onChange(() => write("vote-bar", () => this.paintBar()));
    app.view.container.addEventListener("click", (event) => {
      const button = event.target.closest("[data-vote-action]");
      if (!button) return;
      event.preventDefault();
      const id = button.closest(".node").dataset.id;
      if (button.dataset.voteAction === "best") this.best([id]);
      else if (button.dataset.voteAction === "reveal") this.reveal(id);
    });
  }

  remember(vote) {
    if (!this.byPrompt.has(vote.prompt)) this.byPrompt.set(vote.prompt, new Map());
    this.byPrompt.get(vote.prompt).set(vote.id, vote);
  }

  recorded(vote) {
    // A replaced vote keeps its id; a person's vote on a pair is one entry however often they change it.
    this.remember(vote);
    this.touchPrompt(vote.prompt);
  }

  deleted(vote) {
    this.byPrompt.get(vote.prompt)?.delete(vote.id);
    this.touchPrompt(vote.prompt);
  }

  promptOf(node) {
    if (!node) return null;
    if (node.kind === "prompt") return node.id;
    return node.kind === "response" ? node.parents[0] || null : null;
  }

  finished(promptId) {
    const { store } = this.app;
    return [...store.childrenOf(promptId)].map((id) => store.get(id)).filter((n) => n?.kind === "response" && n.status === "done");
  }

  // A node changed: its prompt's votes panel and its answers' buttons are painted again in the next frame.
  touch(node) {
    const promptId = this.promptOf(node);
    if (promptId) this.touchPrompt(promptId);
  }

  touchPrompt(promptId) {
    write(`votes:${promptId}`, () => this.paint(promptId));
  }

  paint(promptId) {
    const { store, view } = this.app;
    const prompt = store.get(promptId);
    const element = prompt && view.element(promptId);
    if (!element) return;
    const finished = this.finished(promptId);
    const votable = finished.length >= 2;
    for (const childId of store.childrenOf(promptId)) {
      const child = store.get(childId);
      const slot = view.element(childId)?.fields.votes;
      if (!slot || child?.kind !== "response") continue;
      const canPick = this.app.canWrite && votable && child.status === "done";
      if (!canPick) { slot.replaceChildren(); continue; }
      const button = document.createElement("button");
      button.type = "button";
      button.className = "link vote-best";
      button.dataset.voteAction = "best";
      button.title = "Best of these answers: it wins over each other finished one (B)";
      button.textContent = this.pickedBest(promptId, childId) ? "★ Your best" : "☆ Best";
      slot.replaceChildren(button);
    }
    this.paintSummary(element.fields.votes, prompt, votable);
  }

  paintSummary(slot, prompt, votable) {
    const all = [...(this.byPrompt.get(prompt.id)?.values() || [])];
    const votes = all.filter((v) => v.judge.user);
    const judged = all.filter((v) => v.judge.model);
    const parts = [];
    if (votes.length) {
      const people = [...new Set(votes.map((v) => v.judge.user))];
      parts.push(summaryLine("votes-summary", `${votes.length} vote${votes.length === 1 ? "" : "s"} by ${people.join(", ")}`));
      const mine = votes.filter((v) => this.me && v.judge.user === this.me);
      if (mine.length) parts.push(summaryLine("votes-mine", `Your vote: ${mine.map((v) => this.describe(v)).join("; ")}`));
    } else if (votable && this.app.canWrite) {
      parts.push(summaryLine("muted votes-summary", "No votes yet: select two answers and press 1–4, or pick the best."));
    }
    // A judge model's votes apart from people's, one line each, its rationale on hover.
    for (const vote of judged) {
      const judge = this.app.models[vote.judge.model]?.display_name || "a judge model";
      const text = `Judged by ${judge}: ${this.describe(vote)}`;
      parts.push(summaryLine("votes-judge", text, vote.judge.rationale ? `${text}: ${vote.judge.rationale}` : text));
    }
    if (prompt.blind && !prompt.revealed && this.app.canWrite) {
      const reveal = document.createElement("button");
      reveal.type = "button";
      reveal.className = "link";
      reveal.dataset.voteAction = "reveal";
      reveal.title = "Show everyone which model gave each answer (the prompt's author only)";
      reveal.textContent = "Reveal models to everyone";
      parts.push(reveal);
    }
    slot.replaceChildren(...parts);
  }

  describe(vote) {
    const name = (id) => {
      const node = this.app.store.get(id);
      return node ? this.app.view.title(node) : "an answer";
    };
    if (vote.outcome === "both_bad") return `${name(vote.a)} and ${name(vote.b)} both bad`;
    return `${name(vote.a)} ${SIGNS[vote.outcome]} ${name(vote.b)}`;
  }

  pickedBest(promptId, answerId) {
    const mine = [...(this.byPrompt.get(promptId)?.values() || [])].filter((v) => this.me && v.judge.user === this.me);
    const others = this.finished(promptId).filter((n) => n.id !== answerId);
    const wins = (v) => (v.a === answerId && v.outcome === "a") || (v.b === answerId && v.outcome === "b");
    return others.length > 0 && others.every((o) => mine.some((v) => (v.a === o.id || v.b === o.id) && wins(v)));
  }

  // The two selected answers, left one first, when they are finished answers of one prompt.
  selectedPair(ids) {
    const nodes = ids.map((id) => this.app.store.get(id));
    if (nodes.length !== 2 || nodes.some((n) => n?.kind !== "response" || n.status !== "done")) return null;
    if (this.promptOf(nodes[0]) !== this.promptOf(nodes[1])) return null;
    return nodes.sort((x, y) => x.x - y.x);
  }

  paintBar() {
    if (!this.bar) return;
    const pair = this.selectedPair(this.app.selection.list());
    this.bar.hidden = !pair;
    if (pair) {
      const [a, b] = pair.map((n) => this.app.view.title(n));
      this.bar.querySelector("[data-field=pair]").textContent = `A: ${a} · B: ${b}`;
    }
  }

  async pair(ids, outcome) {
    const pair = this.selectedPair(ids);
    if (!pair) { this.app.toast("Select two finished answers of one prompt to compare them."); return; }
    const promptId = this.promptOf(pair[0]);
    await this.send(promptId, { a: pair[0].id, b: pair[1].id, outcome }, "Vote saved.");
  }

  async best(ids) {
    const node = ids.length === 1 ? this.app.store.get(ids[0]) : null;
    if (node?.kind !== "response" || node.status !== "done") { this.app.toast("Select one finished answer to pick it as the best."); return; }
    await this.send(this.promptOf(node), { best: node.id }, "Best answer saved.");
  }

  async send(promptId, body, done) {
    try {
      const result = await api("POST", `/nodes/${promptId}/votes`, body);
      for (const vote of result.votes || [result.vote]) this.remember(vote);
      for (const node of result.responses) this.app.apply(node); // revealed, on a blind prompt
      this.touchPrompt(promptId);
      write("vote-bar", () => this.paintBar());
      this.app.toast(done);
    } catch (error) {
      this.app.toast(`Could not vote: ${error.message}`);
    }
  }

  async reveal(promptId) {
    try {
      const result = await api("POST", `/nodes/${promptId}/reveal`);
      for (const node of [result.prompt, ...result.responses]) this.app.apply(node);
    } catch (error) {
      this.app.toast(`Could not reveal: ${error.message}`);
    }
  }
}
