"""engine.runner.run_response end to end, in process: real database, in-memory channel layer, simulator over HTTP."""

from __future__ import annotations

import asyncio
import threading
import uuid
from datetime import timedelta
from decimal import Decimal
from typing import Any

import httpx
import pytest
from asgiref.sync import sync_to_async
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from canvas.models import Node, NodeStatus
from canvas.services import create_prompt
from engine import cancellation, store
from engine.db import Coalesced
from engine.live import live_store
from engine.outcome import Outcome
from engine.runner import finish_runs, run_response, run_responses

# Imported up front: the registry imports the SDK on first use (~0.6 s), which would otherwise eat into
# the short first-token timeouts below when a test runs alone.
from providers.adapters import openai_compat  # noqa: F401
from providers.base import Usage
from providers.models import Price
from providers.simulator.text import count_tokens
from tests.listening import Listener
from tests.waiting import until

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_runner_connections"),
]

FAST = {"ttft_ms": 5, "tokens_per_s": 400}


def set_params(model, **simulator: Any) -> None:
    model.default_params = {"simulator": {**FAST, **simulator}}
    model.save(update_fields=["default_params"])


@sync_to_async
def ask(user, canvas, model, text: str = "Tell me about token streams please", /, **simulator: Any) -> Node:
    """A prompt with one queued response from `model`, whose requests carry these simulator options."""
    set_params(model, **simulator)
    _, responses, _ = create_prompt(canvas, user, text, [model], [])
    return responses[0]


@sync_to_async
def reload(node: Node) -> Node:
    return Node.objects.get(id=node.id)


async def run_and_listen(node: Node) -> tuple[Node, Listener]:
    listener = await Listener(node.canvas_id).open()
    await run_response(str(node.id))
    await listener.drain()
    return await reload(node), listener


async def direct_answer(simulator, body: dict) -> dict:
    """What the simulator answers to the same messages, asked for without the engine and without faults."""
    _, base_url = simulator
    shape = {k: v for k, v in body["simulator"].items() if k in ("length", "reasoning_length")}
    plain = {
        "model": body["model"],
        "messages": body["messages"],
        "simulator": {"ttft_ms": 0, "tokens_per_s": 0, **shape},
    }
    async with httpx.AsyncClient() as client:
        response = await client.post(f"{base_url}/chat/completions", json=plain)
    response.raise_for_status()
    return response.json()


def joined(deltas: list[dict], field: str = "text") -> str:
    return "".join(d[field] for d in deltas)


async def test_it_streams_a_response_to_done(alice, alice_canvas, sim_models, simulator, simulator_app) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=60)  # paced over several flushes
    node, listener = await run_and_listen(node)

    assert node.status == "done" and node.finish_reason == "stop" and node.error_code == ""
    assert node.text == joined(listener.deltas) and count_tokens(node.text) == 60
    assert len(listener.deltas) > 1
    assert [d["seq"] for d in listener.deltas] == list(range(1, len(listener.deltas) + 1))
    assert node.seq == listener.deltas[-1]["seq"]
    [sent] = simulator_app.recent_requests
    answer = await direct_answer(simulator, sent)
    assert node.text == answer["choices"][0]["message"]["content"]
    assert await live_store().read(str(node.id)) is None  # live state is only for running responses


async def test_it_announces_the_run_then_ends_it_once(alice, alice_canvas, sim_models, simulator) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30)
    node, listener = await run_and_listen(node)

    types = [e["type"] for e in listener.events]
    assert types[0] == "node.updated" and listener.events[0]["node"]["status"] == "streaming"
    assert types[-1] == "node.done" and types.count("node.done") + types.count("node.error") == 1
    final = listener.terminals[0]["node"]
    assert final["status"] == "done" and final["text"] == node.text and final["seq"] == node.seq


async def test_it_stores_the_usage_the_simulator_reported(alice, alice_canvas, sim_models, simulator, simulator_app):
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30)
    node, _ = await run_and_listen(node)

    [sent] = simulator_app.recent_requests
    reported = (await direct_answer(simulator, sent))["usage"]
    assert node.input_tokens == reported["prompt_tokens"] == sum(count_tokens(m["content"]) for m in sent["messages"])
    assert node.output_tokens == reported["completion_tokens"] == 30
    assert node.reasoning_tokens == 0 and node.cached_input_tokens == 0
    assert not node.usage_estimated


