"""The public JSON API (v1). Views stay thin: access through canvas.access, changes through services."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from ninja import Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from accounts.tokens import user_for_token
from canvas import access, blind, export, quotas, services, trash
from canvas.api_docs import VendoredSwagger
from canvas.errors import ApiError, error_body
from canvas.models import Canvas
from canvas.openapi import PrismAPI
from canvas.parser import StrictJsonParser
from canvas.payloads import canvas_payload
from canvas.schemas import (
    CancelOut,
    CanvasFile,
    CanvasIn,
    CanvasOut,
    CanvasPatch,
    CanvasWithNodes,
    ContextIn,
    ContextOut,
    ErrorEnvelope,
    ImportIn,
    ModelOut,
    NodeOut,
    NodePatch,
    NoteIn,
    PromptIn,
    PromptOut,
    RerunIn,
)
from engine import control, limits
from engine.announce import announce, announce_deleted
from engine.dispatch import start_runs
from engine.payloads import node_payload, nodes_payload
from engine.preview import preview
from engine.snapshots import with_live_text
from providers.payloads import usable_model_payloads


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


api = PrismAPI(
    title="Prism API",
    version="1",
    urls_namespace="api",
    auth=[BearerToken(), SessionAuth()],
    parser=StrictJsonParser(),
    openapi_url="/openapi.json",
    docs_url="/docs",
    docs=VendoredSwagger(),
)


def errors(*codes: int) -> dict:
    """Error responses for the OpenAPI document; the handlers below produce them."""
    return dict.fromkeys(codes, ErrorEnvelope)


@api.exception_handler(ApiError)
def on_api_error(request, exc: ApiError):
    return api.create_response(request, error_body(exc.code, exc.message), status=exc.status)


# The engine's limits are domain errors; these are the statuses the API gives them.
LIMIT_STATUS = {"limit": 429, "budget": 402}


@api.exception_handler(limits.LimitExceeded)
def on_limit_exceeded(request, exc: limits.LimitExceeded):
    return api.create_response(request, error_body(exc.code, exc.message), status=LIMIT_STATUS[exc.code])


@api.exception_handler(ValidationError)
def on_validation_error(request, exc: ValidationError):
    first = exc.errors[0] if exc.errors else {}
    where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("body", "payload"))
    message = f"{where}: {first.get('msg', 'invalid')}" if where else str(first.get("msg", "Invalid request."))
    return api.create_response(request, error_body("invalid", message), status=400)


@api.exception_handler(AuthenticationError)
def on_unauthenticated(request, exc):
    return api.create_response(request, error_body("unauthenticated", "Sign in or send a bearer token."), status=401)


@api.exception_handler(HttpError)
def on_http_error(request, exc: HttpError):
    if isinstance(exc.__cause__, ApiError):  # ninja wraps what the body parser refuses
        return on_api_error(request, exc.__cause__)
    return api.create_response(request, error_body("http_error", str(exc)), status=exc.status_code)


@api.get("/models", response=list[ModelOut], tags=["models"])
def list_models(request):
    return usable_model_payloads()


@api.get("/canvases", response=list[CanvasOut], tags=["canvases"])
def list_canvases(request):
    return [canvas_payload(c) for c in access.visible_canvases(request.user)]


@api.post("/canvases", response={201: CanvasOut, **errors(403)}, tags=["canvases"])
def create_canvas(request, body: CanvasIn):
    team = access.team_for_new_canvas(request.user, body.team)
    quotas.check_canvas(request.user)
    canvas = Canvas.objects.create(team=team, title=body.title, created_by=request.user)
    return Status(201, canvas_payload(canvas))


# Before /canvases/{canvas_id}, which would otherwise take "import" for an id.
@api.post("/canvases/import", response={201: CanvasWithNodes, **errors(400, 403, 404, 413)}, tags=["canvases"])
def import_canvas(request, body: ImportIn, team: str | None = None):
    """A canvas file (the JSON export) → a new canvas with the same nodes under new ids."""
    canvas, nodes = export.import_canvas(request.user, body, team or body.team)
    return Status(201, canvas_payload(canvas, nodes))


@api.get("/canvases/{canvas_id}", response=CanvasWithNodes, tags=["canvases"])
def get_canvas(request, canvas_id: str):
    canvas = access.canvas_for(request.user, canvas_id)
    payload = canvas_payload(canvas, list(canvas.nodes.all()))
    payload["nodes"] = blind.for_user(payload["nodes"], canvas.id, request.user)
    return payload


@api.patch("/canvases/{canvas_id}", response={200: CanvasOut, **errors(400, 403, 404)}, tags=["canvases"])
def update_canvas(request, canvas_id: str, body: CanvasPatch):
    """Editors and owners: `title`, `tags`, `system_prompt`, `blind` (the default for new prompts)."""
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    return canvas_payload(services.update_canvas(canvas, body.model_dump(exclude_none=True)))


@api.delete("/canvases/{canvas_id}", response={204: None, **errors(403, 404)}, tags=["canvases"])
def delete_canvas(request, canvas_id: str):
    """Gone from lists, pages and the API at once (its runs stop); POST …/restore brings it back within 30
    days, after which it is deleted for good. What its answers cost still counts in usage."""
    trash.delete_canvas(access.canvas_for(request.user, canvas_id, write=True))
    return Status(204, None)


@api.post("/canvases/{canvas_id}/prompts", response={202: PromptOut, **errors(402, 429)}, tags=["runs"])
def submit_prompt(request, canvas_id: str, body: PromptIn):
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    models, params = services.usable_entries(body.models)
    parents = services.parent_nodes(canvas, body.parents)
    is_blind = canvas.blind if body.blind is None else body.blind
    prompt, responses, warnings = services.create_prompt(
        canvas, request.user, body.text, models, parents, body.x, body.y, blind=is_blind, params=params
    )
    payloads = services.prompt_payloads(prompt, parents, responses)
    announce([prompt, *responses], payloads=payloads)
    start_runs([r.id for r in responses])
    shown = blind.redact_all(payloads, set())  # a new prompt: nobody has voted on it yet
    return Status(202, {"prompt": shown[0], "responses": shown[1:], "warnings": warnings})


@api.get("/nodes/{node_id}", response=NodeOut, tags=["nodes"])
def get_node(request, node_id: str):
    """A running response's text, reasoning and `seq` are those streamed so far, not the last ones saved."""
    node = access.node_for(request.user, node_id)
    return blind.one_for_user(with_live_text([node_payload(node)])[0], node.canvas_id, request.user)


