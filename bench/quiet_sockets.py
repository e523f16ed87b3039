"""What open canvas sockets cost while nothing happens on their canvases: the sign-in, access and presence
checks that each socket keeps up (canvas.consumers), per minute.

Opens `--sockets` WebSockets, each on a canvas of its own and as a user of its own (N tabs of N people),
on a services-mode stack (tests.stack.live_stack: uvicorn, a Celery worker, the machine's PostgreSQL and
Redis), lets them settle, then holds them open `--seconds` with no prompt and no event, and prints, per
minute: the web process's CPU seconds; the transactions committed in the stack's database
(pg_stat_database.xact_commit: each query the web process makes outside a transaction is one; nothing
else uses that database meanwhile, and PostgreSQL 15 reports an idle backend's counts up to 10 s late,
the same at both ends of a steady window); and its backends' CPU (procs.DatabaseClock). The sockets
sign in with an API token each, or with `--browsers` as a browser's do, with a session cookie (each
user signed in once, the canvas page's Origin sent).

    .venv/bin/python bench/quiet_sockets.py [--sockets 200] [--seconds 60] [--browsers]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
import tempfile
from pathlib import Path

import psycopg
import websockets

if __package__ in (None, ""):  # run as a script: make the repository importable
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench import clients, procs
from tests import stack
from tests.stack import live_stack

SETTLE_S = 15.0  # past the connections' own queries and a first round of every socket's checks


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sockets", type=int, default=200, help="open sockets, one canvas and one user each")
    parser.add_argument("--seconds", type=float, default=60.0, help="how long they are held open quietly")
    parser.add_argument("--browsers", action="store_true", help="sockets signed in by session cookie, not token")
    return parser.parse_args(argv)


def committed(database_url: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as connection:
        row = connection.execute(
            "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()
    return int(row[0])


# Each token's user signed in once, as the login page does: the session keys, in the tokens' order.
_SIGN_IN = """
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.sessions.backends.db import SessionStore
from accounts.tokens import token_for
keys = []
for token in {tokens!r}:
    user = token_for(token).user
    session = SessionStore()
    session[SESSION_KEY], session[HASH_SESSION_KEY] = str(user.pk), user.get_session_auth_hash()
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session.create()
    keys.append(session.session_key)
emit(keys)
"""


async def browser_sockets(live, seats: list[clients.Seat], sessions: list[str], own: contextlib.AsyncExitStack):
    """A second socket on each seat's canvas, signed in by its user's session cookie as a browser's is."""
    for seat, session in zip(seats, sessions, strict=True):
        headers = {"Cookie": f"sessionid={session}", "Origin": live.base_url}
        url = f"{live.canvas_ws_url(seat.canvas_id)}?frames=batch"
        await own.enter_async_context(websockets.connect(url, additional_headers=headers, open_timeout=60))


async def hold_open(live, tokens: list[str], seconds: float, browsers: bool) -> tuple[float, int, float]:
    """Web CPU s, transactions committed, database CPU s while the sockets stay open for `seconds`."""
    database_url = live.env["DATABASE_URL"]
    sessions = stack.django_shell(live.env, _SIGN_IN.format(tokens=tokens)) if browsers else []
    async with clients.prism_seats(live, tokens) as seats, contextlib.AsyncExitStack() as own:
        if browsers:
            await asyncio.gather(*(seat.socket.close() for seat in seats))  # only the browsers' stay open
            await browser_sockets(live, seats, sessions, own)
        await asyncio.sleep(SETTLE_S)
        database = procs.DatabaseClock(database_url)
        web_before, transactions_before = procs.cpu_clocks({"web": live.pids["web"]})["web"], committed(database_url)
        database.start()
        await asyncio.sleep(seconds)
        database_cpu = database.stop()
        web = procs.cpu_clocks({"web": live.pids["web"]})["web"] - web_before
        transactions = committed(database_url) - transactions_before
    return web, transactions, database_cpu


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    kind = "browser sessions" if args.browsers else "API tokens"
    print(f"Quiet canvas sockets: {args.sockets} ({kind}), {args.seconds:.0f} s (load {procs.load()})", flush=True)
    with tempfile.TemporaryDirectory(prefix="prism-bench-") as tmp, live_stack("services", Path(tmp)) as live:
        setup = procs.prepare(live, live.env["PRISM_SIMULATOR_URL"], {}, args.sockets)
        web, transactions, database_cpu = asyncio.run(hold_open(live, setup.tokens, args.seconds, args.browsers))
    per_minute = 60.0 / args.seconds
    print(
        f"per minute: web CPU {web * per_minute:.3f} s, database transactions {transactions * per_minute:.0f}"
        f" ({transactions * per_minute / args.sockets:.2f} per socket), database CPU {database_cpu * per_minute:.3f} s"
        f" (load {procs.load()})"
    )


if __name__ == "__main__":
    main()
