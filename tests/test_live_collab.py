"""Live collaboration on one canvas: who is there, comments, catching up after a drop, and sockets that
lose their access (a removed member, a revoked or expired link, a moved canvas) being closed with 4403.

The consumer reads the database from worker threads, so these tests commit (transaction=True).
"""

from __future__ import annotations

import asyncio
import json
import time
from dataclasses import replace
from datetime import timedelta

import pytest
import pytest_asyncio
from asgiref.sync import sync_to_async
from channels.layers import get_channel_layer
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.db import connections
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import ApiToken
from canvas import access, consumers
from canvas.membership import RECHECK
from canvas.models import Comment, Membership, Node, NodeKind, Role, ShareLink, Team
from canvas.presence import RedisPresence, people
from canvas.ws_auth import Credential, still_signed_in
from config.asgi import application
from engine import events, sender
from engine.redis_clients import loop_client
from tests.listening import CanvasSocket, before_marker
from tests.stack import _redis_database
from tests.waiting import until

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.asyncio]

RECEIVE_S = 5


@pytest_asyncio.fixture(autouse=True)
async def clean_up():
    yield
    await get_channel_layer().flush()
    await sync_to_async(connections.close_all)()


@pytest.fixture
def bob(django_user_model):
    return django_user_model.objects.create_user("bob", first_name="Bob", last_name="Builder", email="bob@example.com")


@pytest.fixture
def team(alice, bob, alice_canvas):
    """Alice's personal team, where bob is a viewer, holding alice_canvas."""
    Membership.objects.create(team=alice_canvas.team, user=bob, role=Role.VIEWER)
    return alice_canvas.team


@pytest.fixture
def note(alice_canvas, alice):
    return Node.objects.create(canvas=alice_canvas, kind=NodeKind.NOTE, text="A note", created_by=alice)


def token(user) -> str:
    return ApiToken.issue(user)[1]


async def join(canvas, user=None, share: str | None = None) -> CanvasSocket:
    if share is not None:
        communicator = CanvasSocket(application, f"/ws/canvases/{canvas.id}/?share={share}")
    else:
        raw = await sync_to_async(token)(user)
        headers = [(b"authorization", f"Bearer {raw}".encode())]
        communicator = CanvasSocket(application, f"/ws/canvases/{canvas.id}/", headers=headers)
    connected, _ = await communicator.connect(timeout=RECEIVE_S)
    assert connected
    return communicator


async def next_of(communicator: CanvasSocket, kind: str) -> dict:
    while True:
        event = await communicator.receive_json_from(timeout=RECEIVE_S)
        if event["type"] == kind:
            return event


async def presence_becomes(communicator: CanvasSocket, names: list[str]) -> dict:
    while True:
        event = await next_of(communicator, "presence")
        if [person["name"] for person in event["users"]] == names:
            return event


async def close_code(communicator: CanvasSocket, *, stale_events: int = 0) -> int:
    """Read until the server closes the socket; what it sends on the way must not be node events,
    but for `stale_events` delivered while a stale access check is being renewed."""
    while True:
        output = await communicator.receive_output(timeout=RECEIVE_S)
        if output["type"] == "websocket.close":
            return output["code"]
        if json.loads(output["text"])["type"].startswith("node."):
            assert stale_events > 0, output
            stale_events -= 1


async def nothing_but(communicator: CanvasSocket, canvas, *allowed: str) -> bool:
    """True when everything sent to the socket so far is of the `allowed` types."""
    return all(event["type"] in allowed for event in await before_marker(communicator, canvas.id))


def share_token(canvas, by) -> str:
    return ShareLink.issue(canvas, by)[1]


# --- presence ----------------------------------------------------------------------------------------


async def test_everyone_on_a_canvas_sees_who_is_there(alice, bob, team, alice_canvas):
    first = await join(alice_canvas, alice)
    await presence_becomes(first, ["alice"])

    second = await join(alice_canvas, bob)

    seen_by_alice = await presence_becomes(first, ["alice", "Bob Builder"])
    seen_by_bob = await presence_becomes(second, ["alice", "Bob Builder"])
    assert seen_by_alice == seen_by_bob
    assert all(set(person) == {"name", "guest"} for person in seen_by_bob["users"])
    assert "example.com" not in json.dumps(seen_by_bob)
    await first.disconnect()
    await second.disconnect()


