"""Deleted canvases (restorable for a while), answers kept for usage after their canvas is gone, and the
full-text index that search reads on PostgreSQL (canvas.search: the same expression, so it is used)."""

import django.db.models.deletion
from django.db import migrations, models

TEXT_SEARCH_INDEX = "node_text_search_idx"


def create_text_index(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return  # SQLite (the embedded mode) searches with LIKE instead
    schema_editor.execute(
        f"CREATE INDEX IF NOT EXISTS {TEXT_SEARCH_INDEX} ON canvas_node "
        "USING gin (to_tsvector('english'::regconfig, COALESCE(text, '')))"
    )


def drop_text_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {TEXT_SEARCH_INDEX}")


class Migration(migrations.Migration):
    dependencies = [
        ("canvas", "0009_judge_runs"),
    ]

    operations = [
        migrations.AddField(
            model_name="canvas",
            name="deleted_at",
            field=models.DateTimeField(blank=True, db_index=True, null=True),
        ),
        migrations.AlterField(
            model_name="node",
            name="canvas",
            field=models.ForeignKey(
                blank=True,
                null=True,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="nodes",
                to="canvas.canvas",
            ),
        ),
        migrations.RunPython(create_text_index, drop_text_index),
    ]
