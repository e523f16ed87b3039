from django.db import migrations


def unbill_imported_answers(apps, schema_editor):
    """0005 billed every answer to its canvas's team, imported ones too; an imported answer never ran
    here (no attempt, never started), so its cost counts against no budget."""
    Node = apps.get_model("canvas", "Node")
    Node.objects.filter(kind="response", attempts=0, started_at__isnull=True).update(billed_team=None)


class Migration(migrations.Migration):
    dependencies = [("canvas", "0005_evaluation_budgets_billing")]

    operations = [migrations.RunPython(unbill_imported_answers, migrations.RunPython.noop)]
