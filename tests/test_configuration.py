"""The configuration a deployment reads: every variable documented, and secrets from files."""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
from pathlib import Path

from cryptography.fernet import Fernet

from engine.runner import MAX_ATTEMPTS
from tests.stack import PYTHON, ROOT

# Set by the code for itself, not configuration.
_NOT_CONFIGURATION = {"DJANGO_SETTINGS_MODULE"}
_SKIPPED_DIRS = {".venv", "tests", "bench", "node_modules", "staticfiles", "var", ".git"}
_ENV_READERS = [
    # config/env.py's readers, by name: env_str("NAME"), env_secret("NAME", ...), ...
    re.compile(r"\benv_[a-z_]+\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"),
    re.compile(r"\bos\.environ(?:\.get|\.setdefault|\.pop)?\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"),
    re.compile(r"\bos\.environ\[\s*[\"']([A-Z][A-Z0-9_]*)[\"']\s*\]"),
    re.compile(r"\bos\.getenv\(\s*[\"']([A-Z][A-Z0-9_]*)[\"']"),
]
_COMPOSE_VARIABLE = re.compile(r"\$\{([A-Z][A-Z0-9_]*)")


def _app_sources() -> list[Path]:
    return [path for path in ROOT.rglob("*.py") if not _SKIPPED_DIRS.intersection(path.relative_to(ROOT).parts)]


def variables_read() -> dict[str, str]:
    """Every environment variable the app's code and docker-compose.yml read, with where one is read."""
    found: dict[str, str] = {}
    for path in _app_sources():
        text = path.read_text()
        for pattern in _ENV_READERS:
            for name in pattern.findall(text):
                found.setdefault(name, str(path.relative_to(ROOT)))
    for name in _COMPOSE_VARIABLE.findall((ROOT / "docker-compose.yml").read_text()):
        found.setdefault(name, "docker-compose.yml")
    return {name: where for name, where in found.items() if name not in _NOT_CONFIGURATION}


def test_the_search_finds_the_readers_it_is_meant_to():
    found = variables_read()

    # One of each kind of reader: a typed reader, a secret, os.environ, and a compose-only variable.
    assert {"PRISM_FLUSH_MS", "SECRET_KEY", "DATABASE_URL", "POSTGRES_PASSWORD", "VLLM_MAX_CONCURRENCY"} <= set(found)


def test_env_example_lists_every_variable_the_code_reads():
    example = (ROOT / ".env.example").read_text()
    listed = set(re.findall(r"^#?\s*([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))

    missing = {name: where for name, where in variables_read().items() if name not in listed}

    assert not missing, f"Add these to .env.example (NAME=value, or `# NAME=` with a comment): {missing}"


def test_the_readme_documents_every_variable_the_code_reads():
    readme = (ROOT / "README.md").read_text()

    missing = {name: where for name, where in variables_read().items() if f"`{name}`" not in readme}

    assert not missing, f"Document these in README.md's Configuration section: {missing}"


def test_secrets_and_the_database_url_come_from_files(tmp_path):
    """Docker secrets: NAME_FILE names a file that holds the value, for every secret."""
    keys = [Fernet.generate_key().decode(), Fernet.generate_key().decode()]
    files = {
        "DATABASE_URL": "postgres://prism:s3cret@db.example:5432/prism_files\n",
        "PRISM_ENCRYPTION_KEYS": ",".join(keys) + "\n",
        "PRISM_ADMIN_PASSWORD": "from-a-docker-secret\n",
        "SECRET_KEY": secrets.token_urlsafe(50) + "\n",
    }
    env = {k: v for k, v in os.environ.items() if k not in files and k != "REDIS_URL"}
    for name, value in files.items():
        (tmp_path / name).write_text(value)
        env[f"{name}_FILE"] = str(tmp_path / name)
    env.update(PRISM_VAR_DIR=str(tmp_path / "var"), DJANGO_SETTINGS_MODULE="config.settings")
    script = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "db = s.DATABASES['default']; "
        "print(json.dumps([db['HOST'], db['NAME'], db['PASSWORD'], s.PRISM_ENCRYPTION_KEYS, "
        "s.PRISM_ADMIN_PASSWORD, s.SECRET_KEY]))"
    )

    result = subprocess.run([PYTHON, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr[-2000:]
    host, name, password, encryption_keys, admin_password, secret_key = json.loads(result.stdout.splitlines()[-1])
    assert (host, name, password) == ("db.example", "prism_files", "s3cret")
    assert encryption_keys == keys
    assert admin_password == "from-a-docker-secret"
    assert secret_key == files["SECRET_KEY"].strip()
    assert not (tmp_path / "var" / "encryption.key").exists()  # no key of its own, unlike other processes


_NUMBERS = {1: "once", 2: "twice", 3: "three", 4: "four", 5: "five"}


def test_the_readme_says_how_often_a_failing_request_is_tried():
    readme = " ".join((ROOT / "README.md").read_text().split())

    retries, attempts = _NUMBERS[MAX_ATTEMPTS - 1], _NUMBERS[MAX_ATTEMPTS]
    assert f"retried up to {retries} ({attempts} attempts in all)" in readme
