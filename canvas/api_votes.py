"""The API of votes on a prompt's answers and of blind prompts' reveal (mounted into canvas.api). Thin:
access through canvas.access, rules in canvas.votes, what an answer shows a person through canvas.blind."""

from __future__ import annotations

from typing import Literal

from ninja import Field, Router, Schema, Status
from pydantic import model_validator

from canvas import access, blind, votes
from canvas.schemas import ErrorEnvelope, NodeOut, ObjectIn

router = Router()

Outcome = Literal["a", "b", "tie", "both_bad"]


def answers(ok: dict, *codes: int) -> dict:
    return ok | dict.fromkeys((401, *codes), ErrorEnvelope)


class VoteIn(ObjectIn):
    """Either a pair and its outcome, or the best answer of the prompt."""

    a: str | None = Field(None, max_length=100, description="An answer (response id) of this prompt.")
    b: str | None = Field(None, max_length=100, description="Another answer of this prompt.")
    outcome: Outcome | None = Field(None, description="a: A is better; b: B is better; tie; both_bad.")
    best: str | None = Field(
        None, max_length=100, description="Best of N: this answer wins over each other finished answer."
    )

    @model_validator(mode="after")
    def _one_form(self):
        pair = (self.a, self.b, self.outcome)
        if self.best is not None:
            if any(v is not None for v in pair):
                raise ValueError("Send either {a, b, outcome} or {best}, not both.")
        elif any(v is None for v in pair):
            raise ValueError("Send {a, b, outcome} (outcome: a, b, tie or both_bad) or {best}.")
        return self


class VoteOut(Schema):
    id: str
    prompt: str
    a: str
    b: str
    outcome: Outcome
    judge: dict[str, str] = Field(
        ..., description='Who judged: {"user": username} or {"model": model id, "rationale": text}.'
    )
    created_at: str


class PairVoteOut(Schema):
    vote: VoteOut
    responses: list[NodeOut] = Field(..., description="The prompt's answers, as the voter now sees them.")


class BestVoteOut(Schema):
    votes: list[VoteOut]
    responses: list[NodeOut] = Field(..., description="The prompt's answers, as the voter now sees them.")


class RevealOut(Schema):
    prompt: NodeOut
    responses: list[NodeOut]


def _answers_for(prompt, user) -> list[dict]:
    return blind.for_user(votes.prompt_and_answers(prompt)[1:], prompt.canvas_id, user)


@router.post(
    "/nodes/{prompt_id}/votes",
    response=answers({200: PairVoteOut, 201: PairVoteOut | BestVoteOut}, 400, 403, 404),
    tags=["votes"],
)
def vote(request, prompt_id: str, body: VoteIn):
    """A pair → 201 (200 when it replaces the caller's earlier vote on that pair); best of N → 201 with
    one vote per other finished answer. Editors and owners vote; viewers 403."""
    prompt = votes.ensure_prompt(access.node_for(request.user, prompt_id, write=True))
    if body.best is not None:
        recorded = votes.record_best(prompt, request.user, body.best)
        payload = {"votes": [votes.vote_payload(v) for v in recorded], "responses": _answers_for(prompt, request.user)}
        return Status(201, payload)
    recorded, replaced = votes.record_pair(prompt, request.user, body.a, body.b, body.outcome)
    payload = {"vote": votes.vote_payload(recorded), "responses": _answers_for(prompt, request.user)}
    return Status(200 if replaced else 201, payload)


@router.get("/nodes/{prompt_id}/votes", response=answers({200: list[VoteOut]}, 400, 404), tags=["votes"])
def list_votes(request, prompt_id: str):
    """Every vote on the prompt's answers, people's and judge models', oldest first."""
    return votes.votes_of(votes.ensure_prompt(access.node_for(request.user, prompt_id)))


@router.delete("/votes/{vote_id}", response=answers({204: None}, 403, 404), tags=["votes"])
def delete_vote(request, vote_id: str):
    """The caller's own vote only."""
    votes.delete(access.vote_for(request.user, vote_id, delete=True))
    return Status(204, None)


@router.post("/nodes/{prompt_id}/reveal", response=answers({200: RevealOut}, 400, 403, 404), tags=["votes"])
def reveal(request, prompt_id: str):
    """The prompt's author shows everyone which model gave each answer of a blind prompt."""
    payloads = votes.reveal(access.prompt_to_reveal(request.user, prompt_id))
    return {"prompt": payloads[0], "responses": payloads[1:]}
