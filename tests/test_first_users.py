"""A first deployment's accounts without reading the code: the administrator from the environment
(`ensure_admin`, which the compose `migrate` service runs), users from the command line (`create_user`),
and API tokens (`create_api_token`), in the Redis mode as well as the embedded one."""

from __future__ import annotations

import io
import os

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.models import ApiToken
from tests.stack import django_shell

pytestmark = pytest.mark.django_db

STRONG = "violet-harbour-47-lantern"


def run(command: str, *args, stdin: str | None = None, monkeypatch=None, **options) -> str:
    out = io.StringIO()
    if stdin is not None:
        monkeypatch.setattr("sys.stdin", io.StringIO(stdin))
    call_command(command, *args, stdout=out, stderr=out, **options)
    return out.getvalue()


@pytest.fixture
def admin_env(settings):
    settings.PRISM_ADMIN_USERNAME = "root"
    settings.PRISM_ADMIN_PASSWORD = STRONG
    settings.PRISM_ADMIN_EMAIL = "root@example.com"
    return settings


# --- the administrator from the environment ---------------------------------------------------------


def test_ensure_admin_creates_the_administrator_with_a_personal_team(admin_env):
    assert "Created the administrator 'root'" in run("ensure_admin")

    user = get_user_model().objects.get(username="root")
    assert user.is_superuser and user.is_staff and user.is_active
    assert user.email == "root@example.com"
    assert user.check_password(STRONG)
    assert user.teams.filter(personal=True).exists()


def test_ensure_admin_at_every_start_leaves_the_administrator_alone(admin_env):
    run("ensure_admin")
    user = get_user_model().objects.get(username="root")
    user.set_password("changed-since-on-the-account-page")
    user.save()

    assert "exists" in run("ensure_admin")

    assert get_user_model().objects.filter(username="root").count() == 1
    assert get_user_model().objects.get(username="root").check_password("changed-since-on-the-account-page")


def test_ensure_admin_never_promotes_someone_who_took_the_name(admin_env, django_user_model):
    django_user_model.objects.create_user("root", password="signed-up-first-1")

    assert "not an administrator" in run("ensure_admin")

    user = django_user_model.objects.get(username="root")
    assert not user.is_superuser and not user.is_staff and user.check_password("signed-up-first-1")


def test_ensure_admin_without_a_username_does_nothing(settings):
    settings.PRISM_ADMIN_USERNAME = ""

    assert "not set" in run("ensure_admin")
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    ("password", "email", "message"),
    [("", "", "Set PRISM_ADMIN_PASSWORD"), ("root", "", "too short"), (STRONG, "not-an-address", "email")],
)
def test_ensure_admin_refuses_a_missing_or_weak_password_or_a_bad_address(admin_env, password, email, message):
    admin_env.PRISM_ADMIN_PASSWORD = password
    admin_env.PRISM_ADMIN_EMAIL = email

    with pytest.raises(CommandError, match=message):
        run("ensure_admin")
    assert not get_user_model().objects.exists()


# --- users from the command line --------------------------------------------------------------------


def test_create_user_reads_the_password_from_stdin(monkeypatch):
    output = run(
        "create_user",
        "bob",
        "--email",
        "bob@example.com",
        "--password-stdin",
        stdin=f"{STRONG}\n",
        monkeypatch=monkeypatch,
    )

    assert "Created the user 'bob'" in output
    bob = get_user_model().objects.get(username="bob")
    assert bob.check_password(STRONG) and bob.email == "bob@example.com"
    assert not bob.is_staff and not bob.is_superuser
    assert bob.teams.filter(personal=True).exists()


def test_create_user_makes_an_administrator_on_request(monkeypatch):
    run("create_user", "carol", "--admin", "--password-stdin", stdin=STRONG, monkeypatch=monkeypatch)

    carol = get_user_model().objects.get(username="carol")
    assert carol.is_staff and carol.is_superuser


@pytest.mark.parametrize(
    ("args", "stdin", "message"),
    [
        (["bob", "--password-stdin"], "123\n", "too short"),
        (["bob", "--password-stdin"], "\n", "empty"),
        (["bob", "--email", "nope", "--password-stdin"], f"{STRONG}\n", "email"),
        (["bob"], f"{STRONG}\n", "--password-stdin"),  # no terminal and no flag: never a silent password
        (["bad name!", "--password-stdin"], f"{STRONG}\n", "username"),
    ],
)
def test_create_user_refuses_what_would_make_a_poor_account(monkeypatch, args, stdin, message):
    with pytest.raises(CommandError, match=message):
        run("create_user", *args, stdin=stdin, monkeypatch=monkeypatch)
    assert not get_user_model().objects.exists()


def test_create_user_refuses_a_taken_name(monkeypatch, django_user_model):
    django_user_model.objects.create_user("bob", password="bob-password-1")

    with pytest.raises(CommandError, match="exists"):
        run("create_user", "bob", "--password-stdin", stdin=STRONG, monkeypatch=monkeypatch)


# --- with REDIS_URL set, as under docker compose -------------------------------------------------------

_SCRIPT = """
import io, sys
from django.conf import settings
from django.core.management import call_command

assert not settings.EMBEDDED
call_command("ensure_admin")
sys.stdin = io.StringIO({password!r})
call_command("create_user", "dora", "--password-stdin")
out = io.StringIO()
call_command("create_api_token", "dora", stdout=out)
emit(out.getvalue().strip())
"""


@pytest.mark.django_db(transaction=True)
def test_the_commands_work_with_redis_url_set():
    """The documented path of a compose deployment, in a process configured as one (REDIS_URL and
    PostgreSQL), against this test's database."""
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": "redis://127.0.0.1:6379/0",
        "PRISM_ADMIN_USERNAME": "root",
        "PRISM_ADMIN_PASSWORD": STRONG,
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }
    token = django_shell(env, _SCRIPT.format(password=STRONG))

    assert get_user_model().objects.get(username="root").is_superuser
    dora = get_user_model().objects.get(username="dora")
    assert dora.has_usable_password()  # hashed with the real hasher, which this process does not load
    assert ApiToken.objects.active().get(user=dora).hint == token[:10]
