"""Live stacks for the integration and browser tests: the app as real processes on a free port.

``embedded`` is `make run`'s shape: one uvicorn process, SQLite, the in-memory channel layer and the
in-process runner. ``services`` is production's shape: uvicorn and a Celery worker sharing a fresh
PostgreSQL database and a Redis database. Both serve the built-in simulator from the web process, so
no keys and no network are needed. Nothing here skips: a stack that cannot start fails the test.
RedisServer is a redis-server of a test module's own, for the tests that restart or flush it.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import hashlib
import json
import os
import secrets
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import httpx
import redis

ROOT = Path(__file__).resolve().parent.parent
BIN = ROOT / ".venv" / "bin"
PYTHON = str(BIN / "python")
POSTGRES_URL = os.environ.get("PRISM_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432")
REDIS_BASE_URL = os.environ.get("PRISM_TEST_REDIS_URL", "redis://127.0.0.1:6379")
# Variables that would make a provider other than the simulator appear, or point the app elsewhere.
_DROPPED = (
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "DEEPSEEK_API_KEY",
    "DEEPSEEK_BASE_URL",
    "VLLM_BASE_URL",
    "VLLM_API_KEY",
    "ANTHROPIC_API_KEY",
    "ANTHROPIC_BASE_URL",
    "GEMINI_API_KEY",
    "GEMINI_BASE_URL",
    "REDIS_URL",
    "DATABASE_URL",
    "SQLITE_PATH",
    "PRISM_SIMULATOR_URL",
    "PRISM_SYSTEM_PROMPT",
)
START_TIMEOUT_S = 90.0  # a guard against a hang: a loaded machine can take long to start a stack

Mode = Literal["embedded", "services"]


@dataclass
class LiveStack:
    mode: Mode
    base_url: str
    ws_url: str  # ws://host:port, without a path
    username: str
    password: str
    token: str
    env: dict[str, str]
    logs: dict[str, Path] = field(default_factory=dict)
    pids: dict[str, int] = field(default_factory=dict)  # process name ("web", "worker") → pid, for benchmarks
    # ws://host:port of every further web process (`live_stack(..., web_processes=N)`), on the same Redis.
    more_ws_urls: tuple[str, ...] = ()

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    def client(self, **kwargs) -> httpx.Client:
        return httpx.Client(base_url=self.base_url, headers=self.headers, timeout=10.0, **kwargs)

    def canvas_ws_url(self, canvas_id: str, ws_url: str | None = None) -> str:
        return f"{ws_url or self.ws_url}/ws/canvases/{canvas_id}/"

    def mail_to(self, address: str) -> list[str]:
        """The bodies of the mail the app sent to `address`, oldest first (written to EMAIL_FILE_PATH)."""
        files = sorted(Path(self.env["EMAIL_FILE_PATH"]).glob("*.log"), key=lambda path: path.stat().st_mtime_ns)
        messages = [raw for path in files for raw in path.read_bytes().split(b"-" * 79 + b"\n") if raw.strip()]
        parsed = [email.message_from_bytes(raw, policy=email.policy.default) for raw in messages]
        return [message.get_content() for message in parsed if address in message["To"]]

    def log_tails(self, chars: int = 4000) -> str:
        """The end of every process's output, for a failure message: the cause is often there."""
        return _tails(self.logs, chars)