@api.patch("/nodes/{node_id}", response={200: NodeOut, **errors(400, 403, 404)}, tags=["nodes"])
def update_node(request, node_id: str, body: NodePatch):
    """Move, resize, or edit the text of a prompt or note. Editing a prompt does not run it again."""
    node = access.node_for(request.user, node_id, write=True)
    if services.update_node(node, body.model_dump(exclude_none=True)):
        announce([node], kind="node.updated")
    return blind.one_for_user(node_payload(node), node.canvas_id, request.user)


@api.delete("/nodes/{node_id}", response={204: None, **errors(403, 404, 409)}, tags=["nodes"])
def delete_node(request, node_id: str):
    """A note, an answer, or a prompt with its answers (409 while any of them runs: stop it first)."""
    node = access.node_for(request.user, node_id, write=True)
    announce_deleted(node.canvas_id, trash.delete_node(node))
    return Status(204, None)


@api.post("/canvases/{canvas_id}/notes", response={201: NodeOut, **errors(400, 403, 404)}, tags=["nodes"])
def create_note(request, canvas_id: str, body: NoteIn):
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    parents = services.parent_nodes(canvas, body.parents)
    note = services.create_note(canvas, request.user, body.text, parents, body.x, body.y)
    announce([note])
    return Status(201, node_payload(note))


