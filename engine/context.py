"""A prompt's context: its ancestors in the canvas graph, in topological order, as chat messages.

What is sent of each ancestor: a prompt's or a note's text as a user turn, a response's text (never its
reasoning) as an assistant turn. A response still running is left out (its text is not final, and the
same node must always get the same context); a finished one is sent if it has any text, whatever its
status, so an answer cut short, cancelled or failed mid-stream still counts for what it said, while a
failure with no text at all is skipped.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping

from django.conf import settings

from canvas.models import RUNNING_STATUSES, Canvas, Edge, Node, NodeKind
from providers.base import Message

_ROLES = {NodeKind.PROMPT: "user", NodeKind.NOTE: "user", NodeKind.RESPONSE: "assistant"}


def topological(ids: Iterable[Hashable], parents_of: Mapping, key: Callable) -> list:
    """`ids` with parents before children; of the nodes ready at once, the smallest `key` first.

    Parents outside `ids` are ignored. Ids on a cycle never become ready and are left out, so a result
    shorter than `ids` means the graph has a cycle.
    """
    members = set(ids)
    waiting = {i: sum(1 for p in set(parents_of.get(i, ())) if p in members) for i in members}
    children_of: dict = defaultdict(list)
    for child in members:
        for parent in set(parents_of.get(child, ())):
            if parent in members:
                children_of[parent].append(child)
    ready = [(key(i), n, i) for n, i in enumerate(i for i, count in waiting.items() if count == 0)]
    heapq.heapify(ready)
    tiebreak = len(ready)
    ordered = []
    while ready:
        *_, current = heapq.heappop(ready)
        ordered.append(current)
        for child in children_of[current]:
            waiting[child] -= 1
            if waiting[child] == 0:
                tiebreak += 1
                heapq.heappush(ready, (key(child), tiebreak, child))
    return ordered


def creation_order(node: Node) -> tuple:
    return (node.created_at, str(node.id))


def parents_on(canvas_ids: Iterable) -> dict:
    """Every node's parent ids, in order, for all the nodes of these canvases, in one query."""
    edges = Edge.objects.filter(child__canvas_id__in=canvas_ids).order_by("position")
    parents_of: dict = defaultdict(list)
    for child_id, parent_id in edges.values_list("child_id", "parent_id"):
        parents_of[child_id].append(parent_id)
    return parents_of


def ancestry(start_ids: list, canvas_id, parents_of: Mapping | None = None) -> list[Node]:
    """`start_ids` and all their ancestors, each once, parents before children, ties by creation.
    `parents_of`: the canvas's parents_on, when the caller has it."""
    if parents_of is None:
        parents_of = parents_on([canvas_id])
    wanted: set = set()
    stack = list(start_ids)
    while stack:
        node_id = stack.pop()
        if node_id not in wanted:
            wanted.add(node_id)
            stack.extend(parents_of.get(node_id, ()))
    nodes = {node.id: node for node in Node.objects.filter(id__in=wanted, canvas_id=canvas_id)}
    return [nodes[i] for i in topological(nodes, parents_of, lambda i: creation_order(nodes[i]))]


def system_prompt(canvas: Canvas) -> str:
    return canvas.system_prompt or settings.PRISM_SYSTEM_PROMPT


def is_sent(node: Node) -> bool:
    if not node.text:
        return False
    return node.kind != NodeKind.RESPONSE or node.status not in RUNNING_STATUSES


def messages_for(canvas: Canvas, nodes: list[Node], tail_text: str | None = None) -> tuple[Message, ...]:
    """Messages from ordered nodes; `tail_text` is a prompt not yet saved (the context preview)."""
    messages = []
    prompt = system_prompt(canvas)
    if prompt:
        messages.append(Message("system", prompt))
    for node in nodes:
        if is_sent(node):
            messages.append(Message(_ROLES[node.kind], node.text))
    if tail_text is not None:
        messages.append(Message("user", tail_text))
    return tuple(messages)


def context_for_response(response: Node) -> tuple[Message, ...]:
    """What a response node's model is sent: its prompt's ancestry, never the response's siblings."""
    return contexts_for_responses([response], parents_on([response.canvas_id]))[response.id]


def contexts_for_responses(responses: list[Node], parents_of: Mapping) -> dict:
    """Each response's context (as context_for_response), given the parents_on of their canvases (at
    least each response's own parent ids, in order).

    The responses of one prompt have the same parents, so their context is assembled once."""
    by_parents: dict[tuple, tuple[Message, ...]] = {}
    contexts = {}
    for response in responses:
        key = (response.canvas_id, tuple(parents_of.get(response.id, ())))
        if key not in by_parents:
            by_parents[key] = messages_for(response.canvas, ancestry(list(key[1]), response.canvas_id, parents_of))
        contexts[response.id] = by_parents[key]
    return contexts


def context_for_new_prompt(canvas: Canvas, parents: list[Node], text: str) -> tuple[Message, ...]:
    """What a prompt with this text below these parents would send: the new prompt comes after all its
    ancestors in any order, so this is its responses' context before the prompt exists."""
    return messages_for(canvas, ancestry([p.id for p in parents], canvas.id), text if text.strip() else None)
