"""How the canvas page scales with its number of nodes: server time and SQL queries, and Chromium.

Builds canvases of 10, 100 and 1,000 nodes (prompts fanned out to three models, branches, merges
and notes; each response about 1 KB of Markdown with a code block) straight through the ORM, in the
SQLite database of a live embedded stack. Then, for each size, it prints:

- server: the canvas page and GET /api/canvases/{id} through django.test.Client in this process
  (median time of several requests, SQL queries per request, response size). The query count must
  not grow with the number of nodes.
- browser: headless Chromium against the live stack: navigation start to every node placed
  (plain text, "placed") and to every node's Markdown rendered ("ready"); then the average and p95
  frame time over 60 animation frames while panning with the wheel, and while zooming with
  Ctrl+wheel, once at fit-to-view (every node on screen) and once at 100%.

    .venv/bin/python bench/canvas_1000.py [--sizes 10,100,1000] [--repeat 5]

Figures depend on the machine; headless Chromium renders without a GPU.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.stack import LiveStack, live_stack

ROUND_W, ROUND_H = 1300.0, 720.0  # the room one prompt and its three responses take


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="10,100,1000", help="comma-separated node counts")
    parser.add_argument("--repeat", type=int, default=5, help="requests per server figure (the median is shown)")
    return parser.parse_args(argv)


# --- building canvases ----------------------------------------------------------------------------


def markdown_answer(i: int) -> str:
    """About 1 KB of Markdown: a heading, a list, emphasis, inline code and a fenced code block."""
    return (
        f"## Answer {i}\n\n"
        f"The **short** version: caching trades memory for latency, and *prefix* caches make a repeated "
        f"context cheap. Round {i} measures it with `time_to_first_token` on the same prompt twice.\n\n"
        "- First request: the provider reads the whole prompt.\n"
        "- Second request: the shared prefix comes from the cache, so input tokens cost less.\n"
        "- The answer itself is generated either way; output tokens cost the same.\n\n"
        "```python\n"
        "def cached_cost(tokens: int, cached: int, price: float, cached_price: float) -> float:\n"
        "    fresh = tokens - cached\n"
        "    return (fresh * price + cached * cached_price) / 1_000_000\n"
        "```\n\n"
        "> A cache that is never hit is pure cost, so keep the system prompt and the early context "
        "byte-identical between requests.\n\n"
        f"In short: measure it. This paragraph pads the answer to about a kilobyte, as real ones are ({i})."
    )


def build_canvas(user, size: int):
    """A canvas of `size` nodes: rounds of one prompt and three responses, each round following one
    response of the round before (every fifth round merges two), with a note every fourth round."""
    from decimal import Decimal

    from django.utils import timezone

    from canvas.models import Canvas, Edge, Node, NodeKind, NodeStatus
    from canvas.services import RESPONSE_H, RESPONSE_W
    from providers.models import Model

    models = list(Model.objects.usable().order_by("name")[:3])
    team = user.teams.first()
    canvas = Canvas.objects.create(team=team, title=f"Bench {size} nodes", created_by=user)
    nodes: list[Node] = []
    edges: list[tuple[Node, Node, int]] = []
    start = timezone.now()
    columns = max(1, round((size / 4) ** 0.5))

    def add(**fields) -> Node | None:
        if len(nodes) >= size:
            return None
        node = Node(canvas=canvas, created_by=user, created_at=start + timezone.timedelta(seconds=len(nodes)), **fields)
        nodes.append(node)
        return node

    previous: list[Node] = []
    round_number = 0
    while len(nodes) < size:
        x0, y0 = (round_number % columns) * ROUND_W, (round_number // columns) * ROUND_H
        prompt = add(
            kind=NodeKind.PROMPT,
            text=f"Question {round_number}: how does **caching** help?",
            x=x0 + 400,
            y=y0,
            w=360,
            h=140,
        )
        if prompt is None:
            break
        parents = previous[:2] if round_number % 5 == 4 else previous[:1]
        edges += [(parent, prompt, i) for i, parent in enumerate(parents)]
        responses = []
        for j, model in enumerate(models):
            response = add(
                kind=NodeKind.RESPONSE, model=model, status=NodeStatus.DONE, finish_reason="stop",
                text=markdown_answer(round_number * 3 + j), x=x0 + j * (RESPONSE_W + 40), y=y0 + 200,
                w=RESPONSE_W, h=RESPONSE_H, seq=120, ttft_ms=300 + j, duration_ms=2000, tokens_per_s=55.5,
                input_tokens=40, output_tokens=250, usage_estimated=False,
                cost=None if j == 2 else Decimal("0.00012345"),
            )  # fmt: skip
            if response is None:
                break
            responses.append(response)
            edges.append((prompt, response, 0))
        if round_number % 4 == 3 and responses:
            note = add(kind=NodeKind.NOTE, text=f"Note on round {round_number}: *check the cache hit rate*.",
                       x=x0 + 1180, y=y0 + 200, w=300, h=160)  # fmt: skip
            if note is not None:
                edges.append((responses[0], note, 0))
        previous = responses or previous
        round_number += 1
    Node.objects.bulk_create(nodes)
    Edge.objects.bulk_create([Edge(parent=p, child=c, position=i) for p, c, i in edges])
    return canvas


# --- server figures -------------------------------------------------------------------------------


def server_figures(user, canvas, repeat: int) -> dict[str, tuple[float, int, int]]:
    """{"page": (median ms, queries, bytes), "api": ...} for one canvas."""
    from django.db import connection
    from django.test import Client
    from django.test.utils import CaptureQueriesContext

    client = Client()
    client.force_login(user)
    figures = {}
    for name, url in (("page", f"/canvases/{canvas.id}/"), ("api", f"/api/canvases/{canvas.id}")):
        times, queries, size = [], 0, 0
        for _ in range(repeat + 1):  # the first request warms caches and is not counted
            with CaptureQueriesContext(connection) as captured:
                began = time.perf_counter()
                response = client.get(url)
                elapsed = time.perf_counter() - began
            assert response.status_code == 200, (url, response.status_code)
            times.append(elapsed * 1000)
            queries, size = len(captured.captured_queries), len(response.content)
        figures[name] = (statistics.median(times[1:]), queries, size)
    return figures


# --- browser figures ------------------------------------------------------------------------------

_FRAMES = """async ([kind, frames]) => {
  const viewport = document.getElementById("viewport");
  const box = viewport.getBoundingClientRect();
  const x = box.left + box.width / 2, y = box.top + box.height / 2;
  const gaps = [];
  await new Promise((resolve) => {
    let last = null;
    let i = 0;
    function step(now) {
      if (last !== null) gaps.push(now - last);
      last = now;
      const zoom = kind === "zoom";
      const delta = zoom ? (i % 20 < 10 ? -12 : 12) : (i % 30 < 15 ? 18 : -18);
      viewport.dispatchEvent(new WheelEvent("wheel", {
        deltaX: zoom ? 0 : delta / 2, deltaY: delta, clientX: x, clientY: y, ctrlKey: zoom,
        bubbles: true, cancelable: true,
      }));
      if (++i <= frames) requestAnimationFrame(step); else resolve();
    }
    requestAnimationFrame(step);
  });
  gaps.sort((a, b) => a - b);
  return { mean: gaps.reduce((a, b) => a + b, 0) / gaps.length, p95: gaps[Math.floor(gaps.length * 0.95)] };
}"""


def browser_figures(stack: LiveStack, canvas_ids: dict[int, str]) -> dict[int, dict]:
    from tests.browser import chromium  # the browser tests' launcher: Debian's Chromium, same flags

    results = {}
    with chromium() as browser:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        page.goto(f"{stack.base_url}/accounts/login/")
        page.get_by_label("Username").fill(stack.username)
        page.get_by_label("Password").fill(stack.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{stack.base_url}/")
        for size, canvas_id in canvas_ids.items():
            page.goto(f"{stack.base_url}/canvases/{canvas_id}/")
            page.wait_for_function("() => document.documentElement.dataset.canvasReady === 'true'", timeout=120_000)
            page.wait_for_function("() => performance.getEntriesByName('prism:formatted').length > 0", timeout=120_000)
            marks = page.evaluate("""() => ({
                placed: performance.getEntriesByName("prism:placed")[0].startTime,
                ready: performance.getEntriesByName("prism:ready")[0].startTime,
                formatted: performance.getEntriesByName("prism:formatted")[0].startTime,
                zoom: window.prism.viewport.k,
                nodes: document.querySelectorAll("#nodes .node").length,
            })""")
            assert marks["nodes"] == size, marks
            figures = {
                "placed_ms": marks["placed"], "ready_ms": marks["ready"], "formatted_ms": marks["formatted"],
                "zoom": marks["zoom"],
            }  # fmt: skip
            page.keyboard.press("f")
            figures["pan_fit"] = page.evaluate(_FRAMES, ["pan", 60])
            figures["zoom_fit"] = page.evaluate(_FRAMES, ["zoom", 60])
            page.keyboard.press("0")
            figures["pan_100"] = page.evaluate(_FRAMES, ["pan", 60])
            figures["zoom_100"] = page.evaluate(_FRAMES, ["zoom", 60])
            results[size] = figures
            page.evaluate("sessionStorage.clear()")
    return results


# --- main -----------------------------------------------------------------------------------------


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    with tempfile.TemporaryDirectory() as tmp, live_stack("embedded", Path(tmp)) as stack:
        os.environ.update(stack.env)  # this process uses the stack's own SQLite database
        import django

        django.setup()
        from django.conf import settings
        from django.contrib.auth import get_user_model

        settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]
        user = get_user_model().objects.get(username=stack.username)
        canvases = {size: build_canvas(user, size) for size in sizes}
        server = {size: server_figures(user, canvas, args.repeat) for size, canvas in canvases.items()}
        browser = browser_figures(stack, {size: str(canvas.id) for size, canvas in canvases.items()})

    print("\nServer (django.test.Client in-process, SQLite; median of", args.repeat, "requests)")
    print(f"{'nodes':>6} | {'page ms':>8} {'queries':>7} {'KB':>7} | {'API ms':>8} {'queries':>7} {'KB':>7}")
    for size in sizes:
        (pm, pq, pb), (am, aq, ab) = server[size]["page"], server[size]["api"]
        print(f"{size:>6} | {pm:>8.1f} {pq:>7} {pb / 1024:>7.0f} | {am:>8.1f} {aq:>7} {ab / 1024:>7.0f}")

    print("\nChromium (headless, no GPU, 1280x800). Milliseconds from navigation start: every node placed,")
    print("the nodes in view formatted (ready), every node formatted. Frame times over 60 frames, mean / p95 ms.")
    head = f"{'nodes':>6} | {'placed':>6} {'ready':>6} {'all md':>6} | {'fit zoom':>8} {'pan fit':>13} {'zoom fit':>13}"
    print(f"{head} | {'pan 100%':>13} {'zoom 100%':>13}")
    for size in sizes:
        f = browser[size]

        def frames(key: str, f: dict = f) -> str:
            return f"{f[key]['mean']:.1f} / {f[key]['p95']:.1f}"

        times = f"{f['placed_ms']:>6.0f} {f['ready_ms']:>6.0f} {f['formatted_ms']:>6.0f}"
        fit = f"{f['zoom']:>8.2f} {frames('pan_fit'):>13} {frames('zoom_fit'):>13}"
        print(f"{size:>6} | {times} | {fit} | {frames('pan_100'):>13} {frames('zoom_100'):>13}")


if __name__ == "__main__":
    main()
