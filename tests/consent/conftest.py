"""Fixtures for the consent tests: the demo register and a helper to publish tree heads."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.db import connection

from consent import ledger
from consent.demo import seed_register
from consent.models import LogEntry
from tests.dbowner import execute_as_owner


@pytest.fixture
def register(db):
    seed_register()


def _stores_at_collection() -> list[str]:
    """The consent stores this run's database offers (consent/store.py): both on PostgreSQL,
    the portable one elsewhere."""
    on_postgres = os.environ.get("DATABASE_URL", "").startswith(("postgres://", "postgresql://"))
    return ["portable", "postgresql"] if on_postgres else ["portable"]


def pytest_generate_tests(metafunc):
    if "consent_store" in metafunc.fixturenames:
        metafunc.parametrize("consent_store", _stores_at_collection(), indirect=True)


@pytest.fixture
def consent_store(request, settings):
    """Run the test against one consent store (modules opt in with
    `pytestmark = pytest.mark.usefixtures("consent_store")`)."""
    settings.CIVICDESK = {**settings.CIVICDESK, "CONSENT_STORE": request.param}
    return request.param


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


@dataclass
class RunningWitness:
    url: str
    key: Any  # tools.witness.WitnessKey
    state_dir: Path
    server: Any

    @property
    def vkey(self) -> str:
        return str(self.key.verifier)


def start_witness(state_dir: Path, *, name: str = "witness.test.example",
                  seed: bytes | None = None) -> RunningWitness:
    """A real witness (tools/witness.py) with its own key and state directory, serving HTTP on
    a free loopback port in a thread of the test process."""
    from tools import witness

    key = witness.key_from_seed(name, seed or os.urandom(32))
    server = witness.serve(key=key, logs=[ledger.log_key().verifier], state_dir=state_dir,
                           host="127.0.0.1", port=0, ready=threading.Event())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return RunningWitness(url=f"http://127.0.0.1:{server.server_port}", key=key,
                          state_dir=state_dir, server=server)


def stop_witness(w: RunningWitness) -> None:
    w.server.shutdown()
    w.server.server_close()
    w.server.witness.state.close()


@pytest.fixture
def witness(tmp_path, settings):
    """One witness, configured as the log's only witness (quorum 1)."""
    w = start_witness(tmp_path / "witness")
    settings.CIVICDESK = {**settings.CIVICDESK, "WITNESS_URLS": [w.url],
                          "WITNESS_KEYS": [w.vkey], "WITNESS_QUORUM": 1}
    yield w
    stop_witness(w)


def tamper(sql: str, params: list | None = None) -> None:
    """Change the log behind the application's back: with the owner's rights, past the
    triggers (the runtime role itself cannot; see tests/dbowner.py)."""
    execute_as_owner(sql, params or [])
