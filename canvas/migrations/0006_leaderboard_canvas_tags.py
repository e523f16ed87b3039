from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('canvas', '0005_evaluation_budgets_billing'),
    ]

    operations = [
        migrations.AddField(
            model_name='canvas',
            name='tags',
            field=models.JSONField(blank=True, default=list),
        ),
    ]
