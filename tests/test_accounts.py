"""Accounts: personal API tokens, personal teams, signing in, and who may open a canvas page."""

from __future__ import annotations

import hashlib
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.utils import timezone

from accounts.models import ApiToken
from canvas.models import Membership, Role

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def fast_passwords(settings):
    """The personas' passwords need not resist brute force here; hashing them slowly costs seconds."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def bearer_client(token: str) -> Client:
    return Client(headers={"authorization": f"Bearer {token}"})


def create_token(username: str) -> str:
    out = StringIO()
    call_command("create_api_token", username, stdout=out)
    return out.getvalue().strip()


# --- API tokens ---------------------------------------------------------------------------------


def test_the_command_prints_a_token_that_authenticates(alice, alice_canvas):
    token = create_token("alice")

    response = bearer_client(token).get("/api/canvases")

    assert response.status_code == 200
    assert [c["id"] for c in response.json()] == [str(alice_canvas.id)]


def test_the_command_refuses_an_unknown_user(alice):
    with pytest.raises(CommandError):
        create_token("nobody")
    assert not ApiToken.objects.exists()


def test_only_the_tokens_digest_is_stored(alice):
    token = create_token("alice")

    stored = ApiToken.objects.get(user=alice)
    assert stored.digest == hashlib.sha256(token.encode()).hexdigest()
    for value in ApiToken.objects.filter(pk=stored.pk).values().get().values():
        assert token not in str(value)


def test_each_token_is_new(alice):
    assert create_token("alice") != create_token("alice")
    assert ApiToken.objects.filter(user=alice).count() == 2


def test_a_revoked_token_is_refused(alice, alice_token):
    ApiToken.objects.filter(user=alice).update(revoked_at=timezone.now())

    response = bearer_client(alice_token).get("/api/canvases")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_the_token_of_an_inactive_user_is_refused(alice, alice_token):
    alice.is_active = False
    alice.save()

    assert bearer_client(alice_token).get("/api/canvases").status_code == 401


def test_using_a_token_records_when(alice, alice_token):
    bearer_client(alice_token).get("/api/models")

    assert ApiToken.objects.get(user=alice).last_used_at is not None


# --- teams --------------------------------------------------------------------------------------


def test_every_new_user_owns_a_personal_team(django_user_model):
    bob = django_user_model.objects.create_user("bob", password="bob-password-1")

    membership = Membership.objects.get(user=bob)
    assert membership.team.personal
    assert membership.role == Role.OWNER
    assert list(membership.team.members.all()) == [bob]


def test_saving_a_user_again_makes_no_second_team(alice):
    alice.first_name = "Alice"
    alice.save()

    assert alice.teams.count() == 1


# --- signing in and pages -----------------------------------------------------------------------


def test_the_sign_in_page_renders():
    response = Client().get("/accounts/login/")

    assert response.status_code == 200
    page = response.content.decode()
    assert 'name="username"' in page and 'name="password"' in page
    assert "csrfmiddlewaretoken" in page


def test_signing_in_opens_the_app(alice, alice_canvas):
    client = Client(enforce_csrf_checks=False)

    response = client.post("/accounts/login/", {"username": "alice", "password": "alice-password-1"})

    assert response.status_code == 302
    assert response["Location"] == "/"
    home = client.get("/")
    assert home.status_code == 200
    assert "Alice&#x27;s canvas" in home.content.decode()


def test_a_wrong_password_does_not_sign_in(alice):
    client = Client()

    response = client.post("/accounts/login/", {"username": "alice", "password": "wrong"})

    assert response.status_code == 200
    assert "didn" in response.content.decode()
    assert client.get("/").status_code == 302


def test_the_canvas_page_requires_signing_in(alice_canvas):
    response = Client().get(f"/canvases/{alice_canvas.id}/")

    assert response.status_code == 302
    assert response["Location"].startswith("/accounts/login/?next=")


def test_the_owner_opens_her_canvas_page(alice, alice_canvas):
    client = Client()
    client.force_login(alice)

    response = client.get(f"/canvases/{alice_canvas.id}/")

    assert response.status_code == 200
    assert "Alice&#x27;s canvas" in response.content.decode()


def test_an_outsider_gets_not_found_for_alices_canvas_page(charlie, alice_canvas):
    client = Client()
    client.force_login(charlie)

    response = client.get(f"/canvases/{alice_canvas.id}/")

    assert response.status_code == 404
    assert "Alice&#x27;s canvas" not in response.content.decode()


# --- a new password ends the old sign-ins --------------------------------------------------------


def test_a_password_reset_revokes_every_api_token(alice, alice_token):
    from django.contrib.auth.tokens import default_token_generator
    from django.utils.encoding import force_bytes
    from django.utils.http import urlsafe_base64_encode

    uid = urlsafe_base64_encode(force_bytes(alice.pk))
    browser = Client()
    form_page = browser.get(f"/accounts/reset/{uid}/{default_token_generator.make_token(alice)}/", follow=True)
    assert form_page.status_code == 200
    done = browser.post(
        form_page.redirect_chain[-1][0], {"new_password1": "a-new-secret-17", "new_password2": "a-new-secret-17"}
    )

    assert done.status_code == 302 and done["Location"] == "/accounts/reset/done/"
    assert bearer_client(alice_token).get("/api/canvases").status_code == 401
    assert ApiToken.objects.get(user=alice).revoked_at is not None


def test_signing_in_again_keeps_the_tokens(alice, alice_token):
    assert Client().post("/accounts/login/", {"username": "alice", "password": "alice-password-1"}).status_code == 302
    alice.first_name = "Alice"
    alice.save()

    assert bearer_client(alice_token).get("/api/canvases").status_code == 200
