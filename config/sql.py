"""Written-out SQL for the statements every prompt POST and every API request makes: authenticating a
token, checking a canvas's rights, reading the models and parents asked for, the limits, the inserts.

On these the ORM's query compilation cost several times the database's own work (~0.6 ms of CPU per
statement in the web process, against ~0.1 ms to send one and read its rows), and a prompt makes a dozen
of them before its runs can start. The SQL here is plain enough for both PostgreSQL and SQLite; the
values going in are prepared, and the rows coming out converted, by the models' own fields, exactly as
the ORM would, so a model read here is the same object a queryset would have given. Everything that is
not on that path uses the ORM.
"""

from __future__ import annotations

import json
import uuid
from datetime import date, datetime, time
from decimal import Context, Decimal
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model
from psycopg.types.json import Jsonb


def rows(sql: str, params: list | tuple = ()) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: list | tuple = ()) -> int:
    """A statement whose rows nobody reads; how many rows it changed."""
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def table(model: type[Model]) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def columns(model: type[Model], alias: str) -> str:
    """Every concrete column of `model` under `alias`, in field order: what `load` takes back."""
    return _columns(model, alias, connection.vendor)


@cache
def _columns(model: type[Model], alias: str, vendor: str) -> str:
    quote = connection.ops.quote_name
    return ", ".join(f"{alias}.{quote(field.column)}" for field in model._meta.concrete_fields)


def width(model: type[Model]) -> int:
    """How many values `columns(model, …)` selects."""
    return len(model._meta.concrete_fields)


def load(model: type[Model], values) -> Model:
    """A model instance from its `columns` values in a row, converted as the ORM converts them (SQLite's
    text UUIDs, integers for booleans, JSON text…)."""
    db = _db()
    converted = []
    for given, (column, converters) in zip(values, _converters(model, db.vendor), strict=True):
        for convert in converters:
            given = convert(given, column, db)
        converted.append(given)
    return model.from_db(db.alias, None, converted)


@cache
def _converters(model: type[Model], vendor: str) -> list[tuple]:
    """Each concrete field's column expression and the converters the ORM would run on its values."""
    out = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        out.append((column, [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]))
    return out


def value(model: type[Model], field_name: str, given):
    """`given` as `model`'s field stores it in this database (SQLite keeps a UUID as its hex)."""
    return model._meta.get_field(field_name).get_db_prep_value(given, _db())


def insert(objects: list[Model]) -> None:
    """One INSERT of new objects of one model, every concrete column given (defaults and auto_now filled
    in by the fields, as save() would) except an auto-increment id, which the database numbers and which
    the objects do not learn (nothing here reads it back), and a nullable column null in every object,
    which the database fills with NULL: preparing and binding each value costs microseconds, and a
    prompt's new answers have a score of empty figures each. Like bulk_create it sends no signals."""
    if not objects:
        return
    model = type(objects[0])
    fields = [field for field in model._meta.concrete_fields if not (field.primary_key and field.db_returning)]
    db = _db()
    rows = [[field.pre_save(obj, True) for field in fields] for obj in objects]
    kept = [i for i, field in enumerate(fields) if not (field.null and all(row[i] is None for row in rows))]
    params = [None if row[i] is None else fields[i].get_db_prep_save(row[i], db) for row in rows for i in kept]
    for obj in objects:
        obj._state.adding = False
        obj._state.db = db.alias
    names = ", ".join(db.ops.quote_name(fields[i].column) for i in kept)
    if db.vendor == "postgresql":
        # The rows as one JSON parameter, which the server turns into the table's row type: as a
        # parameter each, a prompt's six nodes were ~120 values, which psycopg parses the statement for
        # afresh every time (it caches statements of 50 parameters at most) and quotes one by one.
        columns = [fields[i].column for i in kept]
        width = len(kept)
        records = [dict(zip(columns, params[at : at + width], strict=True)) for at in range(0, len(params), width)]
        into = table(model)
        execute(
            f"INSERT INTO {into} ({names}) SELECT {names} FROM json_populate_recordset(NULL::{into}, %s)",
            [json.dumps(records, default=_as_json)],
        )
        return
    one = "(" + ", ".join(["%s"] * len(kept)) + ")"
    execute(f"INSERT INTO {table(model)} ({names}) VALUES {', '.join([one] * len(objects))}", params)


def _as_json(value):
    """A value a field prepared for psycopg, as JSON the server reads back into that column's type."""
    if isinstance(value, Jsonb):
        # Django wraps a JSONField's value with its encoder's dumps: json.dumps unless the field names one.
        return value.obj if value.dumps is json.dumps else json.loads(value.dumps(value.obj))
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    raise TypeError(f"No JSON form for {type(value).__name__}")


def _db():
    """This thread's connection itself: `connection` is a proxy that looks it up on every use, and the
    fields use it once per value."""
    return connections[DEFAULT_DB_ALIAS]


def for_update() -> str:
    return " FOR UPDATE" if connection.features.has_select_for_update else ""


def as_decimal(given) -> Decimal | None:
    """A decimal as the database gives it: PostgreSQL a Decimal, SQLite a float (15 digits, as Django reads it)."""
    if given is None or isinstance(given, Decimal):
        return given
    return Context(prec=15).create_decimal_from_float(given)


def as_uuid(given) -> uuid.UUID | None:
    """A UUID as the database gives it: PostgreSQL a UUID, SQLite its hex."""
    return given if given is None or isinstance(given, uuid.UUID) else uuid.UUID(given)
