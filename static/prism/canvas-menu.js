// The canvas's own menu (templates/canvas/_menu.html): share, move, export, import, comments, compare.
// A menu button in the WAI-ARIA way: Enter, Space or ↓ opens it on its first item, ↑ on its last; the
// arrows, Home and End move between items; Esc closes it and gives the focus back to the button; Tab or a
// click elsewhere closes it. The items shown depend on the person's role; the server checks each again.

import { api } from "./api.js";
import { bindShareDialog } from "./share.js";

const button = document.getElementById("canvas-menu-button");
const menu = document.getElementById("canvas-menu");
const canvasId = window.prism.canvasId;
const items = () => [...menu.querySelectorAll("[role=menuitem]")].filter((item) => !item.hidden);

function open(which = "first") {
  menu.hidden = false;
  button.setAttribute("aria-expanded", "true");
  const list = items();
  (which === "last" ? list.at(-1) : list[0])?.focus();
}

function close({ refocus = true } = {}) {
  if (menu.hidden) return;
  menu.hidden = true;
  button.setAttribute("aria-expanded", "false");
  if (refocus) button.focus();
}

button.addEventListener("click", () => (menu.hidden ? open() : close()));
button.addEventListener("keydown", (event) => {
  if (event.key === "ArrowDown" || event.key === "ArrowUp") {
    event.preventDefault();
    open(event.key === "ArrowUp" ? "last" : "first");
  }
});

const MOVES = { ArrowDown: 1, ArrowUp: -1 };
menu.addEventListener("keydown", (event) => {
  const list = items();
  const at = list.indexOf(document.activeElement);
  if (event.key in MOVES) list[(at + MOVES[event.key] + list.length) % list.length].focus();
  else if (event.key === "Home") list[0].focus();
  else if (event.key === "End") list.at(-1).focus();
  else if (event.key === "Escape") close();
  else if (event.key === "Tab") { close({ refocus: false }); return; }
  else { event.stopPropagation(); return; } // Enter and Space press the item; no letter is a canvas shortcut here
  event.preventDefault();
  event.stopPropagation();
});
document.addEventListener("pointerdown", (event) => {
  if (!menu.hidden && !event.target.closest(".menu-wrap")) close({ refocus: false });
});

// --- The items ---------------------------------------------------------------------------------------

function showDialog(id) {
  const dialog = document.getElementById(id);
  dialog.showModal();
  return dialog;
}

for (const dialog of document.querySelectorAll("dialog.panel")) {
  for (const closer of dialog.querySelectorAll("[data-close]")) closer.addEventListener("click", () => dialog.close());
  dialog.addEventListener("close", () => button.focus());
}

const shareDialog = bindShareDialog(canvasId);

// The question whose answers to compare: the selected one (or the selected answer's), else the latest
// question that has answers.
function promptToCompare() {
  const outline = window.prism.outline();
  const byId = new Map(outline.map((node) => [node.id, node]));
  const promptOf = (node) => (node?.kind === "prompt" ? node : byId.get(node?.parents.find((p) => byId.get(p)?.kind === "prompt")));
  for (const id of window.prism.selection()) {
    const prompt = promptOf(byId.get(id));
    if (prompt) return prompt.id;
  }
  const answered = new Set(outline.filter((node) => node.kind === "response").map((node) => promptOf(node)?.id));
  const prompts = outline.filter((node) => node.kind === "prompt" && answered.has(node.id));
  prompts.sort((a, b) => a.created_at.localeCompare(b.created_at));
  return prompts.at(-1)?.id || null;
}

const importFile = document.getElementById("import-file");
importFile.addEventListener("change", async () => {
  const [file] = importFile.files;
  importFile.value = "";
  if (!file) return;
  let data;
  try {
    data = JSON.parse(await file.text());
  } catch {
    window.prism.toast(`${file.name} is not a JSON file.`);
    return;
  }
  const team = importFile.dataset.team;
  try {
    const canvas = await api("POST", `/canvases/import${team ? `?team=${encodeURIComponent(team)}` : ""}`, data);
    window.location.assign(`/canvases/${canvas.id}/`);
  } catch (error) {
    window.prism.toast(`Not imported: ${error.message}`);
  }
});

const moveForm = document.getElementById("move-form");
moveForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("move-error");
  error.hidden = true;
  try {
    await api("POST", `/canvases/${canvasId}/move`, { team: moveForm.elements.team.value });
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    return;
  }
  // The person's role, and so this page's menu and composer, may differ in the new team.
  window.location.reload();
});

const renameForm = document.getElementById("rename-form");
renameForm?.addEventListener("submit", async (event) => {
  event.preventDefault();
  const error = document.getElementById("rename-error");
  error.hidden = true;
  const tags = renameForm.elements.tags.value.split(",").map((tag) => tag.trim()).filter(Boolean);
  let canvas;
  try {
    canvas = await api("PATCH", `/canvases/${canvasId}`, { title: renameForm.elements.title.value, tags });
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    return;
  }
  for (const element of document.querySelectorAll(".canvas-title, #delete-dialog [data-field=title]")) element.textContent = canvas.title;
  document.title = `${canvas.title} · Prism`;
  renameForm.elements.title.value = canvas.title;
  renameForm.elements.tags.value = canvas.tags.join(", ");
  renameForm.closest("dialog").close();
  window.prism.toast("Saved.");
});

document.getElementById("delete-confirm")?.addEventListener("click", async () => {
  const error = document.getElementById("delete-error");
  try {
    await api("DELETE", `/canvases/${canvasId}`);
  } catch (failure) {
    error.textContent = failure.message;
    error.hidden = false;
    return;
  }
  window.location.assign("/"); // the list, where it waits to be restored
});

async function duplicate() {
  try {
    const copy = await api("POST", `/canvases/${canvasId}/duplicate`);
    window.location.assign(`/canvases/${copy.id}/`);
  } catch (failure) {
    window.prism.toast(`Not duplicated: ${failure.message}`);
  }
}

const ACTIONS = {
  rename: () => showDialog("rename-dialog").querySelector("input")?.select(),
  duplicate,
  delete: () => showDialog("delete-dialog"),
  share: () => shareDialog.open(),
  move: () => showDialog("move-dialog"),
  import: () => importFile.click(),
  comments: () => document.dispatchEvent(new CustomEvent("prism:comments")),
  compare() {
    const prompt = promptToCompare();
    if (!prompt) { window.prism.toast("Nothing to compare yet: ask a question first."); return; }
    window.location.assign(`/canvases/${canvasId}/compare/${prompt}/`);
  },
};

menu.addEventListener("click", (event) => {
  const item = event.target.closest("[data-menu]");
  if (!item) return;
  close({ refocus: false });
  ACTIONS[item.dataset.menu]?.();
});
