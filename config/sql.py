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
from decimal import Context, Decimal
from functools import cache

from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.db.models import Model


def rows(sql: str, params: list | tuple = ()) -> list[tuple]:
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def execute(sql: str, params: list | tuple = ()) -> int:
    """A statement whose rows nobody reads; how many rows it changed."""
    with _cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.rowcount


def _cursor():
    db = _db()
    if db.vendor != "postgresql":
        return db.cursor()
    from config import sql_postgres  # here, not at the top: the embedded mode never loads PostgreSQL's side

    return sql_postgres.cursor(db)


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


def insert(*groups: list[Model]) -> None:
    """INSERT new objects, each group of one model, in one statement on PostgreSQL (one per group on
    SQLite). Every concrete column is given (defaults and auto_now filled in by the fields, as save()
    would) except an auto-increment id, which the database numbers and which the objects do not learn
    (nothing here reads it back), and a nullable column null in every object of its group, which the
    database fills with NULL: preparing each value costs microseconds, and a prompt's new answers have a
    score of empty figures each. Groups go in the order given; foreign keys between them hold, as
    PostgreSQL checks Django's at the commit. Like bulk_create it sends no signals."""
    groups = tuple(group for group in groups if group)
    if not groups:
        return
    db = _db()
    grouped = [_group_rows(group, db) for group in groups]
    if db.vendor != "postgresql":
        for into, columns, rows in grouped:
            listed = ", ".join(map(db.ops.quote_name, columns))
            one = "(" + ", ".join(["%s"] * len(columns)) + ")"
            values = [value for row in rows for value in row]
            execute(f"INSERT INTO {into} ({listed}) VALUES {', '.join([one] * len(rows))}", values)
        return
    # Each group's rows as one JSON parameter, which the server turns into the table's row type, and the
    # groups as the parts of one statement: as a parameter each, a prompt's nodes were ~120 values, which
    # psycopg parses the statement for afresh every time (it caches those of at most 50 parameters) and
    # quotes one by one, and each group was a round trip of its own.
    from config.sql_postgres import as_json

    parts, params = [], []
    for into, columns, rows in grouped:
        listed = ", ".join(map(db.ops.quote_name, columns))
        parts.append(f"INSERT INTO {into} ({listed}) SELECT {listed} FROM json_populate_recordset(NULL::{into}, %s)")
        params.append(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=as_json))
    *first, last = parts
    execute("".join(f"{'WITH' if i == 0 else ','} g{i} AS ({part}) " for i, part in enumerate(first)) + last, params)


def _group_rows(objects: list[Model], db) -> tuple[str, list[str], list[list]]:
    """A group's table (quoted), its columns and its rows of values as the fields prepare them for `db`."""
    model = type(objects[0])
    fields = [field for field in model._meta.concrete_fields if not (field.primary_key and field.db_returning)]
    rows = [[field.pre_save(obj, True) for field in fields] for obj in objects]
    kept = [i for i, field in enumerate(fields) if not (field.null and all(row[i] is None for row in rows))]
    for obj in objects:
        obj._state.adding = False
        obj._state.db = db.alias
    values = [[None if row[i] is None else fields[i].get_db_prep_save(row[i], db) for i in kept] for row in rows]
    return table(model), [fields[i].column for i in kept], values


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
