"""The public JSON API (v1). Views stay thin: access through canvas.access, changes through services."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import NinjaAPI, Status
from ninja.errors import AuthenticationError, HttpError, ValidationError
from ninja.security import HttpBearer, SessionAuth

from accounts.tokens import user_for_token
from canvas import access, services
from canvas.errors import ApiError, error_body
from canvas.models import Canvas
from canvas.payloads import canvas_payload, node_payload, nodes_payload
from canvas.schemas import CanvasIn, CanvasOut, CanvasWithNodes, ModelOut, NodeOut, PromptIn, PromptOut
from engine.announce import announce
from engine.dispatch import start_runs
from providers.models import Model
from providers.payloads import model_payload


class BearerToken(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str):
        user = user_for_token(token)
        if user is not None:
            request.user = user
        return user


api = NinjaAPI(
    title="Prism API",
    version="1",
    urls_namespace="api",
    auth=[BearerToken(), SessionAuth()],
    openapi_url="/openapi.json",
    docs_url="/docs",
)


@api.exception_handler(ApiError)
def on_api_error(request, exc: ApiError):
    return api.create_response(request, error_body(exc.code, exc.message), status=exc.status)


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
    return api.create_response(request, error_body("http_error", str(exc)), status=exc.status_code)


@api.get("/models", response=list[ModelOut], tags=["models"])
def list_models(request):
    return [model_payload(m) for m in Model.objects.usable().prefetch_related("prices")]


@api.get("/canvases", response=list[CanvasOut], tags=["canvases"])
def list_canvases(request):
    return [canvas_payload(c) for c in access.visible_canvases(request.user)]


@api.post("/canvases", response={201: CanvasOut}, tags=["canvases"])
def create_canvas(request, body: CanvasIn):
    team = access.team_for_new_canvas(request.user, body.team)
    canvas = Canvas.objects.create(team=team, title=body.title, created_by=request.user)
    return Status(201, canvas_payload(canvas))


@api.get("/canvases/{canvas_id}", response=CanvasWithNodes, tags=["canvases"])
def get_canvas(request, canvas_id: str):
    canvas = access.canvas_for(request.user, canvas_id)
    return canvas_payload(canvas, list(canvas.nodes.all()))


@api.post("/canvases/{canvas_id}/prompts", response={202: PromptOut}, tags=["runs"])
def submit_prompt(request, canvas_id: str, body: PromptIn):
    canvas = access.canvas_for(request.user, canvas_id, write=True)
    models = services.usable_models(body.models)
    parents = services.parent_nodes(canvas, body.parents)
    prompt, responses = services.create_prompt(canvas, request.user, body.text, models, parents, body.x, body.y)
    announce([prompt, *responses])
    start_runs([r.id for r in responses])
    payloads = nodes_payload([prompt, *responses])
    return Status(202, {"prompt": payloads[0], "responses": payloads[1:]})


@api.get("/nodes/{node_id}", response=NodeOut, tags=["nodes"])
def get_node(request, node_id: str):
    return node_payload(access.node_for(request.user, node_id))
