"""The processes a benchmark runs beside Prism: the simulator, on its own, and their CPU clocks (Prism's
processes, its database backends and Redis)."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import httpx
import psycopg
import redis

from tests import stack

_TICKS_PER_S = os.sysconf("SC_CLK_TCK")
BENCH_ACCOUNT = "Bench simulator"


@contextlib.contextmanager
def simulator_process(log_path: Path) -> Iterator[tuple[str, int]]:
    """Serve the OpenAI-compatible simulator from a process of its own; yield its /v1 URL and pid.

    Its own process, so its CPU is not charged to Prism's processes nor competes on their loops.
    """
    port = stack.free_port()
    argv = [
        str(stack.BIN / "uvicorn"), "--factory", "providers.simulator.app:create_app",
        "--host", "127.0.0.1", "--port", str(port), "--log-level", "warning", "--no-access-log",
    ]  # fmt: skip
    with log_path.open("wb") as log:
        process = subprocess.Popen(argv, cwd=stack.ROOT, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_healthy(f"http://127.0.0.1:{port}/health", process)
        yield f"http://127.0.0.1:{port}/v1", process.pid
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


def _wait_healthy(url: str, process: subprocess.Popen) -> None:
    deadline = time.monotonic() + stack.START_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"The simulator exited with {process.returncode}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return
        time.sleep(0.1)
    raise RuntimeError("The simulator did not answer /health in time")


_PREPARE = """
from django.contrib.auth import get_user_model

from accounts.models import ApiToken
from providers.models import Model, ProviderAccount

# Slots enough for every stream: the path that takes a slot still runs, but never waits.
account, _ = ProviderAccount.objects.update_or_create(
    name={name!r}, defaults={{"kind": "openai_compatible", "base_url": {url!r}, "max_concurrency": 100_000}}
)
Model.objects.update_or_create(
    account=account, name="sim-swift",
    defaults={{"display_name": "Bench sim-swift", "default_params": {params}}},
)
emit([
    ApiToken.issue(get_user_model().objects.create_user(username=f"bench-{{index}}"), name="bench")[1]
    for index in range({users})
])
"""


@dataclass(frozen=True)
class BenchSetup:
    model_id: str  # the simulator process's sim-swift, as /api/models lists it
    tokens: list[str]  # one API token per bench user


def prepare(live: stack.LiveStack, simulator_url: str, options: dict, users: int) -> BenchSetup:
    """Add an OpenAI-compatible account for the simulator process with its sim-swift model, and users.

    One user per stream by default: N browsers are N people, and a user's prompts are admitted one
    at a time (the per-user run limit locks the user's row).
    """
    script = _PREPARE.format(
        name=BENCH_ACCOUNT, url=simulator_url, params=json.dumps({"simulator": options}), users=users
    )
    tokens = stack.django_shell(live.env, script, timeout=300)
    with live.client() as client:
        models = client.get("/api/models").raise_for_status().json()
    ids = [m["id"] for m in models if m["provider_kind"] == "openai_compatible" and m["model"] == "sim-swift"]
    if len(ids) != 1 or len(tokens) != users:
        raise RuntimeError(f"Expected one bench model and {users} tokens, found {len(ids)} and {len(tokens)}")
    return BenchSetup(ids[0], tokens)


def use_worker_concurrency(threads: int) -> None:
    """Give the services stack's Celery worker as many threads as production's default.

    Each running stream holds one worker thread (the task waits on its stream), so the test stack's
    50 threads would queue half of a 100-stream run; docker-compose.yml runs 200.
    """
    command = list(stack.WORKER_COMMAND)
    command[command.index("--concurrency") + 1] = str(threads)
    stack.WORKER_COMMAND = command


def load() -> str:
    """The machine's load averages (1, 5, 15 min): every process of a bench shares it with other work."""
    return " ".join(f"{value:.2f}" for value in os.getloadavg())


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (threads included), from /proc."""
    fields = stack.proc_stat(f"/proc/{pid}/stat")
    return (int(fields[14 - 3]) + int(fields[15 - 3])) / _TICKS_PER_S  # utime + stime


def cpu_clocks(pids: dict[str, int]) -> dict[str, float]:
    """CPU seconds so far of each named process and its children (uvicorn's --workers are children),
    less the named ones: the bench's own process is charged for itself, not for the stack it started."""
    tree, named = _children(), set(pids.values())
    return {name: sum(_cpu_or_zero(p) for p in _with_descendants(pid, tree, named)) for name, pid in pids.items()}


def _cpu_or_zero(pid: int) -> float:
    try:
        return cpu_seconds(pid)
    except (FileNotFoundError, ProcessLookupError):
        return 0.0  # it ended since it was listed


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            ppid = int(stack.proc_stat(stat)[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
        tree.setdefault(ppid, []).append(int(stat.parent.name))
    return tree


def _with_descendants(pid: int, tree: dict[int, list[int]], named: set[int]) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(child for child in tree.get(current, []) if child not in named)
    return found


def rss_mib(pid: int) -> float:
    """A process's resident set size (VmRSS) in MiB, from /proc/<pid>/status."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"No VmRSS for pid {pid}")


class DatabaseClock:
    """CPU seconds the PostgreSQL backends serving one database spend while it runs (`start`, then `stop`).

    Backends come and go with connections, so the set is sampled from pg_stat_activity every `every_s`:
    a backend is counted from the start (its CPU then, or 0 if it connected after the start) to its last
    sample. What a short-lived backend does between its last sample and its exit is missed; the pooled
    connections of the web and worker processes persist, so that is little. The server must be this
    machine's (its backends' clocks are read from /proc)."""

    def __init__(self, database_url: str, every_s: float = 0.2):
        url = urlsplit(database_url)
        self._database = url.path.lstrip("/")
        self._admin_url = urlunsplit(url._replace(path="/postgres"))
        self._every_s = every_s
        self._first: dict[int, float] = {}
        self._last: dict[int, float] = {}
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._first.clear()
        self._last.clear()
        self._stopping.clear()
        self._connection = psycopg.connect(self._admin_url, autocommit=True)
        self._started_at = self._connection.execute("SELECT now()").fetchone()[0]
        self._sample(initial=True)
        self._thread = threading.Thread(target=self._sample_until_stopped, name="db-clock", daemon=True)
        self._thread.start()

    def stop(self) -> float:
        """The CPU seconds since `start`."""
        self._stopping.set()
        self._thread.join()
        self._sample()
        self._connection.close()
        return sum(self._last[pid] - self._first[pid] for pid in self._last)

    def _sample_until_stopped(self) -> None:
        while not self._stopping.wait(self._every_s):
            self._sample()

    def _sample(self, initial: bool = False) -> None:
        rows = self._connection.execute(
            "SELECT pid, backend_start FROM pg_stat_activity WHERE datname = %s", (self._database,)
        ).fetchall()
        for pid, backend_start in rows:
            try:
                seconds = cpu_seconds(pid)
            except FileNotFoundError:  # gone since the query
                continue
            if pid not in self._first:
                connected_since = not initial and backend_start >= self._started_at
                self._first[pid] = 0.0 if connected_since else seconds
            self._last[pid] = seconds


def redis_cpu_seconds(redis_url: str) -> float:
    """The Redis server's own CPU seconds so far (INFO cpu, user + system). The server is shared by
    everything on this machine that uses it, so a difference of two readings is an upper bound on one
    process group's share."""
    with redis.Redis.from_url(redis_url) as client:
        info = client.info("cpu")
    return float(info["used_cpu_user"]) + float(info["used_cpu_sys"])
