"""A sentinel key planted in every provider never leaves the server: not in a page, an API response,
a WebSocket message, a log line, an error message or an export."""

from __future__ import annotations

import contextlib
import logging
import uuid

import pytest
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.db import connections
from django.test import Client

from canvas import services
from canvas.models import Node
from config.asgi import application
from engine.runner import run_response
from providers.models import Model, ProviderAccount
from tests.fakes import openai_compat
from tests.fakes.anthropic import app as anthropic_fake
from tests.fakes.gemini import app as gemini_fake
from tests.fakes.server import serve
from tests.listening import CanvasSocket, before_marker

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.asyncio,
    pytest.mark.usefixtures("close_runner_connections"),
]

SENTINEL = f"sk-SENTINEL-{uuid.uuid4().hex}"
FAST = {"simulator": {"ttft_ms": 0, "tokens_per_s": 0, "length": 12}}
# (kind, simulator module, model name, how the base URL is written for that provider's SDK)
PROTOCOLS = [
    ("openai", openai_compat, "sim-swift", "{}/v1"),
    ("deepseek", openai_compat, "sim-reasoner", "{}/v1"),
    ("vllm", openai_compat, "sim-swift", "{}/v1"),
    ("openai_compatible", openai_compat, "sim-steady", "{}/v1"),
    ("anthropic", anthropic_fake, "claude-haiku-5-5", "{}"),
    ("gemini", gemini_fake, "gemini-2.5-flash-lite", "{}"),
]


# How each provider of a kind behaves: (name, the key its simulator takes, the fault its model asks for).
# An echoing provider quotes the key it was sent, raw and as `Bearer <key>`, in its HTTP error body or
# in an error event after the stream has begun.
BEHAVIOURS = [
    ("answers", SENTINEL, None),
    ("refuses", "another-key", None),
    ("echoes in its error body", SENTINEL, {"status": 401, "echo_key": True}),
    ("echoes in a stream event", SENTINEL, {"error_after": 2, "echo_key": True}),
]
ECHOING = ("echoes in its error body", "echoes in a stream event")


@pytest.fixture
def providers_with_sentinel():
    """Each kind four times: a provider that accepts the sentinel key (the run succeeds), one that
    refuses it (the run fails with a provider error that could echo it) and two that echo it."""
    models = []
    with contextlib.ExitStack() as stack:
        for kind, fake, model_name, url_form in PROTOCOLS:
            for behaviour, accepted_key, fault in BEHAVIOURS:
                url = stack.enter_context(serve(fake.create_app(api_key=accepted_key)))
                account = ProviderAccount.objects.create(
                    name=f"{kind} {behaviour}", kind=kind, base_url=url_form.format(url),
                    first_token_timeout_s=10, idle_timeout_s=10,
                )  # fmt: skip
                account.set_api_key(SENTINEL)
                account.save()
                params = {"simulator": {**FAST["simulator"], **({"fail": fault} if fault else {})}}
                models.append(
                    Model.objects.create(
                        account=account, name=model_name, display_name=f"{kind} {model_name}", default_params=params
                    )
                )
        yield models


@pytest.fixture(autouse=True)
def _clean_layer():
    yield
    get_channel_layer().channels.clear() if hasattr(get_channel_layer(), "channels") else None


async def _run_everything(alice, canvas, models, token) -> tuple[list[Node], list[dict]]:
    communicator = CanvasSocket(
        application, f"/ws/canvases/{canvas.id}/", headers=[(b"authorization", f"Bearer {token}".encode())]
    )
    connected, _ = await communicator.connect(timeout=5)
    assert connected
    _, responses, _ = await sync_to_async(services.create_prompt)(canvas, alice, "Say hello", models, [])
    for response in responses:
        await run_response(str(response.id))
    # Each run has sent all its events by the time it returns; the marker collects them.
    received = await before_marker(communicator, canvas.id)
    await communicator.disconnect()
    await sync_to_async(connections.close_all)()
    return responses, received


def _pages(alice, canvas, nodes, token) -> list[str]:
    api = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
    texts = [api.get(path).content.decode() for path in (
        "/api/models", "/api/canvases", f"/api/canvases/{canvas.id}", "/api/openapi.json",
        *(f"/api/nodes/{node.id}" for node in nodes),
        f"/api/canvases/{canvas.id}/export?format=json", f"/api/canvases/{canvas.id}/export?format=md",
    )]  # fmt: skip
    browser = Client()
    alice.is_staff = alice.is_superuser = True
    alice.save()
    browser.force_login(alice)
    admin_pages = ["/", f"/canvases/{canvas.id}/", "/admin/providers/provideraccount/", "/admin/providers/model/"]
    admin_pages += [f"/admin/providers/provideraccount/{a.pk}/change/" for a in ProviderAccount.objects.all()]
    return texts + [browser.get(path).content.decode() for path in admin_pages]


async def test_the_key_never_leaves_the_server(
    alice, alice_canvas, alice_token, providers_with_sentinel, caplog, capsys
):
    caplog.set_level(logging.DEBUG)
    responses, received = await _run_everything(alice, alice_canvas, providers_with_sentinel, alice_token)
    stored = [await Node.objects.select_related("model__account").aget(pk=r.pk) for r in responses]
    # The runs really happened: a quarter succeeded, the rest failed with the provider's own error.
    assert sorted(n.status for n in stored) == ["done"] * 6 + ["error"] * 18
    assert {n.error_code for n in stored if n.model.account.name.endswith("refuses")} == {"auth"}
    # The echoing providers did echo the key: the message says so, with the key taken out.
    echoed = [n for n in stored if n.model.account.name.endswith(ECHOING)]
    assert len(echoed) == 12
    for node in echoed:
        assert "provided: [redacted]" in node.error_message and "Bearer [redacted]" in node.error_message, node
    pages = await sync_to_async(_pages)(alice, alice_canvas, stored, alice_token)
    captured = capsys.readouterr()
    places = {
        "WebSocket messages": repr(received),
        "pages and API responses": "\n".join(pages),
        "log lines": caplog.text + captured.out + captured.err,
        "error messages": repr([(n.error_code, n.error_message) for n in stored]),
    }
    for where, text in places.items():
        assert SENTINEL not in text, f"the key leaked into {where}"
    assert any(m["type"] == "node.error" for m in received) and any(m["type"] == "node.done" for m in received)
