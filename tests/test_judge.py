"""A judge model on request: POST /api/nodes/{prompt}/judge puts each pair of the prompt's finished answers
to the judge in both orders, through the real engine against the simulator over HTTP, and records one vote
per pair; its runs count like any run and never show where a canvas's nodes are listed or sent.

The judge model's answer is fixed by its params (`simulator.text`), so it can be made to say "first" in
both orders (a verdict that changes with the order), "both_bad" in both (agreement), or to fail.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import Client

from canvas import judge
from canvas.models import Canvas, Judgement, JudgeRun, Node, NodeKind, NodeStatus, Vote
from config.asgi import application
from engine import limits, loops
from providers.adapters import openai_compat  # noqa: F401 - imported up front, not inside a run
from providers.models import Model, Price, ProviderAccount
from tests.arena import build_arena
from tests.listening import CanvasSocket, before_marker

BOTH_BAD = "RATIONALE: Neither answer names a river.\nVERDICT: both_bad"
ALWAYS_FIRST = "The first one reads better.\n\n**VERDICT:** first"


def post(client: Client, path: str, body: dict):
    return client.post(path, json.dumps(body), content_type="application/json")


def make_judge(simulator, text: str | None = BOTH_BAD, **options) -> Model:
    """A simulated judge model with a price, whose every answer is `text`."""
    _, base_url = simulator
    account = ProviderAccount.objects.create(
        name="Judge simulator", kind="simulator", base_url=base_url, first_token_timeout_s=10, idle_timeout_s=10
    )
    params = {"simulator": {"ttft_ms": 0, "tokens_per_s": 0, **({"text": text} if text else {}), **options}}
    model = Model.objects.create(account=account, name="sim-swift", display_name="Judge Judy", default_params=params)
    Price.objects.create(
        model=model,
        input=Decimal("2"),
        cached_input=Decimal("1"),
        output=Decimal("8"),
        effective_from=datetime(2025, 1, 1, tzinfo=UTC),
    )
    return model


def set_text(model: Model, text: str) -> None:
    model.default_params = {"simulator": {"ttft_ms": 0, "tokens_per_s": 0, "text": text}}
    model.save(update_fields=["default_params"])


async def runs_end() -> None:
    """Every run the requests started has ended: they run as tasks on this test's loop (run_here), and a
    pair's vote is recorded before the run that settles it returns."""
    while loops._tasks:
        await asyncio.gather(*list(loops._tasks), return_exceptions=True)


@pytest_asyncio.fixture
async def run_here(transactional_db):
    """Runs started by a request land on this test's loop, as they land on the server's in embedded mode."""
    loops.bind_server_loop(asyncio.get_running_loop())
    yield
    loops.bind_server_loop(None)
    from engine.adapters import close_adapters

    await close_adapters()
    await get_channel_layer().flush()
    await sync_to_async(connections.close_all)()


async def judged(arena, model: Model, who: str = "dave", **body) -> dict:
    """Ask `model` to judge the arena's prompt as `who`, and wait for its runs to end."""
    client = await sync_to_async(arena.client)(who)
    response = await sync_to_async(post)(
        client, f"/api/nodes/{arena.prompt.id}/judge", {"model": str(model.id), **body}
    )
    assert response.status_code == 202, response.content
    await runs_end()
    return response.json()["judgement"]


def ask(arena, who: str, model: Model):
    return post(arena.client(who), f"/api/nodes/{arena.prompt.id}/judge", {"model": str(model.id)})


def judge_votes(arena) -> list[dict]:
    listed = arena.client("bob").get(f"/api/nodes/{arena.prompt.id}/votes")  # a viewer reads them
    assert listed.status_code == 200
    return [v for v in listed.json() if "model" in v["judge"]]


def pairs_of(arena) -> set[frozenset]:
    a, b, c = (str(n.id) for n in arena.answers)
    return {frozenset(p) for p in ((a, b), (a, c), (b, c))}


# --- votes from verdicts ---------------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_verdicts_that_agree_in_both_orders_make_one_vote_per_pair(run_here, simulator, simulator_app):
    arena = await sync_to_async(build_arena)(blind=False)
    model = await sync_to_async(make_judge)(simulator, BOTH_BAD)

    started = await judged(arena, model, rubric="Rivers must be named.")

    assert started["pairs"] == 3 and started["status"] == "running" and started["model"] == str(model.id)
    votes = await sync_to_async(judge_votes)(arena)
    assert {frozenset((v["a"], v["b"])) for v in votes} == await sync_to_async(pairs_of)(arena)
    for vote in votes:
        assert vote["outcome"] == "both_bad"
        assert vote["judge"] == {"model": str(model.id), "rationale": "Neither answer names a river."}
    # Each pair was asked in both orders, with the question, both texts and the rubric.
    asked = [r["messages"][-1]["content"] for r in simulator_app.recent_requests]
    assert len(asked) == 6
    shown_first = sorted(text.split("<first_answer>\n")[1].split("\n")[0] for text in asked)
    assert shown_first == sorted(2 * [a.text for a in arena.answers])
    assert all("Which is better?" in text and "Rivers must be named." in text for text in asked)
    [summary] = (await sync_to_async(arena.client("bob").get)(f"/api/nodes/{arena.prompt.id}/judgements")).json()
    assert summary["status"] == "done" and summary["votes"] == 3 and summary["rubric"] == "Rivers must be named."
    assert summary["runs"] == {"queued": 0, "running": 0, "done": 6, "unreadable": 0, "failed": 0}


