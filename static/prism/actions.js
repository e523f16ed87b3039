// What the buttons on nodes and in the toolbar do (keys.js calls the same methods): follow up,
// regenerate, stop, copy, edit (notes inline, questions through the composer), delete, new note, zoom, fit.

import { api } from "./api.js";
import { FAR_ZOOM } from "./backlog.js";
import { RUNNING } from "./store.js";

export class Actions {
  constructor(app) {
    this.app = app;
    this.nodeActions = {
      "follow-up": (id, additive) => this.followUp(id, additive),
      regenerate: (id) => this.regenerate([id]),
      stop: (id) => this.stop([id]),
      copy: (id) => this.copy(id),
      edit: (id) => this.edit(id),
      delete: (id) => this.remove([id]),
      focus: (id) => this.app.focus.show(id),
    };
    app.view.container.addEventListener("click", (event) => this.onNodeClick(event));
    app.view.container.addEventListener("dblclick", (event) => {
      const node = event.target.closest(".node-note");
      if (node && !event.target.closest(".note-editor")) this.edit(node.dataset.id);
    });
    document.querySelector(".toolbar").addEventListener("click", (event) => {
      const button = event.target.closest("[data-command]");
      if (button) this.command(button.dataset.command);
    });
  }

  onNodeClick(event) {
    const element = event.target.closest(".node");
    if (!element) return;
    const id = element.dataset.id;
    const button = event.target.closest("[data-action]");
    if (!button) {
      // A click in the text selects the node, unless the reader was selecting words.
      if (event.target.closest(".node-body") && !event.target.closest("a, summary, .note-editor") && document.getSelection().isCollapsed) {
        this.app.selection.press(id, event);
      }
      return;
    }
    const act = this.nodeActions[button.dataset.action];
    if (!act) return; // a link (compare) or another module's button (comments)
    event.preventDefault();
    act(id, event.shiftKey || event.ctrlKey || event.metaKey);
  }

  command(name) {
    const { viewport } = this.app;
    if (name === "note") this.newNote();
    else if (name === "zoom-in") viewport.zoomCentre(1.25);
    else if (name === "zoom-out") viewport.zoomCentre(0.8);
    else if (name === "zoom-reset") viewport.zoomTo(1);
    else if (name === "fit") this.fit();
  }

  fit() {
    const { selection, store, viewport } = this.app;
    const nodes = selection.size ? selection.list().map((id) => store.get(id)) : [...store.all()];
    viewport.fit(nodes);
  }

  followUp(id, additive = false) {
    const { selection, composer } = this.app;
    if (additive) selection.set([...selection.list(), id]);
    else selection.only(id);
    composer?.leaveRerun();
    composer?.focus();
  }

  async regenerate(ids) {
    const responses = ids.filter((id) => this.app.store.get(id)?.kind === "response");
    if (!responses.length) { this.app.toast("Select a response to regenerate."); return; }
    for (const id of responses) {
      try {
        const node = await api("POST", `/nodes/${id}/regenerate`);
        this.app.apply(node, { seen: true });
        this.app.viewport.reveal([node]);
      } catch (error) {
        this.app.toast(`Could not regenerate: ${error.message}`);
      }
    }
  }

  // A running response stops; a question stops its whole fan-out.
  async stop(ids) {
    const { store } = this.app;
    const targets = ids.filter((id) => {
      const node = store.get(id);
      return node && (RUNNING.has(node.status) || (node.kind === "prompt" && store.runningChildren(id).length));
    });
    if (!targets.length) { this.app.toast("Nothing selected is running."); return; }
    for (const id of targets) {
      try {
        const result = await api("POST", `/nodes/${id}/cancel`);
        this.app.apply(result.node);
      } catch (error) {
        if (error.status !== 409) this.app.toast(`Could not stop: ${error.message}`); // 409: it had just ended
      }
    }
  }