async def test_it_keeps_reasoning_apart(alice, alice_canvas, sim_models, simulator) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-reasoner"], length=20, reasoning_length=12)
    node, listener = await run_and_listen(node)

    assert node.status == "done"
    assert node.reasoning == joined(listener.deltas, "reasoning") and count_tokens(node.reasoning) == 12
    assert node.text == joined(listener.deltas) and count_tokens(node.text) == 20
    assert node.reasoning not in node.text
    assert (node.output_tokens, node.reasoning_tokens) == (32, 12)


async def test_it_records_timing_metrics(alice, alice_canvas, sim_models, simulator) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30)
    node, _ = await run_and_listen(node)

    assert node.queue_ms is not None
    assert node.ttft_ms is not None and node.duration_ms is not None and node.ttft_ms <= node.duration_ms
    assert node.tokens_per_s is not None and node.tokens_per_s > 0
    assert node.started_at is not None and node.finished_at >= node.started_at


async def test_cost_is_none_without_a_price(alice, alice_canvas, sim_models, simulator) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30)
    node, listener = await run_and_listen(node)
    assert node.cost is None and listener.terminals[0]["node"]["cost"] is None


async def test_cost_uses_the_price_in_force_when_it_ran(alice, alice_canvas, sim_models, simulator) -> None:
    model = sim_models["sim-swift"]
    now = timezone.now()
    await sync_to_async(Price.objects.create)(  # an older price, replaced by the one below
        model=model,
        input=Decimal("0.5"),
        cached_input=Decimal("0.05"),
        output=Decimal("2"),
        effective_from=now - timedelta(days=90),
    )
    await sync_to_async(Price.objects.create)(
        model=model,
        input=Decimal("1.5"),
        cached_input=Decimal("0.15"),
        output=Decimal("6"),
        effective_from=now - timedelta(days=30),
    )
    await sync_to_async(Price.objects.create)(  # a later price must not apply to an earlier run
        model=model,
        input=Decimal("100"),
        cached_input=Decimal("100"),
        output=Decimal("100"),
        effective_from=now + timedelta(days=1),
    )
    node = await ask(alice, alice_canvas, model, length=30)
    node, _ = await run_and_listen(node)

    expected = (node.input_tokens * Decimal("1.5") + 30 * Decimal("6")) / Decimal(1_000_000)
    assert node.cost == expected.quantize(Decimal("1e-10"))


async def test_a_rate_limit_before_the_first_token_is_retried(alice, alice_canvas, sim_models, simulator_app):
    fail = {"status": 429, "retry_after": 0.05, "times": 1, "fail_key": uuid.uuid4().hex}
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30, fail=fail)
    node, listener = await run_and_listen(node)

    assert simulator_app.request_count == 2
    assert node.status == "done" and node.error_code == "" and count_tokens(node.text) == 30
    assert node.text == joined(listener.deltas) and len(listener.terminals) == 1
    assert node.attempts == 1  # a retry is part of the same claimed run


async def test_it_gives_up_after_three_attempts(alice, alice_canvas, sim_models, simulator_app) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], fail={"status": 503, "retry_after": 0.01})
    node, listener = await run_and_listen(node)

    assert simulator_app.request_count == 3
    assert node.status == "error" and node.error_code == "overloaded" and node.text == ""
    assert [e["type"] for e in listener.terminals] == ["node.error"]


async def test_an_exhausted_quota_is_not_retried(alice, alice_canvas, sim_models, simulator_app) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], fail={"status": 429, "quota": True})
    node, listener = await run_and_listen(node)

    assert simulator_app.request_count == 1
    assert node.status == "error" and node.error_code == "quota" and node.error_message
    final = listener.terminals[0]
    assert final["type"] == "node.error" and final["node"]["error"]["code"] == "quota"
    assert len(listener.terminals) == 1


async def test_an_answer_past_the_most_that_is_kept_is_stopped_there(
    alice, alice_canvas, sim_models, simulator, simulator_app, settings
) -> None:
    settings.PRISM_MAX_ANSWER_CHARS = 60
    node = await ask(alice, alice_canvas, sim_models["sim-steady"], tokens_per_s=400, length=400)
    node, listener = await run_and_listen(node)

    assert (node.status, node.finish_reason) == ("done", "length")
    assert len(node.text) == 60 and node.text == joined(listener.deltas)
    answer = (await direct_answer(simulator, simulator_app.recent_requests[0]))["choices"][0]["message"]["content"]
    assert answer.startswith(node.text) and len(answer) > 60
    await until(lambda: simulator_app.active_streams == 0)  # the provider was not read to the end
    assert simulator_app.cancelled_streams == 1