async def test_someone_leaving_is_gone_from_presence(alice, bob, team, alice_canvas):
    first = await join(alice_canvas, alice)
    second = await join(alice_canvas, bob)
    await presence_becomes(first, ["alice", "Bob Builder"])

    await second.disconnect()

    await presence_becomes(first, ["alice"])
    await first.disconnect()


async def test_a_share_link_holder_shows_as_guest(alice, alice_canvas):
    raw = await sync_to_async(share_token)(alice_canvas, alice)
    first = await join(alice_canvas, alice)

    guest = await join(alice_canvas, share=raw)

    event = await presence_becomes(first, ["alice", "guest"])
    assert event["users"][1] == {"name": "guest", "guest": True}
    await presence_becomes(guest, ["alice", "guest"])
    await first.disconnect()
    await guest.disconnect()


async def test_two_tabs_of_one_person_show_them_once(alice, bob, team, alice_canvas):
    first = await join(alice_canvas, alice)
    second = await join(alice_canvas, alice)
    await presence_becomes(second, ["alice"])

    await second.disconnect()

    # Someone arriving after the tab closed is shown who is there now: alice's other tab still counts.
    arriving = await join(alice_canvas, bob)
    assert [p["name"] for p in (await next_of(arriving, "presence"))["users"]] == ["alice", "Bob Builder"]
    await arriving.disconnect()
    await first.disconnect()


# --- comments ----------------------------------------------------------------------------------------


async def test_a_viewers_comment_reaches_everyone_on_the_canvas(alice, bob, team, alice_canvas, note):
    first = await join(alice_canvas, alice)
    second = await join(alice_canvas, bob)

    await second.send_json_to({"type": "comment.create", "node": str(note.id), "text": "  Looks right.  "})

    for communicator in (first, second):
        event = await next_of(communicator, "comment.created")
        assert event["comment"]["author"] == "Bob Builder"
        assert (event["comment"]["node"], event["comment"]["text"]) == (str(note.id), "Looks right.")
    stored = await sync_to_async(Comment.objects.select_related("author").get)()
    assert (stored.author.username, stored.node_id, stored.text) == ("bob", note.id, "Looks right.")
    await first.disconnect()
    await second.disconnect()


async def test_a_comment_through_the_api_reaches_the_sockets(alice, bob, team, alice_canvas, note):
    first = await join(alice_canvas, alice)

    def post():
        client = Client()
        client.force_login(bob)
        body = json.dumps({"text": "From a script"})
        return client.post(f"/api/nodes/{note.id}/comments", body, content_type="application/json")

    response = await sync_to_async(post)()

    assert response.status_code == 201
    event = await next_of(first, "comment.created")
    assert event["comment"] == response.json()
    await first.disconnect()


async def test_a_client_that_reconnects_catches_up_on_comments(alice, bob, team, alice_canvas, note):
    first = await join(alice_canvas, alice)
    await first.disconnect()
    await sync_to_async(Comment.objects.create)(node=note, author=bob, text="While you were away")

    again = await join(alice_canvas, alice)

    snapshot = await next_of(again, "comment.snapshot")
    assert [(c["author"], c["text"]) for c in snapshot["comments"]] == [("Bob Builder", "While you were away")]
    await again.disconnect()


async def test_an_empty_comment_is_refused(alice, alice_canvas, note):
    first = await join(alice_canvas, alice)

    await first.send_json_to({"type": "comment.create", "node": str(note.id), "text": "   ", "ref": "c1"})

    reply = await next_of(first, "error")
    assert reply == {
        "type": "error",
        "error": {"code": "invalid", "message": "A comment needs some text."},
        "ref": "c1",
    }
    await first.disconnect()


async def test_guests_see_no_comments(alice, alice_canvas, note):
    await sync_to_async(Comment.objects.create)(node=note, author=alice, text="Internal")
    raw = await sync_to_async(share_token)(alice_canvas, alice)
    guest = await join(alice_canvas, share=raw)
    first = await join(alice_canvas, alice)

    await first.send_json_to({"type": "comment.create", "node": str(note.id), "text": "Also internal"})
    await next_of(first, "comment.created")

    assert await nothing_but(guest, alice_canvas, "presence")
    await guest.disconnect()
    await first.disconnect()


