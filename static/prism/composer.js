// The composer: the question, the models to ask (each as many times as wanted, within the limit),
// the nodes it follows (the selection), a preview of exactly what the first model will be sent, and
// "edit and run again" for an earlier question, which runs as a new branch beside the old one.
// Each chosen model has its own settings (temperature, max tokens, reasoning effort); the choice of
// models and their settings is remembered per canvas in this browser (localStorage), and saved model
// sets ("presets") come from /api/presets. Nothing is chosen by default but what was remembered, and
// a model whose server is down is never chosen for you.

import { api } from "./api.js";

const PREVIEW_DELAY_MS = 300;
// How often the models' availability (a self-hosted server that fails its checks) is asked again.
const HEALTH_REFRESH_MS = 30_000;
const SETTINGS = ["temperature", "max_tokens", "reasoning_effort"];

export class Composer {
  constructor(app, form) {
    this.app = app;
    this.form = form;
    this.max = Number(form.dataset.maxModels) || 8;
    this.text = form.querySelector("#prompt-text");
    this.runButton = form.querySelector("#run-button");
    this.hint = form.querySelector("#run-hint");
    this.error = form.querySelector("#prompt-error");
    this.following = form.querySelector("#following");
    this.preview = form.querySelector("#context-preview");
    this.banner = form.querySelector("#rerun-banner");
    this.serverNotice = form.querySelector("#server-notice");
    this.choices = [...form.querySelectorAll(".model-choice")];
    this.blind = form.querySelector("#prompt-blind");
    this.canvasBlind = form.querySelector("#canvas-blind");
    this.canvasBlind.addEventListener("change", () => this.setCanvasBlind(this.canvasBlind.checked));
    this.rerun = null; // the prompt being edited and run again, or null
    this.busy = false;
    this.previewTimer = null;
    this.previewRequest = 0;

    this.presetSelect = form.querySelector("#preset-select");
    this.presets = new Map();
    this.systemPrompt = form.querySelector("#system-prompt");
    this.systemPrompt.addEventListener("change", () => this.saveSystemPrompt());
    this.presetSelect.addEventListener("change", () => this.applyPreset(this.presetSelect.value));
    form.querySelector("#preset-save").addEventListener("click", () => this.savePreset());
    form.querySelector("#preset-delete").addEventListener("click", () => this.deletePreset(this.presetSelect.value));
    for (const choice of this.choices) {
      const toggle = choice.querySelector(".model-settings-toggle");
      const panel = choice.querySelector(".model-settings");
      toggle.addEventListener("click", () => this.showSettings(choice, panel.hidden));
      for (const input of panel.querySelectorAll("[data-setting]")) input.addEventListener("change", () => this.changed());
    }
    this.restoreChoice();
    this.loadPresets();

    form.addEventListener("submit", (event) => { event.preventDefault(); this.submit(); });
    this.text.addEventListener("keydown", (event) => this.onKey(event));
    this.text.addEventListener("input", () => this.changed());
    for (const choice of this.choices) {
      const box = choice.querySelector("input[type=checkbox]");
      const count = choice.querySelector(".model-count");
      box.addEventListener("change", () => { count.value = box.checked ? Math.max(1, Number(count.value) || 0) : 0; this.changed(); });
      count.addEventListener("input", () => { box.checked = Number(count.value) > 0; this.changed(); });
    }
    form.querySelector("#clear-parents").addEventListener("click", () => app.selection.clear());
    this.banner.querySelector("#rerun-cancel").addEventListener("click", () => this.leaveRerun());
    this.preview.addEventListener("toggle", () => { if (this.preview.open) this.refreshPreview(); });
    app.selection.onChange(() => { if (!this.rerun) this.showParents(); });
    this.changed();
    setInterval(() => { if (!document.hidden) this.refreshAvailability(); }, HEALTH_REFRESH_MS);
  }

  focus() { this.text.focus(); }

  onKey(event) {
    if (event.key !== "Enter" || event.isComposing) return;
    if (event.shiftKey && !(event.ctrlKey || event.metaKey)) return; // Shift+Enter: a new line
    event.preventDefault();
    this.submit();
  }

