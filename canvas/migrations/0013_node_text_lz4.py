"""A node's text and reasoning compressed with LZ4 rather than PostgreSQL's default (pglz).

A streaming answer's partial text is rewritten every PRISM_PERSIST_MS, whole, and a text past ~2 KB is
compressed on each write: at a hundred streams of 2,000 tokens pglz cost the database ~36 ms of a core
per save, LZ4 ~11, for about the same size on disk. Values written before keep their compression (both
read alike). A server built without LZ4 keeps pglz."""

import logging

from django.db import DatabaseError, migrations, transaction

log = logging.getLogger(__name__)


def compress_with(method: str):
    def alter(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        try:
            with transaction.atomic(using=schema_editor.connection.alias):
                schema_editor.execute(
                    f"ALTER TABLE canvas_node ALTER COLUMN text SET COMPRESSION {method},"
                    f" ALTER COLUMN reasoning SET COMPRESSION {method}"
                )
        except DatabaseError as exc:
            log.warning("Node texts keep PostgreSQL's default compression (%s)", exc)

    return alter


class Migration(migrations.Migration):
    dependencies = [
        ("canvas", "0012_text_search_of_ended_nodes"),
    ]

    operations = [
        migrations.RunPython(compress_with("lz4"), compress_with("default")),
    ]