  // Deletes the chosen nodes once the reader confirms: a question goes with its answers; anything still
  // running is refused by the server (stop it first). Others on the canvas see them go (node.deleted).
  async remove(ids) {
    const { store } = this.app;
    if (!this.app.canWrite) return;
    const chosen = new Set(ids.filter((id) => store.has(id)));
    // An answer whose question is also chosen goes with it.
    const targets = [...chosen].filter((id) => !(store.get(id).kind === "response" && store.get(id).parents.some((p) => chosen.has(p))));
    if (!targets.length) return;
    const answers = targets.reduce((n, id) => n + (store.get(id).kind === "prompt" ? store.answersOf(id).length : 0), 0);
    const what = targets.length === 1 ? `this ${store.get(targets[0]).kind === "response" ? "answer" : store.get(targets[0]).kind}` : `these ${targets.length} nodes`;
    const also = answers ? ` and ${answers === 1 ? "its answer" : `their ${answers} answers`}` : "";
    if (!window.confirm(`Delete ${what}${also}? This cannot be undone.`)) return;
    for (const id of targets) {
      const gone = [id, ...(store.get(id)?.kind === "prompt" ? store.answersOf(id) : [])];
      try {
        await api("DELETE", `/nodes/${id}`);
        for (const node of gone) this.app.removeNode(node);
      } catch (error) {
        this.app.toast(error.status === 409 ? "It is still running: stop it first, then delete it." : `Could not delete: ${error.message}`);
      }
    }
  }

  async copy(id) {
    const text = this.app.textOf(id);
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      const area = Object.assign(document.createElement("textarea"), { value: text });
      document.body.appendChild(area);
      area.select();
      document.execCommand("copy");
      area.remove();
    }
    this.app.toast("Copied the Markdown.");
  }

  edit(id) {
    const node = this.app.store.get(id);
    if (!node || !this.app.canWrite) return;
    if (node.kind === "prompt") this.app.composer?.editPrompt(id);
    else if (node.kind === "note") this.editNote(id);
  }

  async newNote() {
    const { selection, store, canvasId } = this.app;
    if (!this.app.canWrite) return;
    // What the reader types while the note is being made is the note's, not the canvas's shortcuts.
    const typed = holdTyping();
    const parents = selection.list();
    const body = { text: "", parents };
    if (!parents.length) {
      // Unattached notes go where the reader is looking.
      const view = this.app.viewport.visible();
      Object.assign(body, { x: Math.round(view.x + view.w / 2 - 150), y: Math.round(view.y + view.h / 2 - 80) });
    }
    try {
      const note = await api("POST", `/canvases/${canvasId}/notes`, body);
      this.app.apply(note);
      selection.only(note.id);
      // Zoomed far out, nodes show titles only: come close enough to see what is written.
      if (this.app.viewport.k < FAR_ZOOM) this.app.viewport.fit([store.get(note.id)], 200);
      else this.app.viewport.reveal([store.get(note.id)]);
      this.editNote(note.id, typed.release());
    } catch (error) {
      typed.release();
      this.app.toast(`Could not add a note: ${error.message}`);
    }
  }

  // The note's text becomes a textarea in place; blur or Ctrl+Enter saves, Esc leaves it as it was.
  editNote(id, typed = "") {
    const node = this.app.store.get(id);
    if (!node) return;
    const element = this.app.view.ensure(node);
    if (element.querySelector(".note-editor")) return;
    const editor = document.createElement("textarea");
    editor.className = "note-editor";
    editor.setAttribute("aria-label", "Note text");
    editor.value = (node.text || "") + typed;
    element.classList.add("editing");
    element.fields.body.appendChild(editor);
    editor.focus();
    editor.setSelectionRange(editor.value.length, editor.value.length);
    let done = false;
    const finish = async (save) => {
      if (done) return;
      done = true;
      const text = editor.value;
      editor.remove();
      element.classList.remove("editing");
      if (!save || text === node.text) return;
      node.text = text; // shown at once; the server's copy follows
      this.app.view.paint(id);
      try {
        this.app.apply(await api("PATCH", `/nodes/${id}`, { text }));
      } catch (error) {
        this.app.toast(`Could not save the note: ${error.message}`);
      }
    };
    editor.addEventListener("blur", () => finish(true));
    editor.addEventListener("keydown", (event) => {
      event.stopPropagation(); // the canvas's shortcuts do not apply while typing
      if (event.key === "Escape") { event.preventDefault(); finish(false); }
      if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) { event.preventDefault(); finish(true); }
    });
  }
}

// Until release(), printable keys (and Backspace) are kept instead of reaching the page's shortcuts;
// release() stops listening and returns the text typed meanwhile.
function holdTyping() {
  let text = "";
  const keep = (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey || event.isComposing) return;
    if (event.key.length === 1) text += event.key;
    else if (event.key === "Enter") text += "\n";
    else if (event.key === "Backspace") text = text.slice(0, -1);
    else return;
    event.preventDefault();
    event.stopImmediatePropagation();
  };
  window.addEventListener("keydown", keep, true);
  return {
    release() {
      window.removeEventListener("keydown", keep, true);
      return text;
    },
  };
}