@pytest.mark.asyncio
async def test_a_verdict_that_changes_with_the_order_is_a_tie(run_here, simulator):
    arena = await sync_to_async(build_arena)(blind=False)
    model = await sync_to_async(make_judge)(simulator, ALWAYS_FIRST)

    await judged(arena, model)

    votes = await sync_to_async(judge_votes)(arena)
    assert len(votes) == 3
    for vote in votes:
        assert vote["outcome"] == "tie"
        assert "changed when the answers swapped places" in vote["judge"]["rationale"]
        assert "The first one reads better." in vote["judge"]["rationale"]


@pytest.mark.django_db
def test_the_two_orders_are_read_each_from_the_answer_it_showed_first(simulator):
    """Which answer wins, from the verdicts of the two orders: the judge's runs are written here as if
    it had answered "first" when answer 2 was shown first and "second" when answer 1 was."""
    arena = build_arena(blind=False)
    model = make_judge(simulator)
    assert (
        post(arena.client("dave"), f"/api/nodes/{arena.prompt.id}/judge", {"model": str(model.id)}).status_code == 202
    )
    winner = arena.answers[1]
    for run in JudgeRun.objects.select_related("response"):
        verdict = "first" if run.first_id == winner.id else "second" if run.second_id == winner.id else "tie"
        Node.objects.filter(pk=run.response_id).update(
            status=NodeStatus.DONE, text=f"RATIONALE: R.\nVERDICT: {verdict}"
        )
    for run in JudgeRun.objects.all():
        judge.settle(run.judgement_id, run.response_id)

    votes = {frozenset((v.a_id, v.b_id)): v for v in Vote.objects.filter(judge_model=model)}
    assert len(votes) == 3
    for pair, vote in votes.items():
        if winner.id in pair:
            assert (vote.a_id if vote.outcome == "a" else vote.b_id) == winner.id and vote.outcome in ("a", "b")
        else:
            assert vote.outcome == "tie"


@pytest.mark.parametrize(
    ("xy", "yx", "outcome"),
    [
        ("first", "second", "a"),
        ("second", "first", "b"),
        ("first", "first", "tie"),
        ("second", "second", "tie"),
        ("tie", "tie", "tie"),
        ("both_bad", "both_bad", "both_bad"),
        ("both_bad", "tie", "tie"),
    ],
)
def test_combining_the_two_orders(xy, yx, outcome):
    assert judge.combine(judge.Verdict(xy, "x"), judge.Verdict(yx, "y"))[0] == outcome


@pytest.mark.parametrize(
    ("text", "choice", "rationale"),
    [
        ("RATIONALE: Clearer.\nVERDICT: second", "second", "Clearer."),
        ("Quotes VERDICT: first in passing.\nThe second is shorter.\n**Verdict:** Both bad", "both_bad",
         "Quotes VERDICT: first in passing. The second is shorter."),
        ("verdict = tie", "tie", ""),
        ("No verdict at all.", None, None),
    ],
)  # fmt: skip
def test_the_verdict_is_the_last_verdict_line(text, choice, rationale):
    verdict = judge.parse_verdict(text)
    assert (verdict and verdict.choice, verdict and verdict.rationale) == (choice, rationale)


@pytest.mark.asyncio
async def test_a_failed_judge_run_records_nothing_and_ends_the_judgement(run_here, simulator):
    arena = await sync_to_async(build_arena)(blind=False)
    # Each run is cut after its verdict line: a failed run, whatever text it kept.
    model = await sync_to_async(make_judge)(simulator, f"{BOTH_BAD}\nThat is all.", fail={"cut_after": 9})

    started = await judged(arena, model)

    assert await sync_to_async(judge_votes)(arena) == []
    summary = await sync_to_async(judge.judgement_payload)(await sync_to_async(Judgement.objects.get)(id=started["id"]))
    assert summary["status"] == "done" and summary["runs"]["failed"] == 6 and summary["votes"] == 0


