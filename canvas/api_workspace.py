"""The API of canvas management (mounted into canvas.api): restoring a deleted canvas, duplicating one,
and searching every canvas the caller may see. Deleting lives in canvas.api beside the paths it shares."""

from __future__ import annotations

from ninja import Query, Router, Status

from canvas import access, duplicate, search, trash
from canvas.payloads import canvas_payload
from canvas.schemas import CanvasOut, ErrorEnvelope, SearchResultOut

router = Router()


def answers(ok: dict, *codes: int) -> dict:
    return ok | dict.fromkeys((401, *codes), ErrorEnvelope)


@router.post("/canvases/{canvas_id}/restore", response=answers({200: CanvasOut}, 403, 404), tags=["canvases"])
def restore_canvas(request, canvas_id: str):
    """A canvas deleted less than 30 days ago, back as it was (editors and owners of its team)."""
    return canvas_payload(trash.restore_canvas(access.deleted_canvas_for(request.user, canvas_id)))


@router.post("/canvases/{canvas_id}/duplicate", response=answers({201: CanvasOut}, 403, 404), tags=["canvases"])
def duplicate_canvas(request, canvas_id: str):
    """A new canvas in the same team with a copy of every node (new ids, same texts, same graph). Copied
    answers are not billed again."""
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    return Status(201, canvas_payload(duplicate.duplicate_canvas(canvas, request.user)))


@router.get("/search", response=answers({200: list[SearchResultOut]}, 400), tags=["canvases"])
def search_canvases(request, q: str = Query(..., max_length=search.MAX_QUERY)):
    """Canvases the caller may see whose title, or whose prompts, notes or answers, contain the words:
    titles first (`node` null), then nodes, best matches first, at most 50."""
    return search.search(request.user, q)
