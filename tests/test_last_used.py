"""When an API token or a share link was last used: shown on their pages, written at most once a minute
(a busy client must not turn every read into a write)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import LAST_USED_EVERY_S, ApiToken
from accounts.tokens import token_for
from canvas.access import share_link_for_token
from canvas.models import ShareLink

pytestmark = pytest.mark.django_db


def _writes(use) -> int:
    with CaptureQueriesContext(connection) as queries:
        assert use() is not None
    return sum(query["sql"].startswith("UPDATE") for query in queries.captured_queries)


def _age(model, pk, seconds: float) -> None:
    model.objects.filter(pk=pk).update(last_used_at=timezone.now() - timedelta(seconds=seconds))


@pytest.mark.parametrize("kind", ["token", "share link"])
def test_a_secret_in_use_is_noted_once_a_minute(kind, alice, alice_canvas):
    if kind == "token":
        secret, raw = ApiToken.issue(alice, name="ci")
        use = lambda: token_for(raw)  # noqa: E731
    else:
        secret, raw = ShareLink.issue(alice_canvas, alice)
        use = lambda: share_link_for_token(raw)  # noqa: E731
    model = type(secret)

    assert _writes(use) == 1  # never used: noted
    first = model.objects.get(pk=secret.pk).last_used_at
    assert first is not None
    assert _writes(use) == 0  # used again at once: nothing written
    assert model.objects.get(pk=secret.pk).last_used_at == first

    _age(model, secret.pk, LAST_USED_EVERY_S - 5)
    assert _writes(use) == 0  # within the minute
    _age(model, secret.pk, LAST_USED_EVERY_S + 5)
    aged = model.objects.get(pk=secret.pk).last_used_at
    assert _writes(use) == 1  # a minute on: noted again
    assert model.objects.get(pk=secret.pk).last_used_at > aged
