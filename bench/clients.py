"""The two ways a benchmark stream is read: through Prism over a WebSocket, and straight from the simulator.

Both record when each simulator token arrives. A token is a whitespace-terminated word, so counting
the words of the text received so far tells how many tokens a message carried; every token in a
batched Prism delta is given the arrival time of its batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import websockets

from providers.simulator.text import count_tokens
from tests.stack import LiveStack

UNLIMITED = httpx.Limits(max_connections=None, max_keepalive_connections=None)


@dataclass
class Stream:
    prompt: str
    t0: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # one per token
    text: str = ""
    seqs: list[int] = field(default_factory=list)
    node_id: str | None = None
    final: dict | None = None  # the node of Prism's node.done / node.error
    problems: list[str] = field(default_factory=list)

    def take(self, fragment: str, at: float) -> None:
        if not fragment:
            return
        before = count_tokens(self.text)
        self.text += fragment
        self.arrivals.extend([at] * (count_tokens(self.text) - before))

    @property
    def ttft_s(self) -> float | None:
        return self.arrivals[0] - self.t0 if self.arrivals else None

    @property
    def gaps_s(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


# Direct: the simulator's SSE, read with httpx.


async def run_direct(base_url: str, model: str, options: dict, prompts: list[str], timeout_s: float) -> list[Stream]:
    streams = [Stream(prompt) for prompt in prompts]
    async with httpx.AsyncClient(base_url=base_url, limits=UNLIMITED, timeout=timeout_s) as client:
        results = await asyncio.gather(
            *(_read_direct(client, model, options, s) for s in streams), return_exceptions=True
        )
    for stream, result in zip(streams, results, strict=True):
        if isinstance(result, BaseException):
            stream.problems.append(f"direct request failed: {result!r}")
    return streams


async def _read_direct(client: httpx.AsyncClient, model: str, options: dict, stream: Stream) -> None:
    body = {
        "model": model,
        "messages": [{"role": "user", "content": stream.prompt}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "simulator": options,
    }
    stream.t0 = time.perf_counter()
    async with client.stream("POST", "/chat/completions", json=body) as response:
        response.raise_for_status()
        async for line in response.aiter_lines():
            at = time.perf_counter()
            if not line.startswith("data: ") or line == "data: [DONE]":
                continue
            for choice in json.loads(line[6:]).get("choices", [])[:1]:
                stream.take(choice["delta"].get("content") or "", at)


# Prism: one canvas and one WebSocket per stream, prompts posted through the API.


async def open_canvases(api: httpx.AsyncClient, count: int, label: str) -> list[str]:
    async def create(index: int) -> str:
        response = await api.post("/api/canvases", json={"title": f"bench {label} #{index}"})
        return response.raise_for_status().json()["id"]

    return list(await asyncio.gather(*(create(i) for i in range(count))))


@contextlib.asynccontextmanager
async def prism_sockets(live: LiveStack, api: httpx.AsyncClient, count: int) -> AsyncIterator[list[tuple[str, Any]]]:
    """One new canvas per stream, each with an open WebSocket: yield (canvas id, socket) pairs."""
    canvases = await open_canvases(api, count, f"{count} streams")
    sockets = await asyncio.gather(*(_connect(live, canvas) for canvas in canvases))
    try:
        yield list(zip(canvases, sockets, strict=True))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets), return_exceptions=True)


async def run_prism(
    api: httpx.AsyncClient, pairs: list[tuple[str, Any]], model_id: str, prompts: list[str], timeout_s: float
) -> list[Stream]:
    """Post every prompt at once, then read each socket until its response node ends."""
    streams = [Stream(prompt) for prompt in prompts]
    readers = [asyncio.ensure_future(_read_socket(ws, s)) for (_, ws), s in zip(pairs, streams, strict=True)]
    await asyncio.gather(*(_post(api, canvas, model_id, s) for (canvas, _), s in zip(pairs, streams, strict=True)))
    _, pending = await asyncio.wait(readers, timeout=timeout_s)
    for reader in pending:
        reader.cancel()
    for stream, reader in zip(streams, readers, strict=True):
        if reader in pending:
            stream.problems.append("no node.done/node.error before the timeout")
        elif reader.exception() is not None:
            stream.problems.append(f"WebSocket failed: {reader.exception()!r}")
    return streams


async def _connect(live: LiveStack, canvas_id: str):
    return await websockets.connect(
        live.canvas_ws_url(canvas_id), additional_headers=live.headers, max_size=None, open_timeout=60
    )


async def _post(api: httpx.AsyncClient, canvas_id: str, model_id: str, stream: Stream) -> None:
    stream.t0 = time.perf_counter()
    try:
        response = await api.post(
            f"/api/canvases/{canvas_id}/prompts", json={"text": stream.prompt, "models": [model_id], "parents": []}
        )
        stream.node_id = response.raise_for_status().json()["responses"][0]["id"]
    except (httpx.HTTPError, KeyError, IndexError) as exc:
        stream.problems.append(f"posting the prompt failed: {exc!r}")


async def _read_socket(ws, stream: Stream) -> None:
    # One canvas per stream: every delta on this socket belongs to this stream's one response.
    async for raw in ws:
        at = time.perf_counter()
        message = json.loads(raw)
        kind = message.get("type")
        if kind == "node.delta":
            stream.seqs.append(message["seq"])
            stream.take(message["text"], at)
        elif kind in ("node.done", "node.error"):
            stream.final = message["node"]
            return


async def verify(api: httpx.AsyncClient, streams: list[Stream], expected_tokens: int) -> None:
    """Note each stream's problems: a bad end, a gap in seq, a text unlike the stored one, lost tokens."""

    async def check(stream: Stream) -> None:
        if stream.node_id is None:
            return
        stored = (await api.get(f"/api/nodes/{stream.node_id}")).raise_for_status().json()
        if stored.get("status") != "done":
            stream.problems.append(f"status {stored.get('status')}: {stored.get('error')}")
        if stream.seqs != list(range(1, len(stream.seqs) + 1)):
            stream.problems.append("deltas' seq has gaps or repeats")
        if stored.get("text") != stream.text:
            stream.problems.append("text relayed differs from the stored text")

    await asyncio.gather(*(check(s) for s in streams))
    note_lost_tokens(streams, expected_tokens)


def note_lost_tokens(streams: list[Stream], expected_tokens: int) -> None:
    for stream in streams:
        if len(stream.arrivals) < expected_tokens:
            stream.problems.append(f"{expected_tokens - len(stream.arrivals)} tokens lost")
