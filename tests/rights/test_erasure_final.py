"""Erasure that is final: pseudonym keys live in a key store outside the main database, the
erasure deletes the resident's key, and no row but the append-only consent events keeps the
stable pseudonym."""

from __future__ import annotations

import base64
import shutil
import threading
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import connection, transaction

from consent import ledger, pseudonyms
from consent.keystore import DirectoryKeyStore, KeyStoreError, keystore
from consent.rights.erasure import account_erase
from consent.rights.models import DataSubjectRequest, ErasureReceipt
from consent.rights.retention import apply_retention
from consent.verify import verify_statement
from tests.factories import UserFactory
from tests.rights.conftest import app_login, app_reauthenticate

pytestmark = pytest.mark.usefixtures("register")


def rows_containing(needles: list[bytes]) -> list[tuple[str, str]]:
    """Every table of the main database, every column (binary values as raw bytes, the rest
    as text), searched for each needle: what a dump of the database would contain."""
    hits = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [c[0] for c in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    if value is None:
                        continue
                    raw = bytes(value) if isinstance(value, bytes | memoryview) \
                        else str(value).encode()
                    hits.extend((table, column) for n in needles if n in raw)
    return hits


def key_forms(key: bytes) -> list[bytes]:
    """The key as raw bytes, hex (both cases) and base64, as it could be stored."""
    return [key, key.hex().encode(), key.hex().upper().encode(), base64.b64encode(key),
            base64.urlsafe_b64encode(key)]


def erase_through_the_api(resident, django_capture_on_commit_callbacks):
    client, token = app_login(resident)
    app_reauthenticate(client, token)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/api/v1/me/delete", {"dry_run": False},
                               content_type="application/json",
                               headers={"X-Session-Token": token})
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def consenting(resident, django_capture_on_commit_callbacks):
    """A resident with two consent changes and an export request (a DSR under their
    pseudonym)."""
    from consent.rights.exports import export_start
    from consent.services import consent_decide

    consent_decide(subject=resident, purpose_code="satisfaction-survey", decision="give",
                   notice_version=1)
    consent_decide(subject=resident, purpose_code="satisfaction-survey", decision="withdraw",
                   notice_version=1)
    with django_capture_on_commit_callbacks(execute=True):
        export_start(user=resident)
    return resident


def test_the_main_database_never_holds_a_subject_key(consenting):
    key = keystore().get(consenting.pk)

    assert key is not None
    assert rows_containing(key_forms(key)) == []


def test_the_key_lives_in_the_configured_key_store_directory(consenting):
    path = Path(settings.CIVICDESK["KEYSTORE_DIR"])
    files = list(path.rglob("*.key"))

    assert [p.name for p in files] == [f"{consenting.pk}.key"]
    assert files[0].stat().st_mode & 0o777 == 0o600
    assert files[0].parent.stat().st_mode & 0o777 == 0o700
    assert files[0].read_bytes() == keystore().get(consenting.pk)


def test_erasure_deletes_the_key_from_the_key_store(consenting, django_capture_on_commit_callbacks):
    erase_through_the_api(consenting, django_capture_on_commit_callbacks)

    assert keystore().get(consenting.pk) is None
    assert list(Path(settings.CIVICDESK["KEYSTORE_DIR"]).rglob("*.key")) == []
    ledger.publish_tree_head()
    assert ledger.verify_log(record=False).ok


def test_an_erasure_that_rolls_back_keeps_the_key(consenting, django_capture_on_commit_callbacks):
    def erase_then_fail() -> None:
        with transaction.atomic():
            account_erase(user=consenting, dry_run=False)
            raise RuntimeError("the erasure's transaction fails after the fact")

    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        erase_then_fail()

    assert keystore().get(consenting.pk) is not None
    assert get_user_model().objects.filter(pk=consenting.pk).exists()


def test_after_erasure_only_the_consent_events_carry_the_stable_pseudonym(
    consenting, django_capture_on_commit_callbacks
):
    pseudonym = pseudonyms.pseudonym_for(consenting).encode()
    before = {table for table, _ in rows_containing([pseudonym])}
    assert "rights_datasubjectrequest" in before, "the scan must see the request's pseudonym"

    erase_through_the_api(consenting, django_capture_on_commit_callbacks)

    assert set(rows_containing([pseudonym])) == {("consent_consentevent", "subject_pseudonym")}
    assert not DataSubjectRequest.objects.exclude(subject_pseudonym="").exists()
    receipt = ErasureReceipt.objects.get()
    assert pseudonym.decode() not in receipt.statement


