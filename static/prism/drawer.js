// On a narrow screen the composer is a drawer over the canvas (canvas.css): the toolbar's Ask button
// opens it, and so does anything that focuses it (Enter, a follow-up); Hide, Esc from the canvas or a
// question sent closes it, so the answers are in sight. On a wide screen none of this shows.

export function bindDrawer(app) {
  const page = document.getElementById("canvas-page");
  const composer = document.getElementById("composer");
  if (!composer) return;
  const open = () => page.classList.add("composing");
  const close = () => page.classList.remove("composing");
  // Whatever focuses the composer (Enter, Follow up) opens the drawer first: a hidden field takes no focus.
  if (app.composer) {
    const focus = app.composer.focus.bind(app.composer);
    app.composer.focus = (...args) => { open(); return focus(...args); };
  }
  document.querySelector("[data-command=compose]")?.addEventListener("click", () => app.composer?.focus());
  document.getElementById("composer-hide")?.addEventListener("click", close);
  composer.addEventListener("focusin", open);
  composer.addEventListener("submit", () => setTimeout(close, 0));
  app.viewport.element.addEventListener("pointerdown", close);
}
