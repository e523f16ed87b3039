"""`manage.py worker_health`: the Celery worker's readiness, as docker compose's health check asks it."""

from __future__ import annotations

import os
import subprocess

import pytest
from django.core.management import CommandError, call_command

from tests.stack import PYTHON, ROOT, WORKER_COMMAND, _redis_database, _spawn, _stop_all, _wait_for, _worker_answers


@pytest.fixture
def redis_env():
    """The Redis mode's environment, on a Redis database of this test's own."""
    with _redis_database() as url:
        yield {**os.environ, "REDIS_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": "WARNING"}


def worker_health(env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [PYTHON, "manage.py", "worker_health", "--timeout", "2"],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip


def test_without_a_worker_the_check_fails(redis_env):
    result = worker_health(redis_env)

    assert result.returncode == 1
    assert "did not answer" in result.stderr


def test_a_running_worker_answers_the_check(redis_env, tmp_path):
    # Started as compose starts it: no -n, so its name is celery@<this host>.
    worker = _spawn("worker", WORKER_COMMAND, redis_env, tmp_path, {})
    try:
        _wait_for(lambda: _worker_answers(redis_env["REDIS_URL"]), "the worker to answer a ping", [worker])

        result = worker_health(redis_env)
    finally:
        _stop_all([worker])

    assert result.returncode == 0, result.stderr
    assert "ready" in result.stdout


def test_the_embedded_mode_has_no_worker_to_check():
    with pytest.raises(CommandError, match="REDIS_URL"):
        call_command("worker_health")