@contextlib.contextmanager
def live_stack(
    mode: Mode, tmp_path: Path, redis_url: str | None = None, web_processes: int = 1, env: dict[str, str] | None = None
) -> Iterator[LiveStack]:
    """Start the app (and in ``services`` mode a Celery worker) and yield how to reach it; in
    ``services`` mode on `redis_url` if given (a Redis of the test's own), else on a free database of
    the machine's Redis, with `web_processes` uvicorn processes sharing it. `env`: more settings."""
    assert web_processes == 1 or mode == "services", "only the services mode has more than one web process"
    port = free_port()
    more_ports = [free_port() for _ in range(web_processes - 1)]
    env = _base_env(tmp_path, port) | (env or {})
    password = secrets.token_urlsafe(12)
    logs: dict[str, Path] = {}
    processes: list[subprocess.Popen] = []
    with contextlib.ExitStack() as cleanup:
        try:
            if mode == "services":
                env["REDIS_URL"] = redis_url or cleanup.enter_context(_redis_database())
                env["DATABASE_URL"] = cleanup.enter_context(_postgres_database(template=_postgres_template(env)))
                # The worker is another process: it reaches the simulator the web process serves.
                env["PRISM_SIMULATOR_URL"] = f"http://127.0.0.1:{port}/simulator/v1"
            else:
                _copy_sqlite(_sqlite_template(env), tmp_path / "prism.sqlite3")
            token = _prepare(mode, env | {"DJANGO_SUPERUSER_PASSWORD": password}, password)
            cleanup.callback(_stop_all, processes)
            processes.append(_spawn("web", WEB_COMMAND + ["--port", str(port)], env, tmp_path, logs))
            if mode == "services":
                worker = WORKER_COMMAND + ["-n", f"prism-it-{secrets.token_hex(4)}@%h"]
                processes.append(_spawn("worker", worker, env, tmp_path, logs))
            for number, more_port in enumerate(more_ports, start=2):
                processes.append(_spawn(f"web{number}", WEB_COMMAND + ["--port", str(more_port)], env, tmp_path, logs))
            base_url = f"http://127.0.0.1:{port}"
            for url in [base_url, *(f"http://127.0.0.1:{p}" for p in more_ports)]:
                _wait_for(lambda url=url: _healthy(url), "the web server to answer /healthz", processes)
            if mode == "services":
                _wait_for(lambda: _worker_answers(env["REDIS_URL"]), "the Celery worker to answer a ping", processes)
            pids = {name: process.pid for name, process in zip(logs, processes, strict=True)}
            more_ws = tuple(f"ws://127.0.0.1:{p}" for p in more_ports)
            yield LiveStack(mode, base_url, f"ws://127.0.0.1:{port}", "u", password, token, env, logs, pids, more_ws)
        except BaseException:
            _report(logs)
            raise


# What `make run` and the `worker` service of docker-compose.yml run.
WEB_COMMAND = [
    str(BIN / "uvicorn"), "config.asgi:application", "--host", "127.0.0.1", "--ws", "websockets-sansio",
    "--log-level", "warning",
]  # fmt: skip
WORKER_COMMAND = [
    str(BIN / "celery"), "-A", "config.celery:app", "worker", "--pool", "threads", "--concurrency", "50",
    "--loglevel", "WARNING", "--without-gossip", "--without-mingle",
]  # fmt: skip

# The set-up commands, run through call_command in one interpreter: Django's start-up, paid once
# instead of four times, is most of what they cost.
_PREPARE = """
import io
from django.core.management import call_command

call_command("migrate", interactive=False, verbosity=0)  # _MIGRATE's, on a copy of its template
call_command("sync_providers", stdout=io.StringIO())
if {embedded}:
    call_command("ensure_demo_user", username="u", password={password!r}, stdout=io.StringIO())
else:
    call_command("createsuperuser", interactive=False, username="u", email="u@example.com", stdout=io.StringIO())
out = io.StringIO()
call_command("create_api_token", "u", stdout=out)
emit(out.getvalue().strip())
"""


# Every stack starts from a database migrated once per set of migrations: migrating from nothing is
# seconds of each stack's start (two dozen stacks in the suite), copying a migrated one hundredths.
# _PREPARE migrates again, which on a copy finds nothing to do, so a stale template costs time only.
TEMPLATES = ROOT / "var" / "test-templates"
_TEMPLATE_PREFIX = "prism_it_template_"
_MIGRATE = 'from django.core.management import call_command\ncall_command("migrate", interactive=False, verbosity=0)\n'


