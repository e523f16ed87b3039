"""Search across the canvases a person may see: their titles, and the text of their prompts, notes and
answers. Never another team's canvas, never a deleted one (canvas.access.visible_canvases).

PostgreSQL: full-text search (English stemming, so "running" finds "run"; the query reads like a web
search: quoted phrases, `-word` to exclude, `or`), ranked, with a snippet around the match; the
expression is the one the GIN index of migration 0012 holds, which leaves out answers still running
(their text changes every second; they are found once they end). SQLite (the embedded mode): every word of the
query, anywhere in the text, case-insensitively, newest first, with a snippet around the first word.
"""

from __future__ import annotations

import re

from django.contrib.postgres.search import SearchHeadline, SearchQuery, SearchRank, SearchVector
from django.db import connection
from django.db.models import Q

from canvas import access
from canvas.models import RUNNING_STATUSES, Node
from providers.text import clean_text

CONFIG = "english"
MAX_RESULTS = 50
MAX_QUERY = 200
MAX_WORDS = 8  # words the embedded mode's search takes from a query
SNIPPET_CHARS = 160


def search(user, query: str, *, full_text: bool | None = None, limit: int = MAX_RESULTS) -> list[dict]:
    """`[{"canvas", "title", "node", "snippet"}]`: matching titles first (node None), then matching nodes.
    `full_text`: PostgreSQL's full-text search; by default where the database is PostgreSQL."""
    query = clean_text(query or "").strip()[:MAX_QUERY]
    if not query:
        return []
    if full_text is None:
        full_text = connection.vendor == "postgresql"
    canvases = access.visible_canvases(user)
    found = _full_text(canvases, query, limit) if full_text else _words(canvases, query, limit)
    return found[:limit]


def _full_text(canvases, query: str, limit: int) -> list[dict]:
    terms = SearchQuery(query, config=CONFIG, search_type="websearch")
    titled = (
        canvases.annotate(match=SearchVector("title", config=CONFIG))
        .filter(match=terms)
        .values("id", "title")
        .order_by("-updated_at")[:limit]
    )
    found = [_result(row["id"], row["title"], None, row["title"]) for row in titled]
    nodes = (
        text_matches(terms)
        .filter(canvas__in=canvases)
        .annotate(rank=SearchRank("match", terms))
        .order_by("-rank", "-created_at")
    )
    rows = list(nodes.values("id", "canvas_id", "canvas__title")[: limit - len(found)])
    # Snippets for the chosen few only: ts_headline reads each text again.
    snippets = dict(
        Node.objects.filter(pk__in=[row["id"] for row in rows])
        .annotate(snippet=SearchHeadline("text", terms, config=CONFIG, start_sel="", stop_sel="", max_words=30))
        .values_list("id", "snippet")
    )
    found += [_result(r["canvas_id"], r["canvas__title"], r["id"], snippets.get(r["id"], "")) for r in rows]
    return found


def text_matches(terms: SearchQuery):
    """The nodes whose text matches, answers still running left out: the GIN index of migration 0012
    holds a text once it stops changing, and only a query with its expression and its condition can read
    it (tests/test_workspace.py checks the plan)."""
    return (
        Node.objects.exclude(status__in=RUNNING_STATUSES)
        .annotate(match=SearchVector("text", config=CONFIG))
        .filter(match=terms)
    )


def _words(canvases, query: str, limit: int) -> list[dict]:
    words = [w for w in re.split(r"\s+", query.replace('"', " ")) if w.strip("-")][:MAX_WORDS]
    words = [w.lstrip("-") for w in words]
    if not words:
        return []
    in_title, in_text = Q(), Q()
    for word in words:
        in_title &= Q(title__icontains=word)
        in_text &= Q(text__icontains=word)
    titled = canvases.filter(in_title).values("id", "title").order_by("-updated_at")[:limit]
    found = [_result(row["id"], row["title"], None, row["title"]) for row in titled]
    nodes = (
        Node.objects.filter(canvas__in=canvases)
        .exclude(status__in=RUNNING_STATUSES)  # as the full-text search does
        .filter(in_text)
        .order_by("-created_at")
        .values("id", "canvas_id", "canvas__title", "text")[: limit - len(found)]
    )
    found += [_result(r["canvas_id"], r["canvas__title"], r["id"], snippet(r["text"], words[0])) for r in nodes]
    return found


def snippet(text: str, word: str, width: int = SNIPPET_CHARS) -> str:
    """Some words either side of the first `word` in `text`, on one line."""
    flat = " ".join(text.split())
    at = flat.lower().find(word.lower())
    start = max(0, at - width // 3) if at > 0 else 0
    part = flat[start : start + width]
    return ("…" if start else "") + part + ("…" if start + width < len(flat) else "")


def _result(canvas_id, title: str, node_id, text: str) -> dict:
    return {
        "canvas": str(canvas_id),
        "title": title,
        "node": str(node_id) if node_id else None,
        "snippet": " ".join((text or "").split()),
    }
