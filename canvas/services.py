"""Changes to a canvas that several entry points share (pages, API)."""

from __future__ import annotations

from typing import NamedTuple

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from canvas import blind as blinding
from canvas import generation
from canvas.errors import invalid
from canvas.models import Canvas, Edge, Node, NodeKind, NodeStatus
from config import sql
from engine import limits
from engine.payloads import nodes_payload
from providers.models import Model, ProviderAccount

RESPONSE_W, RESPONSE_H, GAP = 360.0, 260.0, 40.0
# Room for two lines of the prompt's text under its title, above its votes' line and its actions.
PROMPT_H = 160.0


def usable_models(model_ids: list) -> list[Model]:
    """The models asked for, in order, repeats kept; any unknown or disabled id is an error."""
    if not model_ids:
        raise invalid("Choose at least one model.")
    if len(model_ids) > settings.PRISM_MAX_MODELS_PER_PROMPT:
        raise invalid(f"At most {settings.PRISM_MAX_MODELS_PER_PROMPT} models per prompt.")
    found = {str(m.id): m for m in _usable_models(_valid_uuids(model_ids))}
    missing = [str(model_id) for model_id in model_ids if str(model_id) not in found]
    if missing:
        raise invalid(f"Unknown or disabled model: {missing[0]}")
    return [found[str(model_id)] for model_id in model_ids]


def _usable_models(ids: list[str]) -> list[Model]:
    """Model.objects.usable().filter(id__in=ids), unordered: every prompt asks it, so it is written out
    (config.sql); the rule is ModelQuerySet.usable's (the model and its account enabled)."""
    if not ids:
        return []
    found = sql.rows(
        f"SELECT {sql.columns(Model, 'm')}, {sql.columns(ProviderAccount, 'a')} FROM {sql.table(Model)} m"
        f" JOIN {sql.table(ProviderAccount)} a ON a.id = m.account_id"
        f" WHERE m.id IN ({', '.join(['%s'] * len(ids))}) AND m.enabled AND a.enabled",
        [sql.value(Model, "id", model_id) for model_id in ids],
    )
    width = sql.width(Model)
    models = []
    for row in found:
        model = sql.load(Model, row[:width])
        model.account = sql.load(ProviderAccount, row[width:])
        models.append(model)
    return models


def usable_entries(entries: list) -> tuple[list[Model], list[dict]]:
    """The models of a prompt's `models` entries (ids or {"model": id, ...settings}) and each one's
    settings, checked against its model."""
    model_ids, settings = generation.split_entries(entries)
    models = usable_models(model_ids)
    return models, [generation.check(model, asked) for model, asked in zip(models, settings, strict=True)]


def _valid_uuids(values: list) -> list[str]:
    import uuid

    valid = []
    for value in values:
        try:
            valid.append(str(uuid.UUID(str(value))))
        except ValueError:
            continue
    return valid


def parent_nodes(canvas: Canvas, parent_ids: list) -> list[Node]:
    if not parent_ids:
        return []
    found = {str(node.id): node for node in _canvas_nodes(canvas, _valid_uuids(parent_ids))}
    missing = [str(p) for p in parent_ids if str(p) not in found]
    if missing:
        raise invalid(f"No node {missing[0]} on this canvas.")
    return [found[str(p)] for p in dict.fromkeys(str(p) for p in parent_ids)]


def _canvas_nodes(canvas: Canvas, ids: list[str]) -> list[Node]:
    """canvas.nodes.filter(id__in=ids), unordered: a follow-up asks it before its runs can start, so it
    is written out (config.sql)."""
    if not ids:
        return []
    found = sql.rows(
        f"SELECT {sql.columns(Node, 'n')} FROM {sql.table(Node)} n"
        f" WHERE n.canvas_id = %s AND n.id IN ({', '.join(['%s'] * len(ids))})",
        [sql.value(Node, "canvas", canvas.pk), *(sql.value(Node, "id", node_id) for node_id in ids)],
    )
    return [sql.load(Node, row) for row in found]


def _below(parents: list[Node], canvas: Canvas) -> tuple[float, float]:
    if parents:
        return parents[0].x, max(p.y + p.h for p in parents) + 60
    lowest = sql.rows(
        f"SELECT y + h FROM {sql.table(Node)} WHERE canvas_id = %s ORDER BY y DESC LIMIT 1",
        [sql.value(Node, "canvas", canvas.pk)],
    )
    return 0.0, (lowest[0][0] + 120) if lowest else 0.0


class Fanout(NamedTuple):
    """A prompt just made, its responses (queued), and what the person should know (limits.budget_warnings)."""

    prompt: Node
    responses: list[Node]
    warnings: list[dict]


