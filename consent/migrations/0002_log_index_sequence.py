"""Log indexes on PostgreSQL come from a sequence (appends no longer take a global lock)."""

from django.db import migrations

SEQUENCE = "consent_logentry_index_seq"


def create_sequence(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(
        f"CREATE SEQUENCE IF NOT EXISTS {SEQUENCE} AS bigint MINVALUE 0 START WITH 0 "
        'OWNED BY consent_logentry."index"'
    )
    schema_editor.execute(
        f"SELECT setval('{SEQUENCE}', "
        'COALESCE((SELECT MAX("index") FROM consent_logentry), -1) + 1, false)'
    )


def drop_sequence(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP SEQUENCE IF EXISTS {SEQUENCE}")


class Migration(migrations.Migration):

    dependencies = [
        ("consent", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(create_sequence, drop_sequence),
    ]
