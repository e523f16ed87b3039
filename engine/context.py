"""A prompt's context: its ancestors in the canvas graph, in topological order, as chat messages."""

from __future__ import annotations

import heapq
from collections import defaultdict

from django.conf import settings

from canvas.models import Canvas, Edge, Node, NodeKind
from providers.base import Message

_ROLES = {NodeKind.PROMPT: "user", NodeKind.NOTE: "user", NodeKind.RESPONSE: "assistant"}


def ancestry(start_ids: list, canvas_id) -> list[Node]:
    """`start_ids` and all their ancestors, each once, parents before children, ties by creation."""
    edges = list(Edge.objects.filter(child__canvas_id=canvas_id).values_list("child_id", "parent_id"))
    parents_of: dict = defaultdict(list)
    for child_id, parent_id in edges:
        parents_of[child_id].append(parent_id)
    wanted: set = set()
    stack = list(start_ids)
    while stack:
        node_id = stack.pop()
        if node_id not in wanted:
            wanted.add(node_id)
            stack.extend(parents_of[node_id])
    nodes = {node.id: node for node in Node.objects.filter(id__in=wanted, canvas_id=canvas_id)}
    return _topological(nodes, parents_of)


def _topological(nodes: dict, parents_of: dict) -> list[Node]:
    waiting = {node_id: sum(1 for p in parents_of[node_id] if p in nodes) for node_id in nodes}
    children_of: dict = defaultdict(list)
    for node_id in nodes:
        for parent_id in parents_of[node_id]:
            if parent_id in nodes:
                children_of[parent_id].append(node_id)

    def key(node_id) -> tuple:
        node = nodes[node_id]
        return (node.created_at, str(node.id))

    ready = [key(node_id) + (node_id,) for node_id, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered = []
    while ready:
        *_, node_id = heapq.heappop(ready)
        ordered.append(nodes[node_id])
        for child_id in children_of[node_id]:
            waiting[child_id] -= 1
            if waiting[child_id] == 0:
                heapq.heappush(ready, key(child_id) + (child_id,))
    return ordered


def system_prompt(canvas: Canvas) -> str:
    return canvas.system_prompt or settings.PRISM_SYSTEM_PROMPT


def messages_for(canvas: Canvas, nodes: list[Node], tail_text: str | None = None) -> tuple[Message, ...]:
    """Messages from ordered nodes; `tail_text` is a prompt not yet saved (the context preview)."""
    messages = []
    prompt = system_prompt(canvas)
    if prompt:
        messages.append(Message("system", prompt))
    for node in nodes:
        if node.text:
            messages.append(Message(_ROLES[node.kind], node.text))
    if tail_text is not None:
        messages.append(Message("user", tail_text))
    return tuple(messages)


def context_for_response(response: Node) -> tuple[Message, ...]:
    """What a response node's model is sent: its prompt's ancestry, never the response's siblings."""
    parent_ids = list(Edge.objects.filter(child=response).order_by("position").values_list("parent_id", flat=True))
    return messages_for(response.canvas, ancestry(parent_ids, response.canvas_id))
