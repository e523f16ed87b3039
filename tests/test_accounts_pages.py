"""Account pages: sign up, sign in and out, change and reset a password, and personal API tokens."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts.models import ApiToken

pytestmark = pytest.mark.django_db

SIGN_UP = {
    "username": "zoe",
    "email": "zoe@example.com",
    "password1": "a-long-pass-phrase",
    "password2": "a-long-pass-phrase",
}


def signed_in(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


# --- signing up, in and out --------------------------------------------------------------------------


def test_signing_up_makes_an_account_with_a_personal_team_and_signs_in():
    client = Client()

    response = client.post("/accounts/signup/", SIGN_UP)

    assert response.status_code == 302 and response["Location"] == "/"
    zoe = get_user_model().objects.get(username="zoe")
    assert zoe.email == "zoe@example.com" and zoe.check_password("a-long-pass-phrase")
    assert zoe.teams.filter(personal=True, memberships__role="owner").exists()
    assert client.get("/").status_code == 200


def test_sign_up_refuses_an_email_in_use_and_mismatched_passwords(alice):
    alice.email = "zoe@example.com"
    alice.save()

    taken = Client().post("/accounts/signup/", SIGN_UP)
    mismatched = Client().post("/accounts/signup/", {**SIGN_UP, "email": "z@example.com", "password2": "other-pass"})

    assert taken.status_code == 400 and b"An account with this email address exists already." in taken.content
    assert mismatched.status_code == 400
    assert not get_user_model().objects.filter(username="zoe").exists()


def test_sign_up_refuses_a_weak_password():
    response = Client().post("/accounts/signup/", {**SIGN_UP, "password1": "123", "password2": "123"})

    assert response.status_code == 400
    assert not get_user_model().objects.filter(username="zoe").exists()


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
