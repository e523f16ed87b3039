"""The comparison page of one prompt: who may open it, and what it carries."""

from __future__ import annotations

import json
import re

import pytest
from asgiref.sync import async_to_sync
from django.urls import reverse

from canvas import services
from canvas.models import Canvas, NodeStatus
from engine.live import live_store

pytestmark = pytest.mark.django_db


@pytest.fixture
def fan_out(alice, alice_canvas, sim_models):
    """A prompt on alice's canvas, answered by two simulated models."""
    models = [sim_models["sim-swift"], sim_models["sim-reasoner"]]
    return services.create_prompt(alice_canvas, alice, "Why is the sky <b>blue</b>?", models, [])[:2]


def compare_url(canvas_id, prompt_id) -> str:
    return reverse("canvas-compare", args=[canvas_id, prompt_id])


def page_data(response) -> dict:
    """The JSON the page's script starts from."""
    match = re.search(r'<script id="compare-data" type="application/json">(.*?)</script>', response.content.decode())
    assert match, "the page carries no compare-data"
    return json.loads(match.group(1))


def test_the_owner_sees_the_prompt_and_each_response(client, alice, alice_canvas, fan_out, sim_models):
    prompt, responses = fan_out
    client.force_login(alice)

    response = client.get(compare_url(alice_canvas.id, prompt.id))

    assert response.status_code == 200
    html = response.content.decode()
    assert "Why is the sky &lt;b&gt;blue&lt;/b&gt;?" in html  # the prompt is plain text
    assert reverse("canvas-detail", args=[alice_canvas.id]) in html
    data = page_data(response)
    assert (data["canvas"], data["prompt"]) == (str(alice_canvas.id), str(prompt.id))
    assert [r["id"] for r in data["responses"]] == [str(r.id) for r in responses]
    swift = data["models"][str(sim_models["sim-swift"].id)]
    assert swift == {"display_name": "sim-swift", "simulated": True}


def test_an_outsider_gets_a_404(client, charlie, alice_canvas, fan_out):
    prompt, _ = fan_out
    client.force_login(charlie)

    assert client.get(compare_url(alice_canvas.id, prompt.id)).status_code == 404


def test_a_visitor_who_is_not_signed_in_is_sent_to_sign_in(client, alice_canvas, fan_out):
    prompt, _ = fan_out

    response = client.get(compare_url(alice_canvas.id, prompt.id))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_a_response_is_not_a_prompt(client, alice, alice_canvas, fan_out):
    _, responses = fan_out
    client.force_login(alice)

    assert client.get(compare_url(alice_canvas.id, responses[0].id)).status_code == 404


def test_a_prompt_is_compared_only_on_its_own_canvas(client, alice, alice_team, fan_out):
    prompt, _ = fan_out
    other = Canvas.objects.create(team=alice_team, title="Another canvas", created_by=alice)
    client.force_login(alice)

    assert client.get(compare_url(other.id, prompt.id)).status_code == 404


def test_a_running_response_shows_the_text_that_has_arrived(client, alice, alice_canvas, fan_out):
    prompt, (running, waiting) = fan_out
    running.status, running.text, running.seq = NodeStatus.STREAMING, "Ray", 1
    running.save()
    store = live_store()
    # The live state runs ahead of the saved text, as it does between two saves mid-stream.
    async_to_sync(store.append)(str(running.id), 1, "Ray", "")
    async_to_sync(store.append)(str(running.id), 2, "leigh scattering", "short waves")
    client.force_login(alice)
    try:
        data = page_data(client.get(compare_url(alice_canvas.id, prompt.id)))
    finally:
        async_to_sync(store.clear)(str(running.id))

    shown = {r["id"]: r for r in data["responses"]}
    live = shown[str(running.id)]
    assert (live["text"], live["reasoning"], live["seq"], live["status"]) == (
        "Rayleigh scattering",
        "short waves",
        2,
        "streaming",
    )
    assert (shown[str(waiting.id)]["text"], shown[str(waiting.id)]["status"]) == ("", "queued")