async def test_a_cut_stream_keeps_its_partial_text(alice, alice_canvas, sim_models, simulator, simulator_app):
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30, fail={"cut_after": 10})
    node, listener = await run_and_listen(node)

    assert node.status == "error" and node.error_code == "stream_cut"
    assert node.text == joined(listener.deltas) and count_tokens(node.text) == 10
    assert simulator_app.request_count == 1  # text was already shown: never retried
    answer = (await direct_answer(simulator, simulator_app.recent_requests[0]))["choices"][0]["message"]["content"]
    assert answer.startswith(node.text)
    assert node.usage_estimated  # the usage chunk never came
    assert [e["type"] for e in listener.terminals] == ["node.error"]


@pytest.mark.parametrize("how", [{}, {"drop": True}])
async def test_a_stream_cut_before_its_first_token_is_asked_again(
    alice, alice_canvas, sim_models, simulator, simulator_app, how: dict
) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=20, fail={"cut_after": 0, "times": 1, **how})
    node, listener = await run_and_listen(node)

    assert simulator_app.request_count == 2
    assert (node.status, node.error_code, node.attempts) == ("done", "", 1)
    assert node.text == joined(listener.deltas) and count_tokens(node.text) == 20


async def test_an_error_mid_stream_keeps_its_partial_text(alice, alice_canvas, sim_models, simulator) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30, fail={"error_after": 8})
    node, listener = await run_and_listen(node)

    assert node.status == "error" and node.error_code == "server"
    assert node.text == joined(listener.deltas) and count_tokens(node.text) == 8
    assert [e["type"] for e in listener.terminals] == ["node.error"]


async def test_a_stall_before_the_first_token_times_out(alice, alice_canvas, sim_models, simulator_app) -> None:
    model = sim_models["sim-swift"]
    model.account.first_token_timeout_s = 1.0
    await sync_to_async(model.account.save)(update_fields=["first_token_timeout_s"])
    node = await ask(alice, alice_canvas, model, fail={"stall_after": 0, "stall_s": 30})
    node, listener = await run_and_listen(node)

    assert node.status == "error" and node.error_code == "timeout" and node.text == ""
    assert [e["type"] for e in listener.terminals] == ["node.error"]
    assert simulator_app.request_count == 1
    await until(lambda: simulator_app.active_streams == 0)  # the stalled connection was closed


async def test_a_stall_after_some_text_times_out_keeping_it(alice, alice_canvas, sim_models, simulator_app) -> None:
    model = sim_models["sim-swift"]
    model.account.idle_timeout_s = 1.0
    await sync_to_async(model.account.save)(update_fields=["idle_timeout_s"])
    node = await ask(alice, alice_canvas, model, length=30, fail={"stall_after": 6, "stall_s": 30})
    node, listener = await run_and_listen(node)

    assert node.status == "error" and node.error_code == "timeout"
    assert node.text == joined(listener.deltas) and count_tokens(node.text) == 6
    assert [e["type"] for e in listener.terminals] == ["node.error"]
    assert simulator_app.request_count == 1
    await until(lambda: simulator_app.active_streams == 0)


async def test_a_node_that_is_not_queued_is_not_run_again(alice, alice_canvas, sim_models, simulator_app) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30)
    first, _ = await run_and_listen(node)
    again, listener = await run_and_listen(node)

    assert simulator_app.request_count == 1
    assert listener.events == []
    assert (again.status, again.text, again.seq, again.attempts) == ("done", first.text, first.seq, 1)


async def test_two_runs_of_one_node_make_one_request(alice, alice_canvas, sim_models, simulator_app) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30)
    listener = await Listener(node.canvas_id).open()
    await asyncio.gather(run_response(str(node.id)), run_response(str(node.id)))
    await listener.drain()

    assert simulator_app.request_count == 1
    assert len(listener.terminals) == 1
    assert (await reload(node)).attempts == 1