@pytest.mark.asyncio
async def test_judging_again_replaces_the_judges_votes(run_here, simulator):
    arena = await sync_to_async(build_arena)(blind=False)
    model = await sync_to_async(make_judge)(simulator, BOTH_BAD)
    await judged(arena, model)
    before = {v["id"] for v in await sync_to_async(judge_votes)(arena)}
    await sync_to_async(set_text)(model, ALWAYS_FIRST)

    await judged(arena, model, who="alice", rubric="Shorter is better.")

    votes = await sync_to_async(judge_votes)(arena)
    assert len(votes) == 3 and {v["outcome"] for v in votes} == {"tie"}
    assert not before & {v["id"] for v in votes}
    [summary] = await sync_to_async(judge.judgements_of)(arena.prompt)
    assert summary["requested_by"] == "alice" and summary["rubric"] == "Shorter is better."


# --- limits, budgets, costs ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_judge_runs_count_toward_the_requesters_run_limit(simulator, settings):
    arena = build_arena(blind=False)
    model = make_judge(simulator)
    dave = arena.client("dave")
    settings.PRISM_MAX_RUNS_PER_USER = 5

    refused = post(dave, f"/api/nodes/{arena.prompt.id}/judge", {"model": str(model.id)})

    assert refused.status_code == 429 and refused.json()["error"]["code"] == "limit"
    assert not Judgement.objects.exists() and not Node.objects.filter(judge_run__isnull=False).exists()
    settings.PRISM_MAX_RUNS_PER_USER = 7
    assert post(dave, f"/api/nodes/{arena.prompt.id}/judge", {"model": str(model.id)}).status_code == 202
    # Its six runs are still queued (this test's transaction never commits): one more prompt is one too many.
    again = post(dave, f"/api/canvases/{arena.canvas.id}/prompts", {"text": "Hi", "models": [str(model.id)] * 2})
    assert again.status_code == 429


@pytest.mark.django_db
def test_a_team_over_its_budget_gets_402_for_a_judgement(simulator):
    arena = build_arena(blind=False)
    model = make_judge(simulator)
    team = arena.canvas.team
    team.monthly_budget_usd = Decimal("0.05")  # the arena's answers cost 0.116… but are billed to no team
    team.save()
    assert (
        post(arena.client("dave"), f"/api/nodes/{arena.prompt.id}/judge", {"model": str(model.id)}).status_code == 202
    )
    Node.objects.filter(judge_run__isnull=False).update(status=NodeStatus.DONE, cost=Decimal("0.01"))

    refused = post(arena.client("alice"), f"/api/nodes/{arena.prompt.id}/judge", {"model": str(model.id)})

    assert refused.status_code == 402 and refused.json()["error"]["code"] == "budget"
    assert limits.month_spend(team) == Decimal("0.06")  # the first judgement's six runs


@pytest.mark.asyncio
async def test_the_judges_runs_are_priced_and_billed_to_the_canvas_team(run_here, simulator):
    arena = await sync_to_async(build_arena)(blind=False)
    model = await sync_to_async(make_judge)(simulator, BOTH_BAD)

    started = await judged(arena, model)

    @sync_to_async
    def check():
        runs = list(Node.objects.filter(judge_run__judgement_id=started["id"]))
        assert len(runs) == 6
        for run in runs:
            assert run.status == NodeStatus.DONE and run.cost > 0 and run.input_tokens > 0
            assert run.billed_team_id == arena.canvas.team_id and run.created_by == arena.users["dave"]
            assert run.model_id == model.id and run.kind == NodeKind.RESPONSE
        total = sum(run.cost for run in runs)
        assert limits.month_spend(arena.canvas.team) == total
        assert Decimal(judge.judgement_payload(Judgement.objects.get(id=started["id"]))["cost"]) == total

    await check()


# --- hidden everywhere -----------------------------------------------------------------------------------


async def join(arena, name: str, canvas_id) -> CanvasSocket:
    await sync_to_async(arena.client)(name)
    headers = [(b"authorization", f"Bearer {arena.tokens[name]}".encode())]
    return CanvasSocket(application, f"/ws/canvases/{canvas_id}/", headers=headers)


