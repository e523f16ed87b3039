"""People's votes on a prompt's answers, a blind prompt's reveal, and the events that tell the canvas.

A vote compares two finished answers of the same prompt. Pairs are stored in one order (`a_id < b_id`
as strings, the outcome flipped to match: see canvas.models.Vote), so voting on (B, A) replaces one's
vote on (A, B). "Best of N" is one vote per other finished sibling, the best one winning each.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.utils import timezone

from canvas.errors import invalid
from canvas.models import Node, NodeKind, NodeStatus, Vote, VoteOutcome
from engine import events, sender
from engine.payloads import nodes_payload
from providers.models import Model

FLIPPED = {VoteOutcome.A: VoteOutcome.B, VoteOutcome.B: VoteOutcome.A}


def vote_payload(vote: Vote) -> dict:
    if vote.user_id is not None:
        judge = {"user": vote.user.get_username()}
    else:
        judge = {"model": str(vote.judge_model_id), "rationale": vote.rationale}
    return {
        "id": str(vote.id),
        "prompt": str(vote.prompt_id),
        "a": str(vote.a_id),
        "b": str(vote.b_id),
        "outcome": vote.outcome,
        "judge": judge,
        "created_at": vote.created_at.isoformat(),
    }


def votes_of(prompt: Node) -> list[dict]:
    return [vote_payload(v) for v in prompt.votes.select_related("user")]


def votes_of_canvas(canvas) -> list[dict]:
    return [vote_payload(v) for v in canvas.votes.select_related("user")]


def ensure_prompt(node: Node) -> Node:
    if node.kind != NodeKind.PROMPT:
        raise invalid("Votes are on a prompt: send the prompt's id, and its answers' ids in the body.")
    return node


def _answers(prompt: Node) -> dict[str, Node]:
    return {str(n.id): n for n in Node.objects.filter(parent_edges__parent=prompt, kind=NodeKind.RESPONSE)}


def _finished(answers: dict[str, Node], answer_id, name: str) -> Node:
    node = answers.get(str(answer_id))
    if node is None:
        raise invalid(f"{name}: not an answer to this prompt.")
    if node.status != NodeStatus.DONE:
        raise invalid(f"{name}: only finished answers can be compared (this one is {node.status}).")
    if node.model_id is None:
        raise invalid(f"{name}: this answer's model is unknown, so it cannot be rated.")
    return node


def _save(
    prompt: Node, user, a: Node, b: Node, outcome: str, judge_model_id=None, rationale: str = ""
) -> tuple[Vote, bool]:
    """The person's vote on the pair (or, with `judge_model_id`, that judge model's), in stored order;
    True when it replaced an earlier one."""
    if str(a.id) > str(b.id):
        a, b, outcome = b, a, FLIPPED.get(outcome, outcome)
    fields = {"outcome": outcome, "created_at": timezone.now(), "canvas_id": prompt.canvas_id}
    fields |= {"model_a_id": a.model_id, "model_b_id": b.model_id, "rationale": rationale}
    who = {"user": user} if judge_model_id is None else {"judge_model_id": judge_model_id}
    for _ in range(2):  # two first votes on one pair at once: the loser of the race replaces the winner's
        try:
            with transaction.atomic():
                vote, created = Vote.objects.update_or_create(prompt=prompt, a=a, b=b, **who, defaults=fields)
            if judge_model_id is None:
                vote.user = user
            return vote, not created
        except IntegrityError:
            continue
    raise invalid("The vote could not be saved; try again.")


@transaction.atomic
def record_pair(prompt: Node, user, a_id, b_id, outcome: str) -> tuple[Vote, bool]:
    if str(a_id) == str(b_id):
        raise invalid("a and b are the same answer: compare two different answers.")
    answers = _answers(prompt)
    a, b = _finished(answers, a_id, "a"), _finished(answers, b_id, "b")
    vote, replaced = _save(prompt, user, a, b, outcome)
    announce_votes(prompt.canvas_id, [vote])
    return vote, replaced


@transaction.atomic
def record_best(prompt: Node, user, best_id) -> list[Vote]:
    answers = _answers(prompt)
    best = _finished(answers, best_id, "best")
    others = [n for n in answers.values() if n.id != best.id and n.status == NodeStatus.DONE and n.model_id]
    if not others:
        raise invalid("best: this prompt has no other finished answer to win over.")
    votes = [_save(prompt, user, best, other, VoteOutcome.A)[0] for other in others]
    announce_votes(prompt.canvas_id, votes)
    return votes


@transaction.atomic
def record_judged(prompt: Node, judge_model_id, a: Node, b: Node, outcome: str, rationale: str) -> Vote:
    """A judge model's vote on a pair of finished answers (canvas.judge has checked them), replacing
    its earlier one on that pair."""
    vote, _ = _save(prompt, None, a, b, outcome, judge_model_id=judge_model_id, rationale=rationale)
    announce_votes(prompt.canvas_id, [vote])
    return vote


def delete_judged(prompt: Node, judge_model_id) -> None:
    """Every vote of this judge model on the prompt's answers, gone (it is asked to judge again)."""
    gone = list(Vote.objects.filter(prompt=prompt, judge_model_id=judge_model_id))
    if not gone:
        return
    batch = [events.VoteDeleted(type="vote.deleted", vote=_gone(v)) for v in gone]
    Vote.objects.filter(id__in=[v.id for v in gone]).delete()
    sender.send_on_commit(prompt.canvas_id, batch)


def _gone(vote: Vote) -> dict:
    return {"id": str(vote.id), "prompt": str(vote.prompt_id), "judge": vote_payload(vote)["judge"]}


def delete(vote: Vote) -> None:
    event = events.VoteDeleted(type="vote.deleted", vote=_gone(vote))
    canvas_id = vote.canvas_id
    vote.delete()
    sender.send_on_commit(canvas_id, [event])


def announce_votes(canvas_id, votes: list[Vote]) -> None:
    batch = [events.VoteRecorded(type="vote.recorded", vote=vote_payload(v)) for v in votes]
    sender.send_on_commit(canvas_id, batch)


@transaction.atomic
def reveal(prompt: Node) -> list[dict]:
    """Its answers' models shown to everyone (the author's call: canvas.access.prompt_to_reveal); the
    payloads of the prompt and its answers. A prompt that was never blind has nothing to reveal."""
    ensure_prompt(prompt)
    if prompt.blind and prompt.revealed_at is None:
        prompt.revealed_at = timezone.now()
        prompt.save(update_fields=["revealed_at"])
        payloads = prompt_and_answers(prompt)
        event = events.PromptRevealed(
            type="prompt.revealed", prompt=payloads[0], responses=payloads[1:], models=_names(payloads[1:])
        )
        sender.send_on_commit(prompt.canvas_id, [event])
        return payloads
    return prompt_and_answers(prompt)


def _names(answers: list[dict]) -> dict:
    """The display names of the answers' models, for pages that never had them (a share-link guest's)."""
    ids = {a["model"] for a in answers if a["model"]}
    return {str(m.id): {"id": str(m.id), "display_name": m.display_name} for m in Model.objects.filter(id__in=ids)}


def prompt_and_answers(prompt: Node) -> list[dict]:
    answers = list(Node.objects.filter(parent_edges__parent=prompt, kind=NodeKind.RESPONSE).order_by("created_at"))
    return nodes_payload([prompt, *answers])
