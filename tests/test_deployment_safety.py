"""Deployment is safe by default: `check --deploy` is clean under the compose settings, a placeholder or
weak SECRET_KEY stops the app, the SQLite file is its owner's alone, and URL tokens stay out of logs."""

from __future__ import annotations

import os
import re
import secrets
import stat
import subprocess
import time
from pathlib import Path

import httpx
import yaml
from cryptography.fernet import Fernet

from config.log_redaction import redact
from tests.stack import PYTHON, ROOT, WEB_COMMAND, free_port, live_stack

ENV_EXAMPLE = ROOT / ".env.example"
STRONG_KEY = secrets.token_urlsafe(50)


def dotenv(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if re.match(r"^[A-Z_]+=", line))
    return {name: value for name, value in pairs}


def compose_env(dot: dict[str, str]) -> dict[str, str]:
    """The app containers' environment as docker compose builds it: .env, then `environment:` with
    ${NAME:-default} and ${NAME:?message} filled from .env."""

    def fill(value: str) -> str:
        def one(match: re.Match) -> str:
            name, op, default = match.group(1), match.group(2), match.group(3) or ""
            return dot.get(name) or (default if op == ":-" else "")

        return re.sub(r"\$\{([A-Z_]+)(:-|:\?)?([^}]*)\}", one, str(value))

    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    web = compose["services"]["web"]
    return dot | {name: fill(value) for name, value in web["environment"].items()}


def run_python(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG", "PRISM_VAR_DIR")}
    return subprocess.run(
        [PYTHON, *argv], cwd=ROOT, env=base | env, capture_output=True, text=True, timeout=120, check=False
    )


def filled_env_example() -> dict[str, str]:
    dot = dotenv(ENV_EXAMPLE)
    secrets_filled_in = {"SECRET_KEY": STRONG_KEY, "PRISM_ENCRYPTION_KEYS": Fernet.generate_key().decode()}
    return dot | secrets_filled_in | {"POSTGRES_PASSWORD": "pw"}


def test_check_deploy_is_clean_under_the_compose_settings():
    env = compose_env(filled_env_example())

    result = run_python(env, "manage.py", "check", "--deploy", "--fail-level", "WARNING")

    assert result.returncode == 0, result.stdout + result.stderr
    assert "no issues" in result.stdout


def test_a_placeholder_or_weak_secret_key_is_refused_unless_debug(tmp_path):
    settings_only = ("-c", "import config.settings")
    base = {"PRISM_VAR_DIR": str(tmp_path), "DEBUG": "off"}

    for weak in (dotenv(ENV_EXAMPLE)["SECRET_KEY"], "change-me", secrets.token_urlsafe(30), "a" * 60):
        refused = run_python(base | {"SECRET_KEY": weak}, *settings_only)
        assert refused.returncode != 0 and "SECRET_KEY is a placeholder or too weak" in refused.stderr, weak
    assert run_python(base | {"SECRET_KEY": STRONG_KEY}, *settings_only).returncode == 0
    assert run_python(base | {"SECRET_KEY": "change-me", "DEBUG": "on"}, *settings_only).returncode == 0
    assert run_python(base, *settings_only).returncode == 0  # the embedded default generates a strong one


def test_the_sqlite_file_is_readable_by_its_owner_only(tmp_path):
    script = "from django.db import connection; connection.cursor().execute('CREATE TABLE t (x int)')"

    result = run_python({"PRISM_VAR_DIR": str(tmp_path)}, "manage.py", "shell", "--no-startup", "-c", script)

    assert result.returncode == 0, result.stderr
    files = [p for p in tmp_path.iterdir() if p.name.startswith("prism.sqlite3")]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in files), [
        (p.name, oct(p.stat().st_mode)) for p in files
    ]


def test_share_invite_reset_and_sign_up_tokens_are_redacted():
    assert redact("GET /s/Tok_en-123/ HTTP/1.1") == "GET /s/[redacted]/ HTTP/1.1"
    assert redact("/ws/canvases/1/?share=Tok_en-123") == "/ws/canvases/1/?share=[redacted]"
    assert redact("/teams/join/Tok_en-123/") == "/teams/join/[redacted]/"
    assert redact("/accounts/reset/MQ/c2d-Tok_en123/") == "/accounts/reset/MQ/[redacted]/"
    assert redact("/accounts/signup/finish/eyJl:1u:Sig_n-1/") == "/accounts/signup/finish/[redacted]/"
    assert redact("/canvases/5c7c/ /api/canvases") == "/canvases/5c7c/ /api/canvases"


def test_a_share_token_never_reaches_the_web_servers_log(tmp_path):
    """uvicorn with its access log on, as docker compose runs it: a share page and a share socket."""
    with live_stack("embedded", tmp_path) as stack:
        client = stack.client()
        canvas = client.post("/api/canvases", json={"title": "Shared"}).json()
        token = client.post(f"/api/canvases/{canvas['id']}/share-links", json={}).json()["token"]
        port = free_port()
        log_path = tmp_path / "access.log"
        argv = [a for a in WEB_COMMAND if a not in ("--log-level", "warning")] + ["--port", str(port)]
        with log_path.open("wb") as log:
            web = subprocess.Popen(argv, cwd=ROOT, env=stack.env, stdout=log, stderr=subprocess.STDOUT)
        try:
            base = f"http://127.0.0.1:{port}"
            for _ in range(300):
                try:
                    if httpx.get(f"{base}/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.1)
            assert httpx.get(f"{base}/s/{token}/").status_code == 200
            assert httpx.get(f"{base}/s/{token}x/").status_code == 404
            assert httpx.get(f"{base}/teams/join/{token}/").status_code in (200, 302)
        finally:
            web.terminate()
            web.wait(timeout=10)
        logged = log_path.read_text()
        assert "/s/[redacted]/" in logged, logged
        assert token not in logged, logged


def test_the_embedded_mode_refuses_several_web_processes(tmp_path):
    """WEB_CONCURRENCY=2 without REDIS_URL: uvicorn stops, saying why, rather than serving two processes that
    would each hold their own runs and channel layer (a stream would reach only its own process's sockets)."""
    base = {k: v for k, v in os.environ.items() if k in ("PATH", "HOME", "LANG")}
    env = base | {"PRISM_VAR_DIR": str(tmp_path), "WEB_CONCURRENCY": "2"}

    result = subprocess.run(
        [*WEB_COMMAND, "--port", str(free_port())], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )

    output = result.stdout + result.stderr
    assert "WEB_CONCURRENCY is 2, but the embedded mode (REDIS_URL unset) runs in one web process" in output, output
    assert "failed to start, stopping the parent process" in output, output
