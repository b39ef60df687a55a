"""The consent service under concurrency, its per-process register snapshot, and the
canonical JSON fast path."""

from __future__ import annotations

import json
import random
import threading

import pytest
import rfc8785
from django.db import connection, connections

from consent import ledger, policy, services
from consent.models import ConsentEvent, ConsentRecord, LogEntry, Notice, Purpose
from tests.dbowner import execute_as_owner
from tests.factories import UserFactory

# Every test here runs against each consent store (consent/store.py) the database offers.
pytestmark = pytest.mark.usefixtures("consent_store")


def decide(user, decision="give", purpose=policy.PURPOSE_SMS, version=1):
    return services.consent_decide(subject=user, purpose_code=purpose, decision=decision,
                                   notice_version=version)


# --- Register snapshot ----------------------------------------------------------------------


def test_a_purpose_deactivated_with_a_bulk_update_is_refused_at_once(resident, register) -> None:
    decide(resident)  # the snapshot is loaded
    Purpose.objects.filter(code=policy.PURPOSE_SURVEY).update(is_active=False)
    with pytest.raises(services.NotFound):
        decide(resident, purpose=policy.PURPOSE_SURVEY)


def test_a_notice_published_after_the_snapshot_makes_the_old_version_stale(
    resident, register
) -> None:
    decide(resident)
    services.notice_publish(purpose=Purpose.objects.get(code=policy.PURPOSE_SMS),
                            texts={"en": ("SMS", "Now also at night.")})
    with pytest.raises(services.Conflict) as exc:
        decide(resident, decision="withdraw")
    assert exc.value.extra["current_notice"]["version"] == 2
    assert decide(resident, version=2).changed


def test_a_consent_change_reads_and_writes_in_a_constant_number_of_statements(
    resident, other_resident, register, consent_store
) -> None:
    from django.test.utils import CaptureQueriesContext

    decide(resident)  # snapshot loaded, key created
    decide(other_resident)
    with CaptureQueriesContext(connection) as first:
        decide(resident, decision="withdraw")
    with CaptureQueriesContext(connection) as second:
        decide(other_resident, decision="withdraw")
    assert len(first) == len(second)
    if consent_store == "postgresql":  # savepoint, read, write, release
        assert len(first) == 4, [q["sql"][:80] for q in first.captured_queries]


# --- Canonical JSON -------------------------------------------------------------------------


def test_the_canonical_json_fast_path_is_byte_identical_to_rfc_8785() -> None:
    rng = random.Random(6962)
    alphabet = "aZ09 \"\\/\b\f\n\r\t\x00\x1f\x7f\u00e9\u4e2d\u2028\U0001f600"
    for _ in range(2000):
        def value(depth: int):
            kind = rng.randrange(7 if depth < 3 else 4)
            if kind == 0:
                return "".join(rng.choice(alphabet) for _ in range(rng.randrange(12)))
            if kind == 1:
                return rng.randrange(-(2**53) + 1, 2**53)
            if kind == 2:
                return rng.choice([True, False, None])
            if kind == 3:
                return rng.randrange(-5, 5)
            if kind in (4, 5):
                return {"".join(rng.choice("abcXYZ_-09") for _ in range(rng.randrange(1, 6))):
                        value(depth + 1) for _ in range(rng.randrange(5))}
            return [value(depth + 1) for _ in range(rng.randrange(4))]

        obj = {"body": value(0), "kind": "consent", "time": "2026-01-01T00:00:00Z"}
        assert ledger.canonical(obj) == rfc8785.dumps(obj), obj


def test_values_outside_the_fast_path_still_get_rfc_8785() -> None:
    for obj in ({"x": 1.5}, {"\u00e9": 1, "e": 2}, {"big": 2**60}, {"x": [0.1, -0.0]}):
        try:
            expected = rfc8785.dumps(obj)
        except rfc8785.IntegerDomainError:
            with pytest.raises(rfc8785.IntegerDomainError):
                ledger.canonical(obj)
            continue
        assert ledger.canonical(obj) == expected
        assert json.loads(ledger.canonical(obj)) == obj


# --- PostgreSQL: concurrency ----------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db
def test_a_change_whose_log_index_was_filled_by_the_publisher_is_retried(
    resident, register
) -> None:
    decide(resident)
    with connection.cursor() as cur:
        cur.execute(f"SELECT nextval('{ledger.INDEX_SEQUENCE}')")
        taken = cur.fetchone()[0]
    # setval needs the owner's rights (the runtime role has only USAGE on the sequence)
    execute_as_owner(f"SELECT setval('{ledger.INDEX_SEQUENCE}', %s, false)", [taken])
    void = ledger.prepare_entry(kind=ledger.VOID_KIND, body={"type": "void"})
    LogEntry.objects.create(index=taken, kind=void.kind, entry=void.entry,
                            leaf_hash=void.leaf_hash, created_at=void.created_at)
    change = decide(resident, decision="withdraw")
    assert change.changed
    assert change.event.log_entry_id == taken + 1
    assert ConsentEvent.objects.get(pk=change.event.pk).log_entry_id == taken + 1