async def test_guests_see_no_comments_made_through_the_api(alice, alice_canvas, note):
    # The API's comments reach the sockets in a batch message, not as the socket's own single event.
    raw = await sync_to_async(share_token)(alice_canvas, alice)
    guest = await join(alice_canvas, share=raw)
    first = await join(alice_canvas, alice)

    def post():
        client = Client()
        client.force_login(alice)
        body = json.dumps({"text": "Internal, from a script"})
        return client.post(f"/api/nodes/{note.id}/comments", body, content_type="application/json")

    assert (await sync_to_async(post)()).status_code == 201
    await next_of(first, "comment.created")

    assert await nothing_but(guest, alice_canvas, "presence")
    await guest.disconnect()
    await first.disconnect()


async def test_an_unknown_message_is_answered_with_an_error(alice, alice_canvas):
    first = await join(alice_canvas, alice)

    await first.send_json_to({"type": "node.delete", "node": "x"})

    assert (await next_of(first, "error"))["error"]["code"] == "unsupported"
    await first.disconnect()


# --- losing access -----------------------------------------------------------------------------------


async def test_a_removed_members_socket_is_closed(alice, bob, team, alice_canvas):
    watching = await join(alice_canvas, bob)

    def remove():
        client = Client()
        client.force_login(alice)
        key = Membership.objects.get(team=team, user=bob).key
        return client.delete(f"/api/teams/{team.id}/members/{key}")

    assert (await sync_to_async(remove)()).status_code == 204

    assert await close_code(watching) == consumers.CLOSE_NOT_ALLOWED


async def test_a_revoked_links_socket_is_closed(alice, alice_canvas):
    link, raw = await sync_to_async(ShareLink.issue)(alice_canvas, alice)
    guest = await join(alice_canvas, share=raw)

    def revoke():
        client = Client()
        client.force_login(alice)
        return client.delete(f"/api/canvases/{alice_canvas.id}/share-links/{link.id}")

    assert (await sync_to_async(revoke)()).status_code == 204

    assert await close_code(guest) == consumers.CLOSE_NOT_ALLOWED


async def test_a_moved_canvas_closes_the_old_teams_sockets(alice, bob, team, alice_canvas):
    watching = await join(alice_canvas, bob)
    owner = await join(alice_canvas, alice)

    def move():
        elsewhere = Team.objects.create(name="Elsewhere")
        Membership.objects.create(team=elsewhere, user=alice, role=Role.OWNER)
        client = Client()
        client.force_login(alice)
        body = json.dumps({"team": str(elsewhere.id)})
        return client.post(f"/api/canvases/{alice_canvas.id}/move", body, content_type="application/json")

    assert (await sync_to_async(move)()).status_code == 200

    assert await close_code(watching) == consumers.CLOSE_NOT_ALLOWED
    assert await nothing_but(owner, alice_canvas, "presence", "comment.snapshot")
    await owner.disconnect()


async def test_every_event_is_checked_again_even_when_no_one_announced_a_change(
    alice, bob, team, alice_canvas, monkeypatch
):
    """Access taken away behind the app's back (in the database directly): the next event delivered
    renews the check (in the background, so streams never wait on the database) and the socket closes."""
    monkeypatch.setattr(consumers, "RECHECK_S", 0.0)
    watching = await join(alice_canvas, bob)
    await sync_to_async(Membership.objects.filter(user=bob, team=team).delete)()

    for n in range(3):
        await sender.send(alice_canvas.id, events.NodeCreated(type="node.created", node={"id": f"n{n}"}))

    assert await close_code(watching, stale_events=3) == consumers.CLOSE_NOT_ALLOWED


async def test_an_expired_links_socket_stops_receiving(alice, alice_canvas, monkeypatch):
    monkeypatch.setattr(consumers, "RECHECK_S", 0.0)
    link, raw = await sync_to_async(ShareLink.issue)(alice_canvas, alice, "", timezone.now() + timedelta(days=1))
    guest = await join(alice_canvas, share=raw)
    past = timezone.now() - timedelta(seconds=1)
    await sync_to_async(ShareLink.objects.filter(pk=link.pk).update)(expires_at=past)

    for n in range(3):
        await sender.send(alice_canvas.id, events.NodeCreated(type="node.created", node={"id": f"n{n}"}))

    assert await close_code(guest, stale_events=3) == consumers.CLOSE_NOT_ALLOWED


