"""Talking to a live stack (tests/stack.py) as an API client and a WebSocket client do."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from tests.stack import LiveStack, ws_events

EVENT_TIMEOUT_S = 60.0
FINAL_EVENTS = ("node.done", "node.error")


async def call_api(stack: LiveStack, method: str, path: str, **kwargs) -> dict | list:
    async with httpx.AsyncClient(base_url=stack.base_url, headers=stack.headers, timeout=10.0) as client:
        response = await client.request(method, path, **kwargs)
    assert response.status_code < 300, f"{method} {path}: {response.status_code} {response.text}\n{stack.log_tails()}"
    return response.json()


async def model_ids_named(stack: LiveStack, *names: str) -> list[str]:
    by_name = {m["model"]: m["id"] for m in await call_api(stack, "GET", "/api/models")}
    return [by_name[name] for name in names]


async def new_canvas(stack: LiveStack, title: str) -> str:
    return (await call_api(stack, "POST", "/api/canvases", json={"title": title}))["id"]


def open_socket(stack: LiveStack, canvas_id: str, ws_url: str | None = None):
    """A bearer client's socket on the canvas, on the stack's first web process or on `ws_url`."""
    return connect(stack.canvas_ws_url(canvas_id, ws_url), additional_headers=stack.headers, open_timeout=10)


async def events_until_done(stack: LiveStack, ws: ClientConnection, response_ids: set[str], into: list[dict]) -> None:
    """Read events into `into` until every response in `response_ids` has ended."""
    ended: set[str] = set()
    try:
        async with asyncio.timeout(EVENT_TIMEOUT_S):
            while ended != response_ids:
                for event in ws_events(await ws.recv()):
                    into.append(event)
                    if event["type"] in FINAL_EVENTS and event["node"]["id"] in response_ids:
                        ended.add(event["node"]["id"])
    except TimeoutError:
        pytest.fail(f"Not every response ended within {EVENT_TIMEOUT_S:.0f} s; got {into!r}\n{stack.log_tails()}")
