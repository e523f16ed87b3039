"""A day's runs with tokens but no price, rolled up with its other figures. The days rolled up before had
no such count: their marks go, so they are read from the runs until the next roll-up rebuilds them
(usage/rollups.py), and no report shows a 0 that was never counted."""

from django.db import migrations, models


def unmark_rolled_up_days(apps, schema_editor):
    apps.get_model("usage", "RolledUp").objects.filter(first_day=models.F("last_day")).delete()
    apps.get_model("usage", "DailyUsage").objects.all().delete()


class Migration(migrations.Migration):
    dependencies = [("usage", "0002_invalidate_on_write")]

    operations = [
        migrations.RunPython(unmark_rolled_up_days, migrations.RunPython.noop),
        migrations.AddField(model_name="dailyusage", name="unpriced", field=models.BigIntegerField(default=0)),
        migrations.AlterField(model_name="dailyusage", name="unpriced", field=models.BigIntegerField()),
    ]
