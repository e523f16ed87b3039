"""A response held back by its provider's concurrency limit says so on its node, then starts."""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async

from canvas.services import create_prompt
from engine.runner import run_responses
from providers.models import ProviderAccount
from tests.listening import Listener

pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_runner_connections"),
]


@sync_to_async
def two_answers_from_a_one_slot_provider(user, canvas, model):
    ProviderAccount.objects.filter(pk=model.account_id).update(max_concurrency=1)
    model.default_params = {"simulator": {"ttft_ms": 5, "tokens_per_s": 400, "length": 20}}
    model.save(update_fields=["default_params"])
    _, responses, _ = create_prompt(canvas, user, "Say something about slots", [model, model], [])
    return [str(node.id) for node in responses]


def about(event: dict) -> str:
    node = event["node"]
    return node if isinstance(node, str) else node["id"]


async def test_the_second_answer_says_it_waits_for_a_slot_at_its_provider(alice, alice_canvas, sim_models):
    model = sim_models["sim-swift"]
    node_ids = await two_answers_from_a_one_slot_provider(alice, alice_canvas, model)
    listener = await Listener(alice_canvas.id).open()

    await run_responses(node_ids)
    events = await listener.drain()

    waits = {
        node_id: [
            e["node"]["waiting_for_slot"]
            for e in events
            if e["type"] == "node.updated" and e["node"]["id"] == node_id and "waiting_for_slot" in e["node"]
        ]
        for node_id in node_ids
    }
    assert sorted(waits.values()) == [[], ["Test simulator", None]]  # one waited, then had its slot
    waited = next(node_id for node_id, told in waits.items() if told)
    theirs = [e for e in events if about(e) == waited]
    told = [i for i, e in enumerate(theirs) if e["type"] == "node.updated" and "waiting_for_slot" in e["node"]]
    has_slot = told[-1]
    first_delta = next(i for i, e in enumerate(theirs) if e["type"] == "node.delta")
    assert has_slot < first_delta  # told it has its slot before its text comes
    assert [t["node"]["status"] for t in listener.terminals] == ["done", "done"]
