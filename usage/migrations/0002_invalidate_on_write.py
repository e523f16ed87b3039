"""The trigger that keeps the usage roll-ups exact (usage/rollups.py): any write to a billed response
deletes the roll-up marks of that response's UTC day, in the writer's own transaction, holding the day's
advisory lock (shared) so that a build of that day waits for it or is waited for. PostgreSQL only: SQLite
(the embedded mode) keeps no roll-ups and reads every figure from the runs themselves."""

from django.db import migrations

# What a usage report reads of a response: a change to any of these changes a day's figures.
READ = (
    "kind",
    "billed_team_id",
    "created_at",
    "model_id",
    "created_by_id",
    "status",
    "error_code",
    "input_tokens",
    "cached_input_tokens",
    "output_tokens",
    "reasoning_tokens",
    "cost",
    "ttft_ms",
    "tokens_per_s",
)

FUNCTION = """
CREATE OR REPLACE FUNCTION usage_unmark_day() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    day date;
BEGIN
    IF TG_OP <> 'INSERT' AND OLD.kind = 'response' AND OLD.billed_team_id IS NOT NULL THEN
        day := (OLD.created_at AT TIME ZONE 'UTC')::date;
        PERFORM pg_advisory_xact_lock_shared(1347569491, day - DATE '2000-01-01');
        DELETE FROM usage_rolledup WHERE first_day <= day AND last_day >= day;
    END IF;
    IF TG_OP <> 'DELETE' AND NEW.kind = 'response' AND NEW.billed_team_id IS NOT NULL THEN
        day := (NEW.created_at AT TIME ZONE 'UTC')::date;
        PERFORM pg_advisory_xact_lock_shared(1347569491, day - DATE '2000-01-01');
        DELETE FROM usage_rolledup WHERE first_day <= day AND last_day >= day;
    END IF;
    RETURN NULL;
END
$$;
"""

TRIGGERS = [
    "CREATE TRIGGER usage_unmark_day_on_insert_or_delete AFTER INSERT OR DELETE ON canvas_node"
    " FOR EACH ROW EXECUTE FUNCTION usage_unmark_day()",
    # Partial text saves (many a second) change nothing a report reads: the WHEN clause skips them unseen.
    "CREATE TRIGGER usage_unmark_day_on_update AFTER UPDATE ON canvas_node FOR EACH ROW WHEN ("
    + " OR ".join(f"OLD.{column} IS DISTINCT FROM NEW.{column}" for column in READ)
    + ") EXECUTE FUNCTION usage_unmark_day()",
]

DROP = [
    "DROP TRIGGER IF EXISTS usage_unmark_day_on_insert_or_delete ON canvas_node",
    "DROP TRIGGER IF EXISTS usage_unmark_day_on_update ON canvas_node",
    "DROP FUNCTION IF EXISTS usage_unmark_day()",
]


def create(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in [FUNCTION, *TRIGGERS]:
            schema_editor.execute(statement)


def drop(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        for statement in DROP:
            schema_editor.execute(statement)


class Migration(migrations.Migration):
    dependencies = [
        ("usage", "0001_rollups"),
        ("canvas", "0008_leaderboard_canvas_tags"),
    ]

    operations = [migrations.RunPython(create, drop)]
