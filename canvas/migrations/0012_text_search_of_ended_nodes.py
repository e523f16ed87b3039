"""The full-text index holds a node's text once it stops changing, not while it streams.

The index of 0010 covered every node, so each save of a streaming answer's partial text (every
PRISM_PERSIST_MS, a hundred streams in one statement) ran English stemming over each whole text so far
and added its words to the GIN index again: at a hundred streams of a thousand tokens, PostgreSQL spent
bursts of a core on it every second, and on a small machine the streams' relay waited for a CPU. Search
leaves the running answers out (canvas.search.text_matches), which is what lets it read this index.
Built without blocking writes (CONCURRENTLY, outside a transaction), then the old one dropped."""

from django.db import migrations

OLD_INDEX = "node_text_search_idx"
INDEX = "node_ended_text_search_idx"
EXPRESSION = "to_tsvector('english'::regconfig, COALESCE(text, ''))"


def _on_postgresql(schema_editor) -> bool:
    return schema_editor.connection.vendor == "postgresql"  # SQLite (the embedded mode) searches with LIKE


def index_ended_text(apps, schema_editor):
    if _on_postgresql(schema_editor):
        schema_editor.execute(
            f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {INDEX} ON canvas_node USING gin ({EXPRESSION}) "
            "WHERE status NOT IN ('queued', 'streaming')"
        )
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {OLD_INDEX}")


def index_every_text(apps, schema_editor):
    if _on_postgresql(schema_editor):
        schema_editor.execute(f"CREATE INDEX CONCURRENTLY IF NOT EXISTS {OLD_INDEX} ON canvas_node USING gin ({EXPRESSION})")
        schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    atomic = False

    dependencies = [
        ("canvas", "0011_controls_node_params"),
    ]

    operations = [
        migrations.RunPython(index_ended_text, index_every_text),
    ]