async def test_a_promoted_viewer_is_served_with_the_new_role(alice, bob, team, alice_canvas):
    """A socket's access is re-read with the role as it stands now, in both directions."""
    viewer = access.Principal(canvas_id=alice_canvas.id, user_id=bob.id, name="Bob Builder", role=Role.VIEWER)
    await sync_to_async(Membership.objects.filter(user=bob, team=team).update)(role=Role.EDITOR)

    [promoted] = await sync_to_async(access.recheck)([viewer])
    assert promoted.role == Role.EDITOR and promoted.can_write

    await sync_to_async(Membership.objects.filter(user=bob, team=team).update)(role=Role.VIEWER)
    [demoted] = await sync_to_async(access.recheck)([promoted])
    assert demoted.role == Role.VIEWER and not demoted.can_write


async def test_many_principals_rechecked_at_once_each_get_their_own_answer(alice, bob, charlie, team, alice_canvas):
    """One batch mixes members and guests of several canvases: each is answered for its own canvas, never
    with a role another person or another canvas has."""
    await sync_to_async(_recheck_many, thread_sensitive=True)(alice, bob, charlie, alice_canvas)


def _recheck_many(alice, bob, charlie, alice_canvas):
    charlies = Team.objects.create(name="Charlie's")
    Membership.objects.create(team=charlies, user=charlie, role=Role.EDITOR)
    charlie_canvas = charlies.canvases.create(title="Charlie's canvas", created_by=charlie)
    alive, _ = ShareLink.issue(alice_canvas, alice, "", timezone.now() + timedelta(days=1))
    revoked, _ = ShareLink.issue(alice_canvas, alice, "", timezone.now() + timedelta(days=1))
    ShareLink.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    member = access.Principal

    asked = [
        member(canvas_id=alice_canvas.id, user_id=alice.id, role=Role.OWNER),
        member(canvas_id=alice_canvas.id, user_id=bob.id, role=Role.EDITOR),  # demoted since to viewer
        member(canvas_id=charlie_canvas.id, user_id=charlie.id, role=Role.EDITOR),
        member(canvas_id=charlie_canvas.id, user_id=bob.id, role=Role.VIEWER),  # never a member there
        member(canvas_id=alice_canvas.id, user_id=charlie.id, role=Role.VIEWER),  # nor here
        member(canvas_id=alice_canvas.id, share_link_id=alive.id),
        member(canvas_id=alice_canvas.id, share_link_id=revoked.id),
        member(canvas_id=charlie_canvas.id, share_link_id=alive.id),  # a link of another canvas
    ]
    answers = access.recheck(asked)

    demoted = replace(asked[1], role=Role.VIEWER)
    assert answers == [asked[0], demoted, asked[2], None, None, asked[5], None, None]
    assert answers[0] is asked[0]  # unchanged: the same principal

    get_user_model().objects.filter(pk=charlie.pk).update(is_active=False)
    charlie_canvas.deleted_at = timezone.now()
    charlie_canvas.save(update_fields=["deleted_at"])
    assert [a is not None for a in access.recheck(asked[:3])] == [True, True, False]
    # A deleted canvas beside a live one of the same team: the role is read for the very canvas asked.
    deleted = alice_canvas.team.canvases.create(title="Gone", created_by=alice, deleted_at=timezone.now())
    assert access.recheck([member(canvas_id=deleted.id, user_id=alice.id, role=Role.OWNER), asked[0]]) == [
        None,
        asked[0],
    ]
    assert access.recheck([]) == []


async def next_period(period_s: float, *, ahead_s: float = 0.0) -> int:
    """Sleep until `ahead_s` before the next period of `period_s` (the consumer's clock) begins; its number."""
    now = time.monotonic()
    starts = now - now % period_s + period_s
    if starts - ahead_s <= now:
        starts += period_s
    await asyncio.sleep(starts - ahead_s - now)
    return round(starts / period_s)


