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

from tests.stack import LiveStack, ws_events

# Idle connections are dropped well before uvicorn's 5 s keep-alive closes them: a request sent on one
# as the server closes it fails with a ReadError (the memory phase lost prompts so between its waves).
UNLIMITED = httpx.Limits(max_connections=None, max_keepalive_connections=None, keepalive_expiry=2.0)


@dataclass
class Stream:
    prompt: str
    t0: float = 0.0
    arrivals: list[float] = field(default_factory=list)  # one per token
    text: str = ""
    seqs: list[int] = field(default_factory=list)
    node_id: str | None = None
    final: dict | None = None  # the node of Prism's node.done / node.error
    post_s: float | None = None  # how long POST .../prompts took to answer
    metrics: dict = field(default_factory=dict)  # the stored node's metrics (queue_ms, ttft_ms, ...)
    headers: dict[str, str] = field(default_factory=dict)  # Prism: the stream's user's Authorization
    problems: list[str] = field(default_factory=list)
    ended: float | None = None  # when the stream ended: its node.done / node.error, or the end of the SSE
    _words: int = field(default=0, init=False, repr=False)  # words in `text` (count_tokens without its floor of 1)

    def take(self, fragment: str, at: float) -> None:
        if not fragment:
            return
        # The words so far, counted as the text grows rather than afresh: recounting the whole text on
        # every message cost the client ~15 µs a token at 200 tokens, on the loop that stamps arrivals.
        words = fragment.split()
        continues = words and self.text[-1:].strip() and fragment[0].strip()  # its first word ends the last one
        self._words += len(words) - (1 if continues else 0)
        before = len(self.arrivals)
        self.text += fragment
        self.arrivals.extend([at] * (max(1, self._words) - before))

    @property
    def ttft_s(self) -> float | None:
        return self.arrivals[0] - self.t0 if self.arrivals else None

    @property
    def gaps_s(self) -> list[float]:
        return [b - a for a, b in zip(self.arrivals, self.arrivals[1:], strict=False)]


# Direct: the simulator's SSE, read with httpx.


async def run_direct(base_url: str, model: str, options: dict, prompts: list[str], timeout_s: float) -> list[Stream]:
    """Each prompt on a client of its own, as each of N API users would read it (as Prism's seats post)."""
    streams = [Stream(prompt) for prompt in prompts]
    async with contextlib.AsyncExitStack() as stack:
        own = [await stack.enter_async_context(own_client(base_url, timeout_s)) for _ in streams]
        results = await asyncio.gather(
            *(_read_direct(client, model, options, s) for client, s in zip(own, streams, strict=True)),
            return_exceptions=True,
        )
    for stream, result in zip(streams, results, strict=True):
        if isinstance(result, BaseException):
            stream.problems.append(f"direct request failed: {result!r}")
    return streams


async def read_direct(client: httpx.AsyncClient, model: str, options: dict, stream: Stream) -> None:
    """Read one chat completion stream straight from the simulator, noting when it ended."""
    await _read_direct(client, model, options, stream)
    stream.ended = time.perf_counter()


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


def own_client(base_url: str, timeout_s: float, **options) -> httpx.AsyncClient:
    """One reader's or user's HTTP client. One client shared by a hundred concurrent requests cost the
    benchmark's loop ~7 ms of CPU per request (httpcore scans every connection of its pool, asking each
    socket for its peer, whenever a request starts or ends), stalling the loop that stamps arrivals while
    a burst was posted. No TLS here, so no certificates are loaded (20 ms a client)."""
    return httpx.AsyncClient(base_url=base_url, limits=UNLIMITED, timeout=timeout_s, verify=False, **options)


# Prism: one canvas and one WebSocket per stream, prompts posted through the API, each stream as its user.


@dataclass(frozen=True)
class Seat:
    """Where one Prism stream is watched from: its user's headers, its canvas, its open WebSocket, and its
    own HTTP client (as each user's browser has its own connection), on which its canvas was made."""

    headers: dict[str, str]
    canvas_id: str
    socket: Any
    http: httpx.AsyncClient


@contextlib.asynccontextmanager
async def prism_seats(live: LiveStack, tokens: list[str], timeout_s: float = 60.0) -> AsyncIterator[list[Seat]]:
    """For each token (one per stream): a new canvas of that user's, with a WebSocket open on it."""

    async with contextlib.AsyncExitStack() as own:

        async def seat(index: int, token: str) -> Seat:
            headers = {"Authorization": f"Bearer {token}"}
            http = await own.enter_async_context(own_client(live.base_url, timeout_s, headers=headers))
            response = await http.post("/api/canvases", json={"title": f"bench {len(tokens)} streams #{index}"})
            canvas_id = response.raise_for_status().json()["id"]
            # As the canvas page opens it: a relay tick's events in one message.
            url = f"{live.canvas_ws_url(canvas_id)}?frames=batch"
            socket = await websockets.connect(url, additional_headers=headers, max_size=None, open_timeout=60)
            return Seat(headers, canvas_id, socket, http)

        seats = await asyncio.gather(*(seat(i, token) for i, token in enumerate(tokens)))
        try:
            yield list(seats)
        finally:
            await asyncio.gather(*(s.socket.close() for s in seats), return_exceptions=True)


async def run_prism(seats: list[Seat], model_id: str, prompts: list[str], timeout_s: float) -> list[Stream]:
    """Post every prompt at once, each through its seat's own client, then read each socket until its
    response node ends."""
    streams = [Stream(prompt, headers=seat.headers) for prompt, seat in zip(prompts, seats, strict=True)]
    readers = [asyncio.ensure_future(_read_socket(seat.socket, s)) for seat, s in zip(seats, streams, strict=True)]
    await asyncio.gather(*(_post(seat, model_id, s) for seat, s in zip(seats, streams, strict=True)))
    for stream, reader in zip(streams, readers, strict=True):
        if stream.node_id is None:
            reader.cancel()  # its prompt was refused: nothing will come
    _, pending = await asyncio.wait(readers, timeout=timeout_s)
    for reader in pending:
        reader.cancel()
    for stream, reader in zip(streams, readers, strict=True):
        if reader.cancelled() and stream.node_id is None:
            continue
        if reader in pending:
            stream.problems.append("no node.done/node.error before the timeout")
        elif reader.exception() is not None:
            stream.problems.append(f"WebSocket failed: {reader.exception()!r}")
    return streams


async def _post(seat: Seat, model_id: str, stream: Stream) -> None:
    body = {"text": stream.prompt, "models": [model_id], "parents": []}
    stream.t0 = time.perf_counter()
    try:
        response = await seat.http.post(f"/api/canvases/{seat.canvas_id}/prompts", json=body)
        stream.node_id = response.raise_for_status().json()["responses"][0]["id"]
        stream.post_s = time.perf_counter() - stream.t0
    except (httpx.HTTPError, KeyError, IndexError) as exc:
        stream.problems.append(f"posting the prompt failed: {exc!r}")


async def _read_socket(ws, stream: Stream) -> None:
    # One canvas per stream: every delta on this socket belongs to this stream's one response.
    async for raw in ws:
        at = time.perf_counter()
        for message in ws_events(raw):
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
        stored = (await api.get(f"/api/nodes/{stream.node_id}", headers=stream.headers)).raise_for_status().json()
        stream.metrics = stored.get("metrics") or {}
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
