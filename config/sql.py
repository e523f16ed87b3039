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
from contextlib import contextmanager
from decimal import Context, Decimal
from functools import cache
from operator import attrgetter
from typing import NamedTuple

from django.db import DEFAULT_DB_ALIAS, connection, connections, models
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


@contextmanager
def _cursor():
    db = _db()
    if db.vendor != "postgresql":
        with db.cursor() as cursor:
            yield cursor
        return
    from config import sql_postgres  # here, not at the top: the embedded mode never loads PostgreSQL's side

    # Kept open for the connection's next statement: making one and closing it cost more than sending
    # most statements.
    yield sql_postgres.cursor(db)


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
    converted = list(values)
    if len(converted) != len(model._meta.concrete_fields):
        raise ValueError(f"{model.__name__} takes {len(model._meta.concrete_fields)} values, not {len(converted)}")
    # Only the columns that have converters are visited: most have none, and a prompt loads a score of rows.
    for index, column, converters in _converted_columns(model, db.vendor):
        converted[index] = _convert(converted[index], column, converters, db)
    return model.from_db(db.alias, None, converted)


def field_value(model: type[Model], field_name: str, given):
    """One column's value in a row, converted as `load` converts it (a JSON field's text…)."""
    db = _db()
    return _convert(given, *_converters(model, db.vendor)[position(model, field_name)], db)


def _convert(given, column, converters: list, db):
    for convert in converters:
        given = convert(given, column, db)
    return given


@cache
def position(model: type[Model], field_name: str) -> int:
    """Where the field's value is among `columns(model, …)`'s."""
    return model._meta.concrete_fields.index(model._meta.get_field(field_name))


@cache
def _converters(model: type[Model], vendor: str) -> list[tuple]:
    """Each concrete field's column expression and the converters the ORM would run on its values."""
    out = []
    for field in model._meta.concrete_fields:
        column = field.get_col(model._meta.db_table)
        out.append((column, [*connection.ops.get_db_converters(column), *column.get_db_converters(connection)]))
    return out


@cache
def _converted_columns(model: type[Model], vendor: str) -> list[tuple]:
    """(index, column, converters) of each of `_converters`' columns that has any."""
    return [(index, *found) for index, found in enumerate(_converters(model, vendor)) if found[1]]


def value(model: type[Model], field_name: str, given):
    """`given` as `model`'s field stores it in this database (SQLite keeps a UUID as its hex)."""
    return model._meta.get_field(field_name).get_db_prep_value(given, _db())


class Insert(NamedTuple):
    """An INSERT made ready by `prepared_insert`, its values prepared, for `run` to send."""

    statements: list[tuple[str, list]]

    def run(self) -> None:
        for statement, params in self.statements:
            execute(statement, params)


def insert(*groups: list[Model]) -> None:
    prepared_insert(*groups).run()


def prepared_insert(*groups: list[Model], along: tuple[str, list] | None = None) -> Insert:
    """INSERT new objects, each group of one model, in one statement on PostgreSQL (one per group on
    SQLite), the values prepared now so that a caller can do it before taking a lock and send it once
    the lock is held. `along`: one more statement that changes rows (an UPDATE), sent in the same
    statement on PostgreSQL (after the inserts on SQLite). Every concrete column is given (defaults and
    auto_now filled in by the fields, as save() would) except an auto-increment id, which the database
    numbers and which the objects do not learn (nothing here reads it back), and a nullable column null
    in every object of its group, which the database fills with NULL: preparing each value costs
    microseconds, and a prompt's new answers have a score of empty figures each. Groups go in the order
    given; foreign keys between them hold, as PostgreSQL checks Django's at the commit. Like bulk_create
    it sends no signals."""
    groups = tuple(group for group in groups if group)
    if not groups:
        return Insert([along] if along else [])
    db = _db()
    grouped = [_group_rows(group, db) for group in groups]
    if db.vendor != "postgresql":
        statements = []
        for into, columns, rows in grouped:
            listed = ", ".join(map(db.ops.quote_name, columns))
            one = "(" + ", ".join(["%s"] * len(columns)) + ")"
            values = [value for row in rows for value in row]
            statements.append((f"INSERT INTO {into} ({listed}) VALUES {', '.join([one] * len(rows))}", values))
        return Insert([*statements, *([along] if along else [])])
    # Each group's rows as one JSON parameter, which the server turns into the table's row type, and the
    # groups as the parts of one statement: as a parameter each, a prompt's nodes were ~120 values, which
    # psycopg parses the statement for afresh every time (it caches those of at most 50 parameters) and
    # quotes one by one, and each group was a round trip of its own.
    parts = [along] if along else []  # a data-changing part of a WITH runs whether or not its rows are read
    for into, columns, rows in grouped:
        listed = ", ".join(map(db.ops.quote_name, columns))
        parts.append(
            (
                f"INSERT INTO {into} ({listed}) SELECT {listed} FROM json_populate_recordset(NULL::{into}, %s)",
                [json_rows(columns, rows)],
            )
        )
    *first, (last, last_params) = parts
    with_parts = "".join(f"{'WITH' if i == 0 else ','} g{i} AS ({part}) " for i, (part, _) in enumerate(first))
    return Insert([(with_parts + last, [*(value for _, values in first for value in values), *last_params])])


def json_rows(columns: list[str], rows: list[list]) -> str:
    """Rows of values their fields prepared for PostgreSQL, as the one parameter that
    `json_populate_recordset(NULL::table, %s)` reads back into the table's row type."""
    from config.sql_postgres import as_json

    return json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=as_json)


def _group_rows(objects: list[Model], db) -> tuple[str, list[str], list[list]]:
    """A group's table (quoted), its columns and its rows of values as the fields prepare them for `db`."""
    model = type(objects[0])
    fields = _inserted_fields(model)
    rows = [[field.pre_save(obj, True) if read is None else read(obj) for field, read, _ in fields] for obj in objects]
    kept = [i for i, (field, _, _) in enumerate(fields) if not (field.null and all(row[i] is None for row in rows))]
    for obj in objects:
        obj._state.adding = False
        obj._state.db = db.alias
    given = [(i, fields[i][0], fields[i][2]) for i in kept]
    values = [
        [
            row[i] if row[i] is None or type(row[i]) is as_is else field.get_db_prep_save(row[i], db)
            for i, field, as_is in given
        ]
        for row in rows
    ]
    return table(model), [field.column for _, field, _ in given], values


# The fields whose get_db_prep_save gives a value of this exact type back as it is (their to_python or
# get_prep_value checks or casts to it; on PostgreSQL an integer comes back as psycopg's int subclass for
# its column's size, which is written the same in a JSON row): such values are taken as they are, four
# calls fewer each, and a prompt's new nodes and edges are a few hundred values.
_AS_IS = {
    models.CharField: str,
    models.TextField: str,
    models.FloatField: float,
    models.BooleanField: bool,
    models.IntegerField: int,
    models.SmallIntegerField: int,
    models.BigIntegerField: int,
    models.PositiveIntegerField: int,
    models.PositiveSmallIntegerField: int,
    models.PositiveBigIntegerField: int,
}


@cache
def _inserted_fields(model: type[Model]) -> list[tuple]:
    """Each field an insert gives (not an id the database numbers): the field; how a value is read off an
    object when its pre_save is Field's own (the attribute as it is), else None; and `_AS_IS`' type for it."""
    return [
        (
            field,
            attrgetter(field.attname) if type(field).pre_save is models.Field.pre_save else None,
            _AS_IS.get(type(field)),
        )
        for field in model._meta.concrete_fields
        if not (field.primary_key and field.db_returning)
    ]


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