async def test_a_processs_sockets_falling_due_together_are_rechecked_together(alice, alice_team, monkeypatch):
    """Sockets checked at different moments of a period still fall due together, at the start of the
    process's next period, and their refreshes, made as their next events go out, share a batch: a query
    or two a period for the process, not one per socket."""
    monkeypatch.setattr(consumers, "RECHECK_S", 1.0)
    # The watchdog re-checks every socket at its own period; were one of its boundaries the one awaited
    # below, it could refresh them all before the count starts, leaving the events nothing to refresh.
    monkeypatch.setattr(consumers, "WATCH_S", 1e6)
    batches: list[int] = []
    real = access.recheck

    def counted(principals):
        batches.append(len(principals))
        return real(principals)

    monkeypatch.setattr(access, "recheck", counted)
    make = lambda: [alice_team.canvases.create(title=f"C{n}", created_by=alice) for n in range(8)]  # noqa: E731
    canvases = await sync_to_async(make)()
    sockets = [await join(canvas, alice) for canvas in canvases]
    await next_period(1.0)
    for canvas in canvases:  # each socket checked afresh (an announced change), 0.1 s after the one before
        await asyncio.sleep(0.1)
        await get_channel_layer().group_send(sender.canvas_group(canvas.id), {"type": RECHECK})
    await until(lambda: sum(batches) >= len(sockets))
    await next_period(1.0)
    await asyncio.sleep(0.02)
    batches.clear()

    for canvas in canvases:
        await sender.send(canvas.id, events.NodeCreated(type="node.created", node={"id": "n"}))
    for socket in sockets:
        await next_of(socket, "node.created")
    await until(lambda: sum(batches) >= len(sockets))

    assert sum(batches) == len(sockets), batches  # every socket due, however recent its last check
    assert len(batches) <= 3, batches  # and they went together
    for socket in sockets:
        await socket.disconnect()


async def test_a_malformed_message_is_answered_and_the_socket_stays(alice, alice_canvas):
    first = await join(alice_canvas, alice)

    await first.send_to(text_data="{not json")
    await first.send_to(text_data="[1, 2]")

    assert (await next_of(first, "error"))["error"]["code"] == "invalid"
    assert (await next_of(first, "error"))["error"]["code"] == "invalid"
    await first.send_json_to({"type": "ping"})
    assert (await next_of(first, "error"))["error"]["code"] == "unsupported"
    await first.disconnect()


# --- presence across processes ----------------------------------------------------------------------


async def test_presence_is_shared_between_web_processes_through_redis():
    """Two stores on one Redis stand for two web processes; an entry nobody refreshes expires."""
    with _redis_database() as url:
        one, other = RedisPresence(url), RedisPresence(url)
        try:
            await one.join("canvas-1", "socket-a", {"user": 1, "name": "alice"})
            await other.join("canvas-1", "socket-b", {"user": None, "name": "guest"})
            assert people(await one.entries("canvas-1")) == [ALICE, GUEST]

            await other.leave("canvas-1", "socket-b")
            assert people(await one.entries("canvas-1")) == [ALICE]

            # An entry last refreshed a while ago: its process died without saying goodbye.
            await other.join("canvas-1", "socket-c", {"user": 2, "name": "bob"}, ttl=-1)
            assert people(await one.entries("canvas-1")) == [ALICE]
            assert people(await one.entries("canvas-2")) == []
        finally:
            await loop_client(url).aclose()  # the one client both stores used on this loop


ALICE = {"name": "alice", "guest": False}
GUEST = {"name": "guest", "guest": True}


async def test_a_guest_watching_through_a_demoted_members_link_is_closed(alice, bob, team, alice_canvas):
    await sync_to_async(Membership.objects.filter(user=bob, team=team).update)(role=Role.EDITOR)
    _, raw = await sync_to_async(ShareLink.issue)(alice_canvas, bob)
    guest = await join(alice_canvas, share=raw)

    def demote():
        client = Client()
        client.force_login(alice)
        key = Membership.objects.get(team=team, user=bob).key
        body = json.dumps({"role": "viewer"})
        return client.patch(f"/api/teams/{team.id}/members/{key}", body, content_type="application/json")

    assert (await sync_to_async(demote)()).status_code == 200

    assert await close_code(guest) == consumers.CLOSE_NOT_ALLOWED


# --- signing out ---------------------------------------------------------------------------------------


def signed_in_browser(user) -> tuple[Client, list[tuple[bytes, bytes]]]:
    """A browser signed in as `user`, and the headers its canvas page's socket sends."""
    client = Client()
    client.force_login(user)
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    return client, [(b"host", b"localhost"), (b"origin", b"http://localhost"), (b"cookie", cookie)]