  // The chosen models in the form's order, each repeated as many times as asked: a model's id, or
  // {model, ...settings} where any of its settings is set.
  models() {
    const entries = [];
    for (const choice of this.choices) {
      const box = choice.querySelector("input[type=checkbox]");
      const count = box.checked ? Math.max(1, Math.floor(Number(choice.querySelector(".model-count").value) || 1)) : 0;
      const settings = this.settingsOf(choice);
      const entry = Object.keys(settings).length ? { model: box.value, ...settings } : box.value;
      for (let i = 0; i < count; i += 1) entries.push(entry);
    }
    return entries;
  }

  settingsOf(choice) {
    const settings = {};
    for (const input of choice.querySelectorAll("[data-setting]")) {
      if (input.value === "") continue;
      const name = input.dataset.setting;
      settings[name] = name === "reasoning_effort" ? input.value : Number(input.value);
    }
    return settings;
  }

  setSettings(choice, settings) {
    for (const input of choice.querySelectorAll("[data-setting]")) {
      const value = settings?.[input.dataset.setting];
      input.value = value === undefined || value === null ? "" : String(value);
    }
    // Settings in use are in view; a model on its defaults keeps its panel closed behind ⚙.
    if (Object.keys(this.settingsOf(choice)).length) this.showSettings(choice, true);
  }

  showSettings(choice, shown) {
    choice.querySelector(".model-settings").hidden = !shown;
    choice.querySelector(".model-settings-toggle").setAttribute("aria-expanded", String(shown));
  }

  // The models and settings chosen, as remembered and as presets hold them: [{model, count, ...settings}].
  choice() {
    return this.choices.map((choice) => {
      const box = choice.querySelector("input[type=checkbox]");
      const count = box.checked ? Math.max(1, Number(choice.querySelector(".model-count").value) || 1) : 0;
      return { model: box.value, count, ...this.settingsOf(choice) };
    }).filter((entry) => entry.count > 0 || Object.keys(entry).length > 2);
  }

  // Choose these models with these settings (a model whose server is down is left unchosen).
  applyChoice(entries) {
    const byModel = new Map();
    for (const entry of entries) {
      const id = typeof entry === "string" ? entry : entry.model;
      const known = byModel.get(id);
      const count = typeof entry === "string" ? 1 : (entry.count ?? 1);
      byModel.set(id, { ...(typeof entry === "string" ? {} : entry), count: (known?.count || 0) + count });
    }
    for (const choice of this.choices) {
      const wanted = byModel.get(choice.dataset.model);
      const n = wanted && !choice.dataset.unavailable ? wanted.count : 0;
      choice.querySelector("input[type=checkbox]").checked = n > 0;
      choice.querySelector(".model-count").value = n;
      this.setSettings(choice, wanted);
    }
  }

  storageKey() { return `prism.composer.${this.app.canvasId}`; }

  remember() {
    try { localStorage.setItem(this.storageKey(), JSON.stringify(this.choice())); } catch { /* storage off: nothing kept */ }
  }

  restoreChoice() {
    let saved = null;
    try { saved = JSON.parse(localStorage.getItem(this.storageKey()) || "null"); } catch { saved = null; }
    if (Array.isArray(saved)) this.applyChoice(saved);
  }

  async loadPresets() {
    let presets;
    try { presets = await api("GET", "/presets"); } catch { return; }
    this.presets = new Map(presets.map((preset) => [preset.id, preset]));
    const options = presets.map((preset) => {
      const option = document.createElement("option");
      option.value = preset.id;
      option.textContent = preset.team ? `${preset.name} (team)` : preset.name;
      return option;
    });
    this.presetSelect.replaceChildren(Object.assign(document.createElement("option"), { value: "", textContent: "Presets…" }), ...options);
  }

  applyPreset(id) {
    this.form.querySelector("#preset-delete").hidden = !id;
    const preset = this.presets.get(id);
    if (!preset) return;
    this.applyChoice(preset.models);
    this.changed();
  }

