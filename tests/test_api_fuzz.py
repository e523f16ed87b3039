"""Schema-driven fuzzing of every operation in /api/openapi.json (schemathesis), as alice, an owner with
canvases, teams, invitations, share links and comments: whatever a client sends, no answer is a 500, and
every answer is one the document declares, in the shape it declares.

The requests run through Django's WSGI handler inside the test's transaction, so nothing they do is
committed and no run reaches a provider, and each request is rolled back before the next, so every one
meets the same world. Hypothesis's draws are derandomised: each run tries the same kinds of case."""

from __future__ import annotations

import json

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode
from schemathesis.specs.openapi import checks as openapi_checks

from accounts.models import ApiToken
from tests.team_world import build_world

pytestmark = pytest.mark.django_db

EXAMPLES_PER_OPERATION = 25
# Each path parameter is most often a real object of alice's team (so the operation does its work),
# else another of her objects or one of another team's, or whatever schemathesis made up.
REAL_IDS = {
    "canvas_id": ["canvas", "canvas_b"],
    "node_id": ["prompt", "response", "queued", "note", "note_b"],
    "team_id": ["team", "team_b"],
    "member_id": ["member", "member_b"],
    "invite_id": ["invite", "invite_b"],
    "token": ["invite_token", "invite_b_token"],
    "link_id": ["link", "link_b"],
    "comment_id": ["comment", "comment_b"],
}
# What hostile clients put where the document asks for text or a number, beyond what the schema's own
# strategies tend to draw: NUL (PostgreSQL refuses it), lone surrogates, control characters, and numbers
# that JSON has no words for or that overflow.
HOSTILE_TEXT = st.sampled_from(["\x00", "a\x00b", "\x00\x07", "\ud800", "\x1b[31m", "\x07\x00\udfff"])
HOSTILE_NUMBERS = st.sampled_from([float("nan"), float("inf"), float("-inf"), 1e308, -1e308, 2**64])
CHECKS = [
    schemathesis.checks.not_a_server_error,
    openapi_checks.status_code_conformance,
    openapi_checks.content_type_conformance,
    openapi_checks.response_schema_conformance,
]

schema = schemathesis.openapi.from_wsgi("/api/openapi.json", get_wsgi_application())


@pytest.fixture
def world():
    return build_world()


@pytest.fixture
def alices_token(world) -> str:
    return ApiToken.issue(world.users["owner"])[1]


@pytest.fixture(autouse=True)
def one_connection_for_every_request():
    """Every request runs inside the test's transaction, as under Django's test client: the handler must
    not close the connection when a request starts or finishes."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@schema.parametrize()
@schema.given(data=st.data())
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_no_operation_fails_whatever_it_is_sent(case, data, world, alices_token):
    for name in case.path_parameters or {}:
        real = REAL_IDS.get(name, [])
        choice = data.draw(st.sampled_from([None, *real[:1], *real[:1], *real]))
        if choice is not None:
            case.path_parameters[name] = world.ids[choice]
    if isinstance(case.body, dict) and case.meta.generation.mode == GenerationMode.POSITIVE:
        case.body = with_real_ids(case.body, data, world)
    if isinstance(case.body, dict) and data.draw(st.booleans()):
        # Serialised here: the transport's own JSON encoder refuses NaN and infinities.
        case.body = json.dumps(poisoned(case.body, data)).encode()

    # A failed statement aborts the test's transaction: roll back to before the request, or every
    # later request (and each of hypothesis's attempts to shrink the failure) would fail with it.
    before = transaction.savepoint()
    response = case.call(headers={"Authorization": f"Bearer {alices_token}"})
    transaction.savepoint_rollback(before)
    transaction.set_rollback(False)  # back at a known-good point, whatever the request left marked

    case.validate_response(response, checks=CHECKS)


def with_real_ids(body: dict, data, world) -> dict:
    """A schema-valid body whose ids, often, name real models, nodes and teams."""
    ids = world.ids
    nodes = st.lists(st.sampled_from(["prompt", "response", "note"]), max_size=3)
    real = {
        "models": lambda: [ids["model"]] * data.draw(st.integers(1, 3)),
        "model": lambda: ids["model"],
        "parents": lambda: [ids[name] for name in data.draw(nodes)],
        "team": lambda: ids[data.draw(st.sampled_from(["team", "team_b"]))],
    }
    return {key: real[key]() if key in real and data.draw(st.booleans()) else value for key, value in body.items()}


def poisoned(value, data):
    """`value` with hostile text added to each string in it and hostile numbers for some of its numbers."""
    if isinstance(value, str):
        return value + data.draw(HOSTILE_TEXT)
    if isinstance(value, float | int) and not isinstance(value, bool) and data.draw(st.booleans()):
        return data.draw(HOSTILE_NUMBERS)
    if isinstance(value, dict):
        return {key: poisoned(item, data) for key, item in value.items()}
    if isinstance(value, list):
        return [poisoned(item, data) for item in value]
    return value
