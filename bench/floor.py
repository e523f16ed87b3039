"""The least CPU any relay written like Prism's can spend per token: its two ends measured alone.

Whatever sits between them, a relay from a provider to browsers must read each token from the provider's
stream and write it to each browser's WebSocket. This measures those two ends with nothing between, in
Prism's own stack, at issue 17's load (100 streams at once, 50 tokens/s, 200 tokens each):

1. **provider end**: this process reads the streams from the OpenAI-compatible simulator (a process of its
   own) through Prism's own adapter (`OpenAICompatAdapter.stream`: aiohttp, the SSE decoder, the JSON
   chunks, the stream events), on uvloop, as a worker's stream loop does, and nothing else: no relay, no
   Redis, no database. This is the direct stream, read the cheapest way the adapter can; `raw` reads the
   same streams with aiohttp and the SSE decoder alone (no adapter, no events), to show what the adapter
   itself adds;
2. **browser end**: a uvicorn process (websockets-sansio, as Prism's web process runs) whose whole app sends
   each of 100 WebSockets one `node.delta` frame per token at the same pace, as Prism does for a canvas of
   one model (a frame per token is what the gap target needs: a second token held back for the same frame
   waits a whole 20 ms gap). Its CPU is read from /proc. This process reads the frames, offering
   permessage-deflate as browsers do; `deflate off` is the same with the server's compression off.

Each figure is the least of `--repeats` runs (noise only ever adds), in CPU seconds per 1,000 tokens.

    .venv/bin/python bench/floor.py [--streams 100] [--tokens-per-s 50] [--length 200] [--repeats 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
import websockets

from bench import procs
from engine.loops import new_event_loop
from providers.adapters.openai_compat import OpenAICompatAdapter
from providers.base import AccountConfig, ChatRequest, Message
from providers.sse import SSEDecoder
from tests import stack

TARGET = 0.08  # issue 17: all Prism processes and their database work, per 1,000 tokens
# A delta as engine.sender encodes it (a node id, a seq, one word).
NODE = "0b6c1f0e-8a3a-4f0c-9a39-2f1f5b8f0d11"
FRAME = json.dumps(
    {"type": "node.delta", "node": NODE, "seq": 17, "text": " token", "reasoning": ""}, separators=(",", ":")
)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=100)
    parser.add_argument("--tokens-per-s", type=float, default=50.0)
    parser.add_argument("--length", type=int, default=200, help="tokens per stream")
    parser.add_argument("--repeats", type=int, default=3)
    return parser.parse_args(argv)


# --- the browser end: the server's whole app ------------------------------------------------------------


async def websocket_app(scope, receive, send) -> None:
    """Sends each WebSocket FLOOR_LENGTH frames at FLOOR_TOKENS_PER_S, then closes it."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            done = message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete" if done else "lifespan.startup.complete"})
            if done:
                return
    if scope["type"] != "websocket":
        return
    length, pace = int(os.environ["FLOOR_LENGTH"]), 1 / float(os.environ["FLOOR_TOKENS_PER_S"])
    await receive()
    await send({"type": "websocket.accept"})
    loop = asyncio.get_running_loop()
    started = loop.time()
    for index in range(length):
        delay = started + index * pace - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        await send({"type": "websocket.send", "text": FRAME})
    await send({"type": "websocket.close", "code": 1000})


@contextlib.contextmanager
def websocket_server(args: argparse.Namespace, deflate: bool) -> Iterator[tuple[str, int]]:
    port = stack.free_port()
    argv = [
        str(stack.BIN / "uvicorn"), "bench.floor:websocket_app", "--host", "127.0.0.1", "--port", str(port),
        "--ws", "websockets-sansio", "--ws-per-message-deflate", str(deflate).lower(), "--log-level", "warning",
    ]  # fmt: skip
    env = {**os.environ, "FLOOR_LENGTH": str(args.length), "FLOOR_TOKENS_PER_S": str(args.tokens_per_s)}
    process = subprocess.Popen(argv, cwd=stack.ROOT, env=env)
    try:
        deadline = time.monotonic() + stack.START_TIMEOUT_S
        while True:
            with contextlib.suppress(OSError):
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("The WebSocket server did not start")
            time.sleep(0.1)
        yield f"ws://127.0.0.1:{port}/", process.pid
    finally:
        process.terminate()
        process.wait(timeout=10)


async def _read_frames(url: str) -> int:
    frames = 0
    async with websockets.connect(url, compression="deflate", max_queue=None) as connection:
        with contextlib.suppress(websockets.ConnectionClosed):
            async for _ in connection:
                frames += 1
    return frames