@transaction.atomic
def create_prompt(
    canvas: Canvas,
    user,
    text: str,
    models: list[Model],
    parents: list[Node],
    x: float | None = None,
    y: float | None = None,
    blind: bool = False,
    params: list[dict] | None = None,
) -> Fanout:
    """`params`: each model's generation settings (generation.check), in the order of `models`."""
    if not text.strip():
        raise invalid("The prompt is empty.")
    pairs = list(zip(models, params or [{}] * len(models), strict=True))
    if blind:
        pairs = blinding.shuffled(pairs)
    models = [model for model, _ in pairs]
    # Where it goes unless the caller says (the composer does): finding the lowest node is a query.
    default_x, default_y = _below(parents, canvas) if x is None or y is None else (x, y)
    total_w = len(models) * RESPONSE_W + (len(models) - 1) * GAP
    # Leave room for the whole fan-out right of the origin: a node at a negative x cannot be scrolled to.
    default_x = max(default_x, (total_w - RESPONSE_W) / 2)
    prompt = Node(
        canvas=canvas,
        kind=NodeKind.PROMPT,
        text=text,
        created_by=user,
        x=default_x if x is None else x,
        y=default_y if y is None else y,
        w=RESPONSE_W,
        h=PROMPT_H,
        blind=blind,
    )
    left = prompt.x + prompt.w / 2 - total_w / 2
    responses = [
        Node(
            canvas=canvas,
            kind=NodeKind.RESPONSE,
            model=model,
            params=asked,
            label=blinding.label(i) if blind else "",
            status=NodeStatus.QUEUED,
            created_by=user,
            billed_team_id=canvas.team_id,
            x=left + i * (RESPONSE_W + GAP),
            y=prompt.y + prompt.h + 60,
            w=RESPONSE_W,
            h=RESPONSE_H,
        )
        for i, (model, asked) in enumerate(pairs)
    ]
    # The prompt, its responses, every edge and the canvas's time of change in one statement: this runs
    # before any of the responses can start, so each round trip to the database is in their time to first
    # token. Its values are prepared before the lock below, which the user's other prompts wait on.
    insert = sql.prepared_insert(
        [prompt, *responses],
        [
            *(Edge(parent=p, child=prompt, position=i) for i, p in enumerate(parents)),
            *(Edge(parent=prompt, child=r) for r in responses),
        ],
        along=_changed_now(canvas),
    )
    # Before any node is stored or any provider is called. From here to the commit the user's other prompts
    # wait (limits' lock), so what needs no lock, the layout, the nodes and their values, was done before.
    warnings = limits.check_runs(user, canvas, len(models))
    insert.run()
    return Fanout(prompt, responses, warnings)


def update_canvas(canvas: Canvas, changes: dict) -> Canvas:
    """A canvas's settings (`title`, `tags`, `system_prompt`, `blind`): the ones given change."""
    if "title" in changes:
        changes["title"] = changes["title"].strip()
        if not changes["title"]:
            raise invalid("title: a canvas needs a title.")
    if "tags" in changes:
        changes["tags"] = clean_tags(changes["tags"])
    for name, value in changes.items():
        setattr(canvas, name, value)
    if changes:
        canvas.save(update_fields=[*changes, "updated_at"])
    return canvas


def clean_tags(tags: list[str]) -> list[str]:
    """Tags as stored: trimmed, inner runs of spaces made one, blanks dropped, each once (first kept)."""
    cleaned = (" ".join(tag.split()) for tag in tags)
    return list(dict.fromkeys(tag for tag in cleaned if tag))


def mark_changed(canvas: Canvas) -> None:
    """The canvas list shows the latest changed first."""
    sql.execute(*_changed_now(canvas))


def _changed_now(canvas: Canvas) -> tuple[str, list]:
    """The canvas's updated_at set to now, and mark_changed's statement that stores it: one UPDATE of the one
    column, written out (config.sql), as nothing listens for a change of updated_at alone and every prompt
    makes it."""
    canvas.updated_at = timezone.now()
    return (
        f"UPDATE {sql.table(Canvas)} SET updated_at = %s WHERE id = %s",
        [sql.value(Canvas, "updated_at", canvas.updated_at), sql.value(Canvas, "id", canvas.pk)],
    )


def prompt_payloads(prompt: Node, parents: list[Node], responses: list[Node]) -> list[dict]:
    """The payloads of a prompt create_prompt has just made and of its responses, from the edges it
    made: reading them back would be one more query before the runs start."""
    edges = {prompt.id: [str(p.id) for p in parents], **{r.id: [str(prompt.id)] for r in responses}}
    return nodes_payload([prompt, *responses], edges)


def _link(parents: list[Node], child: Node) -> None:
    sql.insert([Edge(parent=p, child=child, position=i) for i, p in enumerate(parents)])


