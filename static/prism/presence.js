// Who else is on this canvas: the server sends `presence` (display names only; share-link holders as
// "guest") whenever someone arrives or leaves, and again after every reconnect.

const slot = document.getElementById("presence");

function initials(name) {
  const words = name.trim().split(/\s+/).filter(Boolean);
  const letters = words.length > 1 ? words[0][0] + words[words.length - 1][0] : (words[0] || "?").slice(0, 2);
  return letters.toUpperCase();
}

// Names are set with textContent: a name never becomes HTML here.
function render(users) {
  const chips = users.map((user) => {
    const chip = document.createElement("span");
    chip.className = user.guest ? "presence-chip guest" : "presence-chip";
    chip.dataset.name = user.name;
    chip.title = user.guest ? "Someone with a share link" : user.name;
    chip.textContent = user.guest ? "guest" : initials(user.name);
    return chip;
  });
  const label = document.createElement("span");
  label.className = "presence-label";
  label.textContent = users.length === 1 ? "1 here" : `${users.length} here`;
  slot.replaceChildren(...chips, label);
  slot.setAttribute("aria-label", `On this canvas: ${users.map((user) => user.name).join(", ")}`);
}

if (slot) {
  slot.setAttribute("role", "status");
  document.addEventListener("prism:event", (event) => {
    if (event.detail.type === "presence") render(event.detail.users || []);
  });
}
