"""The JSON shape of a node, in the engine's events and in the API's answers and pages alike."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from canvas.models import Edge, Node, NodeKind


def _decimal(value) -> str | None:
    return None if value is None else format(value.normalize(), "f")


def node_payload(node: Node, parent_ids: list[str] | None = None) -> dict:
    if parent_ids is None:
        parent_ids = [str(pk) for pk in node.parent_edges.order_by("position").values_list("parent_id", flat=True)]
    data = {
        "id": str(node.id),
        "canvas": str(node.canvas_id),
        "kind": node.kind,
        "parents": parent_ids,
        "x": node.x,
        "y": node.y,
        "w": node.w,
        "h": node.h,
        "text": node.text,
        "created_at": node.created_at.isoformat(),
    }
    if node.kind == NodeKind.RESPONSE:
        data.update(_response_fields(node))
    elif node.kind == NodeKind.PROMPT:
        data["blind"] = node.blind
        data["revealed"] = node.revealed_at is not None
    return data


def _response_fields(node: Node) -> dict:
    return {
        "label": node.label or None,
        "model": str(node.model_id) if node.model_id else None,
        "status": node.status,
        "finish_reason": node.finish_reason or None,
        "reasoning": node.reasoning,
        "seq": node.seq,
        "error": {"code": node.error_code, "message": node.error_message} if node.error_code else None,
        "metrics": {
            "queue_ms": node.queue_ms,
            "ttft_ms": node.ttft_ms,
            "duration_ms": node.duration_ms,
            "tokens_per_s": node.tokens_per_s,
            "input_tokens": node.input_tokens,
            "cached_input_tokens": node.cached_input_tokens,
            "output_tokens": node.output_tokens,
            "reasoning_tokens": node.reasoning_tokens,
            "usage_estimated": node.usage_estimated,
        },
        "cost": _decimal(node.cost),
        "params": node.params,
    }


def parent_ids_by_child(nodes: Iterable[Node]) -> dict:
    """All edges of the given nodes in one query, so a canvas of any size costs the same queries."""
    ids = [node.id for node in nodes]
    parents: dict = defaultdict(list)
    for child_id, parent_id in (
        Edge.objects.filter(child_id__in=ids).order_by("position").values_list("child_id", "parent_id")
    ):
        parents[child_id].append(str(parent_id))
    return parents


def nodes_payload(nodes: list[Node], parents: dict | None = None) -> list[dict]:
    """`parents`: each node's parent ids, in order, when the caller knows them (it saves a query)."""
    if parents is None:
        parents = parent_ids_by_child(nodes)
    return [node_payload(node, parents.get(node.id, [])) for node in nodes]
