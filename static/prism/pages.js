// Behaviour shared by the server-rendered pages, kept out of the HTML so that the Content-Security-Policy
// can forbid inline script: a one-time secret (token, invitation or share link) is selected on focus,
// ready to copy.
document.addEventListener("focusin", (event) => {
  if (event.target instanceof HTMLInputElement && event.target.matches("input.secret")) event.target.select();
});
