"""The engine's database work, as small synchronous functions run off the event loop."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from canvas.models import Node, NodeStatus
from canvas.payloads import node_payload
from engine.context import context_for_response
from engine.cost import cost_of
from engine.outcome import Outcome
from providers.base import AccountConfig, ChatRequest
from providers.models import Price


@dataclass(frozen=True)
class RunPlan:
    node_id: str
    canvas_id: str
    account: AccountConfig
    request: ChatRequest
    created_at: datetime
    started_at: datetime
    node: dict


def claim(node_id: str) -> RunPlan | None:
    """Take a queued response for this run; None if another run has it or it is no longer queued."""
    now = timezone.now()
    claimed = Node.objects.filter(id=node_id, status=NodeStatus.QUEUED).update(
        status=NodeStatus.STREAMING, started_at=now, heartbeat_at=now, attempts=F("attempts") + 1
    )
    if not claimed:
        return None
    node = Node.objects.select_related("canvas", "model__account").get(id=node_id)
    model = node.model
    request = ChatRequest(model=model.name, messages=context_for_response(node), params=dict(model.default_params))
    return RunPlan(
        node_id=str(node.id),
        canvas_id=str(node.canvas_id),
        account=model.account.config(),
        request=request,
        created_at=node.created_at,
        started_at=now,
        node=node_payload(node),
    )


@dataclass(frozen=True)
class Partial:
    """A running response's text so far; saving it is also its heartbeat."""

    node_id: str
    text: str
    reasoning: str
    seq: int


def save_partials(partials: list[Partial]) -> None:
    """Save many runs' partial text at once (one statement on PostgreSQL, one transaction elsewhere),
    however many streams a process holds. Only a response still streaming is touched: an ended one
    keeps its final text."""
    if not partials:
        return
    now = timezone.now()
    if connection.vendor == "postgresql":
        _save_partials_in_one_statement(partials, now)
        return
    with transaction.atomic():
        for partial in partials:
            Node.objects.filter(id=partial.node_id, status=NodeStatus.STREAMING).update(
                text=partial.text, reasoning=partial.reasoning, seq=partial.seq, heartbeat_at=now
            )


def _save_partials_in_one_statement(partials: list[Partial], now: datetime) -> None:
    column = {name: connection.ops.quote_name(Node._meta.get_field(name).column) for name in _PARTIAL_FIELDS}
    rows = ", ".join(["(%s::uuid, %s, %s, %s::integer)"] * len(partials))
    sql = (
        f"UPDATE {connection.ops.quote_name(Node._meta.db_table)} AS n"
        f" SET {column['text']} = v.text, {column['reasoning']} = v.reasoning, {column['seq']} = v.seq,"
        f" {column['heartbeat_at']} = %s"
        f" FROM (VALUES {rows}) AS v(id, text, reasoning, seq)"
        f" WHERE n.{column['id']} = v.id AND n.{column['status']} = %s"
    )
    params: list = [now]
    for partial in partials:
        params += [str(partial.node_id), partial.text, partial.reasoning, partial.seq]
    params.append(NodeStatus.STREAMING)
    with connection.cursor() as cursor:
        cursor.execute(sql, params)


_PARTIAL_FIELDS = ("id", "text", "reasoning", "seq", "heartbeat_at", "status")


@transaction.atomic
def finish(plan: RunPlan, outcome: Outcome) -> dict | None:
    """Store the final state and return the node's payload for the closing event; None when this run
    no longer holds the node (the sweeper took it for dead meanwhile), which then keeps its ending."""
    node = Node.objects.select_for_update().get(id=plan.node_id)
    if node.status != NodeStatus.STREAMING or node.started_at != plan.started_at:
        return None
    usage = outcome.usage
    price = Price.objects.filter(model_id=node.model_id, effective_from__lte=plan.started_at).first()
    node.status = outcome.status
    node.text = outcome.text
    node.reasoning = outcome.reasoning
    node.seq = outcome.seq
    node.finish_reason = outcome.finish_reason or ""
    node.error_code = outcome.error.code if outcome.error else ""
    node.error_message = outcome.error.message if outcome.error else ""
    node.queue_ms = max(0, int((plan.started_at - plan.created_at).total_seconds() * 1000)) + outcome.slot_wait_ms
    node.ttft_ms = outcome.ttft_ms
    node.duration_ms = outcome.duration_ms
    node.tokens_per_s = outcome.tokens_per_s
    node.input_tokens = usage.input_tokens
    node.cached_input_tokens = usage.cached_input_tokens
    node.cache_write_tokens = usage.cache_write_tokens
    node.output_tokens = usage.output_tokens
    node.reasoning_tokens = usage.reasoning_tokens
    node.usage_estimated = usage.estimated
    node.cost = cost_of(usage, price)
    node.finished_at = timezone.now()
    node.save()
    return node_payload(node)