async def test_a_prompts_responses_are_claimed_together_and_each_runs_on_its_own(
    alice, alice_canvas, sim_models, simulator_app
) -> None:
    models = [sim_models[name] for name in ("sim-swift", "sim-reasoner", "sim-steady")]
    for model in models:
        await sync_to_async(set_params)(model, length=20)
    _, responses, _ = await sync_to_async(create_prompt)(alice_canvas, alice, "Compare these, please", models, [])
    held = responses[1]
    assert [p.node_id for p in await sync_to_async(store.claim)([str(held.id)])] == [str(held.id)]  # another run's
    listener = await Listener(alice_canvas.id).open()

    await run_responses([str(r.id) for r in responses])
    await listener.drain()
    first, held, third = [await reload(r) for r in responses]

    assert first.status == third.status == "done" and first.text and third.text
    assert (held.status, held.attempts, held.text) == ("streaming", 1, "")  # left to the run that holds it
    assert sorted(e["node"]["id"] for e in listener.terminals) == sorted([str(first.id), str(third.id)])
    sent = simulator_app.recent_requests
    assert sorted(body["model"] for body in sent) == ["sim-steady", "sim-swift"]
    assert sent[0]["messages"] == sent[1]["messages"] == [{"role": "user", "content": "Compare these, please"}]


async def test_runs_to_one_provider_reuse_a_connection(alice, alice_canvas, sim_models, simulator_app) -> None:
    for model in ("sim-swift", "sim-reasoner", "sim-swift"):
        node = await ask(alice, alice_canvas, sim_models[model], length=10)
        await run_response(str(node.id))
        assert (await reload(node)).status == "done"

    assert simulator_app.request_count == 3
    assert len(simulator_app.chat_clients) == 1


async def test_a_claim_costs_the_same_queries_for_one_response_or_five(alice, alice_canvas, sim_models) -> None:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    @sync_to_async
    def queries_to_claim(count: int) -> int:
        models = list(sim_models.values())
        _, responses, _ = create_prompt(alice_canvas, alice, f"{count} answers", (models * 2)[:count], [])
        with CaptureQueriesContext(connection) as queries:
            plans = store.claim([str(r.id) for r in responses])
        assert [p.node_id for p in plans] == [str(r.id) for r in responses]
        return len(queries)

    assert await queries_to_claim(1) == await queries_to_claim(5)


