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

import uuid
from decimal import Context, Decimal
from functools import cache

from django.db import connection
from django.db.models import Model


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
    converted = []
    for value, (field, converters) in zip(values, _converters(model, connection.vendor), strict=True):
        for convert in converters:
            value = convert(value, field, connection)
        converted.append(value)
    return model.from_db(connection.alias, None, converted)


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
    return model._meta.get_field(field_name).get_db_prep_value(given, connection)


def insert(objects: list[Model]) -> None:
    """One INSERT of new objects of one model, every concrete column given (defaults and auto_now filled
    in by the fields, as save() would) except an auto-increment id, which the database numbers and which
    the objects do not learn (nothing here reads it back). Like bulk_create it sends no signals."""
    if not objects:
        return
    model = type(objects[0])
    fields = [field for field in model._meta.concrete_fields if not (field.primary_key and field.db_returning)]
    params = []
    for obj in objects:
        params.extend(field.get_db_prep_save(field.pre_save(obj, True), connection) for field in fields)
        obj._state.adding = False
        obj._state.db = connection.alias
    names = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    one = "(" + ", ".join(["%s"] * len(fields)) + ")"
    execute(f"INSERT INTO {table(model)} ({names}) VALUES {', '.join([one] * len(objects))}", params)


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
