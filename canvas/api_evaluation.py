"""The API of a team's leaderboard, its vote dataset and cost estimates (mounted into canvas.api).

Read-only, for members of the team (viewers included); others get 404, a share link opens none of it.
The work is in evaluation/; this module checks access, parses filters and shapes answers.
"""

from __future__ import annotations

from typing import Literal

from django.core.handlers.asgi import ASGIRequest
from django.http import StreamingHttpResponse
from django.utils.text import slugify
from ninja import Field, Router, Schema

from canvas import access
from canvas.api_teams import answers
from canvas.errors import invalid
from evaluation import board, costs, dataset
from evaluation.scope import Scope, seen_answers, seen_votes

router = Router()


class AgreementByJudge(Schema):
    model: str
    display_name: str
    pairs: int
    agreeing: int
    rate: float


class AgreementOut(Schema):
    pairs: int = Field(..., description="Pairs of answers judged by a judge model and by people with a majority.")
    agreeing: int
    rate: float | None
    by_judge: list[AgreementByJudge]


class EstimateOut(Schema):
    model: str
    display_name: str
    provider_kind: str
    cost: str = Field(..., description="US dollars, a decimal string: these answers' tokens at its current price.")
    estimated: bool


class CostsOut(Schema):
    actual: str = Field(..., description="What these answers cost as stored (US dollars).")
    answers: int
    unpriced: int = Field(
        ..., description="Answers with tokens but no price for their model: `actual` leaves them out."
    )
    tokens: dict[str, int]
    by_model: list[EstimateOut]


class RatingOut(Schema):
    model: str
    display_name: str
    provider_kind: str
    self_hosted: bool
    rating: float
    ci: list[float] = Field(..., description="95% bootstrap interval [low, high].")
    votes: int
    wins: int
    losses: int
    ties: int = Field(..., description="Ties and both-bad votes.")
    win_rate: float = Field(..., description="(wins + ties / 2) / votes.")
    cost_per_answer_p50: str | None
    ttft_ms_p50: int | None
    tokens_per_s_p50: float | None


class LeaderboardOut(Schema):
    method: Literal["bradley-terry"]
    votes: int
    models: list[RatingOut]
    agreement: AgreementOut
    costs: CostsOut


Judge = Literal["human", "model", "all"]


def scope_of(judge: str | None, since: str | None, until: str | None, tag: str | None) -> Scope:
    try:
        return Scope.parse(judge, since, until, tag)
    except ValueError as exc:
        raise invalid(str(exc)) from None


@router.get("/teams/{team_id}/leaderboard", response=answers({200: LeaderboardOut}, 400, 404), tags=["evaluation"])
def team_leaderboard(request, team_id: str, judge: Judge = "human", since: str = None, until: str = None,
                     tag: str = None):  # fmt: skip
    """Bradley–Terry ratings of the models the team's votes compare, with their median cost, time to
    first token and speed on the voted answers; `since`/`until` are UTC days (YYYY-MM-DD), both included."""
    team = access.team_for(request.user, team_id)
    return board.leaderboard(team, scope_of(judge, since, until, tag))


@router.get("/teams/{team_id}/costs", response=answers({200: CostsOut}, 400, 404), tags=["evaluation"])
def team_costs(request, team_id: str, since: str = None, until: str = None, tag: str = None):
    """The team's answers (asked in the period, on canvases with the tag) at every priced model's
    current price, beside what they cost. Answers of blind prompts the caller has not seen are left out."""
    team = access.team_for(request.user, team_id)
    scope = scope_of("all", since, until, tag)
    return costs.costs_of(seen_answers(scope.answers(team), request.user))


@router.get("/canvases/{canvas_id}/costs", response=answers({200: CostsOut}, 404), tags=["evaluation"])
def canvas_costs(request, canvas_id: str):
    """The canvas's answers at every priced model's current price, beside what they cost."""
    canvas = access.canvas_for(request.user, canvas_id)
    return costs.costs_of(seen_answers(canvas.nodes.filter(kind="response"), request.user))


_TEXT = {"schema": {"type": "string"}}
DATASET = {
    "responses": {
        200: {
            "description": "One vote a line, in the Chatbot Arena dataset's field names.",
            "content": {"application/x-ndjson": _TEXT, "text/csv": _TEXT},
        }
    }
}


@router.get("/teams/{team_id}/votes", response=answers({}, 400, 404), openapi_extra=DATASET, tags=["evaluation"])
def team_votes(request, team_id: str, format: Literal["jsonl", "csv"] = "jsonl", judge: Judge = "all",
               since: str = None, until: str = None, tag: str = None):  # fmt: skip
    """Every vote of the team (people's and judge models'), streamed. A blind prompt's votes come only
    once it is revealed or the caller has voted on it."""
    team = access.team_for(request.user, team_id)
    votes = seen_votes(scope_of(judge, since, until, tag).votes(team), request.user)
    content_type, extension = dataset.FORMATS[format]
    chunks = dataset.alines(votes, format) if isinstance(request, ASGIRequest) else dataset.lines(votes, format)
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{slugify(team.name) or "team"}-votes.{extension}"'
    return response
