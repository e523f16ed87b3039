"""The engine's database work, as small synchronous functions run off the event loop."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime
from functools import cache

from django.db import connection, transaction
from django.utils import timezone

from canvas.models import Node, NodeStatus
from config import sql
from engine.context import contexts_for_responses, lineage, lineage_cte, parents_from_rows
from engine.cost import cost_of
from engine.outcome import Outcome
from engine.payloads import node_payload
from engine.preview import request_params
from engine.signals import send_runs_ended
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


def claim(node_ids: list[str]) -> list[RunPlan]:
    """Take those of these responses that are still queued for this run, in the order given; one that
    another run has taken, or that is no longer queued, is left out.

    A prompt's responses are claimed together, and they share one context. On PostgreSQL the claim is
    two queries however many models the prompt asked and however large its canvas: one statement takes
    the responses and reads the edges above them, the second reads those nodes. Every query here is in
    the time to first token, and under load each one costs a turn for the GIL besides PostgreSQL's
    time."""
    now = timezone.now()
    pks = [Node._meta.pk.to_python(node_id) for node_id in node_ids]
    taken, parents_of = _take_queued(pks, now)
    if not taken:
        return []
    line = set(taken).union(*parents_of.values())
    nodes = Node.objects.select_related("canvas", "model__account").in_bulk(line)
    ordered = [nodes[pk] for pk in pks if pk in taken]
    contexts = contexts_for_responses(ordered, parents_of, nodes)
    accounts: dict = {}
    plans = []
    for node in ordered:
        model = node.model
        if model.account_id not in accounts:
            accounts[model.account_id] = model.account.config()
        plans.append(
            RunPlan(
                node_id=str(node.id),
                canvas_id=str(node.canvas_id),
                account=accounts[model.account_id],
                request=ChatRequest(
                    model=model.name, messages=contexts[node.id], params=request_params(model, node.params)
                ),
                created_at=node.created_at,
                started_at=now,
                node=node_payload(node, [str(p) for p in parents_of[node.id]]),
            )
        )
    return plans


def _take_queued(pks: list, now: datetime) -> tuple[set, dict]:
    """Mark the queued ones of these responses as streaming from `now`, in one conditional UPDATE, and
    return their ids and the parents of every node above them. Two runs given the same response cannot
    both take it: the row's update is atomic."""
    pk = Node._meta.pk
    column = _columns("id", "status", "started_at", "heartbeat_at", "attempts")
    started = Node._meta.get_field("started_at").get_db_prep_value(now, connection)
    ids = [pk.get_db_prep_value(value, connection) for value in pks]
    marks = ", ".join(["%s"] * len(ids))
    update = (
        f"UPDATE {connection.ops.quote_name(Node._meta.db_table)}"
        f" SET {column['status']} = %s, {column['started_at']} = %s, {column['heartbeat_at']} = %s,"
        f" {column['attempts']} = {column['attempts']} + 1"
        f" WHERE {column['id']} IN ({marks}) AND {column['status']} = %s"
        f" RETURNING {column['id']}"
    )
    params = [NodeStatus.STREAMING, started, started, *ids, NodeStatus.QUEUED]
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            # A data-modifying CTE: the edges are read in the same round trip as the update.
            seed = f"SELECT {column['id']} FROM taken"
            cursor.execute(
                f"WITH RECURSIVE taken AS ({update}), {lineage_cte(seed)} SELECT {column['id']}, NULL, NULL"
                f" FROM taken UNION ALL SELECT child_id, parent_id, position FROM lineage",
                params,
            )
            rows = cursor.fetchall()
            taken = {pk.to_python(row[0]) for row in rows if row[1] is None}
            return taken, parents_from_rows(row for row in rows if row[1] is not None)
        cursor.execute(update, params)
        taken = {pk.to_python(row[0]) for row in cursor.fetchall()}
    return taken, lineage(taken)


def _columns(*names: str) -> dict[str, str]:
    """Node's columns by field name, quoted, for the statements written by hand here."""
    return {name: connection.ops.quote_name(Node._meta.get_field(name).column) for name in names}


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
    column = _columns("id", "text", "reasoning", "seq", "heartbeat_at", "status")
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


SERVER_FAILURE = "The run failed inside Prism."


def end_as_failed(plan: RunPlan, partial: Partial) -> dict | None:
    """The last resort for a run that failed in a way of ours (its final save among them): the node ends
    `error`, code `server`, keeping the text it had streamed, and nothing else is written, as whatever
    failed may lie there. The payload for the closing event; None when this run no longer holds the node."""
    ended = Node.objects.filter(id=plan.node_id, status=NodeStatus.STREAMING, started_at=plan.started_at).update(
        status=NodeStatus.ERROR,
        error_code="server",
        error_message=SERVER_FAILURE,
        text=partial.text,
        reasoning=partial.reasoning,
        seq=partial.seq,
        finished_at=timezone.now(),
    )
    return node_payload(Node.objects.get(id=plan.node_id), plan.node["parents"]) if ended else None