def _schema_digest() -> str:
    """What a migrated database is made of: the project's migrations and the pinned packages (whose
    apps bring migrations of their own)."""
    digest = hashlib.sha256((ROOT / "requirements.txt").read_bytes())
    for path in sorted(ROOT.glob("*/migrations/*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def _postgres_template(env: dict[str, str]) -> str:
    """The name of a migrated PostgreSQL database to copy, made if missing. Two test processes may
    make it at once: each builds under a name of its own and the first rename wins."""
    import psycopg

    name = _TEMPLATE_PREFIX + _schema_digest()
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return name
    with _postgres_database() as url:
        django_shell(env | {"DATABASE_URL": url}, _MIGRATE)
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
            with contextlib.suppress(psycopg.errors.DuplicateDatabase):
                conn.execute(f'ALTER DATABASE "{url.rsplit("/", 1)[1]}" RENAME TO "{name}"')
            # Templates of other migrations (an older checkout's) are dropped if no one is copying them.
            others = "SELECT datname FROM pg_database WHERE datname LIKE %s AND datname <> %s"
            stale = conn.execute(others, [_TEMPLATE_PREFIX + "%", name]).fetchall()
            for (old,) in stale:
                with contextlib.suppress(psycopg.Error):
                    conn.execute(f'DROP DATABASE IF EXISTS "{old}"')
    return name


def _sqlite_template(env: dict[str, str]) -> Path:
    """A migrated SQLite file to copy, made if missing (written aside and renamed into place)."""
    path = TEMPLATES / f"{_schema_digest()}.sqlite3"
    if not path.exists():
        TEMPLATES.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(dir=TEMPLATES) as folder:
            django_shell(env | {"PRISM_VAR_DIR": folder}, _MIGRATE)
            _copy_sqlite(Path(folder) / "prism.sqlite3", Path(folder) / "template.sqlite3")
            os.replace(Path(folder) / "template.sqlite3", path)
        for old in TEMPLATES.glob("*.sqlite3"):
            if old != path:
                old.unlink(missing_ok=True)
    return path


def _copy_sqlite(source: Path, target: Path) -> None:
    """Copy through SQLite's backup, which reads what the source's write-ahead log still holds; the
    copy readable by its owner only, as the app makes its file."""
    os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o600))
    with contextlib.closing(sqlite3.connect(source)) as src, contextlib.closing(sqlite3.connect(target)) as dst:
        src.backup(dst)


def _prepare(mode: Mode, env: dict[str, str], password: str) -> str:
    """Migrate, sync the simulator's models, create the user u and return a new API token for u."""
    token = django_shell(env, _PREPARE.format(embedded=mode == "embedded", password=password))
    if not token:
        raise RuntimeError(f"Preparing the {mode} stack made no token")
    return token


def django_shell(env: dict[str, str], script: str, timeout: float = 120.0) -> Any:
    """Run `script` in `manage.py shell` with `env` (a stack's, or any Prism environment). The script
    hands a result back with `emit(value)`, as JSON through a file of its own, so nothing it or Django
    prints can be taken for it; None when it emits nothing. A failing script raises with its stderr."""
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / "result.json"
        prelude = f"def emit(value):\n    import json\n    open({str(out)!r}, 'w').write(json.dumps(value))\n"
        result = subprocess.run(
            [PYTHON, "manage.py", "shell", "--no-startup", "-c", prelude + script],
            cwd=ROOT, env=env, capture_output=True, text=True, timeout=timeout, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise RuntimeError(f"manage.py shell failed ({result.returncode}):\n{result.stderr[-4000:]}")
        return json.loads(out.read_text()) if out.exists() else None


def ws_events(message: str | bytes) -> list[dict]:
    """A canvas WebSocket message as the events it carries, as static/prism/socket.js reads it: one
    event, or an array of several in order."""
    data = json.loads(message)
    return data if isinstance(data, list) else [data]


def proc_stat(path: Path | str) -> list[str]:
    """The fields of a /proc/…/stat file after the command name, which may hold spaces and parentheses:
    [0] is the state (the file's field 3), so the file's field N is [N - 3]."""
    return Path(path).read_text().rsplit(")", 1)[1].split()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _base_env(tmp_path: Path, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in _DROPPED}
    env.update(
        PRISM_VAR_DIR=str(tmp_path),
        EMAIL_FILE_PATH=str(tmp_path / "mail"),
        PORT=str(port),
        LOG_LEVEL="WARNING",
        PRISM_SIMULATOR="true",
        DJANGO_SETTINGS_MODULE="config.settings",
        PYTHONUNBUFFERED="1",
    )
    return env


def _spawn(name: str, argv: list[str], env: dict[str, str], tmp_path: Path, logs: dict[str, Path]) -> subprocess.Popen:
    log_path = tmp_path / f"{name}.log"
    logs[name] = log_path
    with log_path.open("wb") as log:  # the child keeps its own copy of the descriptor
        return subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)


