"""Erasure leaves no stable pseudonym behind outside the consent events: the erasure receipt
row loses its pseudonym column, and requests of erased residents (no subject any more) lose
theirs. (Signed statements of receipts issued before this change still name it.)"""

from django.db import migrations


def blank_erased_pseudonyms(apps, schema_editor):
    DataSubjectRequest = apps.get_model("rights", "DataSubjectRequest")
    DataSubjectRequest.objects.using(schema_editor.connection.alias).filter(
        subject=None).exclude(subject_pseudonym="").update(subject_pseudonym="")


class Migration(migrations.Migration):

    dependencies = [
        ("rights", "0001_initial"),
    ]

    operations = [
        migrations.RunPython(blank_erased_pseudonyms, migrations.RunPython.noop),
        migrations.RemoveField(
            model_name="erasurereceipt",
            name="subject_pseudonym",
        ),
    ]
