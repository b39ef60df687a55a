"""Fixtures for the consent tests: the demo register and a helper to publish tree heads."""

from __future__ import annotations

import pytest
from django.db import connection

from consent import ledger
from consent.demo import seed_register
from consent.models import LogEntry
from tests.dbowner import execute_as_owner


@pytest.fixture
def register(db):
    seed_register()


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
    if connection.vendor == "postgresql":
        # setval needs UPDATE on the sequence, which the runtime role does not have.
        table = LogEntry._meta.db_table
        execute_as_owner(
            f"SELECT setval('{ledger.INDEX_SEQUENCE}', "  # noqa: S608
            f'COALESCE((SELECT MAX("index") FROM {table}), -1) + 1, false)'
        )