async def open_with(canvas, headers) -> CanvasSocket:
    communicator = CanvasSocket(application, f"/ws/canvases/{canvas.id}/", headers=headers)
    assert (await communicator.connect(timeout=RECEIVE_S))[0]
    return communicator


async def still_open(communicator: CanvasSocket) -> bool:
    """The socket answers a message: it is still open (an unknown type earns an error)."""
    await communicator.send_json_to({"type": "ping"})
    return (await next_of(communicator, "error"))["error"]["code"] == "unsupported"


async def test_a_revoked_tokens_socket_is_closed_and_other_tokens_stay(alice, alice_canvas):
    revoked, kept = await sync_to_async(ApiToken.issue)(alice), await sync_to_async(ApiToken.issue)(alice)
    sockets = [
        await open_with(alice_canvas, [(b"authorization", f"Bearer {raw}".encode())]) for _, raw in (revoked, kept)
    ]
    browser, _ = await sync_to_async(signed_in_browser)(alice)

    response = await sync_to_async(browser.post)(f"/accounts/tokens/{revoked[0].id}/revoke")

    assert response.status_code == 302
    assert await close_code(sockets[0]) == consumers.CLOSE_SIGNED_OUT
    assert await still_open(sockets[1])
    await sockets[1].disconnect()


async def test_signing_out_closes_that_sessions_sockets_only(alice, alice_canvas):
    (leaving, leaving_headers), (staying, staying_headers) = [
        await sync_to_async(signed_in_browser)(alice) for _ in range(2)
    ]
    closing, open_one = await open_with(alice_canvas, leaving_headers), await open_with(alice_canvas, staying_headers)

    assert (await sync_to_async(leaving.post)("/accounts/logout/")).status_code == 302

    assert await close_code(closing) == consumers.CLOSE_SIGNED_OUT
    assert await still_open(open_one)
    await open_one.disconnect()


async def test_a_password_change_closes_every_other_session_and_token_socket(alice, alice_canvas):
    browser, headers = await sync_to_async(signed_in_browser)(alice)
    _, other_headers = await sync_to_async(signed_in_browser)(alice)
    _, raw = await sync_to_async(ApiToken.issue)(alice)
    sockets = [
        await open_with(alice_canvas, h) for h in (other_headers, [(b"authorization", f"Bearer {raw}".encode())])
    ]
    form = {"old_password": "alice-password-1", "new_password1": "a-new-secret-17", "new_password2": "a-new-secret-17"}

    assert (await sync_to_async(browser.post)("/accounts/password/change/", form)).status_code == 302

    assert [await close_code(s) for s in sockets] == [consumers.CLOSE_SIGNED_OUT] * 2
    assert not await sync_to_async(ApiToken.objects.active().filter(user=alice).exists)()
    assert (await sync_to_async(browser.get)("/accounts/")).status_code == 200  # the changer stays signed in


async def test_the_watchdog_closes_a_socket_whose_password_changed_unannounced(alice, alice_canvas, monkeypatch):
    """A password changed where no event reaches this process (another process, embedded mode): the
    socket's periodic check notices its session's hash no longer matches."""
    monkeypatch.setattr(consumers, "WATCH_S", 0.05)
    _, headers = await sync_to_async(signed_in_browser)(alice)
    watching = await open_with(alice_canvas, headers)

    await sync_to_async(get_user_model().objects.filter(pk=alice.pk).update)(password="md5$changed$elsewhere")

    assert await close_code(watching) == consumers.CLOSE_SIGNED_OUT


async def test_many_sign_ins_checked_at_once_each_get_their_own_answer(alice, bob):
    await sync_to_async(_sign_ins_checked_at_once, thread_sensitive=True)(alice, bob)


