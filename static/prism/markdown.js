// Markdown for untrusted text (model output, prompts, notes): marked renders it, highlight.js colours
// code blocks, and DOMPurify sanitises the HTML *after* rendering, so no script, event handler or
// javascript: URL reaches the page. Raw HTML in the source is shown as text, never interpreted.
// Streaming text is re-rendered whole each time; an unclosed code fence simply runs to the end.

const { marked, DOMPurify, hljs } = window;

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHtml = (text) => String(text).replace(/[&<>"']/g, (c) => ESCAPES[c]);

const parser = new marked.Marked({ gfm: true, breaks: false, async: false });
parser.use({
  renderer: {
    html(token) {
      const text = escapeHtml(token.text);
      return token.block ? `<p class="raw-html">${text}</p>` : text;
    },
    code(token) {
      const language = (token.lang || "").match(/^[\w+#.-]*/)[0].toLowerCase();
      const known = language && hljs?.getLanguage(language);
      const body = known ? hljs.highlight(token.text, { language, ignoreIllegals: true }).value : escapeHtml(token.text);
      const label = language ? ` data-lang="${escapeHtml(language)}"` : "";
      return `<pre${label}><code class="hljs${known ? ` language-${language}` : ""}">${body}</code></pre>\n`;
    },
  },
});

const PURIFY = {
  FORBID_TAGS: ["style", "form", "input", "button", "textarea", "select", "option", "dialog", "template"],
  FORBID_ATTR: ["style", "id", "name", "autofocus", "tabindex"],
  RETURN_DOM_FRAGMENT: true,
};

DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
  if (node.tagName === "IMG") node.setAttribute("loading", "lazy");
});

export function renderMarkdown(element, text) {
  let html;
  try {
    html = parser.parse(text || "");
  } catch {
    element.textContent = text || ""; // a parser failure must not lose the text
    return;
  }
  element.replaceChildren(DOMPurify.sanitize(html, PURIFY));
}

// Re-renders a node's text at most once per interval while it streams; the last call always lands.
export class ThrottledRenderer {
  constructor(render, intervalMs = 100) {
    this.render = render; // (id) => void, called inside an animation frame
    this.interval = intervalMs;
    this.last = new Map(); // id -> time of the last render
    this.timers = new Map(); // id -> pending timer
  }

  request(id) {
    if (this.timers.has(id)) return;
    const wait = Math.max(0, (this.last.get(id) ?? -Infinity) + this.interval - performance.now());
    const run = () => {
      requestAnimationFrame(() => {
        this.timers.delete(id);
        this.last.set(id, performance.now());
        this.render(id);
      });
    };
    this.timers.set(id, wait > 0 ? setTimeout(run, wait) : (run(), true));
  }
}
