# OutboxMessage now belongs to the outbox app (outbox/migrations/0001_initial.py); the table
# stays, so this migration only changes Django's state.

from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("services", "0004_category_updated_at"),
        ("outbox", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[migrations.DeleteModel(name="OutboxMessage")],
            database_operations=[],
        ),
    ]
