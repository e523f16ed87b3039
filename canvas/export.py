"""A canvas as a file: JSON that imports back into a new canvas, or Markdown to read.

A file holds content only: no key, base URL, user or email, and models by what they are (provider kind,
model name, display name), never by this installation's ids. An answer of a blind prompt the exporting
person has not voted on is written as they see it (canvas.blind): its label, no model, cost or speed.
"""

from __future__ import annotations

from datetime import UTC, timedelta

from django.db import transaction
from django.http import HttpResponse, JsonResponse
from django.utils import timezone
from django.utils.text import slugify

from canvas import access, blind, quotas
from canvas.errors import invalid
from canvas.models import RUNNING_STATUSES, Canvas, Edge, Node, NodeKind, NodeStatus, unpriced
from canvas.schemas import CanvasFile, FileNode
from engine.context import creation_order, topological
from engine.payloads import node_payload, parent_ids_by_child
from providers.models import Model

FORMAT, VERSION = "prism.canvas", 1
_NOT_IN_FILE = ("canvas", "seq")


def ordered_nodes(canvas: Canvas) -> tuple[list[Node], dict]:
    """The canvas's nodes, parents before children (ties by creation), and each one's parent ids."""
    nodes = list(canvas.nodes.select_related("model__account"))
    parents = parent_ids_by_child(nodes)
    by_id = {str(n.id): n for n in nodes}
    parents_of = {str(n.id): parents.get(n.id, []) for n in nodes}
    return [by_id[i] for i in topological(by_id, parents_of, lambda i: creation_order(by_id[i]))], parents


def model_ref(model: Model | None) -> dict | None:
    if model is None:
        return None
    return {"provider_kind": model.account.kind, "model": model.name, "display_name": model.display_name}


def export_json(canvas: Canvas, user=None) -> dict:
    """`user`: the person exporting (None: a guest, who sees only what is revealed to everyone)."""
    nodes, parents = ordered_nodes(canvas)
    open_ids = blind.open_prompts(canvas.id, getattr(user, "pk", None))
    meta = {"title": canvas.title}
    if canvas.system_prompt:
        meta["system_prompt"] = canvas.system_prompt
    entries = []
    for node in nodes:
        shown = blind.redact(node_payload(node, parents.get(node.id, [])), open_ids)
        entry = {k: v for k, v in shown.items() if k not in _NOT_IN_FILE}
        if node.kind == NodeKind.RESPONSE:
            entry["model"] = None if shown.get("hidden") else model_ref(node.model)
        entries.append(entry)
    return {"format": FORMAT, "version": VERSION, "canvas": meta, "nodes": entries}


