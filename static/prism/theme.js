// Light or dark: the system's setting unless the reader chose otherwise with the topbar's switch (kept
// in localStorage). Loaded without defer in <head>, so a chosen theme applies before the first paint.
const KEY = "prism.theme";
const root = document.documentElement;
const systemDark = window.matchMedia("(prefers-color-scheme: dark)");

function stored() {
  try {
    return localStorage.getItem(KEY);
  } catch {
    return null;
  }
}

const current = () => root.dataset.theme || (systemDark.matches ? "dark" : "light");

// Code colours follow the theme too: each highlight.js sheet says which theme it is for.
function applySheets() {
  for (const link of document.querySelectorAll("link[data-theme-sheet]")) {
    link.media = root.dataset.theme
      ? (link.dataset.themeSheet === root.dataset.theme ? "all" : "not all")
      : `(prefers-color-scheme: ${link.dataset.themeSheet})`;
  }
}

let shown = null; // the theme applied last

function apply(theme) {
  if (theme === "dark" || theme === "light") root.dataset.theme = theme;
  else delete root.dataset.theme;
  applySheets();
  const button = document.getElementById("theme-switch");
  if (button) button.setAttribute("aria-pressed", String(current() === "dark"));
  if (shown !== null && shown !== current()) document.dispatchEvent(new CustomEvent("prism:theme")); // charts draw again
  shown = current();
}

apply(stored());

document.addEventListener("DOMContentLoaded", () => {
  apply(root.dataset.theme);
  document.getElementById("theme-switch")?.addEventListener("click", () => {
    const next = current() === "dark" ? "light" : "dark";
    // Choosing what the system shows anyway goes back to following the system.
    const follows = next === (systemDark.matches ? "dark" : "light");
    try {
      if (follows) localStorage.removeItem(KEY);
      else localStorage.setItem(KEY, next);
    } catch {
      /* storage off: the choice holds for this page */
    }
    apply(follows ? null : next);
  });
});
systemDark.addEventListener("change", () => apply(root.dataset.theme));
