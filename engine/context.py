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
from django.db import connection

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


def lineage_cte(seed: str) -> str:
    """The body of a recursive CTE, `lineage(child_id, parent_id, position)`: every edge above the nodes
    whose ids the SELECT `seed` gives. Only a node's own line is read, not the whole canvas's edges."""
    edge = connection.ops.quote_name(Edge._meta.db_table)
    child, parent, position = (
        connection.ops.quote_name(Edge._meta.get_field(name).column) for name in ("child", "parent", "position")
    )
    return (
        f"lineage(child_id, parent_id, position) AS ("
        f"SELECT {child}, {parent}, {position} FROM {edge} WHERE {child} IN ({seed})"
        f" UNION SELECT e.{child}, e.{parent}, e.{position} FROM {edge} e JOIN lineage l ON e.{child} = l.parent_id)"
    )


def parents_from_rows(rows: Iterable[tuple]) -> dict:
    """parents_of from (child id, parent id, position) rows, each child's parents in order."""
    by_child: dict = defaultdict(list)
    for child_id, parent_id, position in rows:
        by_child[Node._meta.pk.to_python(child_id)].append((position, Node._meta.pk.to_python(parent_id)))
    return defaultdict(list, {child: [p for _, p in sorted(edges)] for child, edges in by_child.items()})


def lineage(node_ids: Iterable) -> dict:
    """The parents, in order, of these nodes and of every node above them, in one query."""
    ids = [Node._meta.pk.get_db_prep_value(node_id, connection) for node_id in node_ids]
    if not ids:
        return defaultdict(list)
    seed = ", ".join(["%s"] * len(ids))
    with connection.cursor() as cursor:
        cursor.execute(f"WITH RECURSIVE {lineage_cte(seed)} SELECT child_id, parent_id, position FROM lineage", ids)
        return parents_from_rows(cursor.fetchall())


def ancestry(start_ids: list, canvas_id, parents_of: Mapping | None = None, nodes: Mapping | None = None) -> list[Node]:
    """`start_ids` and all their ancestors, each once, parents before children, ties by creation.
    `parents_of`: their lineage, when the caller has it; `nodes`: those nodes by id, likewise."""
    if parents_of is None:
        parents_of = lineage(start_ids)
    wanted = _with_ancestors(start_ids, parents_of)
    if nodes is None:
        found = {node.id: node for node in Node.objects.filter(id__in=wanted, canvas_id=canvas_id)}
    else:
        found = {i: nodes[i] for i in wanted if i in nodes and nodes[i].canvas_id == canvas_id}
    return [found[i] for i in topological(found, parents_of, lambda i: creation_order(found[i]))]


def _with_ancestors(start_ids: Iterable, parents_of: Mapping) -> set:
    wanted: set = set()
    stack = list(start_ids)
    while stack:
        node_id = stack.pop()
        if node_id not in wanted:
            wanted.add(node_id)
            stack.extend(parents_of.get(node_id, ()))
    return wanted


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
    return contexts_for_responses([response], lineage([response.id]))[response.id]


def contexts_for_responses(responses: list[Node], parents_of: Mapping, nodes: Mapping | None = None) -> dict:
    """Each response's context (as context_for_response), given their lineage and, when the caller has
    them, the nodes of that lineage by id.

    The responses of one prompt have the same parents, so their context is assembled once."""
    by_parents: dict[tuple, tuple[Message, ...]] = {}
    contexts = {}
    for response in responses:
        key = (response.canvas_id, tuple(parents_of.get(response.id, ())))
        if key not in by_parents:
            line = ancestry(list(key[1]), response.canvas_id, parents_of, nodes)
            by_parents[key] = messages_for(response.canvas, line)
        contexts[response.id] = by_parents[key]
    return contexts


def context_for_new_prompt(canvas: Canvas, parents: list[Node], text: str) -> tuple[Message, ...]:
    """What a prompt with this text below these parents would send: the new prompt comes after all its
    ancestors in any order, so this is its responses' context before the prompt exists."""
    return messages_for(canvas, ancestry([p.id for p in parents], canvas.id), text if text.strip() else None)
