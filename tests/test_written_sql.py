"""config/sql: the written-out statements of the prompt path give back the very objects the ORM would, and
store what bulk_create would. (The embedded mode's tests run the same path on SQLite.)"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import IntegrityError, ProgrammingError, connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils.safestring import SafeString

from canvas.models import Canvas, Edge, Node, NodeKind, NodeStatus
from config import sql

pytestmark = pytest.mark.django_db


def _fields(obj) -> dict:
    return {field.attname: getattr(obj, field.attname) for field in type(obj)._meta.concrete_fields}


def test_a_loaded_row_is_the_object_the_orm_reads(alice, alice_canvas, sim_models) -> None:
    model = sim_models["sim-swift"]
    node = Node.objects.create(
        canvas=alice_canvas, kind=NodeKind.RESPONSE, model=model, params={"max_tokens": 7}, status=NodeStatus.DONE,
        cost=Decimal("0.0012345"), created_by=alice, usage_estimated=True, text="<b>hi</b>",
        started_at=datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC),
    )  # fmt: skip
    for obj, table in ((node, Node), (alice_canvas, Canvas), (model, type(model))):
        [row] = sql.rows(f"SELECT {sql.columns(table, 'x')} FROM {sql.table(table)} x WHERE x.id = %s", [obj.pk])
        loaded, read = sql.load(table, row), table._base_manager.get(pk=obj.pk)
        assert _fields(loaded) == _fields(read)
        # Down to each datetime's zone object, which == does not compare (config.sql_postgres's loader).
        assert repr(_fields(loaded)) == repr(_fields(read))
        assert not loaded._state.adding and loaded._state.db == connection.alias


def test_an_insert_stores_what_bulk_create_would(alice, alice_canvas, sim_models) -> None:
    def made(text: str) -> list[Node]:
        prompt = Node(canvas=alice_canvas, kind=NodeKind.PROMPT, text=text, created_by=alice, blind=True)
        answer = Node(
            canvas=alice_canvas, kind=NodeKind.RESPONSE, model=sim_models["sim-swift"],
            params={"temperature": 0.5, "stop": ["\u00e9t\u00e9", '"\\'], "nested": {"n": [1, None, True]}},
            status=NodeStatus.QUEUED, label="A", created_by=alice, billed_team_id=alice_canvas.team_id,
            cost=Decimal("0.0000012345"), tokens_per_s=0.1 + 0.2, x=-1e-300, y=123456789.125,
            started_at=datetime(2026, 3, 1, 23, 59, 59, 999999, tzinfo=UTC), usage_estimated=True,
            # Not of the type their fields store (an int for a float, a str subclass): prepared by the fields.
            w=7, error_message=SafeString("<i>safe</i>"), output_tokens=12, seq=False,
        )  # fmt: skip
        return [prompt, answer]

    awkward = "quotes ' \" \\ \\u0000, a tab\t, lines\r\n, \u00e9, \U0001f600, <b>&amp;</b>"
    written, built = made(awkward), made("built")
    sql.insert(written, [Edge(parent=written[0], child=written[1], position=3)], [])
    Node.objects.bulk_create(built)
    for mine, theirs in zip(written, built, strict=True):
        stored, expected = _fields(Node.objects.get(pk=mine.pk)), _fields(Node.objects.get(pk=theirs.pk))
        differing = {"id", "text", "created_at"}
        assert {k: v for k, v in stored.items() if k not in differing} == {
            k: v for k, v in expected.items() if k not in differing
        }
        assert not mine._state.adding
    assert Node.objects.get(pk=written[0].pk).text == awkward
    edge = Edge.objects.get(child=written[1])
    assert (edge.parent_id, edge.position) == (written[0].pk, 3)


def test_on_postgresql_a_statement_is_prepared_once_per_connection_and_still_logged(alice_canvas) -> None:
    """The prompt path's statements skip the server's parsing and planning after their first time, and
    Django's query log (CaptureQueriesContext, the debug toolbar) still shows each one."""
    statement = f"SELECT c.title FROM {sql.table(Canvas)} c WHERE c.id = %s AND c.title <> %s"

    def prepared() -> list:
        return sql.rows("SELECT statement FROM pg_prepared_statements WHERE statement LIKE %s", ["%c.title <> $2%"])

    assert prepared() == []
    with CaptureQueriesContext(connection) as queries:
        for title in ("a", "b", "c"):
            assert sql.rows(statement, [alice_canvas.pk, title]) == [(alice_canvas.title,)]
    assert len(prepared()) == 1
    assert [q["sql"] for q in queries.captured_queries] == [statement.replace("%s", "$1", 1).replace("%s", "$2")] * 3


@pytest.mark.django_db(transaction=True)
def test_a_statement_that_fails_raises_djangos_error_and_the_next_one_runs(alice_canvas) -> None:
    """The cursor a connection keeps for these statements outlives a failed one (and its transaction)."""
    with pytest.raises(IntegrityError), transaction.atomic():
        sql.execute(f"UPDATE {sql.table(Canvas)} SET team_id = NULL WHERE id = %s", [alice_canvas.pk])
    with pytest.raises(ProgrammingError), transaction.atomic():
        sql.rows("SELECT no_such_column FROM canvas_canvas")
    assert sql.rows(f"SELECT c.title FROM {sql.table(Canvas)} c WHERE c.id = %s", [alice_canvas.pk]) == [
        (alice_canvas.title,)
    ]
