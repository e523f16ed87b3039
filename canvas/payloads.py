"""The JSON shape of a canvas, for the API and the pages (a node's is engine.payloads', shared with the
engine's events)."""

from __future__ import annotations

from canvas.models import Canvas, Node
from engine.payloads import nodes_payload


def canvas_payload(canvas: Canvas, nodes: list[Node] | None = None) -> dict:
    data = {
        "id": str(canvas.id),
        "title": canvas.title,
        "team": str(canvas.team_id),
        "system_prompt": canvas.system_prompt,
        "blind": canvas.blind,
        "tags": [tag for tag in canvas.tags if isinstance(tag, str)] if isinstance(canvas.tags, list) else [],
        "created_at": canvas.created_at.isoformat(),
        "updated_at": canvas.updated_at.isoformat(),
    }
    if nodes is not None:
        data["nodes"] = nodes_payload(nodes)
    return data
