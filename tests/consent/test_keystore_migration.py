"""Migration 0007 moves the pseudonym keys that older versions kept in the database into the
key store, keeping every resident's pseudonym, and drops the table."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.migrations.executor import MigrationExecutor

from consent import pseudonyms
from consent.keystore import keystore
from portal.dbroles import as_owner
from tests.factories import UserFactory

BEFORE = [("consent", "0006_cosignature_truncate_guard")]


def migrate(targets: list[tuple[str, str]] | None = None) -> object:
    """Migrate as the owner (the runtime role cannot change the schema); the apps as of
    `targets` (None: every app's latest migration, as the rest of the suite expects)."""
    with as_owner() as owner:
        executor = MigrationExecutor(owner)
        executor.loader.build_graph()
        targets = targets or executor.loader.graph.leaf_nodes()
        executor.migrate(targets)
        return executor.loader.project_state(targets).apps


@pytest.mark.django_db(transaction=True)
def test_existing_keys_move_to_the_key_store_and_keep_their_pseudonyms() -> None:
    resident = UserFactory()
    key = bytes(range(32))
    old_pseudonym = pseudonyms.pseudonym_of_key(key)
    apps = migrate(BEFORE)
    try:
        subject_key = apps.get_model("consent", "SubjectKey")
        with as_owner():
            subject_key.objects.create(subject_id=resident.pk, key=key, pseudonym=old_pseudonym)
    finally:
        migrate()  # through 0007 to the latest: later tests need the whole schema

    assert keystore().get(resident.pk) == key
    assert pseudonyms.pseudonym_for(resident) == old_pseudonym
    assert "consent_subjectkey" not in connection.introspection.table_names()
