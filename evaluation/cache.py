"""The leaderboard's cache and how it is invalidated.

A computed leaderboard is kept in Django's cache (Redis when REDIS_URL is set, so every web process
shares it; process memory in the embedded mode, which has one process) under a key made of the team,
the filters, the team's *vote version* and the *catalogue version*:

- the team's vote version is a random token, replaced after every commit that saved or deleted one of
  the team's votes (a cascade included), moved a canvas into or out of the team, changed a canvas's
  tags, or deleted a canvas (evaluation/signals.py);
- the catalogue version is replaced after any change to a provider account, a model or a price (names
  and current prices appear on the leaderboard and in its cost estimates).

A new version makes every older key unreachable, so nothing is ever deleted by hand; entries also
expire after RESULT_TTL_S, which bounds staleness for writes that skip model signals
(QuerySet.update, bulk_create): code writing votes that way calls votes_changed() itself. The vote API
(canvas/votes.py: update_or_create and delete) and anything else that writes a Vote with save(),
create() or delete() needs nothing more.

What is cached is the whole computed leaderboard: a cold one costs the count of the votes, the voted
answers' medians (the one part that reads every voted answer), the agreement and the fits; a warm one
costs one cache read (bench/README.md has both).
"""

from __future__ import annotations

import hashlib
import threading
import uuid
from collections.abc import Callable, Iterable

from django.core.cache import cache
from django.db import transaction

from canvas.models import Canvas

RESULT_TTL_S = 600
_PREFIX = "prism:leaderboard"
_CATALOGUE = f"{_PREFIX}:catalogue"


def _team_key(team_id) -> str:
    return f"{_PREFIX}:votes:{team_id}"


def _current(keys: list[str]) -> list[str]:
    """The versions under these keys, each made (once, whoever is first) when missing."""
    found = cache.get_many(keys)
    for key in keys:
        if key not in found:
            cache.add(key, uuid.uuid4().hex, None)
            found[key] = cache.get(key)
    return [found[key] for key in keys]


def cached(team_id, scope_key: str, compute: Callable[[], dict]) -> dict:
    """The team's leaderboard for these filters, computed only when a vote, canvas, model or price
    change has made the cached one unreachable (or it expired)."""
    team_version, catalogue_version = _current([_team_key(team_id), _CATALOGUE])
    digest = hashlib.sha256(scope_key.encode()).hexdigest()[:32]
    key = f"{_PREFIX}:board:{team_id}:{team_version}:{catalogue_version}:{digest}"
    result = cache.get(key)
    if result is None:
        result = compute()
        cache.set(key, result, RESULT_TTL_S)
    return result


def bump_teams(team_ids: Iterable) -> None:
    ids = {str(team_id) for team_id in team_ids if team_id}
    if ids:
        cache.set_many({_team_key(team_id): uuid.uuid4().hex for team_id in ids}, None)


def bump_catalogue() -> None:
    cache.set(_CATALOGUE, uuid.uuid4().hex, None)


# --- after commit --------------------------------------------------------------------------------
# A version replaced before the transaction commits could be read by a request that still sees the old
# votes, which would cache the old leaderboard under the new version; so versions change on commit.
# Changes within one transaction are gathered and resolved to teams with one query.

_pending = threading.local()


def _gathered() -> tuple[set, set]:
    if not hasattr(_pending, "canvases"):
        _pending.canvases, _pending.teams = set(), set()
    return _pending.canvases, _pending.teams


def votes_changed(*, canvas_ids: Iterable = (), team_ids: Iterable = ()) -> None:
    """After the current transaction commits (now, outside one), the leaderboards of these canvases'
    teams and of these teams are recomputed on their next read."""
    canvases, teams = _gathered()
    canvases.update(canvas_ids)
    teams.update(team_ids)
    transaction.on_commit(_flush)


def catalogue_changed() -> None:
    transaction.on_commit(bump_catalogue)


def _flush() -> None:
    canvases, teams = _gathered()
    if not canvases and not teams:
        return
    canvas_ids, team_ids = set(canvases), set(teams)
    canvases.clear()
    teams.clear()
    if canvas_ids:
        team_ids.update(Canvas.objects.filter(pk__in=canvas_ids).values_list("team_id", flat=True))
    bump_teams(team_ids)
