"""What reading a vLLM server's /health and /metrics costs Prism: CPU time per scrape, and the share of
one core that is per server at the scrape interval.

A server process of its own (so its CPU is not counted) serves a realistic /metrics body: what vLLM
0.11 exposes for one model (Python and process metrics, the vllm: gauges and counters, every request
histogram with its buckets, and the HTTP layer's metrics), about 700 lines. This process then runs,
each measured with time.process_time() over --rounds rounds after a warm-up:

- parse: providers.vllm.parse_metrics over the body alone;
- scrape: providers.server_scrape.scrape_servers(), what the Celery task runs: a new HTTP client and
  event loop, /health and /metrics of every vLLM account at once, the parse, the rows saved and the
  retention delete (SQLite in a temporary folder), with 1 and with --servers accounts.

    .venv/bin/python bench/server_scrape.py [--rounds 200] [--servers 8] [--interval 15]

Celery's own handling of the task (a message from beat, a worker thread) is not in the figure.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

MODEL = 'model_name="deepseek-ai/DeepSeek-R1-Distill-Qwen-7B",engine="0"'


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=200, help="measured scrapes per figure")
    parser.add_argument("--servers", type=int, default=8, help="vLLM accounts read in one round, for the second figure")
    parser.add_argument("--interval", type=float, default=15.0, help="seconds between scrapes (PRISM_SERVER_SCRAPE_S)")
    parser.add_argument("--serve", nargs=2, metavar=("PORT", "BODY"), help=argparse.SUPPRESS)
    return parser.parse_args(argv)


# --- a realistic /metrics body ----------------------------------------------------------------------


SECONDS = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0]
SECONDS += [2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
TOKENS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000]
GAUGES_AND_COUNTERS = [
    ("vllm:num_requests_running", "gauge", 12.0),
    ("vllm:num_requests_waiting", "gauge", 3.0),
    ("vllm:kv_cache_usage_perc", "gauge", 0.4231),
    ("vllm:num_preemptions_total", "counter", 17.0),
    ("vllm:prefix_cache_queries_total", "counter", 98765432.0),
    ("vllm:prefix_cache_hits_total", "counter", 45678901.0),
    ("vllm:prompt_tokens_total", "counter", 123456789.0),
    ("vllm:generation_tokens_total", "counter", 23456789.0),
]
SECONDS_HISTOGRAMS = [
    "time_to_first_token_seconds",
    "time_per_output_token_seconds",
    "inter_token_latency_seconds",
    "e2e_request_latency_seconds",
    "request_queue_time_seconds",
    "request_inference_time_seconds",
    "request_prefill_time_seconds",
    "request_decode_time_seconds",
]
TOKEN_HISTOGRAMS = [
    "iteration_tokens_total",
    "request_prompt_tokens",
    "request_generation_tokens",
    "request_max_num_generation_tokens",
    "request_params_max_tokens",
]
CACHE_CONFIG = {
    "block_size": 16,
    "cache_dtype": "auto",
    "enable_prefix_caching": "True",
    "gpu_memory_utilization": 0.9,
    "num_cpu_blocks": "None",
    "num_gpu_blocks": 27000,
    "swap_space": 4,
    "sliding_window": "None",
    "prefix_caching_hash_algo": "builtin",
    "cpu_offload_gb": 0,
}
HANDLERS = ["/v1/chat/completions", "/v1/completions", "/v1/models", "/health", "/metrics", "/tokenize"]
HANDLERS += ["/detokenize", "/version", "/ping", "/load"]
PROCESS = ["virtual_memory_bytes", "resident_memory_bytes", "start_time_seconds", "cpu_seconds_total", "open_fds"]


def _family(lines: list[str], name: str, kind: str, samples: list[tuple[str, str, float]]) -> None:
    lines += [f"# HELP {name} {name.split(':')[-1].replace('_', ' ')}.", f"# TYPE {name} {kind}"]
    for suffix, labels, value in samples:
        lines.append(f"{name}{suffix}{{{labels}}} {value!r}" if labels else f"{name}{suffix} {value!r}")


def _histogram(lines: list[str], name: str, bounds: list[float], labels: str = MODEL, count: int = 5000) -> None:
    prefix = f"{labels}," if labels else ""
    samples = [("_bucket", f'{prefix}le="{b}"', float(count * (i + 1) // len(bounds))) for i, b in enumerate(bounds)]
    samples += [("_bucket", f'{prefix}le="+Inf"', float(count)), ("_count", labels, float(count))]
    samples.append(("_sum", labels, count * 0.731))
    _family(lines, name, "histogram", samples)
    _family(lines, f"{name}_created", "gauge", [("", labels, 1.7645e9)])


def metrics_body() -> str:
    lines: list[str] = []
    for name in ("collected", "uncollectable"):
        _family(
            lines, f"python_gc_objects_{name}_total", "counter", [("", f'generation="{g}"', 1234.0) for g in range(3)]
        )
    _family(lines, "python_gc_collections_total", "counter", [("", f'generation="{g}"', 99.0) for g in range(3)])
    _family(
        lines, "python_info", "gauge", [("", 'implementation="CPython",major="3",minor="12",version="3.12.9"', 1.0)]
    )
    for name in PROCESS:
        _family(lines, f"process_{name}", "gauge", [("", "", 123456789.0)])
    for name, kind, value in GAUGES_AND_COUNTERS:
        _family(lines, name, kind, [("", MODEL, value)])
    reasons = ("stop", "length", "abort", "error")
    _family(
        lines, "vllm:request_success_total", "counter", [("", f'finished_reason="{r}",{MODEL}', 1e3) for r in reasons]
    )
    for name in SECONDS_HISTOGRAMS:
        _histogram(lines, f"vllm:{name}", SECONDS)
    for name in TOKEN_HISTOGRAMS:
        _histogram(lines, f"vllm:{name}", TOKENS)
    _histogram(lines, "vllm:request_params_n", [1, 2, 5, 10, 20])
    cache = ",".join(f'{key}="{value}"' for key, value in CACHE_CONFIG.items())
    _family(lines, "vllm:cache_config_info", "gauge", [("", cache, 1.0)])
    requests = [("", f'handler="{h}",method="{m}",status="2xx"', 42.0) for h in HANDLERS for m in ("GET", "POST")]
    _family(lines, "http_requests_total", "counter", requests)
    for handler in HANDLERS:
        _histogram(lines, "http_request_duration_seconds", [0.1, 0.5, 1.0], labels=f'handler="{handler}",method="POST"')
    _histogram(lines, "http_request_duration_highr_seconds", SECONDS, labels="")
    return "\n".join(lines) + "\n"


# --- the server process ---------------------------------------------------------------------------


def serve(port: int, body_path: str) -> None:
    import uvicorn

    body = Path(body_path).read_bytes()

    async def app(scope, receive, send):
        if scope["type"] != "http":
            return
        payload = body if scope["path"] == "/metrics" else b""
        headers = [(b"content-type", b"text/plain; version=0.0.4"), (b"content-length", str(len(payload)).encode())]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="off")


def start_server(folder: Path, body: str) -> tuple[subprocess.Popen, str]:
    import httpx

    from tests.stack import free_port

    body_path = folder / "metrics.txt"
    body_path.write_text(body)
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--serve", str(port), str(body_path)])
    base_url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                return process, f"{base_url}/v1"
        except httpx.HTTPError:
            time.sleep(0.1)
    process.kill()
    raise RuntimeError("the metrics server did not start")


# --- the measurements -----------------------------------------------------------------------------


def cpu_per_call(call, rounds: int, warmup: int = 5) -> float:
    for _ in range(warmup):
        call()
    start = time.process_time()
    for _ in range(rounds):
        call()
    return (time.process_time() - start) / rounds


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.serve:
        serve(int(args.serve[0]), args.serve[1])
        return
    with tempfile.TemporaryDirectory() as folder:
        os.environ.update(PRISM_VAR_DIR=folder, DJANGO_SETTINGS_MODULE="config.settings", LOG_LEVEL="WARNING")
        for name in ("DATABASE_URL", "REDIS_URL", "SQLITE_PATH"):
            os.environ.pop(name, None)
        import django

        django.setup()
        from django.core.management import call_command

        from providers.models import ProviderAccount, ServerSample
        from providers.server_scrape import scrape_servers
        from providers.vllm import parse_metrics

        call_command("migrate", interactive=False, verbosity=0)
        body = metrics_body()
        server, base_url = start_server(Path(folder), body)
        try:
            parsed = parse_metrics(body)
            assert parsed.generation_tokens == 23456789.0 and parsed.kv_cache_usage == 0.4231, parsed
            print(f"/metrics body: {len(body.splitlines())} lines, {len(body) / 1024:.1f} KiB")
            parse_s = cpu_per_call(lambda: parse_metrics(body), args.rounds * 5)
            print(f"parse alone: {parse_s * 1e3:.2f} ms CPU")
            for servers in (1, args.servers):
                ProviderAccount.objects.all().delete()
                for n in range(servers):
                    ProviderAccount.objects.create(name=f"vLLM {n}", kind="vllm", base_url=base_url)
                per_round = cpu_per_call(scrape_servers, args.rounds)
                per_server = per_round / servers
                share = 100 * per_server / args.interval
                print(
                    f"scrape_servers() with {servers} server(s): {per_round * 1e3:.2f} ms CPU a round, "
                    f"{per_server * 1e3:.2f} ms a server; every {args.interval:g} s: {share:.3f}% of a core per server"
                )
            assert ServerSample.objects.filter(healthy=True).exists()
        finally:
            server.terminate()
            server.wait(timeout=10)


if __name__ == "__main__":
    main()
