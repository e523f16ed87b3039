"""Blind prompts: which model gave which answer stays hidden from a person until they have voted on it.

A blind prompt's answers are labelled "A", "B", … in an order drawn once (canvas.services shuffles the
models before it places them, so neither the labels nor the places nor the creation order follow the
order the models were asked in). Until the person viewing has voted on that prompt, or its author has
revealed it to everyone, every channel that reaches them passes each node payload through `redact`:
the one place that decides what of an answer a person may see.

The rule fails closed: an answer with a label is hidden unless its prompt is known to be open to the
viewer (`open_prompts`), so a channel that has not heard of a new blind prompt hides its answers.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable

from django.db.models import Q

from canvas.models import Node, NodeKind
from engine import events
from engine.payloads import nodes_payload

HIDDEN_METRICS = ("ttft_ms", "tokens_per_s", "duration_ms")
# A failed answer's message may quote its provider ("Rate limit reached for gpt-4o…"): hidden too.
HIDDEN_ERROR = "This answer failed; its details show once you have voted on this prompt."
_ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_random = random.SystemRandom()


def label(index: int) -> str:
    """A, B, … Z, then AA, AB, … (the label field holds two letters)."""
    if index < len(_ALPHABET):
        return _ALPHABET[index]
    first, second = divmod(index - len(_ALPHABET), len(_ALPHABET))
    return _ALPHABET[first % len(_ALPHABET)] + _ALPHABET[second]


def shuffled(items: list) -> list:
    """The models of a blind prompt in a random order: its answers are placed and labelled in it."""
    return _random.sample(items, len(items))


def next_label(prompt_id) -> str:
    """The label for one more answer to a blind prompt (a regenerated one): the first unused."""
    used = set(
        Node.objects.filter(parent_edges__parent_id=prompt_id, kind=NodeKind.RESPONSE).values_list("label", flat=True)
    )
    index = 0
    while label(index) in used:
        index += 1
    return label(index)


def open_prompts(canvas_id, user_id: int | None) -> set[str]:
    """The blind prompts of the canvas whose answers this viewer sees in full: those revealed to
    everyone, and those the viewer has voted on (None: a share-link guest, who never votes)."""
    seen = Q(revealed_at__isnull=False)
    if user_id is not None:
        seen |= Q(votes__user_id=user_id)
    prompts = Node.objects.filter(canvas_id=canvas_id, kind=NodeKind.PROMPT, blind=True).filter(seen)
    return {str(pk) for pk in prompts.values_list("id", flat=True).distinct()}


def is_hidden(payload: dict, open_ids: Collection[str]) -> bool:
    if payload.get("kind") != NodeKind.RESPONSE or not payload.get("label"):
        return False
    return not any(parent in open_ids for parent in payload.get("parents") or ())


def redact(payload: dict, open_ids: Collection[str]) -> dict:
    """The node payload as this viewer may see it: an answer of a blind prompt still closed to them
    names no model and carries no cost, no speed figure and no provider's error message."""
    if not is_hidden(payload, open_ids):
        return payload
    metrics = payload.get("metrics")
    error = payload.get("error")
    return {
        **payload,
        "model": None,
        "cost": None,
        "params": None,  # a reasoning effort would say the model is a reasoning one
        "metrics": {**metrics, **dict.fromkeys(HIDDEN_METRICS)} if metrics else metrics,
        "error": {"code": error["code"], "message": HIDDEN_ERROR} if error else None,
        "hidden": True,
    }


def redact_all(payloads: Iterable[dict], open_ids: Collection[str]) -> list[dict]:
    return [redact(payload, open_ids) for payload in payloads]


def for_user(payloads: Iterable[dict], canvas_id, user) -> list[dict]:
    """Payloads of one canvas as this signed-in user may see them (one query)."""
    return redact_all(payloads, open_prompts(canvas_id, getattr(user, "pk", None)))


def one_for_user(payload: dict, canvas_id, user) -> dict:
    if payload.get("kind") != NodeKind.RESPONSE or not payload.get("label"):
        return payload  # nothing to hide: no query
    return redact(payload, open_prompts(canvas_id, getattr(user, "pk", None)))


# --- WebSocket events ----------------------------------------------------------------------------------

NODE_EVENTS = frozenset({"node.snapshot", "node.created", "node.updated", "node.done", "node.error"})


def redact_event(event: dict, open_ids: Collection[str]) -> dict:
    """A canvas event as this viewer may see it. A node.delta carries text only and passes as it is."""
    node = event.get("node")
    if event.get("type") in NODE_EVENTS and isinstance(node, dict):
        redacted = redact(node, open_ids)
        return event if redacted is node else {**event, "node": redacted}
    if event.get("type") == "prompt.revealed":
        return {**event, "responses": redact_all(event.get("responses") or [], open_ids)}
    return event


def reopened(canvas_id, user_id: int, before: set[str]) -> tuple[set[str], list[events.NodeUpdated]]:
    """After the viewer's own vote was recorded or taken back: the prompts now open to them, and a
    `node.updated` for each answer whose prompt opened or closed, as they may now see it."""
    now = open_prompts(canvas_id, user_id)
    changed = now ^ before
    if not changed:
        return now, []
    answers = list(Node.objects.filter(parent_edges__parent_id__in=changed, kind=NodeKind.RESPONSE))
    return now, [events.NodeUpdated(type="node.updated", node=redact(p, now)) for p in nodes_payload(answers)]