  async savePreset() {
    const models = this.models();
    if (!models.length) { this.showError("Choose models to save as a preset."); return; }
    const name = window.prompt("Name this set of models:");
    if (!name || !name.trim()) return;
    try {
      const team = this.form.querySelector("#preset-team").checked ? this.form.dataset.team : undefined;
      const preset = await api("POST", "/presets", { name: name.trim(), models, team });
      await this.loadPresets();
      this.presetSelect.value = preset.id;
      this.form.querySelector("#preset-delete").hidden = false;
      this.app.toast(`Saved the preset “${preset.name}”.`);
    } catch (error) {
      this.showError(error.message);
    }
  }

  async deletePreset(id) {
    if (!id) return;
    try {
      await api("DELETE", `/presets/${id}`);
      await this.loadPresets();
      this.form.querySelector("#preset-delete").hidden = true;
    } catch (error) {
      this.showError(error.message);
    }
  }

  async saveSystemPrompt() {
    const status = this.form.querySelector("#system-prompt-status");
    try {
      await api("PATCH", `/canvases/${this.app.canvasId}`, { system_prompt: this.systemPrompt.value });
      status.textContent = "Saved.";
      this.schedulePreview();
    } catch (error) {
      status.textContent = `Not saved: ${error.message}`;
    }
  }

  parents() {
    return this.rerun ? [...(this.app.store.get(this.rerun)?.parents || [])] : this.app.selection.list();
  }

  changed() {
    const total = this.models().length;
    const over = total > this.max;
    this.form.querySelector("#models-total").textContent = total ? `(${total} of at most ${this.max})` : "";
    this.hint.textContent = over ? `At most ${this.max} answers per question.` : "";
    this.runButton.disabled = this.busy || over;
    if (!this.rerun) this.remember();
    this.showServerNotice();
    this.schedulePreview();
  }

  // Before anything is sent: which chosen models sit on a server that failed its last check, and why.
  showServerNotice() {
    const down = this.choices.filter((choice) => choice.querySelector("input[type=checkbox]").checked && choice.dataset.unavailable);
    this.serverNotice.hidden = down.length === 0;
    this.serverNotice.textContent = down
      .map((choice) => `${choice.querySelector(".model-pick span").textContent}: ${choice.dataset.unavailable}`)
      .join(" ");
  }

  async refreshAvailability() {
    let models;
    try { models = await api("GET", "/models"); } catch { return; }
    const byId = new Map(models.map((model) => [model.id, model]));
    for (const choice of this.choices) {
      const model = byId.get(choice.dataset.model);
      if (!model) continue;
      if (model.available) delete choice.dataset.unavailable;
      else choice.dataset.unavailable = model.unavailable_reason;
      const badge = choice.querySelector(".server-down");
      badge.hidden = model.available;
      badge.title = model.unavailable_reason || "";
    }
    this.showServerNotice();
  }

  showParents() {
    const ids = this.parents();
    this.following.hidden = ids.length === 0;
    this.following.querySelector("#following-count").textContent = ids.length;
    this.following.querySelector("#clear-parents").hidden = Boolean(this.rerun);
    const list = this.following.querySelector("#following-list");
    list.replaceChildren(...ids.slice(0, 6).map((id) => {
      const item = document.createElement("li");
      item.textContent = this.app.describe(id);
      return item;
    }));
    if (ids.length > 6) list.append(Object.assign(document.createElement("li"), { textContent: `and ${ids.length - 6} more` }));
    this.schedulePreview();
  }

  // "Edit and run again": the composer takes the old question's text, parents and models.
  editPrompt(id) {
    const prompt = this.app.store.get(id);
    if (!prompt || prompt.kind !== "prompt") return;
    this.rerun = id;
    this.banner.hidden = false;
    this.runButton.textContent = "Run as a new branch";
    this.text.value = prompt.text;
    const entries = [];
    for (const child of this.app.store.childrenOf(id)) {
      const node = this.app.store.get(child);
      if (node?.model) entries.push({ model: node.model, count: 1, ...(node.params || {}) });
    }
    if (entries.length) this.applyChoice(entries);
    this.showParents();
    this.changed();
    this.text.focus();
    this.text.select();
  }

