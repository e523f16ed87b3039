"""A team's votes as a dataset, one vote a line, in the field names of the public Chatbot Arena
conversation dataset (question_id, model_a, model_b, winner, judge, conversation_a, conversation_b,
turn, anony, tstamp), so that tools written for it read ours.

Each conversation is what that model was sent (engine.context, the same assembly a run uses) followed
by its answer. A blind prompt's votes reveal its models, so a caller gets them only once the prompt is
revealed or they have voted on it themselves. Votes are read in batches in a stable order, so a team of
any size streams in bounded memory.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator

from asgiref.sync import sync_to_async
from django.db.models import Q, QuerySet

from canvas.models import Node, Vote, VoteOutcome
from engine.context import contexts_for_responses, lineage

FIELDS = ("question_id", "model_a", "model_b", "winner", "judge", "conversation_a", "conversation_b", "turn",
          "anony", "tstamp")  # fmt: skip
WINNER = {
    VoteOutcome.A: "model_a",
    VoteOutcome.B: "model_b",
    VoteOutcome.TIE: "tie",
    VoteOutcome.BOTH_BAD: "tie (bothbad)",
}
BATCH = 500
FORMATS = {
    "jsonl": ("application/x-ndjson; charset=utf-8", "jsonl"),
    "csv": ("text/csv; charset=utf-8", "csv"),
}


def rows(votes: list[Vote]) -> list[dict]:
    """The dataset rows of these votes (fetched with their answers, models, judge and canvas)."""
    answers = [answer for vote in votes for answer in (vote.a, vote.b)]
    parents_of = lineage([answer.id for answer in answers])
    above = {p for parents in parents_of.values() for p in parents} | set(parents_of)
    nodes = {node.id: node for node in Node.objects.filter(pk__in=above)}
    contexts = contexts_for_responses(answers, parents_of, nodes)
    return [_row(vote, contexts) for vote in votes]


def _conversation(answer: Node, contexts: dict) -> list[dict]:
    sent = [{"role": m.role, "content": m.content} for m in contexts[answer.id]]
    return [*sent, {"role": "assistant", "content": answer.text}]


def _row(vote: Vote, contexts: dict) -> dict:
    conversation_a = _conversation(vote.a, contexts)
    return {
        "question_id": vote.prompt_id.hex,
        "model_a": vote.model_a.name,
        "model_b": vote.model_b.name,
        "winner": WINNER[vote.outcome],
        "judge": vote.user.get_username() if vote.user_id else f"model:{vote.judge_model.name}",
        "conversation_a": conversation_a,
        "conversation_b": _conversation(vote.b, contexts),
        "turn": sum(1 for m in conversation_a if m["role"] == "user"),
        "anony": vote.prompt.blind,
        "tstamp": round(vote.created_at.timestamp(), 3),
    }


def _batch(votes: QuerySet, after: tuple | None) -> tuple[list[dict], tuple | None]:
    """The next BATCH votes after `after` (created_at, id) as rows, and where the next batch starts."""
    page = votes.select_related("prompt", "a__canvas", "b__canvas", "model_a", "model_b", "judge_model", "user")
    if after is not None:
        page = page.filter(Q(created_at__gt=after[0]) | Q(created_at=after[0], pk__gt=after[1]))
    batch = list(page.order_by("created_at", "pk")[:BATCH])
    if not batch:
        return [], None
    return rows(batch), (batch[-1].created_at, batch[-1].pk)


def encode(batch: list[dict], fmt: str, header: bool = False) -> str:
    if fmt == "jsonl":
        return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in batch)
    out = io.StringIO()
    writer = csv.writer(out)
    if header:
        writer.writerow(FIELDS)
    for row in batch:
        cells = {**row, "conversation_a": json.dumps(row["conversation_a"], ensure_ascii=False),
                 "conversation_b": json.dumps(row["conversation_b"], ensure_ascii=False)}  # fmt: skip
        writer.writerow([cells[name] for name in FIELDS])
    return out.getvalue()


def lines(votes: QuerySet, fmt: str) -> Iterator[str]:
    """The dataset in `fmt`, batch by batch (for a synchronous server)."""
    if fmt == "csv":
        yield encode([], fmt, header=True)
    batch, after = _batch(votes, None)
    while batch:
        yield encode(batch, fmt)
        batch, after = _batch(votes, after)


async def alines(votes: QuerySet, fmt: str) -> AsyncIterator[str]:
    """The same for an ASGI server, which streams an asynchronous iterator without gathering it first;
    each batch is read on the thread Django's ORM work runs on."""
    if fmt == "csv":
        yield encode([], fmt, header=True)
    batch, after = await sync_to_async(_batch)(votes, None)
    while batch:
        yield encode(batch, fmt)
        batch, after = await sync_to_async(_batch)(votes, after)
