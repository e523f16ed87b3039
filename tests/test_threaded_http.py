"""config.threaded_http: Django's HTTP side served to an ASGI server, each request whole on a thread."""

from __future__ import annotations

import httpx
import pytest

from canvas.models import Canvas
from config.threaded_http import ThreadedDjango

# The requests run on the handler's own threads, with their own database connections: data they read
# must be committed, so these tests do not run inside a transaction.
pytestmark = [
    pytest.mark.asyncio,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("close_runner_connections"),
]


@pytest.fixture(scope="module")
def app() -> ThreadedDjango:
    return ThreadedDjango(threads=2)


def client(app: ThreadedDjango, **kwargs) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver", **kwargs)


async def test_a_request_body_reaches_the_view_and_its_answer_comes_back(app, alice, alice_token) -> None:
    async with client(app, headers={"Authorization": f"Bearer {alice_token}"}) as http:
        response = await http.post("/api/canvases", json={"title": "Through the threads"})

    assert response.status_code == 201
    assert response.headers["content-type"] == "application/json; charset=utf-8"
    canvas = await Canvas.objects.aget(id=response.json()["id"])
    assert canvas.title == "Through the threads"


async def test_errors_keep_their_status_and_json_body(app, alice_token) -> None:
    async with client(app, headers={"Authorization": f"Bearer {alice_token}"}) as http:
        missing = await http.get("/api/canvases/00000000-0000-0000-0000-000000000000")
        anonymous = await http.get("/api/canvases", headers={"Authorization": "Bearer not-a-token"})

    assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    assert anonymous.status_code == 401


async def test_every_cookie_a_response_sets_reaches_the_client(app, alice) -> None:
    async with client(app) as http:
        page = await http.get("/accounts/login/")
        signed_in = await http.post(
            "/accounts/login/",
            data={
                "username": "alice",
                "password": "alice-password-1",
                "csrfmiddlewaretoken": page.cookies["csrftoken"],
            },
            headers={"Referer": "http://testserver/accounts/login/"},
        )

    assert signed_in.status_code == 302
    set_cookies = signed_in.headers.get_list("set-cookie")
    assert any(c.startswith("sessionid=") for c in set_cookies) and any(c.startswith("csrftoken=") for c in set_cookies)


async def test_too_many_repeated_headers_are_refused(app) -> None:
    headers = [("x-repeated", str(n)) for n in range(200)]
    async with client(app) as http:
        response = await http.get("/api/models", headers=headers)

    assert response.status_code == 400