def finish_many(ends: list[tuple[RunPlan, Outcome]]) -> list[dict | None]:
    """Store each run's final state and return its node's payload for the closing event; None for a run
    that no longer holds its node (the sweeper took it for dead meanwhile), which then keeps its ending.

    Runs end together when their prompts were posted together: on PostgreSQL their endings are one
    query of the prices in force and one conditional UPDATE that returns the rows (a hundred runs ending
    at once were three queries each, on as many threads), in one transaction whose commit sends
    `runs_ended` for the batch."""
    with transaction.atomic():
        prices = _prices_in_force([plan for plan, _ in ends])
        ended = _end_runs([(plan, _final_state(plan, outcome, prices)) for plan, outcome in ends])
        nodes = [ended.get(plan.node_id) for plan, _ in ends]
        runs = [(str(node.id), node.status) for node in nodes if node is not None]
        if runs:
            transaction.on_commit(lambda: send_runs_ended(runs))
        # A response's parent (its prompt) is fixed at its creation: the claim's read of it stands.
        return [
            node_payload(node, plan.node["parents"]) if node is not None else None
            for (plan, _), node in zip(ends, nodes, strict=True)
        ]


def _prices_in_force(plans: list[RunPlan]) -> dict[str, Price | None]:
    """Each run's model's price at the run's start, by node id."""
    latest = max(plan.started_at for plan in plans)
    by_model: dict[str, list[Price]] = defaultdict(list)
    # Newest first (Price's ordering): a run's price is the first of its model from before its start.
    for price in Price.objects.filter(model_id__in={plan.node["model"] for plan in plans}, effective_from__lte=latest):
        by_model[str(price.model_id)].append(price)
    return {
        plan.node_id: next((p for p in by_model[str(plan.node["model"])] if p.effective_from <= plan.started_at), None)
        for plan in plans
    }


def _final_state(plan: RunPlan, outcome: Outcome, prices: dict[str, Price | None]) -> dict:
    usage = outcome.usage
    queue_ms = max(0, int((plan.started_at - plan.created_at).total_seconds() * 1000)) + outcome.slot_wait_ms
    return {
        "status": outcome.status,
        "text": outcome.text,
        "reasoning": outcome.reasoning,
        "seq": outcome.seq,
        "finish_reason": outcome.finish_reason or "",
        "error_code": outcome.error.code if outcome.error else "",
        "error_message": outcome.error.message if outcome.error else "",
        "queue_ms": queue_ms,
        "ttft_ms": outcome.ttft_ms,
        "duration_ms": outcome.duration_ms,
        "tokens_per_s": outcome.tokens_per_s,
        "input_tokens": usage.input_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_write_tokens": usage.cache_write_tokens,
        "output_tokens": usage.output_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "usage_estimated": usage.estimated,
        "cost": cost_of(usage, prices[plan.node_id]),
        "finished_at": timezone.now(),
    }


def _end_runs(finals: list[tuple[RunPlan, dict]]) -> dict[str, Node]:
    """Write each run's final state to its node if the run still holds it (streaming, from this run's
    start); the rows as they now are (a move made meanwhile included), by node id."""
    if connection.vendor != "postgresql":
        ended = ((plan.node_id, _end_run(plan, **final)) for plan, final in finals)
        return {node_id: node for node_id, node in ended if node is not None}
    names = list(finals[0][1])
    fields = [Node._meta.get_field(name) for name in ["id", "started_at", *names]]
    rows = [
        [
            field.get_db_prep_save(value, connection)
            for field, value in zip(fields, [plan.node_id, plan.started_at, *final.values()], strict=True)
        ]
        for plan, final in finals
    ]
    params = [sql.json_rows([field.column for field in fields], rows), NodeStatus.STREAMING]
    found = sql.rows(_end_runs_sql(tuple(names)), params)
    nodes = [sql.load(Node, row) for row in found]
    return {str(node.id): node for node in nodes}


@cache
def _end_runs_sql(names: tuple[str, ...]) -> str:
    column = _columns("id", "status", "started_at", *names)
    into = sql.table(Node)
    return (
        f"UPDATE {into} AS n SET {', '.join(f'{column[name]} = v.{column[name]}' for name in names)}"
        f" FROM json_populate_recordset(NULL::{into}, %s) AS v"
        f" WHERE n.{column['id']} = v.{column['id']} AND n.{column['status']} = %s"
        f" AND n.{column['started_at']} = v.{column['started_at']}"
        f" RETURNING {sql.columns(Node, 'n')}"
    )


def _end_run(plan: RunPlan, **final) -> Node | None:
    """Write `final` to the node if this run still holds it (streaming, from this run's start), and
    return the row as it now is (a move made meanwhile included); None if it does not."""
    column = _columns("id", "status", "started_at", *final)
    fields = {name: Node._meta.get_field(name) for name in final}
    sql = (
        f"UPDATE {connection.ops.quote_name(Node._meta.db_table)}"
        f" SET {', '.join(f'{column[name]} = %s' for name in final)}"
        f" WHERE {column['id']} = %s AND {column['status']} = %s AND {column['started_at']} = %s RETURNING *"
    )
    params = [fields[name].get_db_prep_save(value, connection) for name, value in final.items()]
    params += [
        Node._meta.pk.get_db_prep_value(Node._meta.pk.to_python(plan.node_id), connection),
        NodeStatus.STREAMING,
        Node._meta.get_field("started_at").get_db_prep_value(plan.started_at, connection),
    ]
    return next(iter(Node.objects.raw(sql, params)), None)
