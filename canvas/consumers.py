"""The canvas WebSocket: live node events, presence and comments for everyone allowed on a canvas.

Who the socket serves (a member with a role, or a share-link guest) is resolved once at connect, then
checked again before every client message and every event delivered, from a cache at most RECHECK_S
old; the sockets of a web process fall due together and are re-checked together (one query per batch,
access.recheck), where one query per socket each RECHECK_S was, at a hundred sockets streaming, a tenth
of the web process's CPU per token. An `access.recheck` group event (sent when a member, a role, a share
link or the canvas's team changes) and a slow watchdog check at once, so a removed member's or a revoked
link's open socket stops receiving within moments and is closed with 4403.

Every node reaches the socket through canvas.blind.redact with the prompts open to its viewer: an answer
of a blind prompt names its model only once they have voted on it (or it is revealed). That set is
read at connect and follows `prompt.revealed` and the viewer's own `vote.*` events.

A member's socket also ends with the sign-in it was opened with (canvas.ws_auth.Credential): it joins
its person's group, where an `auth.recheck` event arrives when one of their tokens is revoked, a
session signs out, or the password changes (accounts.signals); the socket whose token or session
ended is closed with 4401 at once, and the watchdog checks the credential too, for what no event
announced (a password changed from another process in the embedded mode).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model

from canvas import access, blind, comments
from canvas.errors import ApiError
from canvas.presence import people, presence_store
from canvas.ws_auth import SHARE_SCOPE_KEY, Credential, credential_of, still_signed_in
from engine import sender
from engine.db import Coalesced
from engine.loops import PerLoop
from engine.snapshots import snapshots

log = logging.getLogger(__name__)

CLOSE_NOT_ALLOWED = 4403
# The token or session the socket was opened with has ended; a browser signed in again may reconnect.
CLOSE_SIGNED_OUT = 4401
RECHECK_S = 1.5
# The watchdog: catches what no event announces (a share link reaching its expiry) on a quiet canvas,
# and keeps this socket's presence entry fresh.
WATCH_S = 10.0
PRESENCE_CHANGED = "presence.changed"
PRESENCE_SETTLE_S = 0.05


def _stale(checked_at: float) -> bool:
    """Whether a check made at `checked_at` was made before the current period of RECHECK_S began. The
    periods are the process's, not the socket's: every socket's check falls due at the same moment, and
    their refreshes, made as their next events go out, share a batch. No check is used once older than
    RECHECK_S."""
    now = time.monotonic()
    return RECHECK_S <= 0 or checked_at < now - now % RECHECK_S


@database_sync_to_async
def _resolve(scope, canvas_id) -> access.Principal | None:
    session = scope.get("session")
    link_ids = session.get(access.SHARE_SESSION_KEY, []) if session is not None else []
    return access.principal_for(
        scope.get("user"), canvas_id, share_token=scope.get(SHARE_SCOPE_KEY), share_link_ids=link_ids
    )


async def _on_sockets_thread(function, *args):
    # Where the sockets' other queries run (Channels' one thread for them): a batch or two a period needs
    # no threads of its own, and each thread more is memory for the web process to keep.
    return await database_sync_to_async(function)(*args)


# The re-checks made while a batch is on its database thread go together as the next batch.
_rechecks: PerLoop[Coalesced] = PerLoop(lambda loop: Coalesced(access.recheck, _on_sockets_thread))
_open_prompts = database_sync_to_async(blind.open_prompts)
_reopened = database_sync_to_async(blind.reopened)
_signed_in_checks: PerLoop[Coalesced] = PerLoop(lambda loop: Coalesced(still_signed_in, _on_sockets_thread))
_recent_comments = database_sync_to_async(comments.recent)


@database_sync_to_async
def _create_comment(principal: access.Principal, node_id, text) -> dict:
    node = access.node_to_comment_on(principal, node_id)
    author = get_user_model().objects.get(pk=principal.user_id)
    return comments.created_event(comments.create(node, author, text))


# The channel-layer messages that only relay events to the browser.
RELAY_HANDLERS = frozenset({sender.HANDLER, sender.BATCH_HANDLER})


class CanvasConsumer(AsyncJsonWebsocketConsumer):
    principal: access.Principal | None = None
    group: str | None = None
    credential: Credential | None = None
    user_group: str | None = None
    checked_at = 0.0
    watcher: asyncio.Task | None = None
    presence_task: asyncio.Task | None = None
    refresh_task: asyncio.Task | None = None
    presence_stale = False
    open_prompts: set[str] = frozenset()

    async def __call__(self, scope, receive, send) -> None:
        """Channels' own loop (AsyncConsumer.__call__) waits on the socket and the channel layer at once,
        a new task and an asyncio.wait for every message: at hundreds of deltas a second that cost the web
        process a tenth or more of its CPU per token, and while a burst of prompts was being answered a delta
        waited there for up to hundreds of milliseconds, each of its several loop turns slow (bench/README).
        Here the channel's messages are read and handled on a task of their own, one loop turn each, and
        the socket's on this one. One message is handled at a time, as under Channels (a lock that costs
        nothing when free): what the group hears while the socket connects waits for the snapshot. The
        channel's receive is pending from the start, so however the socket ends, cancelling it lets the
        layer forget the channel (the pub/sub layer subscribed it in new_channel)."""
        self.scope = scope
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        self.channel_name = await self.channel_layer.new_channel()
        self.base_send = send
        self._handling = asyncio.Lock()
        relaying = asyncio.create_task(self._relay_channel())
        try:
            while True:
                message = await receive()
                async with self._handling:
                    await self.dispatch(message)
        except StopConsumer:
            pass
        finally:
            relaying.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await relaying

    async def _relay_channel(self) -> None:
        while True:
            message = await self.channel_layer.receive(self.channel_name)
            try:
                async with self._handling:
                    await self.dispatch(message)
            except OSError:  # the socket went away under a send: its disconnect ends the consumer
                return
            except Exception:
                # As a failing handler did under Channels' loop: the socket closes (1011), nothing hangs.
                log.exception("Handling %s on a canvas socket failed", message.get("type"))
                await self.close(code=1011)
                return

    async def dispatch(self, message: dict) -> None:
        # Channels closes stale database connections before every message, a hop to a worker thread
        # each time; the events relayed to the browser touch no database (an access re-check runs in a
        # thread that does its own closing), and at hundreds of deltas a second that hop was a fifth of
        # the web process's CPU.
        if message["type"] in RELAY_HANDLERS:
            await getattr(self, get_handler_name(message))(message)
        else:
            await super().dispatch(message)

    async def connect(self) -> None:
        principal = await _resolve(self.scope, self.scope["url_route"]["kwargs"]["canvas_id"])
        if principal is None:
            await self.close(code=CLOSE_NOT_ALLOWED)
            return
        self.principal, self.checked_at = principal, time.monotonic()
        self.batched = asks_for_batches(self.scope)
        self.canvas_id = str(principal.canvas_id)
        self.group = sender.canvas_group(self.canvas_id)
        self.open_prompts = await _open_prompts(self.canvas_id, principal.user_id)
        if principal.user_id is not None:
            self.credential = credential_of(self.scope, principal.user_id)
            self.user_group = sender.person_group(principal.user_id)
            await self.channel_layer.group_add(self.user_group, self.channel_name)
        # Join before reading the snapshot, so no delta falls between the two.
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.accept()
        for snapshot in await snapshots(self.canvas_id):
            await self.send_json(blind.redact_event(snapshot, self.open_prompts))
        if principal.sees_comments:
            await self.send_json({"type": "comment.snapshot", "comments": await _recent_comments(self.canvas_id)})
        await self._present()
        await self._announce_presence()
        self.watcher = asyncio.create_task(self._watch())

    async def disconnect(self, code: int) -> None:
        for task in (self.watcher, self.presence_task, self.refresh_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
        await self._leave()

    # --- client → server -----------------------------------------------------------------------------

    async def receive(self, text_data=None, bytes_data=None, **kwargs) -> None:
        try:
            content = json.loads(text_data) if text_data is not None else None
        except (ValueError, RecursionError):  # a frame nested thousands deep overflows the parser
            content = None
        if not await self._allowed():
            return
        if not isinstance(content, dict):
            await self._error(None, "invalid", "Send one JSON object per message.")
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict, **kwargs) -> None:
        kind = content.get("type")
        if kind == "comment.create":
            await self._on_comment_create(content)
        else:
            await self._error(content, "unsupported", f"Unknown message type: {str(kind)[:40]}.")

    async def _on_comment_create(self, content: dict) -> None:
        if not self.principal.can_comment:
            await self._error(content, "forbidden", "Guests cannot comment.")
            return
        try:
            event = await _create_comment(self.principal, content.get("node"), content.get("text"))
        except ApiError as exc:
            await self._error(content, exc.code, exc.message)
            return
        await sender.send(self.canvas_id, event)

    async def _error(self, content, code: str, message: str) -> None:
        reply = {"type": "error", "error": {"code": code, "message": message}}
        if isinstance(content, dict) and isinstance(content.get("ref"), str | int):
            reply["ref"] = content["ref"]
        await self.send_json(reply)

    # --- group events ------------------------------------------------------------------------------

    async def canvas_event(self, event: dict) -> None:
        if not self._still_allowed():
            return
        await self._send_frame([event["payload"]])

    async def canvas_batch(self, event: dict) -> None:
        """One tick of a worker's events for this canvas, sent on as one WebSocket message."""
        if not self._still_allowed():
            return
        await self._send_frame(event["payloads"])

    async def _send_frame(self, payloads: list[dict | str]) -> None:
        """Events as this viewer may see them, in order: one WebSocket message each (the contract's
        default), or, for a socket that asked for batches (`?frames=batch`, as the canvas page does), a
        tick's events in one message, a JSON array (one event alone stays an object). A delta comes
        encoded already (engine.sender): text only, nothing to hide."""
        parts = []
        for payload in payloads:
            if isinstance(payload, str):
                parts.append(payload)
            else:
                parts.extend(json.dumps(visible) for visible in await self._visible(payload))
        if not self.batched or len(parts) == 1:
            for part in parts:
                await self.send(text_data=part)
        elif parts:
            await self.send(text_data=f"[{','.join(parts)}]")

    async def _visible(self, payload: dict) -> list[dict]:
        """An event as this viewer may see it (none, or with what it newly shows them), noting what it
        changes of what they may see."""
        kind = payload.get("type")
        if str(kind).startswith("comment.") and not self.principal.sees_comments:
            return []
        if kind == "prompt.revealed":
            self.open_prompts = {*self.open_prompts, payload["prompt"]["id"]}
        elif kind in ("vote.recorded", "vote.deleted"):
            if not self.principal.sees_votes:
                return []
            user = self.scope.get("user")
            if user is not None and payload["vote"].get("judge", {}).get("user") == user.get_username():
                self.open_prompts, updates = await _reopened(self.canvas_id, self.principal.user_id, self.open_prompts)
                return [payload, *updates]
            return [payload]
        return [blind.redact_event(payload, self.open_prompts)]

    async def access_recheck(self, event: dict) -> None:
        await self._allowed(force=True)

    async def auth_recheck(self, event: dict) -> None:
        if self.credential is None:
            return
        ended = self.credential.ended_by(event)
        if ended is None:  # not said which: check this socket's own
            ended = not await _signed_in_checks.get()(self.credential)
        if ended:
            await self._deny(CLOSE_SIGNED_OUT)

    async def presence_changed(self, event: dict) -> None:
        # Many arrivals at once (a meeting starting) make one read of the store per socket, not one each.
        self.presence_stale = True
        if self.presence_task is None or self.presence_task.done():
            self.presence_task = asyncio.create_task(self._send_presence())

    async def _send_presence(self) -> None:
        while self.presence_stale:  # a change during the read below makes one more round
            await asyncio.sleep(PRESENCE_SETTLE_S)
            self.presence_stale = False
            if not await self._allowed():
                return
            entries = await presence_store().entries(self.canvas_id)
            await self.send_json({"type": "presence", "users": people(entries)})

    # --- access ------------------------------------------------------------------------------------

    async def _allowed(self, *, force: bool = False) -> bool:
        """For a client message: checked now if the last check is stale."""
        if self.principal is None:
            return False
        if not force and not _stale(self.checked_at):
            return True
        return await self._refresh()

    def _still_allowed(self) -> bool:
        """For an event on its way out: streams must not wait on the database, so a stale check is
        renewed in the background (an access change also arrives at once as `access.recheck`)."""
        if self.principal is None:
            return False
        if _stale(self.checked_at) and (self.refresh_task is None or self.refresh_task.done()):
            self.refresh_task = asyncio.create_task(self._refresh())
        return True

    async def _refresh(self) -> bool:
        if self.principal is None:
            return False
        self.checked_at = time.monotonic()
        principal = await _rechecks.get()(self.principal)
        if principal is None or self.principal is None:
            await self._deny()
            return False
        self.principal = principal
        return True

    async def _deny(self, code: int = CLOSE_NOT_ALLOWED) -> None:
        if self.principal is None and self.group is None:
            return
        self.principal = None
        await self._leave()
        await self.close(code=code)

    async def _watch(self) -> None:
        # The checks at the process's period, as the re-checks: every socket's fall due at once and go in
        # a batch or two, so a thousand quiet sockets make a few queries every WATCH_S, not two each. The
        # presence refresh keeps the socket's own moment in the period: a hundred Redis writes at once held
        # the loop (and every stream it relays) ~20 ms, a thousand ~130 ms.
        own_moment = time.monotonic() % WATCH_S
        period = time.monotonic() // WATCH_S
        while self.principal is not None:
            period += 1
            await asyncio.sleep(max(0.0, period * WATCH_S - time.monotonic()))
            # A timer may fire a little early, or very late after a stall: either way, once a period.
            period = max(period, time.monotonic() // WATCH_S)
            try:
                if self.credential is not None and not await _signed_in_checks.get()(self.credential):
                    await self._deny(CLOSE_SIGNED_OUT)
                elif await self._allowed(force=True):
                    await asyncio.sleep(own_moment)
                    if self.principal is not None:
                        await self._present()
            except Exception:
                # One failed check (the database briefly away) must not end the watch: the next one retries.
                log.exception("Re-checking access of a canvas socket failed")

    # --- presence ----------------------------------------------------------------------------------

    async def _present(self) -> None:
        entry = {"user": self.principal.user_id, "name": self.principal.name}
        await presence_store().join(self.canvas_id, self.channel_name, entry)

    async def _leave(self) -> None:
        if self.user_group is not None:
            user_group_name, self.user_group = self.user_group, None
            await self.channel_layer.group_discard(user_group_name, self.channel_name)
        if self.group is None:
            return
        group, self.group = self.group, None
        await self.channel_layer.group_discard(group, self.channel_name)
        await presence_store().leave(self.canvas_id, self.channel_name)
        await sender.notify(group, {"type": PRESENCE_CHANGED})

    async def _announce_presence(self) -> None:
        await sender.notify(self.group, {"type": PRESENCE_CHANGED})


def asks_for_batches(scope) -> bool:
    """Whether the socket asked for a tick's events in one message (`?frames=batch`): fewer, larger
    messages for a client that unpacks arrays; any other client gets one event object per message."""
    return "batch" in parse_qs(scope.get("query_string", b"").decode("latin-1")).get("frames", [])
