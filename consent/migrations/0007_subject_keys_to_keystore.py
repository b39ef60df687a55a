"""Per-resident pseudonym keys move out of the main database into the key store
(consent/keystore.py, CIVICDESK_KEYSTORE_DIR), so database backups never hold them.

Run `migrate` where the key store is mounted (the same directory the application uses). The
keys are written (fsync'd) before the table is dropped in the same transaction; re-running
after a failure is safe (an identical key is accepted). Backwards: the keys go back in.
"""

from django.conf import settings
from django.db import migrations

from consent.keystore import keystore
from consent.pseudonyms import pseudonym_of_key


def keys_to_keystore(apps, schema_editor):
    SubjectKey = apps.get_model("consent", "SubjectKey")
    store = keystore()
    rows = SubjectKey.objects.using(schema_editor.connection.alias).order_by("pk")
    for subject_id, key in rows.values_list("subject_id", "key").iterator():
        store.put(subject_id, bytes(key))


def keys_to_database(apps, schema_editor):
    SubjectKey = apps.get_model("consent", "SubjectKey")
    User = apps.get_model(*settings.AUTH_USER_MODEL.split("."))
    store = keystore()
    alias = schema_editor.connection.alias
    existing = set(User.objects.using(alias).values_list("pk", flat=True))
    SubjectKey.objects.using(alias).bulk_create([
        SubjectKey(subject_id=sid, key=key, pseudonym=pseudonym_of_key(key))
        for sid in store.subject_ids()
        if sid in existing and (key := store.get(sid)) is not None
    ], batch_size=1000)


class Migration(migrations.Migration):

    dependencies = [
        ("consent", "0006_cosignature_truncate_guard"),
    ]

    operations = [
        migrations.RunPython(keys_to_keystore, keys_to_database),
        migrations.DeleteModel(name="SubjectKey"),
    ]
