"""config.threaded_http: Django's HTTP side served to an ASGI server, each request whole on a thread."""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path

import httpx
import pytest

from canvas.models import Canvas
from config.threaded_http import ThreadedDjango
from tests.stack import proc_stat

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


class Uploader:
    """A client sending a body in chunks, without end unless the server stops reading."""

    CHUNK = 4096

    def __init__(self, chunks: int):
        self.chunks, self.sent = chunks, 0
        self.answer: list[dict] = []

    async def receive(self) -> dict:
        self.sent += 1
        return {"type": "http.request", "body": b"x" * self.CHUNK, "more_body": self.sent < self.chunks}

    async def send(self, message: dict) -> None:
        self.answer.append(message)


def post_scope(path: str, headers: list[tuple[bytes, bytes]] = ()) -> dict:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "POST",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"testserver"), (b"content-type", b"application/json"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }


async def test_a_body_over_the_limit_is_refused_while_it_is_read(app, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = Uploader(chunks=10_000)  # 40 MB if it were all read

    await app(post_scope("/api/canvases"), client.receive, client.send)

    start, body = client.answer
    assert start["status"] == 413
    assert json.loads(body["body"])["error"]["code"] == "too_large"
    assert client.sent * Uploader.CHUNK <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE + Uploader.CHUNK


async def test_a_body_declared_over_the_limit_is_refused_before_it_is_read(app, settings) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    client = Uploader(chunks=1_000)

    await app(post_scope("/canvases/new", [(b"content-length", b"4096000")]), client.receive, client.send)

    assert client.answer[0]["status"] == 413
    assert client.sent == 0


async def test_a_body_within_the_limit_reaches_the_view(app, settings, alice_token) -> None:
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    title = "t" * 100
    body = json.dumps({"title": title, "padding": "p" * (10_000 - 150)}).encode()
    sent = False

    async def receive() -> dict:
        nonlocal sent
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    answer: list[dict] = []

    async def send(message: dict) -> None:
        answer.append(message)

    headers = [(b"authorization", f"Bearer {alice_token}".encode()), (b"content-length", str(len(body)).encode())]
    await app(post_scope("/api/canvases", headers), receive, send)

    assert answer[0]["status"] == 201, answer
    assert json.loads(answer[1]["body"])["title"] == title


def _nice_values() -> dict[int, int]:
    """Each thread of this process and its nice value (field 19 of /proc/self/task/<tid>/stat)."""
    found = {}
    for task in Path("/proc/self/task").iterdir():
        try:
            found[int(task.name)] = int(proc_stat(task / "stat")[19 - 3])
        except FileNotFoundError:
            continue  # a thread that ended meanwhile
    return found


@pytest.mark.skipif(sys.platform != "linux", reason="a nice value per thread is Linux's")
async def test_requests_run_at_a_lower_cpu_priority_than_the_loop_that_relays_tokens() -> None:
    before = _nice_values()
    app = ThreadedDjango(threads=1, nice=7)
    async with client(app) as http:
        assert (await http.get("/healthz")).status_code == 200

    loop_thread = threading.get_native_id()
    own = os.getpriority(os.PRIO_PROCESS, loop_thread)
    new = [nice for tid, nice in _nice_values().items() if tid not in before]
    assert [nice for nice in new if nice != own] == [min(19, own + 7)]  # the request's thread
    assert _nice_values()[loop_thread] == own