async def browser_end(url: str, pid: int, args: argparse.Namespace) -> float:
    """CPU s of the server per 1,000 frames sent, all streams at once."""
    before = procs.cpu_seconds(pid)
    counts = await asyncio.gather(*(_read_frames(url) for _ in range(args.streams)))
    spent = procs.cpu_seconds(pid) - before
    assert min(counts) == args.length, f"a socket got {min(counts)} of {args.length} frames"
    return spent / sum(counts) * 1000


# --- the provider end -------------------------------------------------------------------------------------


async def provider_end(adapter: OpenAICompatAdapter, args: argparse.Namespace) -> float:
    """CPU s of this process per 1,000 tokens read, all streams at once."""

    async def one(index: int) -> int:
        params = {"simulator": {"ttft_ms": 100, "tokens_per_s": args.tokens_per_s, "length": args.length}}
        request = ChatRequest("sim-swift", (Message("user", f"Floor stream {index}"),), params)
        tokens = 0
        async for event in adapter.stream(request):
            if event.kind == "error":
                raise RuntimeError(event.error.message)
            tokens += event.kind == "text"
        return tokens

    started = time.process_time()
    counts = await asyncio.gather(*(one(index) for index in range(args.streams)))
    spent = time.process_time() - started
    assert min(counts) >= args.length, f"a stream gave {min(counts)} of {args.length} tokens"
    return spent / sum(counts) * 1000


async def raw_provider_end(session: aiohttp.ClientSession, url: str, args: argparse.Namespace) -> float:
    """The same streams read with aiohttp and the SSE decoder alone."""

    async def one(index: int) -> int:
        body = {
            "model": "sim-swift",
            "messages": [{"role": "user", "content": f"Floor stream {index}"}],
            "stream": True,
            "simulator": {"ttft_ms": 100, "tokens_per_s": args.tokens_per_s, "length": args.length},
        }
        decoder, tokens = SSEDecoder(), 0
        async with session.post(f"{url}/chat/completions", json=body) as response:
            async for raw in response.content.iter_any():
                for event in decoder.feed(raw):
                    if not event.data.startswith("[DONE]"):
                        tokens += bool(json.loads(event.data)["choices"])
        return tokens

    started = time.process_time()
    counts = await asyncio.gather(*(one(index) for index in range(args.streams)))
    spent = time.process_time() - started
    assert min(counts) >= args.length, f"a stream gave {min(counts)} of {args.length} tokens"
    return spent / sum(counts) * 1000


async def measure(args: argparse.Namespace, simulator_url: str) -> dict[str, float]:
    adapter = OpenAICompatAdapter(AccountConfig(kind="openai_compatible", base_url=simulator_url, api_key="floor"))
    try:
        await provider_end(adapter, argparse.Namespace(**{**vars(args), "streams": 2}))  # warm: connections open
        figures = {"provider end": min([await provider_end(adapter, args) for _ in range(args.repeats)])}
    finally:
        await adapter.aclose()
    async with aiohttp.ClientSession() as session:
        runs = [await raw_provider_end(session, simulator_url, args) for _ in range(args.repeats)]
    figures["provider end, raw aiohttp"] = min(runs)
    for deflate in (True, False):
        with websocket_server(args, deflate) as (url, pid):
            await _read_frames(url)  # warm
            runs = [await browser_end(url, pid, args) for _ in range(args.repeats)]
        figures[f"browser end, deflate {'on' if deflate else 'off'}"] = min(runs)
    return figures


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    print(f"The two ends of a relay alone: {args.streams} streams at once, {args.tokens_per_s:g} tokens/s,")
    print(f"{args.length} tokens each; CPU s per 1,000 tokens, the least of {args.repeats} runs")
    print(f"Load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as work, procs.simulator_process(Path(work) / "simulator.log") as (url, _):
        loop = new_event_loop()
        try:
            figures = loop.run_until_complete(measure(args, url))
        finally:
            loop.close()
    for name, value in figures.items():
        print(f"  {name:<28} {value:.3f}")
    for deflate in ("on", "off"):
        both = figures["provider end"] + figures[f"browser end, deflate {deflate}"]
        share = f"{both / TARGET:.0%} of issue 17's {TARGET} s for all of Prism, before any relay, Redis or database"
        print(f"  both ends, deflate {deflate:<3}        {both:.3f}  ({share})")
    print(f"Load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