def _wait_for(check: Callable[[], bool], what: str, processes: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        for process in processes:
            if process.poll() is not None:
                raise RuntimeError(f"{process.args[0]} exited with {process.returncode} while waiting for {what}")
        if check():
            return
        time.sleep(0.1)
    raise RuntimeError(f"Timed out after {START_TIMEOUT_S:.0f} s waiting for {what}")


def _healthy(base_url: str) -> bool:
    try:
        return httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200
    except httpx.HTTPError:
        return False


def _worker_answers(redis_url: str) -> bool:
    from celery import Celery

    probe = Celery("prism-it-probe", broker=redis_url)
    try:
        return bool(probe.control.ping(timeout=0.5))
    finally:
        probe.close()


def _stop_all(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _report(logs: dict[str, Path]) -> None:
    sys.stderr.write(_tails(logs, 4000))


def _tails(logs: dict[str, Path], chars: int) -> str:
    parts = []
    for name, path in logs.items():
        text = path.read_text(errors="replace") if path.exists() else ""
        parts.append(f"\n----- {name} ({path}), last {chars} characters -----\n{text[-chars:]}\n")
    return "".join(parts)


@contextlib.contextmanager
def _redis_database() -> Iterator[str]:
    """A Redis database of our own for this stack: claimed, flushed, and flushed again at the end."""
    import redis

    claim = f"prism-it-claim:{secrets.token_hex(8)}"
    for number in secrets.SystemRandom().sample(range(1, 16), 15):
        client = redis.Redis.from_url(f"{REDIS_BASE_URL}/{number}")
        # An empty database with no one else's claim is ours; SET NX settles a race for it.
        if client.dbsize() == 0 and client.set("prism-it-claim", claim, nx=True, ex=3600):
            client.flushdb()
            client.set("prism-it-claim", claim, ex=3600)
            try:
                yield f"{REDIS_BASE_URL}/{number}"
            finally:
                client.flushdb()
                client.close()
            return
        client.close()
    raise RuntimeError("No free Redis database (1-15) for the services stack")


@contextlib.contextmanager
def _postgres_database(template: str | None = None) -> Iterator[str]:
    """A database of our own, empty or a copy of `template`, dropped at the end."""
    import psycopg

    name = f"prism_it_{secrets.token_hex(6)}"
    with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else ""))
    try:
        yield f"{POSTGRES_URL}/{name}"
    finally:
        with psycopg.connect(f"{POSTGRES_URL}/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class RedisServer:
    """A private redis-server, without persistence (a restart loses everything, as a crash can)."""

    def __init__(self, directory: Path) -> None:
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.directory = directory
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        argv = [
            "redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--daemonize", "no", "--dir", str(self.directory),
        ]  # fmt: skip
        with (self.directory / "redis.log").open("ab") as log:  # the child keeps its own copy
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while True:
            try:
                if client.ping():
                    break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not start"
                time.sleep(0.05)
        client.close()

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)

    def restart(self, down_s: float) -> None:
        self.kill()
        time.sleep(down_s)
        self.start()
