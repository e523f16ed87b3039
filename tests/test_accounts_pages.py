"""Account pages: sign up, sign in and out, change and reset a password, and personal API tokens."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.core import signing
from django.test import Client

from accounts import signup_links
from accounts.models import ApiToken
from canvas.models import Invite

pytestmark = pytest.mark.django_db

FINISH = {"username": "zoe", "password1": "a-long-pass-phrase", "password2": "a-long-pass-phrase"}
CSRF = re.compile(rb'(name="csrfmiddlewaretoken" value="|"X-CSRFToken": ")[^"]+')


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def sign_up_link(mailoutbox, email: str = "zoe@example.com", **extra) -> str:
    """Ask to sign up with `email`; the path of the link the mail brings."""
    sent = Client().post("/accounts/signup/", {"email": email, **extra})
    assert sent.status_code == 302, sent.content
    return re.search(r"http://testserver(/accounts/signup/finish/\S+/)", mailoutbox[-1].body).group(1)


def backdated(link: str, hours: int) -> str:
    """The same link as if it had been mailed `hours` ago."""

    class SignedEarlier(signing.TimestampSigner):
        def timestamp(self) -> str:
            return signing.b62_encode(int(time.time()) - hours * 3600)

    token = link.split("/")[-2]
    payload = signing.loads(token, salt=signup_links.SALT)
    return f"/accounts/signup/finish/{SignedEarlier(salt=signup_links.SALT).sign_object(payload)}/"


# --- signing up, in and out --------------------------------------------------------------------------


def test_signing_up_mails_a_link_where_one_chooses_a_name_and_password_and_is_signed_in(mailoutbox):
    client = Client()

    asked = client.post("/accounts/signup/", {"email": "zoe@example.com"})

    assert asked["Location"] == "/accounts/signup/sent/"
    assert b"Check your email" in client.get(asked["Location"]).content
    assert not get_user_model().objects.exists()
    [mail] = mailoutbox
    assert mail.to == ["zoe@example.com"] and mail.subject == "Finish creating your Prism account"
    link = re.search(r"http://testserver(/accounts/signup/finish/\S+/)", mail.body).group(1)
    page = client.get(link)
    assert page.status_code == 200 and b"zoe@example.com" in page.content

    done = client.post(link, FINISH)

    assert done.status_code == 302 and done["Location"] == "/"
    zoe = get_user_model().objects.get(username="zoe")
    assert zoe.email == "zoe@example.com" and zoe.check_password("a-long-pass-phrase")
    assert zoe.teams.filter(personal=True, memberships__role="owner").exists()
    assert client.get("/").status_code == 200


def test_sign_up_answers_the_same_whether_or_not_the_address_has_an_account(alice, mailoutbox):
    alice.email = "alice@example.com"
    alice.save()

    def ask(email: str) -> tuple:
        client = Client()
        posted = client.post("/accounts/signup/", {"email": email})
        page = client.get(posted["Location"])
        headers = lambda r: {k: v for k, v in r.items() if k != "Date"}  # noqa: E731
        return posted.status_code, headers(posted), posted.content, page.status_code, headers(page), page.content

    registered, unregistered = ask("Alice@Example.com"), ask("nobody@example.com")

    assert CSRF.sub(b"", registered[5]) == CSRF.sub(b"", unregistered[5])
    assert registered[:5] == unregistered[:5]
    assert registered[0] == 302 and registered[3] == 200
    # Only the address's owner learns which it was, by mail.
    existing, new = mailoutbox
    assert existing.to == ["Alice@Example.com"] and existing.subject == "You have a Prism account already"
    assert "alice" in existing.body and "http://testserver/accounts/password/reset/" in existing.body
    assert "/signup/finish/" not in existing.body
    assert new.to == ["nobody@example.com"] and "http://testserver/accounts/signup/finish/" in new.body


def test_sign_up_refuses_what_is_not_an_address(mailoutbox):
    response = Client().post("/accounts/signup/", {"email": "not an address"})

    assert response.status_code == 400 and b"valid email address" in response.content
    assert mailoutbox == []


def test_a_sign_up_link_works_once(mailoutbox):
    link = sign_up_link(mailoutbox)
    assert Client().post(link, FINISH).status_code == 302

    again = Client()
    page, posted = again.get(link), again.post(link, {**FINISH, "username": "zoe2"})

    assert page.status_code == posted.status_code == 400
    assert b"This link does not work" in page.content
    assert list(get_user_model().objects.values_list("username", flat=True)) == ["zoe"]
    assert again.get("/accounts/")["Location"].startswith("/accounts/login/")


def test_a_sign_up_link_works_for_a_day(mailoutbox):
    link = sign_up_link(mailoutbox)

    expired = Client().post(backdated(link, hours=25), FINISH)
    assert expired.status_code == 400 and b"too old" in expired.content
    assert not get_user_model().objects.exists()

    assert Client().post(backdated(link, hours=23), FINISH).status_code == 302


def test_a_tampered_sign_up_link_is_refused(mailoutbox):
    link = sign_up_link(mailoutbox)
    token = link.split("/")[-2]
    payload, stamp, signature = token.split(":")
    other_address = signing.b64_encode(b'{"email":"mallory@example.com","next":""}').decode()
    # Signed by this site, but for something else: another salt does not pass either.
    other_purpose = signing.dumps({"email": "mallory@example.com", "next": ""}, salt="another.purpose")

    for forged in (f"{other_address}:{stamp}:{signature}", f"{payload}:{stamp}:{signature[:-2]}AA", other_purpose):
        response = Client().post(f"/accounts/signup/finish/{forged}/", FINISH)
        assert response.status_code == 400, forged
    assert not get_user_model().objects.exists()


def test_the_last_step_says_a_username_is_taken_and_refuses_weak_or_mismatched_passwords(alice, mailoutbox):
    link = sign_up_link(mailoutbox)
    client = Client()

    taken = client.post(link, {**FINISH, "username": "alice"})
    weak = client.post(link, {**FINISH, "password1": "123", "password2": "123"})
    like_the_address = client.post(link, {**FINISH, "password1": "zoe@example.com", "password2": "zoe@example.com"})
    mismatched = client.post(link, {**FINISH, "password2": "other-pass"})

    assert taken.status_code == 400 and b"A user with that username already exists." in taken.content
    assert weak.status_code == like_the_address.status_code == mismatched.status_code == 400
    assert b"too similar" in like_the_address.content
    assert not get_user_model().objects.filter(username="zoe").exists()
    assert client.post(link, FINISH).status_code == 302  # the link still works after refusals


def test_signing_up_from_an_invitation_comes_back_to_it(alice, mailoutbox):
    team = alice.teams.get(personal=True)
    _, token = Invite.issue(team, "viewer", alice)
    join = f"/teams/join/{token}/"
    page = Client().get(f"/accounts/signup/?next={join}")
    assert f'name="next" value="{join}"'.encode() in page.content

    link = sign_up_link(mailoutbox, next=join)
    client = Client()
    done = client.post(link, FINISH)

    assert done["Location"] == join
    assert client.post(join)["Location"] == f"/teams/{team.id}/"
    assert get_user_model().objects.get(username="zoe").teams.filter(pk=team.pk).exists()


def test_a_sign_up_link_never_leads_to_another_site(mailoutbox):
    link = sign_up_link(mailoutbox, next="https://evil.example/")

    assert Client().post(link, FINISH)["Location"] == "/"


def test_signing_in_sets_an_http_only_session_cookie(alice):
    client = Client()

    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})

    assert response.status_code == 302
    assert response.cookies["sessionid"]["httponly"] is True
    assert client.get("/accounts/").status_code == 200


def test_a_wrong_password_does_not_sign_in(alice):
    response = Client().post("/accounts/login/", {"username": "alice", "password": "nope"})

    assert response.status_code == 200
    assert b"didn&#x27;t match" in response.content or b"didn't match" in response.content


def test_signing_out_ends_the_session(alice):
    client = signed_in(alice)

    response = client.post("/accounts/logout/")

    assert response["Location"] == "/accounts/login/"
    assert client.get("/accounts/")["Location"].startswith("/accounts/login/")


# --- passwords ---------------------------------------------------------------------------------------


def test_changing_the_password_needs_the_old_one(alice):
    client = signed_in(alice)
    new = {"new_password1": "another-long-phrase", "new_password2": "another-long-phrase"}

    wrong = client.post("/accounts/password/change/", {"old_password": "guess", **new})
    right = client.post("/accounts/password/change/", {"old_password": "alice-password-1", **new})

    assert wrong.status_code == 200
    assert right["Location"] == "/accounts/password/change/done/"
    alice.refresh_from_db()
    assert alice.check_password("another-long-phrase")
    assert client.get("/accounts/").status_code == 200  # this browser stays signed in


def test_a_password_reset_mails_a_link_that_sets_a_new_password(alice, mailoutbox):
    alice.email = "alice@example.com"
    alice.save()

    sent = Client().post("/accounts/password/reset/", {"email": "alice@example.com"})

    assert sent["Location"] == "/accounts/password/reset/sent/"
    [mail] = mailoutbox
    assert mail.to == ["alice@example.com"] and mail.subject == "Reset your Prism password"
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mail.body).group(1)
    client = Client()
    form = client.get(link, follow=True)
    assert form.context["validlink"] is True
    done = client.post(
        form.redirect_chain[-1][0], {"new_password1": "fresh-long-phrase", "new_password2": "fresh-long-phrase"}
    )
    assert done["Location"] == "/accounts/reset/done/"
    assert Client().post("/accounts/login/", {"username": "alice", "password": "fresh-long-phrase"}).status_code == 302


def test_a_password_reset_for_an_unknown_address_says_the_same_and_sends_nothing(mailoutbox):
    response = Client().post("/accounts/password/reset/", {"email": "nobody@example.com"})

    assert response["Location"] == "/accounts/password/reset/sent/"
    assert mailoutbox == []


# --- API tokens ----------------------------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_works(alice):
    page = signed_in(alice)

    created = page.post("/accounts/tokens/", {"name": "laptop script"})

    assert created.status_code == 201
    raw = created.context["new_token"]
    assert raw.encode() in created.content
    assert Client(headers={"authorization": f"Bearer {raw}"}).get("/api/canvases").status_code == 200
    listing = page.get("/accounts/tokens/").content
    assert raw.encode() not in listing
    assert b"laptop script" in listing and raw[:10].encode() in listing


def test_the_token_is_stored_as_a_digest(alice):
    raw = signed_in(alice).post("/accounts/tokens/", {"name": "ci"}).context["new_token"]

    stored = ApiToken.objects.get(user=alice)
    assert stored.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert all(raw not in str(value) for value in ApiToken.objects.filter(pk=stored.pk).values().get().values())


def test_the_list_shows_when_a_token_was_last_used(alice, alice_token):
    page = signed_in(alice)
    assert b"never" in page.get("/accounts/tokens/").content

    Client(headers={"authorization": f"Bearer {alice_token}"}).get("/api/canvases")

    assert ApiToken.objects.get(user=alice).last_used_at is not None
    assert b" ago" in page.get("/accounts/tokens/").content


def test_a_revoked_token_stops_working_and_leaves_the_list(alice, alice_token):
    page = signed_in(alice)
    stored = ApiToken.objects.get(user=alice)

    response = page.post(f"/accounts/tokens/{stored.id}/revoke")

    assert response["Location"] == "/accounts/tokens/"
    assert Client(headers={"authorization": f"Bearer {alice_token}"}).get("/api/canvases").status_code == 401
    assert stored.hint.encode() not in page.get("/accounts/tokens/").content


def test_nobody_revokes_someone_elses_token(alice, alice_token, charlie):
    stored = ApiToken.objects.get(user=alice)

    assert signed_in(charlie).post(f"/accounts/tokens/{stored.id}/revoke").status_code == 404
    assert ApiToken.objects.active().filter(pk=stored.pk).exists()


def test_a_token_needs_a_name(alice):
    response = signed_in(alice).post("/accounts/tokens/", {"name": ""})

    assert response.status_code == 400
    assert not ApiToken.objects.exists()