@transaction.atomic
def create_note(
    canvas: Canvas, user, text: str, parents: list[Node], x: float | None = None, y: float | None = None
) -> Node:
    default_x, default_y = _below(parents, canvas)
    note = Node.objects.create(
        canvas=canvas,
        kind=NodeKind.NOTE,
        text=text,
        created_by=user,
        x=default_x if x is None else x,
        y=default_y if y is None else y,
        w=300,
        h=160,
    )
    _link(parents, note)
    mark_changed(canvas)
    return note


# Bounds for a node's place and size: generous for any canvas, tight enough that no client can store a
# number that breaks layout arithmetic in every browser that opens the canvas.
MAX_COORDINATE = 10_000_000.0
MIN_SIZE, MAX_SIZE = 20.0, 100_000.0
MAX_TEXT = 200_000


def update_node(node: Node, changes: dict) -> list[str]:
    """Apply a client's edit (place, size, text) and return the fields that changed."""
    if "text" in changes:
        if node.kind == NodeKind.RESPONSE:
            raise invalid("A response's text is the model's: only prompts and notes can be edited.")
        if node.kind == NodeKind.PROMPT and not changes["text"].strip():
            raise invalid("The prompt is empty.")
    for name in ("x", "y"):
        if name in changes and abs(changes[name]) > MAX_COORDINATE:
            raise invalid(f"{name}: must be between -{MAX_COORDINATE:.0f} and {MAX_COORDINATE:.0f}.")
    for name in ("w", "h"):
        if name in changes and not MIN_SIZE <= changes[name] <= MAX_SIZE:
            raise invalid(f"{name}: must be between {MIN_SIZE:.0f} and {MAX_SIZE:.0f}.")
    changed = [name for name, value in changes.items() if getattr(node, name) != value]
    for name in changed:
        setattr(node, name, changes[name])
    if changed:
        node.save(update_fields=changed)
        mark_changed(node.canvas)
    return changed


def responses_of(prompt: Node) -> list[Node]:
    return list(Node.objects.filter(parent_edges__parent=prompt, kind=NodeKind.RESPONSE).order_by("created_at"))


def _parents_of(node: Node) -> list[Node]:
    return [edge.parent for edge in node.parent_edges.select_related("parent").order_by("position")]


def _right_edge(nodes: list[Node]) -> float:
    return max(n.x + n.w for n in nodes)


@transaction.atomic
def regenerate(response: Node, user) -> Node:
    """A new response beside `response`: same parents (its prompt), same model, queued."""
    if response.kind != NodeKind.RESPONSE:
        raise invalid("Only a response can be regenerated.")
    if response.model_id is None or not Model.objects.usable().filter(id=response.model_id).exists():
        raise invalid("This response's model is no longer offered.")
    limits.check_runs(user, response.canvas, 1)
    parents = _parents_of(response)
    siblings = list(Node.objects.filter(parent_edges__parent__in=parents))
    node = Node.objects.create(
        canvas=response.canvas,
        kind=NodeKind.RESPONSE,
        model_id=response.model_id,
        params=response.params,
        label=blinding.next_label(parents[0].id) if response.label and parents else "",
        status=NodeStatus.QUEUED,
        created_by=user,
        billed_team_id=response.canvas.team_id,
        x=_right_edge(siblings or [response]) + GAP,
        y=response.y,
        w=response.w,
        h=response.h,
    )
    _link(parents, node)
    mark_changed(response.canvas)
    return node


@transaction.atomic
def rerun(prompt: Node, user, text: str | None, entries: list | None) -> Fanout:
    """A new prompt beside `prompt` (same parents), with edited text, fanned out again; the old branch stays.
    Without `entries`, the models that answered `prompt` are asked again, in the order they were asked,
    each with the settings it had."""
    if prompt.kind != NodeKind.PROMPT:
        raise invalid("Only a prompt can be run again.")
    if entries is None:
        entries = [{"model": str(r.model_id), **r.params} for r in responses_of(prompt) if r.model_id]
    models, params = usable_entries(entries)
    parents = _parents_of(prompt)
    siblings = list(Node.objects.filter(parent_edges__parent__in=parents)) or [prompt]
    branch = siblings + list(Node.objects.filter(parent_edges__parent__in=siblings))
    total_w = len(models) * RESPONSE_W + (len(models) - 1) * GAP
    # The new fan-out starts right of everything the old branch and its siblings already take up.
    x = _right_edge(branch) + 2 * GAP + (total_w - RESPONSE_W) / 2
    text = prompt.text if text is None else text
    return create_prompt(prompt.canvas, user, text, models, parents, x, prompt.y, blind=prompt.blind, params=params)