  leaveRerun() {
    if (!this.rerun) return;
    this.rerun = null;
    this.banner.hidden = true;
    this.runButton.textContent = "Run";
    this.showParents();
  }

  showError(message) {
    this.error.hidden = !message;
    this.error.textContent = message || "";
  }

  async submit() {
    if (this.busy) return;
    const text = this.text.value;
    const models = this.models();
    if (!text.trim()) { this.showError("Write a question first."); return; }
    if (!models.length) { this.showError("Choose at least one model."); return; }
    if (models.length > this.max) { this.showError(`At most ${this.max} answers per question.`); return; }
    this.busy = true;
    this.changed();
    this.showError("");
    try {
      const result = this.rerun
        ? await api("POST", `/nodes/${this.rerun}/rerun`, { text, models })
        : await api("POST", `/canvases/${this.app.canvasId}/prompts`, { text, models, parents: this.parents(), blind: this.blind.checked });
      const created = [result.prompt, ...result.responses];
      for (const node of created) this.app.apply(node, { seen: true });
      for (const warning of result.warnings || []) this.app.toast(warning.message);
      this.text.value = "";
      this.leaveRerun();
      this.app.selection.clear();
      this.app.viewport.reveal(created);
    } catch (error) {
      this.showError(error.message);
    } finally {
      this.busy = false;
      this.changed();
    }
  }

  // The canvas's default for new prompts; this composer's own choice follows it.
  async setCanvasBlind(on) {
    try {
      await api("PATCH", `/canvases/${this.app.canvasId}`, { blind: on });
      this.blind.checked = on;
      this.app.toast(on ? "New prompts on this canvas start blind." : "New prompts on this canvas show their models.");
    } catch (error) {
      this.canvasBlind.checked = !on;
      this.app.toast(`Could not change the canvas: ${error.message}`);
    }
  }

  schedulePreview() {
    if (!this.preview.open) return;
    clearTimeout(this.previewTimer);
    this.previewTimer = setTimeout(() => this.refreshPreview(), PREVIEW_DELAY_MS);
  }

  // Exactly the messages the first chosen model would be sent, each role and text shown as plain text.
  async refreshPreview() {
    const field = (name) => this.preview.querySelector(`[data-field="${name}"]`);
    const [model] = this.models();
    if (!model) { field("status").textContent = "Choose a model to see its context."; field("messages").replaceChildren(); return; }
    const request = ++this.previewRequest;
    field("status").textContent = "Loading…";
    try {
      const result = await api("POST", `/canvases/${this.app.canvasId}/context`, { text: this.text.value, parents: this.parents(), model });
      if (request !== this.previewRequest) return; // a newer preview is on its way
      const name = this.app.models[typeof model === "string" ? model : model.model]?.display_name || "the model";
      field("status").textContent = result.messages.length
        ? `${result.messages.length} message(s) to ${name}:`
        : "Nothing to send yet: write a question or select nodes to follow.";
      field("messages").replaceChildren(...result.messages.map(messageItem));
      field("params").textContent = JSON.stringify(result.params || {});
      field("params-line").hidden = !Object.keys(result.params || {}).length;
      field("wire").textContent = JSON.stringify(result.wire, null, 2);
      field("wire-block").hidden = false;
    } catch (error) {
      if (request !== this.previewRequest) return;
      field("status").textContent = `No preview: ${error.message}`;
      field("messages").replaceChildren();
      field("params-line").hidden = true;
      field("wire-block").hidden = true;
    }
  }
}

function messageItem(message) {
  const item = document.createElement("li");
  item.className = `message role-${message.role}`;
  const role = document.createElement("span");
  role.className = "role";
  role.textContent = message.role;
  const text = document.createElement("pre");
  text.className = "message-text";
  text.textContent = message.content;
  item.append(role, text);
  return item;
}
