"""The API of a judge model's judgements of a prompt's answers (mounted into canvas.api). Thin: access
through canvas.access, the rules in canvas.judge."""

from __future__ import annotations

from typing import Literal

from ninja import Field, Router, Schema, Status

from canvas import access, services, votes
from canvas import judge as judging
from canvas.schemas import ErrorEnvelope, ObjectIn

router = Router()


def answers(ok: dict, *codes: int) -> dict:
    return ok | dict.fromkeys((401, *codes), ErrorEnvelope)


class JudgeIn(ObjectIn):
    model: str = Field(..., max_length=100, description="The judge: a model id from GET /models.")
    rubric: str = Field(
        "", max_length=4000, description="What makes an answer better here; the judge's own sense when empty."
    )


class JudgeRunsOut(Schema):
    queued: int
    running: int
    done: int
    unreadable: int = Field(..., description="Finished without a verdict line: no vote for their pairs.")
    failed: int


class JudgementOut(Schema):
    id: str
    prompt: str
    model: str = Field(..., description="The judge model's id.")
    rubric: str
    requested_by: str | None
    created_at: str
    pairs: int = Field(..., description="Pairs of finished answers compared, each in both orders (two runs).")
    runs: JudgeRunsOut
    votes: int = Field(..., description="The judge's votes recorded so far, one per pair whose two runs agreed "
                       "or not (a changed verdict counts as a tie).")  # fmt: skip
    status: Literal["running", "done"]
    cost: str | None = Field(..., description="What the judge's runs have cost so far, in USD.")


class JudgementEnvelope(Schema):
    judgement: JudgementOut


@router.post(
    "/nodes/{prompt_id}/judge",
    response=answers({202: JudgementEnvelope}, 400, 402, 403, 404, 429),
    tags=["votes"],
)
def judge(request, prompt_id: str, body: JudgeIn):
    """A judge model compares each pair of the prompt's finished answers, in both orders, and records one
    vote per pair with `judge.model`; asking the same model again replaces its judgement. Its runs count
    like any run (402 over a budget, 429 over the run limit). Editors and owners; viewers 403."""
    prompt = votes.ensure_prompt(access.node_for(request.user, prompt_id, write=True))
    [model] = services.usable_models([body.model])
    judgement = judging.request_judgement(prompt, request.user, model, body.rubric)
    return Status(202, {"judgement": judging.judgement_payload(judgement)})


@router.get("/nodes/{prompt_id}/judgements", response=answers({200: list[JudgementOut]}, 400, 404), tags=["votes"])
def list_judgements(request, prompt_id: str):
    """The judge models asked to judge the prompt's answers, and where their runs stand."""
    return judging.judgements_of(votes.ensure_prompt(access.node_for(request.user, prompt_id)))
