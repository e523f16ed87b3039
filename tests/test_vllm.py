"""vLLM as a self-hosted provider: health, served models and metrics, in current and older names."""

from __future__ import annotations

import asyncio

import openai
import pytest

from providers.vllm import generation_throughput, health, metrics, parse_metrics, server_root, window_hit_rate
from tests.fakes.openai_compat import create_app
from tests.fakes.server import serve

OLD_STYLE = """
# HELP vllm:gpu_cache_usage_perc GPU KV-cache usage.
vllm:num_requests_running{model_name="a"} 3.0
vllm:num_requests_running{model_name="b"} 1.0
vllm:num_requests_waiting{model_name="a"} 2.0
vllm:gpu_cache_usage_perc{model_name="a"} 0.25
vllm:gpu_prefix_cache_queries_total{model_name="a"} 1000.0
vllm:gpu_prefix_cache_hits_total{model_name="a"} 250.0
vllm:generation_tokens_total{model_name="a"} 5000.0
"""


def test_it_reads_the_older_metric_names_and_sums_label_sets():
    sample = parse_metrics(OLD_STYLE)
    assert sample.requests_running == 4.0
    assert sample.requests_waiting == 2.0
    assert sample.kv_cache_usage == 0.25
    assert sample.prefix_cache_hit_rate == 0.25
    assert sample.generation_tokens == 5000.0


def test_throughput_and_hit_rate_come_from_counter_differences():
    before = parse_metrics(OLD_STYLE, taken_at=100.0)
    after = parse_metrics(
        OLD_STYLE.replace("5000.0", "5600.0").replace("1000.0", "1400.0").replace("250.0", "550.0"), taken_at=102.0
    )
    assert generation_throughput(before, after) == 300.0
    assert window_hit_rate(before, after) == 0.75


def test_the_server_root_sits_beside_v1():
    assert server_root("http://vllm:8000/v1") == "http://vllm:8000"
    assert server_root("http://vllm:8000/v1/") == "http://vllm:8000"


async def _ask_twice(base_url: str) -> None:
    client = openai.AsyncOpenAI(base_url=f"{base_url}/v1", api_key="vllm-key", max_retries=0)
    messages = [{"role": "user", "content": "a long shared prefix of words for the cache"}]
    for _ in range(2):
        await client.chat.completions.create(
            model="sim-swift", messages=messages, extra_body={"simulator": {"ttft_ms": 0, "tokens_per_s": 0}}
        )
    await client.close()


@pytest.mark.asyncio
@pytest.mark.parametrize("legacy", [False, True])
async def test_it_reads_health_and_metrics_from_a_running_server(legacy):
    app = create_app(api_key="vllm-key", legacy_metrics=legacy)
    with serve(app) as base_url:
        assert await health(f"{base_url}/v1")
        await _ask_twice(base_url)
        sample = await metrics(f"{base_url}/v1")
        for _ in range(200):  # the server counts a request finished just after its client has the answer
            if sample.requests_running == 0:
                break
            await asyncio.sleep(0.01)
            sample = await metrics(f"{base_url}/v1")
    assert sample.requests_running == 0
    assert sample.kv_cache_usage == 0
    assert sample.generation_tokens > 0
    # The second identical prompt is a full prefix-cache hit: half of all queried tokens.
    assert sample.prefix_cache_hit_rate == 0.5


@pytest.mark.asyncio
async def test_a_server_that_is_down_is_not_healthy():
    with serve(create_app()) as base_url:
        pass
    assert not await asyncio.wait_for(health(f"{base_url}/v1"), timeout=15)
