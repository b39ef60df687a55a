# Issue 21: fewer indexes written per report. Foreign-key indexes that a composite index
# already serves (its first column) go, the global updated_at index becomes a partial index
# for the stranded-routing sweep, and PostgreSQL's LIKE index on the reference (nothing
# searches references by prefix) goes.

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


LIKE_INDEX = "services_servicerequest_reference_526b90c7_like"


def drop_reference_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f'DROP INDEX IF EXISTS "{LIKE_INDEX}"')


def create_reference_like_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            f'CREATE INDEX IF NOT EXISTS "{LIKE_INDEX}" ON "services_servicerequest" '
            '("reference" varchar_pattern_ops)'
        )


class Migration(migrations.Migration):

    dependencies = [
        ('services', '0009_standard_replies_saved_filters'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AlterField(
            model_name='event',
            name='request',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.CASCADE, related_name='events', to='services.servicerequest'),
        ),
        migrations.AlterField(
            model_name='servicerequest',
            name='category',
            field=models.ForeignKey(db_index=False, on_delete=django.db.models.deletion.PROTECT, related_name='requests', to='services.category'),
        ),
        migrations.AlterField(
            model_name='servicerequest',
            name='department',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='requests', to='services.department'),
        ),
        migrations.AlterField(
            model_name='servicerequest',
            name='reporter',
            field=models.ForeignKey(blank=True, db_index=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='reported_requests', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='servicerequest',
            name='updated_at',
            field=models.DateTimeField(auto_now=True),
        ),
        migrations.AddIndex(
            model_name='servicerequest',
            index=models.Index(condition=models.Q(('status__in', ['submitted', 'returned'])), fields=['updated_at'], name='awaiting_routing'),
        ),
        migrations.RunPython(drop_reference_like_index, create_reference_like_index),
    ]
