"""Loaded by pytest before Django is configured (`-p tests.env` in pyproject.toml): the environment
the test process runs in. The suite uses the machine's PostgreSQL; the pytest process itself is the
embedded mode (no REDIS_URL), and the integration tests start Redis-mode subprocesses themselves."""

from __future__ import annotations

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/prism")
os.environ.pop("REDIS_URL", None)
os.environ.setdefault("PRISM_VAR_DIR", os.path.join(os.path.dirname(__file__), "..", "var", "test"))
for name in (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "DEEPSEEK_API_KEY",
    "VLLM_BASE_URL",
    "ANTHROPIC_API_KEY",
    "GEMINI_API_KEY",
):
    os.environ.pop(name, None)