async def test_a_claim_down_a_deep_thread_costs_the_queries_of_a_first_prompt(alice, alice_canvas, sim_models) -> None:
    """However deep the thread and however many other nodes the canvas holds, a claim costs the same
    queries, and gives the context a single response's assembly gives."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from canvas.models import NodeStatus
    from engine.context import context_for_response

    model = sim_models["sim-swift"]

    @sync_to_async
    def claim_counted(parents: list[Node], text: str) -> tuple[store.RunPlan, int]:
        _, (response,), _ = create_prompt(alice_canvas, alice, text, [model], parents)
        with CaptureQueriesContext(connection) as queries:
            (plan,) = store.claim([str(response.id)])
        assert plan.request.messages == context_for_response(response)
        Node.objects.filter(id=response.id).update(status=NodeStatus.DONE, text=f"Answer to {text}")
        return plan, len(queries)

    for i in range(20):  # unrelated threads on the same canvas
        await claim_counted([], f"Aside {i}")
    first, first_queries = await claim_counted([], "Start")
    parents = [await reload(Node(id=first.node_id))]
    for step in range(3):
        plan, queries = await claim_counted(parents, f"Step {step}")
        assert queries == first_queries
        parents = [await reload(Node(id=plan.node_id))]
    # The prompt of "Start", its answer, and each step's prompt and answer: the last step's are the tail.
    assert [m.content for m in plan.request.messages[-3:]] == ["Step 1", "Answer to Step 1", "Step 2"]
    assert sum(m.content.startswith("Aside") for m in plan.request.messages) == 0


@pytest.mark.parametrize("how", ["task_cancel", "request_cancel"])
async def test_cancelling_keeps_the_partial_text_and_closes_the_stream(
    alice, alice_canvas, sim_models, simulator_app, how: str
) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-steady"], tokens_per_s=20, length=200)
    listener = await Listener(node.canvas_id).open()
    task = asyncio.create_task(run_response(str(node.id)))
    await listener.wait_for_deltas(2)
    assert simulator_app.active_streams == 1

    if how == "task_cancel":
        task.cancel()
    else:
        await cancellation.request_cancel(str(node.id))
    await asyncio.wait_for(task, 5)
    await listener.drain()
    node = await reload(node)

    assert node.status == "cancelled"
    assert node.text and node.text == joined(listener.deltas) and count_tokens(node.text) < 200
    assert node.seq == listener.deltas[-1]["seq"]
    assert [e["type"] for e in listener.terminals] == ["node.done"]
    await until(lambda: simulator_app.active_streams == 0)
    assert simulator_app.cancelled_streams == 1


async def test_a_cancel_that_arrives_before_the_run_registers_still_stops_it(
    alice, alice_canvas, sim_models, simulator_app
) -> None:
    """The node is already claimed (streaming) when the cancel comes, but its run has not registered
    yet: the cancel is remembered, and the run stops itself as it registers, before calling anyone."""
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30)
    await cancellation.request_cancel(str(node.id))
    finished, listener = await run_and_listen(node)

    assert finished.status == "cancelled"
    assert simulator_app.request_count == 0
    assert len(listener.terminals) == 1


# --- whatever the model emits, and whatever fails of ours, the node ends ---------------------------------

# Written out as `\uXXXX` for the simulator to send as the characters (a model's params are jsonb, which
# holds neither NUL nor a lone surrogate).
UNCLEAN_ANSWER = (
    r"Nul\u0000 byte, lone \ud800 surrogate, bell\u0007 escape\u001b[0m del\u007f; tab\u0009and\u000d\u000alines"
)
CLEANED_ANSWER = "Nul byte, lone \ufffd surrogate, bell escape[0m del; tab\tand\r\nlines"


async def test_output_with_nul_surrogates_and_control_characters_ends_done_and_cleaned(
    alice, alice_canvas, sim_models, simulator
) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], "Say something odd", text=UNCLEAN_ANSWER)
    node, listener = await run_and_listen(node)

    assert (node.status, node.error_code) == ("done", "")
    assert node.text == CLEANED_ANSWER == joined(listener.deltas)
    [final] = listener.terminals
    assert final["type"] == "node.done" and final["node"]["text"] == CLEANED_ANSWER


@pytest.fixture
def database_refuses_a_finished_answer(transactional_db):
    """PostgreSQL refusing the final save of any answer that ended well: a fault that is none of the
    model's or the provider's, as an unexpected one of ours would be."""
    table = Node._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION prism_test_refuse() RETURNS trigger LANGUAGE plpgsql AS"
            " $$ BEGIN RAISE EXCEPTION 'refused by the test'; END $$"
        )
        cursor.execute(
            f"CREATE TRIGGER prism_test_refuse BEFORE UPDATE ON {table} FOR EACH ROW"
            " WHEN (NEW.status = 'done') EXECUTE FUNCTION prism_test_refuse()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute(f"DROP TRIGGER prism_test_refuse ON {table}")
        cursor.execute("DROP FUNCTION prism_test_refuse()")


@pytest.mark.usefixtures("database_refuses_a_finished_answer")
async def test_a_run_whose_final_save_fails_ends_as_a_server_error_with_its_text(
    alice, alice_canvas, sim_models, simulator
) -> None:
    node = await ask(alice, alice_canvas, sim_models["sim-swift"], length=30)
    node, listener = await run_and_listen(node)

    assert (node.status, node.error_code) == ("error", "server")
    assert node.text and node.text == joined(listener.deltas) and node.seq == listener.deltas[-1]["seq"]
    assert node.finished_at is not None
    [final] = listener.terminals
    assert final["type"] == "node.error" and final["node"]["status"] == "error"
    assert final["node"]["error"]["code"] == "server" and final["node"]["text"] == node.text


async def test_prompts_that_reach_the_loop_together_are_claimed_together(
    alice, alice_canvas, sim_models, simulator_app
) -> None:
    """A burst: prompts handed to the loop while a claim is on its way are taken by one claim (one start
    time for all), and each of their runs still goes on to its own end."""
    model = sim_models["sim-swift"]
    nodes = [await ask(alice, alice_canvas, model, f"Burst prompt number {i}", length=10) for i in range(5)]

    await asyncio.gather(*(run_responses([str(node.id)]) for node in nodes), run_response(str(nodes[0].id)))
    ended = [await reload(node) for node in nodes]

    assert [(node.status, node.attempts) for node in ended] == [("done", 1)] * 5
    assert all(node.text for node in ended)
    assert len({node.started_at for node in ended}) == 1
    assert simulator_app.request_count == 5  # the response asked for twice ran once


# --- runs that end together ------------------------------------------------------------------------------


def _ended(text: str, output_tokens: int = 12) -> Outcome:
    usage = Usage(input_tokens=100, output_tokens=output_tokens)
    return Outcome(status="done", text=text, reasoning="", seq=3, usage=usage, ttft_ms=50, duration_ms=900)


async def test_runs_ending_together_are_stored_in_one_statement_each_at_its_price(
    alice, alice_canvas, sim_models
) -> None:
    models = list(sim_models.values())

    @sync_to_async
    def end_together() -> tuple[list, list]:
        now = timezone.now()
        for per_mtok, days_ago in (("1", 9), ("3", 1), ("9", -1)):  # the last comes into force tomorrow
            Price.objects.create(
                model=models[0],
                input=Decimal(per_mtok),
                cached_input=Decimal(per_mtok),
                output=Decimal(per_mtok) + 1,
                effective_from=now - timedelta(days=days_ago),
            )
        _, responses, _ = create_prompt(alice_canvas, alice, "Together", models, [])
        plans = store.claim([str(r.id) for r in responses])
        # The sweeper took the last for dead meanwhile: it keeps the ending the sweeper gave it.
        Node.objects.filter(id=responses[-1].id).update(status=NodeStatus.INTERRUPTED)
        with CaptureQueriesContext(connection) as queries:
            payloads = store.finish_many([(plan, _ended(f"Answer {i}")) for i, plan in enumerate(plans)])
        # The statements the engine sends, in their transaction (the judge's receiver of each ended run
        # makes a lookup of its own).
        sent = [" ".join(q["sql"].split()[:2]) for q in queries if "judgerun" not in q["sql"]]
        sent = [statement for statement in sent if statement not in ("BEGIN", "COMMIT")]
        return [payloads, [Node.objects.get(id=r.id) for r in responses]], sent

    (payloads, nodes), queries = await end_together()

    assert queries == ['SELECT "providers_price"."id",', 'UPDATE "canvas_node"']  # the prices, one UPDATE
    assert [p and p["status"] for p in payloads] == ["done"] * (len(models) - 1) + [None]
    assert [n.text for n in nodes[:-1]] == [f"Answer {i}" for i in range(len(models) - 1)]
    assert nodes[-1].status == "interrupted" and nodes[-1].text == ""
    # 100 tokens in at $3/M and 12 out at $4/M: the price in force at the run's start, not the newer one.
    assert nodes[0].cost == Decimal("0.000348") and payloads[0]["text"] == "Answer 0"
    assert all(n.cost is None for n in nodes[1:-1])  # no price for those models


async def test_a_run_whose_save_fails_ends_alone_as_failed_and_the_others_are_stored(
    alice, alice_canvas, sim_models
) -> None:
    @sync_to_async
    def end_together() -> tuple[list, list[Node]]:
        _, responses, _ = create_prompt(alice_canvas, alice, "Together", list(sim_models.values()), [])
        plans = store.claim([str(r.id) for r in responses])
        # A negative count breaks the table's check: that run's save fails, and with it the batch's.
        outcomes = [_ended("Fine"), _ended("Broken", output_tokens=-1), *(_ended("Fine") for _ in plans[2:])]
        return finish_runs(list(zip(plans, outcomes, strict=True))), [Node.objects.get(id=r.id) for r in responses]

    results, nodes = await end_together()

    assert isinstance(results[1], Exception) and nodes[1].status == "streaming"  # the runner ends it as failed
    assert [r["status"] for i, r in enumerate(results) if i != 1] == ["done"] * (len(nodes) - 1)
    assert [n.status for i, n in enumerate(nodes) if i != 1] == ["done"] * (len(nodes) - 1)


async def test_calls_made_while_a_batch_is_on_its_thread_run_together_as_the_next() -> None:
    batches: list[list[int]] = []
    first_running, release_first = threading.Event(), threading.Event()

    def run_batch(items: list[int]) -> list:
        batches.append(items)
        if items == [1]:
            first_running.set()
            release_first.wait(5)
        return [ValueError(item) if item == 3 else item * 10 for item in items]

    coalesced = Coalesced(run_batch)
    first = asyncio.ensure_future(coalesced(1))
    await asyncio.to_thread(first_running.wait, 5)
    later = [asyncio.ensure_future(coalesced(item)) for item in (2, 3, 4)]
    release_first.set()
    results = await asyncio.gather(first, *later, return_exceptions=True)

    assert batches == [[1], [2, 3, 4]]
    assert results[:2] == [10, 20] and isinstance(results[2], ValueError) and results[3] == 40
