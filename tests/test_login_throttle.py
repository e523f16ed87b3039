"""Failed sign-ins are throttled per username and per address (django-axes), with a clear message that
says nothing about whether the username exists; sign-up can be switched off."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from accounts import signup_links

pytestmark = pytest.mark.django_db

LIMIT = 3


@pytest.fixture(autouse=True)
def _small_limit(settings):
    settings.AXES_FAILURE_LIMIT = LIMIT


def sign_in(username: str, password: str, address: str = "10.0.0.1", path: str = "/accounts/login/"):
    client = Client(REMOTE_ADDR=address)
    return client, client.post(path, {"username": username, "password": password})


def lockout_text(response) -> str:
    """The page's own content, without its CSRF token (new for every response)."""
    main = response.content.decode().split("<main>")[1].split("</main>")[0]
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]*"', "", main)


def test_a_username_is_locked_after_the_limit_from_any_address(alice):
    for number in range(LIMIT):
        sign_in("alice", "wrong", address=f"10.0.1.{number}")

    client, response = sign_in("alice", "alice-password-1", address="10.0.2.1")

    assert response.status_code == 429
    assert "Too many failed sign-ins" in response.content.decode()
    assert "Try again in 15 minutes" in response.content.decode()
    assert client.get("/accounts/").status_code == 302  # not signed in


def test_an_address_is_locked_after_the_limit_whatever_the_usernames(alice):
    for number in range(LIMIT):
        sign_in(f"guess{number}", "wrong", address="10.0.3.1")

    assert sign_in("alice", "alice-password-1", address="10.0.3.1")[1].status_code == 429
    assert sign_in("alice", "alice-password-1", address="10.0.3.2")[1].status_code == 302


def test_the_admin_sign_in_is_throttled_too(alice):
    for _ in range(LIMIT):
        sign_in("alice", "wrong", path="/admin/login/")

    assert sign_in("alice", "alice-password-1", path="/admin/login/")[1].status_code == 429


def test_a_lockout_reads_the_same_for_a_username_that_does_not_exist(alice):
    for number in range(LIMIT):
        sign_in("alice", "wrong", address=f"10.0.4.{number}")
        sign_in("nobody-here", "wrong", address=f"10.0.5.{number}")

    known = sign_in("alice", "wrong", address="10.0.6.1")[1]
    unknown = sign_in("nobody-here", "wrong", address="10.0.6.2")[1]

    assert known.status_code == unknown.status_code == 429
    assert lockout_text(known) == lockout_text(unknown)


def test_wrong_passwords_read_the_same_for_known_and_unknown_usernames(alice):
    known = sign_in("alice", "wrong", address="10.0.7.1")[1]
    unknown = sign_in("nobody-here", "wrong", address="10.0.7.2")[1]

    assert known.status_code == unknown.status_code == 200
    assert "didn" in lockout_text(known) and lockout_text(known) == lockout_text(unknown)


def test_sign_up_can_be_switched_off(settings, mailoutbox):
    link = f"/accounts/signup/finish/{signup_links.link_token('zoe@example.com')}/"
    settings.PRISM_SIGNUP = False
    form = {"username": "zoe", "password1": "a-long-phrase", "password2": "a-long-phrase"}

    page, asked = Client().get("/accounts/signup/"), Client().post("/accounts/signup/", {"email": "zoe@example.com"})
    sent, finished = Client().get("/accounts/signup/sent/"), Client().post(link, form)

    assert page.status_code == asked.status_code == sent.status_code == finished.status_code == 403
    assert "Sign-up is closed" in page.content.decode() and "Sign-up is closed" in finished.content.decode()
    assert "Create an account" not in Client().get("/accounts/login/").content.decode()
    assert not get_user_model().objects.filter(username="zoe").exists()
    assert mailoutbox == []
