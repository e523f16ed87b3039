"""What config.sql does differently on PostgreSQL: a cursor that binds on the server and keeps its
statements prepared, and the JSON form of a value for an INSERT of JSON rows. Imported only when the
database is PostgreSQL, so the embedded mode (SQLite) does not load psycopg and Django's PostgreSQL
backend at start-up (~65 ms)."""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from decimal import Decimal

import psycopg
from django.db.backends.postgresql.base import TIMESTAMPTZ_OID, ServerBindingCursor
from django.db.backends.postgresql.psycopg_any import register_tzloader
from psycopg.pq import Format
from psycopg.types.json import Jsonb


def cursor(db):
    """A cursor that sends the values apart from the statement (psycopg's server-side binding), so its
    statements are prepared on their connection from their first time (the connection's prepare_threshold
    of 0, config/settings.py): the ORM's cursors bind on the client, which parsed every statement and
    quoted every value in Python, and the server parsed and planned it again on every prompt. The ORM's
    cursors never prepare, whatever the threshold, so only config.sql's statements are kept, a few dozen
    per connection. Made as Django's `BaseDatabaseWrapper._cursor` makes its own, once per connection:
    the caller leaves it open, and each statement gets it wrapped afresh (Django's wrapper is what logs
    queries, when they are logged)."""
    db.close_if_health_check_failed()
    db.ensure_connection()
    with db.wrap_database_errors:
        made = getattr(db, "_prism_preparing_cursor", None)
        if made is None or made.closed or made.connection is not db.connection:
            made = _PreparingCursor(db.connection)
            if db.connection.info.timezone == db.timezone:
                # psycopg's own loader, compiled, gives the very datetimes Django's would (the session's time
                # zone is Django's): Django's subclasses psycopg's pure-Python one to set the zone, and a
                # prompt's rows hold a score of timestamps, each parsed in Python at ~10 µs.
                made.adapters.register_loader("timestamptz", psycopg.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT))
            elif db.timezone != db.connection.adapters.get_loader(TIMESTAMPTZ_OID, Format.TEXT).timezone:
                register_tzloader(db.timezone, made)  # as Django's own cursors do
            db._prism_preparing_cursor = made
        return db._prepare_cursor(made)


class _PreparingCursor(ServerBindingCursor):
    def _convert_query(self, query, params=None):
        # Kept where Django's debug cursor reads the statement it logs (psycopg's client-binding cursor
        # keeps it; this one would not).
        self._query = super()._convert_query(query, params)
        return self._query


def as_json(value):
    """A value a field prepared for psycopg, as JSON the server reads back into that column's type."""
    if isinstance(value, Jsonb):
        # Django wraps a JSONField's value with its encoder's dumps: json.dumps unless the field names one.
        return value.obj if value.dumps is json.dumps else json.loads(value.dumps(value.obj))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"No JSON form for {type(value).__name__}")