def _sign_ins_checked_at_once(alice, bob):
    (kept, _), (revoked, _), (bobs, _) = ApiToken.issue(alice), ApiToken.issue(alice), ApiToken.issue(bob)
    ApiToken.objects.filter(pk=revoked.pk).update(revoked_at=timezone.now())
    browser, _ = signed_in_browser(alice)
    session = browser.cookies["sessionid"].value
    asked = [
        Credential(user_id=alice.id, token_id=kept.id),
        Credential(user_id=alice.id, token_id=revoked.id),
        Credential(user_id=alice.id, token_id=bobs.id),  # bob's token is not alice's
        Credential(user_id=bob.id, token_id=bobs.id),
        Credential(user_id=alice.id, session_key=session),
        Credential(user_id=bob.id, session_key=session),  # alice's session is not bob's
        Credential(user_id=alice.id),  # neither
    ]

    assert still_signed_in(asked) == [True, False, False, True, True, False, False]

    get_user_model().objects.filter(pk=bob.pk).update(is_active=False)
    assert still_signed_in(asked[2:4]) == [False, False]
    assert still_signed_in([]) == []


async def test_many_browser_sessions_are_checked_in_a_few_queries(alice, bob):
    await sync_to_async(_sessions_checked_at_once, thread_sensitive=True)(alice, bob)


def _sessions_checked_at_once(alice, bob):
    sessions = {}
    for name, user in (("alice", alice), ("alice again", alice), ("bob", bob), ("bob, expired", bob)):
        browser, _ = signed_in_browser(user)
        sessions[name] = browser.cookies["sessionid"].value
    Session.objects.filter(session_key=sessions["bob, expired"]).update(expire_date=timezone.now())
    asked = [
        Credential(user_id=alice.id, session_key=sessions["alice"]),
        Credential(user_id=alice.id, session_key=sessions["alice again"]),
        Credential(user_id=bob.id, session_key=sessions["bob"]),
        Credential(user_id=bob.id, session_key=sessions["bob, expired"]),
        Credential(user_id=bob.id, session_key="no-such-session"),
    ]

    # The sessions in one query and their users in one, however many browsers.
    with CaptureQueriesContext(connections["default"]) as queries:
        assert still_signed_in(asked) == [True, True, True, False, False]
    assert len(queries) == 2, [q["sql"] for q in queries]

    get_user_model().objects.filter(pk=alice.pk).update(password="md5$changed$elsewhere")
    assert still_signed_in(asked[:3]) == [False, False, True]  # a password changed ends its sessions


async def test_a_processs_sockets_are_watched_together_and_keep_their_own_presence_moments(
    alice, alice_canvas, monkeypatch
):
    """Sockets opened at different moments are watched at the same moments (the process's period of
    WATCH_S): their sign-ins are checked in a batch or two each period, not one query each. Each refreshes
    its presence at its own moment in the period, as a hundred Redis writes at once would hold the loop."""
    monkeypatch.setattr(consumers, "WATCH_S", 0.4)
    batches: dict[int, list[int]] = {}  # by the start of the period they were made at
    refreshed_at: list[float] = []

    def counted(credentials):
        # Made just after its period's start (a timer may fire a little early): up to 0.35 s late on a busy
        # machine still counts for that period.
        batches.setdefault(round((time.monotonic() - 0.15) / 0.4), []).append(len(credentials))
        return still_signed_in(credentials)

    class TimedPresence:
        def __init__(self, store):
            self.store = store

        async def join(self, *args, **kwargs):
            refreshed_at.append(time.monotonic())
            return await self.store.join(*args, **kwargs)

        def __getattr__(self, name):
            return getattr(self.store, name)

    real_presence = consumers.presence_store
    monkeypatch.setattr(consumers, "still_signed_in", counted)
    monkeypatch.setattr(consumers, "presence_store", lambda: TimedPresence(real_presence()))
    sockets = []
    for _ in range(8):  # opened over a whole period: each one's own timer would fire at a different moment
        sockets.append(await join(alice_canvas, alice))
        await asyncio.sleep(0.05)
    first = await next_period(0.4, ahead_s=0.1)
    batches.clear()
    refreshed_at.clear()

    await until(lambda: sum(batches.get(first + 1, [])) >= len(sockets))

    for period in (first, first + 1):
        assert sum(batches.get(period, [])) == len(sockets), batches  # every socket watched
        assert len(batches[period]) <= 3, batches  # in a batch or two
    assert len(refreshed_at) >= len(sockets), refreshed_at
    crowded = max(sum(1 for u in refreshed_at if t <= u < t + 0.02) for t in refreshed_at)
    assert crowded <= 3, sorted(refreshed_at)  # spread over the period, not all at once
    for socket in sockets:
        await socket.disconnect()
