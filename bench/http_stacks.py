"""What each HTTP client stack costs in CPU: per request, and per streamed event, read raw and through
each adapter (its SDK included), against the simulators running in a process of their own.

    .venv/bin/python bench/http_stacks.py [--repeats 3] [--requests 300] [--streams 40] [--length 300]

Stacks: `httpx` (httpx's own transport, h11), `httpx2` (httpcore2), `httpx2+aiohttp` (httpx2's interface,
which every SDK takes, over aiohttp's transport and C parser: openai.DefaultAioHttpClient), and raw
`aiohttp` (no httpx2 layer; no SDK takes it). Only this process's CPU (time.process_time) counts; the
simulators' is theirs. Each figure is the least of --repeats runs: noise from other work on the machine
only ever adds.

- per request: --requests streams of one token, ten at a time, unpaced;
- per event: --streams concurrent streams of --length tokens, paced so that each event arrives in a read
  of its own (as a real provider's do), less their per-request cost, divided by the events.

See bench/README.md.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import httpx
import httpx2
import openai

from bench.procs import _wait_healthy
from engine.loops import new_event_loop
from providers import http
from providers.base import AccountConfig, ChatRequest, Message
from providers.sse import SSEDecoder
from tests import stack

SIMULATORS = {
    "openai_compatible": "providers.simulator.app:create_app",
    "anthropic": "tests.fakes.anthropic.app:create_app",
    "gemini": "tests.fakes.gemini.app:create_app",
}
ADAPTERS = {
    "openai_compatible": ("providers.adapters.openai_compat", "OpenAICompatAdapter", "sim-swift", "/v1"),
    "anthropic": ("providers.adapters.anthropic", "AnthropicAdapter", "claude-haiku-5-5", ""),
    "gemini": ("providers.adapters.gemini", "GeminiAdapter", "gemini-2.5-flash-lite", ""),
}
TIMEOUT_S = 60.0


def _options(library) -> dict:
    return {
        "timeout": library.Timeout(connect=10.0, read=TIMEOUT_S, write=30.0, pool=30.0),
        "limits": library.Limits(max_connections=1000, max_keepalive_connections=100, keepalive_expiry=4.0),
        "follow_redirects": False,
        "verify": http.tls_context(),
    }


STACKS: dict[str, Callable[[], object]] = {
    "httpx": lambda: httpx.AsyncClient(**_options(httpx)),
    "httpx2": lambda: httpx2.AsyncClient(**_options(httpx2)),
    "httpx2+aiohttp": lambda: openai.DefaultAioHttpClient(**_options(httpx2)),
}


# --- raw: a chat completion's stream read and decoded as the OpenAI-compatible adapter does -----------


def _body(length: int, tokens_per_s: float) -> dict:
    return {
        "model": "sim-swift",
        "messages": [{"role": "user", "content": "Tell me about stacks."}],
        "stream": True,
        "stream_options": {"include_usage": True},
        "simulator": {"ttft_ms": 0, "tokens_per_s": tokens_per_s, "length": length},
    }


def _decode(decoder: SSEDecoder, raw: bytes) -> int:
    events = 0
    for sse in decoder.feed(raw):
        if not sse.data.startswith("[DONE]"):
            json.loads(sse.data)
            events += 1
    return events


def raw_httpx(make: Callable[[], object], url: str) -> tuple[Callable, Callable]:
    client = make()

    async def one(length: int, tokens_per_s: float) -> int:
        decoder, events = SSEDecoder(), 0
        async with client.stream("POST", f"{url}/v1/chat/completions", json=_body(length, tokens_per_s)) as response:
            async for raw in response.aiter_bytes():
                events += _decode(decoder, raw)
        return events

    return one, client.aclose


def raw_aiohttp(url: str) -> tuple[Callable, Callable]:
    connector = aiohttp.TCPConnector(limit=1000, keepalive_timeout=4.0, ssl=http.tls_context())
    session = aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(sock_read=TIMEOUT_S))

    async def one(length: int, tokens_per_s: float) -> int:
        decoder, events = SSEDecoder(), 0
        async with session.post(f"{url}/v1/chat/completions", json=_body(length, tokens_per_s)) as response:
            async for raw in response.content.iter_any():
                events += _decode(decoder, raw)
        return events

    return one, session.close


# --- adapters: each with the stack given to its SDK ------------------------------------------------------


def adapter(kind: str, make: Callable[[], object] | None, url: str) -> tuple[Callable, Callable]:
    """`make`: the client given to the adapter's SDK instead of the app's own (None: as built)."""
    module_name, class_name, model, suffix = ADAPTERS[kind]
    module = __import__(module_name, fromlist=[class_name])
    module.make_client = (lambda **_: make()) if make is not None else http.make_client
    account = AccountConfig(kind=kind, base_url=url + suffix, api_key="bench-key", idle_timeout_s=TIMEOUT_S)
    instance = getattr(module, class_name)(account)

    async def one(length: int, tokens_per_s: float) -> int:
        params = {"simulator": {"ttft_ms": 0, "tokens_per_s": tokens_per_s, "length": length}}
        request = ChatRequest(model, (Message("user", "Tell me about stacks."),), params)
        events = 0
        async for event in instance.stream(request):
            if event.kind == "error":
                raise RuntimeError(event.error.message)
            events += event.kind in ("text", "reasoning")
        return events

    return one, instance.aclose


# --- measuring --------------------------------------------------------------------------------------------


async def _cpu(work: Callable[[], Awaitable[object]]) -> float:
    start = time.process_time()
    await work()
    return time.process_time() - start


async def measure(one: Callable, args: argparse.Namespace) -> tuple[float, float]:
    """(µs of CPU per request, µs of CPU per streamed event), each the least over the repeats."""
    gate = asyncio.Semaphore(10)

    async def short() -> int:
        async with gate:
            return await one(1, 0)

    async def requests() -> None:
        await asyncio.gather(*(short() for _ in range(args.requests)))

    async def streams() -> None:
        counts = await asyncio.gather(*(one(args.length, args.tokens_per_s) for _ in range(args.streams)))
        assert min(counts) >= args.length, counts

    await requests()  # warm: connections open, code paths imported
    per_request = min([await _cpu(requests) for _ in range(args.repeats)]) / args.requests
    stream_cpu = min([await _cpu(streams) for _ in range(args.repeats)])
    per_event = (stream_cpu - args.streams * per_request) / (args.streams * args.length)
    return per_request * 1e6, per_event * 1e6


@contextlib.contextmanager
def simulators() -> Iterator[dict[str, str]]:
    processes, urls = [], {}
    try:
        for kind, factory in SIMULATORS.items():
            port = stack.free_port()
            argv = [
                str(stack.BIN / "uvicorn"), "--factory", factory, "--host", "127.0.0.1", "--port", str(port),
                "--log-level", "warning", "--no-access-log",
            ]  # fmt: skip
            processes.append(subprocess.Popen(argv, cwd=stack.ROOT))
            _wait_healthy(f"http://127.0.0.1:{port}/health", processes[-1])
            urls[kind] = f"http://127.0.0.1:{port}"
        yield urls
    finally:
        for process in processes:
            process.terminate()
            process.wait(timeout=10)


async def run(args: argparse.Namespace, urls: dict[str, str]) -> list[tuple[str, str, float, float]]:
    cases: list[tuple[str, str, Callable[[], tuple[Callable, Callable]]]] = []
    for name, make in STACKS.items():
        cases.append(("raw", name, lambda make=make: raw_httpx(make, urls["openai_compatible"])))
    cases.append(("raw", "aiohttp", lambda: raw_aiohttp(urls["openai_compatible"])))
    # The OpenAI-compatible adapter streams on aiohttp itself (http.make_session), not on its SDK's client.
    cases.append(
        ("openai_compatible", "aiohttp", lambda: adapter("openai_compatible", None, urls["openai_compatible"]))
    )
    for kind in ("anthropic", "gemini"):
        for name, make in STACKS.items():
            if name == "httpx" and kind != "gemini":
                continue  # the anthropic SDK takes httpx2 clients only
            cases.append((kind, name, lambda kind=kind, make=make: adapter(kind, make, urls[kind])))
    rows = []
    for path, name, build in cases:
        one, close = build()
        try:
            per_request, per_event = await measure(one, args)
        finally:
            await close()
        rows.append((path, name, per_request, per_event))
        print(f"{path:<18} {name:<15} {per_request:>9.0f} µs/request {per_event:>7.1f} µs/event", flush=True)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--streams", type=int, default=40)
    parser.add_argument("--length", type=int, default=300)
    parser.add_argument("--tokens-per-s", type=float, default=300.0)
    args = parser.parse_args()
    with simulators() as urls:
        loop = new_event_loop()
        try:
            loop.run_until_complete(run(args, urls))
        finally:
            loop.close()


if __name__ == "__main__":
    main()
