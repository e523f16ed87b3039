from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('canvas', '0007_usage_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='canvas',
            name='tags',
            field=models.JSONField(blank=True, default=list),
        ),
    ]
