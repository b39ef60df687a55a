"""Fixtures for the consent tests: the demo register and a helper to publish tree heads."""

from __future__ import annotations

import pytest

from consent import ledger
from consent.demo import seed_register


@pytest.fixture
def register(db):
    seed_register()


@pytest.fixture(autouse=True)
def _own_outside_mirror(tmp_path, settings):
    """Each test's outside anchor starts empty, like its database."""
    storages = dict(settings.STORAGES)
    storages["tlog_mirror"] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        "OPTIONS": {"location": str(tmp_path / "tlog-mirror")},
    }
    settings.STORAGES = storages


@pytest.fixture(autouse=True)
def _log_indexes_start_after_the_stored_entries(request):
    """Each test's log starts at index 0, as in a fresh database.

    On PostgreSQL log indexes come from a sequence, which (like every sequence) does not roll
    back with the test transaction; without this, indexes drawn by earlier tests would be
    holes that the publisher fills with void entries.
    """
    marker = request.node.get_closest_marker("django_db")
    if marker is None and "db" not in request.fixturenames:
        return
    transactional = bool(marker and marker.kwargs.get("transaction"))
    request.getfixturevalue("transactional_db" if transactional else "db")
    ledger.resync_index_sequence()