def test_a_pre_erasure_copy_of_the_key_store_is_not_in_the_main_database(
    consenting, django_capture_on_commit_callbacks, tmp_path
):
    backup = tmp_path / "keystore-backup"
    shutil.copytree(settings.CIVICDESK["KEYSTORE_DIR"], backup)  # last night's key-store backup
    restored = DirectoryKeyStore(backup).get(consenting.pk)
    assert restored is not None

    erase_through_the_api(consenting, django_capture_on_commit_callbacks)

    # What the main database and all its backups from now on hold: not the key.
    assert rows_containing(key_forms(restored)) == []
    # What the restored key store alone still links: only the pseudonymised consent events
    # (until the key store's backup ages out, see the erasure answer).
    pseudonym = pseudonyms.pseudonym_of_key(restored).encode()
    assert {t for t, _ in rows_containing([pseudonym])} == {"consent_consentevent"}


def test_the_erasure_answer_says_when_the_link_is_gone_for_good(
    consenting, django_capture_on_commit_callbacks, settings
):
    settings.CIVICDESK = {**settings.CIVICDESK, "KEYSTORE_BACKUP_DAYS": 7,
                          "DATABASE_BACKUP_DAYS": 30}

    body = erase_through_the_api(consenting, django_capture_on_commit_callbacks)

    finality = body["finality"]
    erased = datetime.fromisoformat(finality["key_deleted_at"].replace("Z", "+00:00"))
    gone = datetime.fromisoformat(finality["link_gone_for_good_by"].replace("Z", "+00:00"))
    assert gone - erased == timedelta(days=30)
    assert finality["key_backups_gone_by"] == ledger.utc_seconds(erased + timedelta(days=7))
    assert gone.date().isoformat() in finality["explanation"]
    receipt = body["receipt"]
    signed = verify_statement(receipt["statement"], receipt["signature"],
                              ledger.log_key().verifier)
    assert signed["finality"]["link_gone_for_good_by"] == finality["link_gone_for_good_by"]


def test_the_dry_run_says_when_an_erasure_would_become_final(client_for, consenting):
    body = client_for(consenting).post("/api/v1/me/delete", {"dry_run": True},
                                       format="json").json()

    assert body["finality"]["key_store_backup_days"] == settings.CIVICDESK["KEYSTORE_BACKUP_DAYS"]
    assert "link_gone_for_good_by" in body["finality"]


def test_retention_deletes_the_key_of_a_resident_whose_erasure_died_before_deleting_it() -> None:
    gone, staying = UserFactory(), UserFactory()
    keystore().get_or_create(gone.pk)
    keystore().get_or_create(staying.pk)
    get_user_model().objects.filter(pk=gone.pk).delete()  # committed, then the process died

    summary = apply_retention(dry_run=False)

    assert summary.counts["orphan_keys_destroyed"] == 1
    assert keystore().get(gone.pk) is None
    assert keystore().get(staying.pk) is not None


# --- The key store itself ---------------------------------------------------------------------


def test_concurrent_first_uses_agree_on_one_key(tmp_path) -> None:
    store = DirectoryKeyStore(tmp_path)
    keys: list[bytes] = []
    start = threading.Barrier(8)

    def first_use() -> None:
        start.wait()
        keys.append(store.get_or_create(42))

    threads = [threading.Thread(target=first_use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    assert len(set(keys)) == 1
    assert store.get(42) == keys[0]


def test_moving_a_different_key_in_over_an_existing_one_is_refused(tmp_path) -> None:
    store = DirectoryKeyStore(tmp_path)
    store.put(7, b"a" * 32)
    store.put(7, b"a" * 32)  # the same key again: a re-run migration

    with pytest.raises(KeyStoreError):
        store.put(7, b"b" * 32)
    assert store.get(7) == b"a" * 32


def test_destroying_a_key_twice_reports_that_it_was_already_gone(tmp_path) -> None:
    store = DirectoryKeyStore(tmp_path)
    store.get_or_create(3)

    assert store.destroy(3) is True
    assert store.destroy(3) is False
    assert list(store.subject_ids()) == []


def test_the_erasure_answer_and_its_signed_receipt_give_the_same_dates_across_a_second(
    consenting, django_capture_on_commit_callbacks, monkeypatch
):
    """Planning and erasing happen a moment apart; the resident is told one set of dates."""
    from django.utils import timezone as real_timezone

    from consent.rights import erasure

    start = real_timezone.now()
    ticks = iter(range(1000))

    class TickingClock:
        @staticmethod
        def now():
            return start + timedelta(seconds=next(ticks))

    monkeypatch.setattr(erasure, "timezone", TickingClock)
    body = erase_through_the_api(consenting, django_capture_on_commit_callbacks)
    receipt = body["receipt"]
    signed = verify_statement(receipt["statement"], receipt["signature"],
                              ledger.log_key().verifier)
    assert signed["finality"] == body["finality"]