def _run_threads(threads: int, work) -> list[BaseException]:
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        try:
            start.wait()
            work(t)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    return errors


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_of_one_resident_apply_one_after_another() -> None:
    """Eight connections toggle the same consent: every applied change saw the one before
    (given and withdrawn strictly alternate in log order; no duplicate decisions), the record
    is the last event, and the log is one consistent tree."""
    from consent.demo import seed_register

    seed_register()
    resident = UserFactory()

    def work(t: int) -> None:
        for i in range(15):
            decide(resident, decision="give" if (t + i) % 2 == 0 else "withdraw")
            if i % 5 == 0:
                ledger.publish_tree_head()

    errors = _run_threads(8, work)
    assert not errors, errors
    events = list(ConsentEvent.objects.filter(purpose__code=policy.PURPOSE_SMS)
                  .order_by("log_entry_id"))
    states = [e.event_type for e in events]
    assert states[0] == "given"
    assert all(a != b for a, b in zip(states, states[1:], strict=False)), states
    record = ConsentRecord.objects.get(subject=resident, purpose__code=policy.PURPOSE_SMS)
    assert record.last_event_id == events[-1].pk
    assert record.state == events[-1].event_type
    ledger.publish_tree_head()
    indexes = list(LogEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(len(indexes)))
    assert LogEntry.objects.exclude(kind="void").count() == len(events)
    assert ledger.verify_log().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_decisions_of_one_resident_record_one_event() -> None:
    from consent.demo import seed_register

    seed_register()
    resident = UserFactory()
    version = Notice.objects.filter(purpose__code=policy.PURPOSE_SURVEY).latest("version")
    errors = _run_threads(6, lambda t: decide(resident, purpose=policy.PURPOSE_SURVEY,
                                              version=version.version))
    assert not errors, errors
    assert ConsentEvent.objects.filter(purpose__code=policy.PURPOSE_SURVEY).count() == 1
    assert ConsentRecord.objects.filter(subject=resident).count() == 1


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_changes_of_many_residents_form_one_consistent_tree() -> None:
    from consent.demo import seed_register

    seed_register()
    residents = [UserFactory() for _ in range(12)]
    purposes = [policy.PURPOSE_SMS, policy.PURPOSE_SURVEY, policy.PURPOSE_CONTRACTOR]

    def work(t: int) -> None:
        for i in range(20):
            person = residents[(t * 7 + i) % len(residents)]
            decide(person, purpose=purposes[i % 3], decision="give" if i % 2 else "withdraw")
            if i % 7 == 0:
                ledger.publish_tree_head()

    errors = _run_threads(6, work)
    assert not errors, errors
    ledger.publish_tree_head()
    indexes = list(LogEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(len(indexes)))
    assert LogEntry.objects.filter(kind="consent").count() == ConsentEvent.objects.count()
    for record in ConsentRecord.objects.select_related("last_event"):
        latest = (ConsentEvent.objects.filter(purpose_id=record.purpose_id,
                                              subject_pseudonym=record.last_event.subject_pseudonym)
                  .order_by("-log_entry_id").first())
        assert record.last_event_id == latest.pk
    assert ledger.verify_log().ok


# --- The store interface ----------------------------------------------------------------------


def test_a_write_on_a_record_changed_since_it_was_read_is_refused_as_stale(
    resident, register, consent_store
) -> None:
    from consent.store import RecordVersion, StaleRecord
    from consent.store import consent_store as current_store

    stale = decide(resident).record  # as read before the next change
    decide(resident, decision="withdraw")

    def write_on_the_stale_record() -> None:
        store = current_store()
        with store.transaction():
            services._write_change(  # noqa: SLF001 - the store's contract under test
                store=store, subject_id=resident.pk, purpose=stale.purpose, event_type="given",
                notice=stale.notice, method="web", recorded_by=None, expires_at=None,
                record=RecordVersion(pk=stale.pk, last_event_id=stale.last_event_id),
                key=b"k" * 32, pseudonym="p",
            )

    with pytest.raises(StaleRecord):
        write_on_the_stale_record()
    assert ConsentRecord.objects.get(pk=stale.pk).state == "withdrawn"


def test_the_portable_store_is_chosen_by_setting_and_off_postgresql(settings, db) -> None:
    from consent.store import consent_store

    settings.CIVICDESK = {**settings.CIVICDESK, "CONSENT_STORE": "portable"}
    assert consent_store().name == "portable"
    settings.CIVICDESK = {**settings.CIVICDESK, "CONSENT_STORE": "auto"}
    assert consent_store().name == ("postgresql" if connection.vendor == "postgresql"
                                    else "portable")