@pytest.mark.asyncio
async def test_the_judges_runs_appear_on_no_channel(run_here, simulator):
    arena = await sync_to_async(build_arena)(blind=False)
    model = await sync_to_async(make_judge)(simulator, BOTH_BAD)
    socket = await join(arena, "alice", arena.canvas.id)
    assert (await socket.connect())[0]
    await before_marker(socket, arena.canvas.id)  # the snapshot of the arena's queued answer

    await judged(arena, model)
    events = await before_marker(socket, arena.canvas.id)

    hidden = await sync_to_async(lambda: [str(pk) for pk in Node.objects.filter(canvas__judged_canvas=arena.canvas)
                                          .values_list("id", flat=True)])()  # fmt: skip
    workspace = await sync_to_async(lambda: str(Canvas.workspaces.get(judged_canvas=arena.canvas).id))()
    assert len(hidden) == 12  # six prompts to the judge, six answers
    secrets = [*hidden, workspace, "<first_answer>"]
    sent = json.dumps(events)
    assert [e["type"] for e in events if e["type"].startswith(("node.", "vote."))] == ["vote.recorded"] * 3
    assert not [s for s in secrets if s in sent]
    await socket.disconnect()
    # Nobody may join the workspace's group.
    intruder = await join(arena, "alice", workspace)
    assert not (await intruder.connect())[0]

    @sync_to_async
    def check_requests():
        alice = arena.client("alice")
        channels = [
            alice.get(f"/api/canvases/{arena.canvas.id}"),
            alice.get("/api/canvases"),
            alice.get(f"/api/canvases/{arena.canvas.id}/export"),
            alice.get(f"/api/canvases/{arena.canvas.id}/export?format=md"),
            alice.get(f"/api/teams/{arena.canvas.team_id}"),
            alice.get(f"/api/nodes/{arena.prompt.id}/votes"),
        ]
        page = Client()
        page.force_login(arena.users["alice"])
        channels += [
            page.get(f"/canvases/{arena.canvas.id}/"),
            page.get(f"/canvases/{arena.canvas.id}/compare/{arena.prompt.id}/"),
            page.get("/"),
            page.get(f"/teams/{arena.canvas.team_id}/"),
        ]
        for response in channels:
            assert response.status_code == 200, response.request
            body = response.content.decode()
            assert not [s for s in secrets if s in body], response.request
        nodes = alice.get(f"/api/canvases/{arena.canvas.id}").json()["nodes"]
        assert len(nodes) == 7  # the arena's own: two prompts, five answers
        assert [c["id"] for c in alice.get("/api/canvases").json()] == [str(arena.canvas.id)]
        for path in (f"/api/canvases/{workspace}", f"/api/nodes/{hidden[0]}", f"/api/canvases/{workspace}/export"):
            assert alice.get(path).status_code == 404
        assert page.get(f"/canvases/{workspace}/").status_code == 404
        assert Canvas.objects.count() == 1 and arena.canvas.team.canvases.count() == 1

    await check_requests()


@pytest.mark.asyncio
async def test_a_judge_sees_no_model_and_its_votes_open_no_blind_prompt(run_here, simulator, simulator_app):
    arena = await sync_to_async(build_arena)(blind=True)
    model = await sync_to_async(make_judge)(simulator, BOTH_BAD)

    await judged(arena, model, who="alice")

    assert len(await sync_to_async(judge_votes)(arena)) == 3
    asked = json.dumps(list(simulator_app.recent_requests))
    assert not [s for key in ("orion", "vega") for s in arena.secrets(key) if s in asked]

    @sync_to_async
    def answers_seen_by(name):
        nodes = arena.client(name).get(f"/api/canvases/{arena.canvas.id}").json()["nodes"]
        return [n for n in nodes if n["kind"] == "response" and n["label"]]

    for name in ("alice", "dave", "bob"):  # none of them has voted: the judge's votes are not theirs
        seen = await answers_seen_by(name)
        assert seen and all(n["model"] is None and n["cost"] is None for n in seen)


# --- what may be judged ----------------------------------------------------------------------------------


@pytest.mark.django_db
def test_what_cannot_be_judged_is_a_clear_400(simulator):
    arena = build_arena(blind=False)
    model = make_judge(simulator)
    dave = arena.client("dave")
    other_prompt = Node.objects.get(kind=NodeKind.PROMPT, text="Another question")  # one finished answer
    cases = [
        (arena.prompt.id, {"model": "not-a-model"}),
        (arena.prompt.id, {}),
        (arena.prompt.id, {"model": str(model.id), "rubric": "x" * 4001}),
        (arena.answers[0].id, {"model": str(model.id)}),  # an answer, not a prompt
        (other_prompt.id, {"model": str(model.id)}),
    ]
    for prompt_id, body in cases:
        response = post(dave, f"/api/nodes/{prompt_id}/judge", body)
        assert response.status_code == 400, (body, response.content)
        assert response.json()["error"]["code"] == "invalid"
    assert not Judgement.objects.exists()


@pytest.mark.django_db
def test_a_deleted_canvas_takes_its_judge_workspace_with_it(simulator):
    arena = build_arena(blind=False)
    model = make_judge(simulator)
    assert ask(arena, "dave", model).status_code == 202
    workspace = Canvas.workspaces.get(judged_canvas=arena.canvas)

    arena.canvas.delete()

    assert not Canvas.workspaces.filter(pk=workspace.pk).exists()
    assert not Node.objects.filter(canvas_id=workspace.pk).exists() and not Judgement.objects.exists()
