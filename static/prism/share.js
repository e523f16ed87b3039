// The Share dialog of the canvas menu: the people with access (in the page), and for editors and owners
// the canvas's read-only links, made and revoked through /api/canvases/<id>/share-links.

import { api } from "./api.js";

function when(iso) {
  return iso ? new Date(iso).toLocaleString(undefined, { dateStyle: "medium", timeStyle: "short" }) : "never";
}

function linkRow(link, revoke) {
  const item = document.createElement("li");
  item.className = `share-link${link.active ? "" : " inactive"}`;
  item.dataset.id = link.id;
  const label = document.createElement("span");
  const name = document.createElement("strong");
  name.textContent = link.name || "Unnamed link";
  const hint = document.createElement("code");
  hint.textContent = ` ${link.hint}…`;
  const detail = document.createElement("span");
  detail.className = "muted";
  const state = link.revoked_at ? "revoked" : link.active ? `expires ${when(link.expires_at)}` : "expired";
  detail.textContent = ` · ${state} · last used ${when(link.last_used_at)}`;
  label.append(name, hint, detail);
  item.append(label);
  if (link.active) {
    const button = document.createElement("button");
    button.type = "button";
    button.className = "link danger";
    button.textContent = "Revoke";
    button.setAttribute("aria-label", `Revoke ${link.name || link.hint}`);
    button.addEventListener("click", () => revoke(link));
    item.append(button);
  }
  return item;
}

export function bindShareDialog(canvasId) {
  const dialog = document.getElementById("share-dialog");
  const form = document.getElementById("share-form"); // only for editors and owners
  const list = document.getElementById("share-links");
  const error = document.getElementById("share-error");
  const fresh = document.getElementById("share-new");
  const url = document.getElementById("share-url");

  const fail = (failure) => { error.textContent = failure.message; error.hidden = false; };

  async function load() {
    if (!form) return;
    try {
      const links = await api("GET", `/canvases/${canvasId}/share-links`);
      const rows = links.map((link) => linkRow(link, revoke));
      if (!rows.length) {
        const none = document.createElement("li");
        none.className = "muted";
        none.textContent = "No share links yet.";
        rows.push(none);
      }
      list.replaceChildren(...rows);
    } catch (failure) {
      fail(failure);
    }
  }

  async function revoke(link) {
    error.hidden = true;
    try {
      await api("DELETE", `/canvases/${canvasId}/share-links/${link.id}`);
    } catch (failure) {
      fail(failure);
    }
    await load();
  }

  form?.addEventListener("submit", async (event) => {
    event.preventDefault();
    error.hidden = true;
    const days = form.elements.expires_in_days.value;
    const body = { name: form.elements.name.value, expires_in_days: days ? Number(days) : null };
    try {
      const link = await api("POST", `/canvases/${canvasId}/share-links`, body);
      url.value = link.url;
      fresh.hidden = false;
      form.reset();
      url.select();
    } catch (failure) {
      fail(failure);
      return;
    }
    await load();
  });
  document.getElementById("share-copy")?.addEventListener("click", async () => {
    url.select();
    try {
      await navigator.clipboard.writeText(url.value);
      window.prism.toast("Share link copied.");
    } catch {
      window.prism.toast("Select the link and copy it.");
    }
  });

  return {
    open() {
      if (form) {
        fresh.hidden = true;
        url.value = "";
        error.hidden = true;
      }
      dialog.showModal();
      load();
    },
  };
}
