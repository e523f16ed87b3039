"""The least CPU any relay written like Prism's can spend per token: its two ends measured alone.

Whatever sits between them, a relay from a provider to browsers must read each token from the provider's
stream and write it to each browser's WebSocket. This measures those two ends with nothing between, in
Prism's own stack, at issue 17's load (100 streams at once, 50 tokens/s, 200 tokens each):

1. **provider end**: this process reads the streams from the OpenAI-compatible simulator (a process of its
   own) through Prism's own adapter (`OpenAICompatAdapter.stream`: aiohttp, the SSE decoder, the JSON
   chunks, the stream events), on uvloop, as a worker's stream loop does, and nothing else: no relay, no
   Redis, no database. This is the direct stream, read the cheapest way the adapter can; `raw` reads the
   same streams with aiohttp, the SSE decoder and the JSON alone (no adapter, no events), to show what
   the adapter itself adds. Both readers are bench/http_stacks.py's;
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
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import websockets

from bench import http_stacks, procs
from engine.loops import new_event_loop
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
    """Sends each WebSocket FLOOR_LENGTH frames at FLOOR_TOKENS_PER_S, then closes it; answers HTTP with 200."""
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            done = message["type"] == "lifespan.shutdown"
            await send({"type": "lifespan.shutdown.complete" if done else "lifespan.startup.complete"})
            if done:
                return
    if scope["type"] == "http":  # the start-up check (procs._wait_healthy)
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})
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
        procs._wait_healthy(f"http://127.0.0.1:{port}/", process)
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


async def provider_end(one, args: argparse.Namespace) -> float:
    """CPU s of this process per 1,000 tokens read, all streams at once; `one(length, tokens_per_s)` reads
    one stream (bench.http_stacks)."""
    started = time.process_time()
    counts = await asyncio.gather(*(one(args.length, args.tokens_per_s) for _ in range(args.streams)))
    spent = time.process_time() - started
    assert min(counts) >= args.length, f"a stream gave {min(counts)} events for {args.length} tokens"
    return spent / (args.streams * args.length) * 1000


async def measure(args: argparse.Namespace, simulator_url: str) -> dict[str, float]:
    figures = {}
    for name, (one, close) in (
        ("provider end", http_stacks.adapter("openai_compatible", None, simulator_url)),
        ("provider end, raw aiohttp", http_stacks.raw_aiohttp(simulator_url)),
    ):
        try:
            await asyncio.gather(one(5, 0), one(5, 0))  # warm: connections open
            figures[name] = min([await provider_end(one, args) for _ in range(args.repeats)])
        finally:
            await close()
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
    print(f"Load average at start: {procs.load()}")
    with tempfile.TemporaryDirectory() as work, procs.simulator_process(Path(work) / "simulator.log") as (url, _):
        loop = new_event_loop()
        try:
            figures = loop.run_until_complete(measure(args, url.removesuffix("/v1")))
        finally:
            loop.close()
    for name, value in figures.items():
        print(f"  {name:<28} {value:.3f}")
    for deflate in ("on", "off"):
        both = figures["provider end"] + figures[f"browser end, deflate {deflate}"]
        share = f"{both / TARGET:.0%} of issue 17's {TARGET} s for all of Prism, before any relay, Redis or database"
        print(f"  both ends, deflate {deflate:<3}        {both:.3f}  ({share})")
    print(f"Load average at end: {procs.load()}")


if __name__ == "__main__":
    main()