def download(canvas: Canvas, fmt: str, user=None) -> HttpResponse:
    name = slugify(canvas.title) or "canvas"
    if fmt == "md":
        response = HttpResponse(export_markdown(canvas, user), content_type="text/markdown; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="{name}.md"'
    else:
        response = JsonResponse(export_json(canvas, user), json_dumps_params={"ensure_ascii": False, "indent": 2})
        response["Content-Disposition"] = f'attachment; filename="{name}.prism.json"'
    return response


# --- Markdown ----------------------------------------------------------------------------------------


def export_markdown(canvas: Canvas, user=None) -> str:
    nodes, parents = ordered_nodes(canvas)
    open_ids = blind.open_prompts(canvas.id, getattr(user, "pk", None))
    parts = [f"# {canvas.title}"]
    if canvas.system_prompt:
        parts.append(quote(f"**System prompt:** {canvas.system_prompt}"))
    for node in nodes:
        if node.kind == NodeKind.PROMPT:
            parts += ["## Prompt", node.text]
        elif node.kind == NodeKind.NOTE:
            parts.append(quote(node.text or "(empty note)"))
        else:
            parts += response_section(node, blind.redact(node_payload(node, parents.get(node.id, [])), open_ids))
    return "\n\n".join(parts) + "\n"


def quote(text: str) -> str:
    return "\n".join(f"> {line}".rstrip() for line in text.splitlines() or [""])


def response_section(node: Node, shown: dict) -> list[str]:
    """`shown`: the node's payload as the exporting person sees it."""
    if shown.get("hidden"):
        name = f"Answer {shown['label']}"
    else:
        name = node.model.display_name if node.model else "Unknown model"
        name = f"{shown['label']}: {name}" if shown.get("label") else name
    section = [f"### {name}", node.text or "*(no text)*", f"*{metrics_line(shown)}*"]
    if shown["error"]:
        section.append(f"*Error ({shown['error']['code']}): {shown['error']['message']}*")
    if node.reasoning:
        section.append(f"<details>\n<summary>Reasoning</summary>\n\n{node.reasoning}\n\n</details>")
    return section


def metrics_line(shown: dict) -> str:
    m = shown["metrics"]
    facts = [shown["status"] or "unknown"]
    if m["ttft_ms"] is not None:
        facts.append(f"{m['ttft_ms']} ms to first token")
    if m["duration_ms"] is not None:
        facts.append(f"{m['duration_ms'] / 1000:.1f} s")
    if m["tokens_per_s"] is not None:
        facts.append(f"{m['tokens_per_s']:.1f} tokens/s")
    if m["input_tokens"] is not None or m["output_tokens"] is not None:
        estimated = " (estimated)" if m["usage_estimated"] else ""
        facts.append(f"{m['input_tokens'] or 0} in / {m['output_tokens'] or 0} out tokens{estimated}")
    facts.append(_cost_fact(shown))
    return " · ".join(facts)


def _cost_fact(shown: dict) -> str:
    """As the pages write it: an ended answer with tokens and no cost had no price; one with no tokens
    (failed before any) cost nothing; a running one's cost is not known yet."""
    if shown.get("hidden"):
        return "cost hidden until you vote"
    if shown["cost"] is not None:
        return f"${shown['cost']}"
    if shown["status"] in RUNNING_STATUSES:
        return "cost unknown yet"
    m = shown["metrics"]
    return "no price" if unpriced(shown["cost"], m["input_tokens"], m["output_tokens"]) else "$0"


# --- import ------------------------------------------------------------------------------------------


def check_graph(nodes: list[FileNode]) -> None:
    """Ids unique, every parent in the file, no cycle; the first problem is the error."""
    seen: set[str] = set()
    for node in nodes:
        if node.id in seen:
            raise invalid(f"nodes: the id {node.id!r} is used twice.")
        seen.add(node.id)
    for node in nodes:
        if len(set(node.parents)) != len(node.parents):
            raise invalid(f"nodes: {node.id!r} names a parent twice.")
        missing = [p for p in node.parents if p not in seen]
        if missing:
            raise invalid(f"nodes: {node.id!r} has a parent {missing[0]!r} that is not in the file.")
        if node.kind == NodeKind.RESPONSE and node.status is None:
            raise invalid(f"nodes: the response {node.id!r} has no status.")
    index = {node.id: i for i, node in enumerate(nodes)}
    if len(topological(index, {n.id: n.parents for n in nodes}, index.__getitem__)) < len(nodes):
        raise invalid("nodes: the parents form a cycle.")


def local_models(nodes: list[FileNode]) -> dict[tuple[str, str], Model]:
    """This installation's model for each (provider kind, model name) in the file, enabled ones first."""
    wanted = {(n.model.provider_kind, n.model.model) for n in nodes if n.model is not None}
    found: dict[tuple[str, str], Model] = {}
    for kind, name in wanted:
        candidates = Model.objects.filter(account__kind=kind, name=name)
        model = candidates.order_by("-enabled", "-account__enabled", "position", "id").first()
        if model is not None:
            found[(kind, name)] = model
    return found


@transaction.atomic
def import_canvas(user, data: CanvasFile, team_id=None) -> tuple[Canvas, list[Node]]:
    team = access.team_for_new_canvas(user, team_id)
    quotas.check_canvas(user)
    check_graph(data.nodes)
    models = local_models(data.nodes)
    canvas = Canvas.objects.create(
        team=team, title=data.canvas.title, system_prompt=data.canvas.system_prompt, created_by=user
    )
    # Kept creation times keep the order of merged ancestors, so contexts come out as they were.
    now = timezone.now()
    rows = [
        new_node(canvas, user, entry, models, now + timedelta(microseconds=i)) for i, entry in enumerate(data.nodes)
    ]
    Node.objects.bulk_create(rows)
    by_file_id = {entry.id: row for entry, row in zip(data.nodes, rows, strict=True)}
    Edge.objects.bulk_create(
        [
            Edge(parent=by_file_id[parent], child=by_file_id[entry.id], position=position)
            for entry in data.nodes
            for position, parent in enumerate(entry.parents)
        ]
    )
    return canvas, rows


def new_node(canvas: Canvas, user, entry: FileNode, models: dict, fallback_time) -> Node:
    created_at = entry.created_at or fallback_time
    if timezone.is_naive(created_at):
        created_at = created_at.replace(tzinfo=UTC)
    node = Node(
        canvas=canvas,
        kind=entry.kind,
        x=entry.x,
        y=entry.y,
        w=entry.w,
        h=entry.h,
        text=entry.text,
        created_by=user,
        created_at=created_at,
    )
    if entry.kind == NodeKind.RESPONSE:
        response_fields(node, entry, models)
    return node


def response_fields(node: Node, entry: FileNode, models: dict) -> None:
    node.model = models.get((entry.model.provider_kind, entry.model.model)) if entry.model else None
    node.status = entry.status
    node.finish_reason = entry.finish_reason or ""
    node.reasoning = entry.reasoning
    node.error_code = entry.error.code if entry.error else ""
    node.error_message = entry.error.message if entry.error else ""
    if node.status in (NodeStatus.QUEUED, NodeStatus.STREAMING):
        # Nothing will ever run it here: it ends as a run whose worker went away.
        node.status = NodeStatus.INTERRUPTED
        node.error_code = node.error_code or "interrupted"
        node.error_message = node.error_message or "The run had not finished when the canvas was exported."
    for field, value in (entry.metrics.model_dump() if entry.metrics else {}).items():
        setattr(node, field, value)
    # Its billed_team stays empty: what an answer cost where it ran never counts against a budget here.
    node.cost = entry.cost
