"""The API's side of generation settings: entries checked (400s), kept on the response node, kept by
regenerate and rerun, shown by the context preview, and counted by the budget's run estimate."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from django.utils import timezone

from canvas.models import Node, NodeKind

pytestmark = pytest.mark.django_db


def post(client, path: str, body=None):
    return client.post(path, json.dumps(body or {}), content_type="application/json")


def ask(api, canvas, models):
    return post(api, f"/api/canvases/{canvas.id}/prompts", {"text": "Hi", "models": models})


def test_a_model_entry_with_settings_is_kept_on_its_response_and_a_bare_id_has_none(api, alice_canvas, sim_models):
    swift, reasoner = str(sim_models["sim-swift"].id), str(sim_models["sim-reasoner"].id)
    settings = {"model": reasoner, "temperature": 0.2, "max_tokens": 500, "reasoning_effort": "low"}
    response = ask(api, alice_canvas, [swift, settings])
    assert response.status_code == 202, response.content
    plain, tuned = response.json()["responses"]
    assert plain["params"] == {}
    assert tuned["params"] == {"temperature": 0.2, "max_tokens": 500, "reasoning_effort": "low"}
    assert Node.objects.get(id=tuned["id"]).params == tuned["params"]
    shown = api.get(f"/api/nodes/{tuned['id']}").json()
    assert shown["params"] == tuned["params"]


@pytest.mark.parametrize(
    "asked",
    [
        {"temperature": 2.5},
        {"temperature": -0.1},
        {"max_tokens": 0},
        {"max_tokens": 200_001},
        {"reasoning_effort": "extreme"},
        {"reasoning_effort": "low"},  # sim-swift is not a reasoning model
        {"temprature": 0.5},  # a misspelt setting
    ],
)
def test_settings_out_of_range_or_not_for_the_model_are_refused(api, alice_canvas, sim_models, asked):
    entry = {"model": str(sim_models["sim-swift"].id), **asked}
    response = ask(api, alice_canvas, [entry])
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "invalid"
    assert not Node.objects.filter(kind=NodeKind.PROMPT).exists()
    preview = post(api, f"/api/canvases/{alice_canvas.id}/context", {"text": "Hi", "model": entry})
    assert preview.status_code == 400, preview.content


def test_regenerate_and_rerun_keep_each_answers_settings(api, alice_canvas, sim_models):
    entry = {"model": str(sim_models["sim-swift"].id), "temperature": 1.5, "max_tokens": 64}
    first = ask(api, alice_canvas, [entry, str(sim_models["sim-steady"].id)]).json()
    tuned = first["responses"][0]
    again = post(api, f"/api/nodes/{tuned['id']}/regenerate")
    assert again.status_code == 202, again.content
    assert again.json()["params"] == {"temperature": 1.5, "max_tokens": 64}
    rerun = post(api, f"/api/nodes/{first['prompt']['id']}/rerun", {"text": "Hi again"})
    assert rerun.status_code == 202, rerun.content
    tuned_params = {"temperature": 1.5, "max_tokens": 64}
    # Every answer of the old prompt is asked again, the regenerated one among them, each as it was.
    assert [r["params"] for r in rerun.json()["responses"]] == [tuned_params, {}, tuned_params]


def test_the_preview_shows_the_settings_as_the_protocol_sends_them(api, alice_canvas, sim_models):
    entry = {
        "model": str(sim_models["sim-reasoner"].id),
        "temperature": 0.4,
        "max_tokens": 99,
        "reasoning_effort": "high",
    }
    response = post(api, f"/api/canvases/{alice_canvas.id}/context", {"text": "Hi", "model": entry})
    assert response.status_code == 200, response.content
    assert response.json()["params"] == {"temperature": 0.4, "max_tokens": 99, "reasoning_effort": "high"}
    bare = post(api, f"/api/canvases/{alice_canvas.id}/context", {"text": "Hi", "model": entry["model"]})
    assert bare.json()["params"] == {}


def test_a_running_answers_own_max_tokens_sets_its_reserved_cost(alice, alice_team, alice_canvas, sim_models):
    from canvas.services import create_prompt
    from engine import limits
    from providers.models import Price

    model = sim_models["sim-swift"]
    Price.objects.create(
        model=model, input=Decimal(0), cached_input=Decimal(0), output=Decimal(1), effective_from=timezone.now()
    )
    create_prompt(alice_canvas, alice, "Hi", [model], [], params=[{"max_tokens": 1_000_000 // 4}])
    reserved = limits.spend_summary(alice_team).reserved
    # $1 per million output tokens: 250,000 tokens asked for, not the 4,000 of a run without a limit.
    assert reserved == Decimal("0.25")


# --- presets ---------------------------------------------------------------------------------------------


def test_a_preset_keeps_its_models_with_their_settings_and_is_checked_like_a_prompt(api, alice_canvas, sim_models):
    swift, reasoner = str(sim_models["sim-swift"].id), str(sim_models["sim-reasoner"].id)
    body = {"name": "Careful pair", "models": [swift, {"model": reasoner, "reasoning_effort": "high"}]}
    created = post(api, "/api/presets", body)
    assert created.status_code == 201, created.content
    preset = created.json()
    assert preset["team"] is None and preset["owner"] == "alice"
    assert preset["models"] == [{"model": swift}, {"model": reasoner, "reasoning_effort": "high"}]
    assert [p["id"] for p in api.get("/api/presets").json()] == [preset["id"]]

    refused = post(api, "/api/presets", {"name": "Hot", "models": [{"model": swift, "temperature": 9}]})
    assert refused.status_code == 400, refused.content
    assert api.delete(f"/api/presets/{preset['id']}").status_code == 204
    assert api.get("/api/presets").json() == []