@api.post("/nodes/{node_id}/cancel", response={202: CancelOut, **errors(403, 404, 409)}, tags=["runs"])
def cancel_node(request, node_id: str):
    """Stop a running response, or (on a prompt) every running response of its fan-out."""
    node = access.node_for(request.user, node_id, write=True)
    cancelled = control.cancel(node)
    if not cancelled:
        raise ApiError(409, "not_running", "Nothing is running here.")
    node.refresh_from_db()
    shown = blind.one_for_user(node_payload(node), node.canvas_id, request.user)
    return Status(202, {"node": shown, "cancelled": cancelled})


@api.post("/nodes/{node_id}/regenerate", response={202: NodeOut, **errors(400, 402, 403, 404, 429)}, tags=["runs"])
def regenerate(request, node_id: str):
    """A new response beside this one: same prompt, same model, run now."""
    old = access.node_for(request.user, node_id, write=True)
    node = services.regenerate(old, request.user)
    payload = node_payload(node)
    announce([node], payloads=[payload])
    start_runs([node.id])
    return Status(202, blind.one_for_user(payload, node.canvas_id, request.user))


@api.post("/nodes/{node_id}/rerun", response={202: PromptOut, **errors(400, 402, 403, 404, 429)}, tags=["runs"])
def rerun(request, node_id: str, body: RerunIn):
    """A new prompt beside this one (same parents), with its text edited, asked again; the old branch stays."""
    old = access.node_for(request.user, node_id, write=True)
    prompt, responses, warnings = services.rerun(old, request.user, body.text, body.models)
    payloads = nodes_payload([prompt, *responses])
    announce([prompt, *responses], payloads=payloads)
    start_runs([r.id for r in responses])
    shown = blind.redact_all(payloads, set())  # a new prompt: nobody has voted on it yet
    return Status(202, {"prompt": shown[0], "responses": shown[1:], "warnings": warnings})


@api.post("/canvases/{canvas_id}/context", response={200: ContextOut, **errors(400, 403, 404)}, tags=["runs"])
def preview_context(request, canvas_id: str, body: ContextIn):
    """Exactly what `model` would be sent for this prompt below these parents, with these settings
    (`model` is an id or {"model": id, "temperature"?, "max_tokens"?, "reasoning_effort"?}). Nothing runs."""
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    [model], [params] = services.usable_entries([body.model])
    return preview(canvas, services.parent_nodes(canvas, body.parents), body.text, model, params)


MARKDOWN = {"responses": {200: {"content": {"text/markdown": {"schema": {"type": "string"}}}}}}


@api.get(
    "/canvases/{canvas_id}/export",
    response={200: CanvasFile, **errors(400, 404)},
    openapi_extra=MARKDOWN,
    tags=["canvases"],
)
def export_canvas(request, canvas_id: str, format: Literal["json", "md"] = "json"):
    """The canvas as a JSON file (which POST /canvases/import reads back) or as Markdown (text/markdown)."""
    return export.download(access.canvas_for(request.user, canvas_id), format, request.user)


from canvas.api_judge import router as judge_router  # noqa: E402
from canvas.api_presets import router as presets_router  # noqa: E402
from canvas.api_teams import router as teams_router  # noqa: E402
from canvas.api_votes import router as votes_router  # noqa: E402

api.add_router("/", teams_router)
api.add_router("/", votes_router)
api.add_router("/", judge_router)
api.add_router("/", presets_router)

from usage.api import router as usage_router  # noqa: E402

api.add_router("/", usage_router)

from canvas.api_evaluation import router as evaluation_router  # noqa: E402

api.add_router("/", evaluation_router)

from canvas.api_workspace import router as workspace_router  # noqa: E402

api.add_router("/", workspace_router)
