# The outbox model moves from the services app to its own app. Its table already exists
# (services.0001_initial created it), so this migration only changes Django's state.

from django.db import migrations, models


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ("services", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="OutboxMessage",
                    fields=[
                        ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                        ("topic", models.CharField(max_length=60)),
                        ("payload", models.JSONField(default=dict)),
                        ("created_at", models.DateTimeField(auto_now_add=True)),
                        ("published_at", models.DateTimeField(blank=True, null=True)),
                        ("attempts", models.PositiveIntegerField(default=0)),
                    ],
                    options={
                        "db_table": "services_outboxmessage",
                        "ordering": ["id"],
                        "indexes": [models.Index(condition=models.Q(("published_at__isnull", True)), fields=["id"], name="outbox_unpublished")],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
