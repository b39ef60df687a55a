"""The transparency log: appends, batched signed heads, tamper detection, concurrency."""

from __future__ import annotations

import json
import threading
import time

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import DatabaseError, connection, connections, transaction

from consent import ledger
from consent import verify as v
from consent.models import IntegrityCheck, LogEntry, TreeHead
from tests.dbowner import execute_as_owner


def append(n: int, kind: str = "test") -> list[LogEntry]:
    out = []
    for i in range(n):
        with transaction.atomic():
            out.append(ledger.ledger_append(kind=kind, body={"n": i}))
    return out


def raw_update(sql: str, params: list) -> None:
    """Edit the log behind the application's back, with the owner's rights past the trigger
    (the runtime role the application uses cannot: tests/consent/test_runtime_role.py)."""
    execute_as_owner(sql, params)


@pytest.mark.django_db(transaction=True)
def test_append_outside_a_transaction_is_refused() -> None:
    with pytest.raises(ledger.LedgerError):
        ledger.ledger_append(kind="test", body={"n": 1})


@pytest.mark.django_db
def test_an_entry_with_an_email_address_is_refused() -> None:
    with pytest.raises(ledger.LedgerError), transaction.atomic():
        ledger.ledger_append(kind="test", body={"who": "li.wei@example.org"})
    assert LogEntry.objects.count() == 0


@pytest.mark.django_db
def test_entries_are_canonical_json_hashed_as_rfc_6962_leaves() -> None:
    (entry,) = append(1)
    assert entry.entry == '{"body":{"n":0},"kind":"test","time":"%s"}' % (  # noqa: UP031
        ledger.utc_seconds(entry.created_at)
    )
    assert entry.leaf_hash == v.leaf_hash(entry.entry.encode()).hex()


@pytest.mark.django_db
def test_a_rolled_back_change_leaves_no_gap_in_the_published_tree() -> None:
    append(2)

    def change_that_fails() -> None:
        with transaction.atomic():
            ledger.ledger_append(kind="test", body={"n": "rolled back"})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_that_fails()
    append(1)
    head = ledger.publish_tree_head()
    entries = list(LogEntry.objects.order_by("index"))
    assert [e.index for e in entries] == list(range(head.tree_size))
    assert [json.loads(e.entry)["body"].get("n") for e in entries if e.kind != "void"] == [0, 1, 0]
    assert not any("rolled back" in json.dumps(json.loads(e.entry)["body"].get("n"))
                   for e in entries)
    assert ledger.verify_log().ok


@pytest.mark.django_db
def test_heads_are_published_in_batches_only_when_the_log_grew() -> None:
    append(3)
    first = ledger.publish_tree_head()
    assert first is not None
    assert first.tree_size == 3
    assert ledger.publish_tree_head() is None
    append(2)
    second = ledger.publish_tree_head()
    assert second.tree_size == 5
    assert TreeHead.objects.count() == 2


@pytest.mark.django_db
def test_a_checkpoint_is_a_c2sp_signed_note_with_a_timestamped_cosignature() -> None:
    append(4)
    head = ledger.publish_tree_head()
    key = ledger.log_key().verifier
    body, _, sigs = head.checkpoint.partition("\n\n")
    assert body.split("\n") == [key.name, "4", __import__("base64").b64encode(
        bytes.fromhex(head.root_hash)).decode()]
    assert sigs.count("\u2014 ") == 2
    cp = v.verify_checkpoint(head.checkpoint, v.VerifierKey.parse(str(key)))
    assert cp.tree_size == 4
    assert cp.timestamp == int(head.timestamp.timestamp())


@pytest.mark.django_db
def test_a_checkpoint_with_an_altered_size_fails_signature_verification() -> None:
    append(4)
    head = ledger.publish_tree_head()
    forged = head.checkpoint.replace("\n4\n", "\n5\n", 1)
    with pytest.raises(v.VerificationError):
        v.verify_checkpoint(forged, ledger.log_key().verifier)


@pytest.mark.django_db
def test_verify_log_passes_on_an_untouched_log_and_records_the_result() -> None:
    append(10)
    ledger.publish_tree_head()
    append(3)
    ledger.publish_tree_head()
    call_command("verify_log")
    check = IntegrityCheck.objects.latest()
    assert check.ok
    assert check.tree_size == 13
    assert check.heads_checked == 2


@pytest.mark.django_db
def test_an_edited_row_makes_verify_log_fail_naming_its_index() -> None:
    append(12)
    ledger.publish_tree_head()
    raw_update("UPDATE consent_logentry SET entry = %s WHERE \"index\" = %s",
               ['{"body":{"n":999},"kind":"test","time":"2026-01-01T00:00:00Z"}', 7])
    result = ledger.verify_log()
    assert not result.ok
    assert {"problem": "entry content does not match its leaf hash (edited row)", "index": 7} in (
        result.problems
    )
    with pytest.raises(CommandError, match="FAILED"):
        call_command("verify_log")


@pytest.mark.django_db
def test_an_edited_row_with_a_recomputed_leaf_hash_is_caught_by_subtree_and_head() -> None:
    append(8)
    ledger.publish_tree_head()
    forged = '{"body":{"n":999},"kind":"test","time":"2026-01-01T00:00:00Z"}'
    raw_update("UPDATE consent_logentry SET entry = %s, leaf_hash = %s WHERE \"index\" = %s",
               [forged, v.leaf_hash(forged.encode()).hex(), 5])
    result = ledger.verify_log()
    assert not result.ok
    subtree = [p for p in result.problems if "subtree" in p["problem"]]
    assert subtree[0]["index"] <= 5 <= subtree[0]["until"]
    assert any("signed tree head" in p["problem"] for p in result.problems)


@pytest.mark.django_db
def test_swapped_rows_are_reported_with_their_indexes() -> None:
    entries = append(6)
    ledger.publish_tree_head()
    raw_update("UPDATE consent_logentry SET entry = %s WHERE \"index\" = %s",
               [entries[3].entry, 2])
    raw_update("UPDATE consent_logentry SET entry = %s WHERE \"index\" = %s",
               [entries[2].entry, 3])
    indexes = {p.get("index") for p in ledger.verify_log().problems}
    assert {2, 3} <= indexes


@pytest.mark.django_db
def test_a_deleted_row_is_reported_with_its_index() -> None:
    append(9)
    ledger.publish_tree_head()
    raw_update("DELETE FROM consent_logentry WHERE \"index\" = %s", [4])
    problems = ledger.verify_log().problems
    assert {"problem": "missing entries (deleted rows)", "index": 4, "until": 4} in problems


@pytest.mark.django_db
def test_since_head_accepts_a_saved_older_head_that_today_extends(tmp_path) -> None:
    append(5)
    old = ledger.publish_tree_head()
    append(6)
    ledger.publish_tree_head()
    saved = tmp_path / "head.txt"
    saved.write_text(old.checkpoint)
    call_command("verify_log", "--since-head", str(saved))


@pytest.mark.django_db
def test_since_head_rejects_a_saved_head_of_a_different_history(tmp_path) -> None:
    append(5)
    ledger.publish_tree_head()
    key = ledger.log_key()
    fake = ledger._sign_checkpoint(key, 3, bytes(32), 0)
    saved = tmp_path / "head.txt"
    saved.write_text(fake)
    with pytest.raises(CommandError):
        call_command("verify_log", "--since-head", str(saved))


@pytest.mark.django_db
def test_proofs_beyond_the_published_head_are_refused() -> None:
    append(3)
    ledger.publish_tree_head()
    append(2)
    with pytest.raises(ledger.LedgerError):
        ledger.inclusion_proof(index=4, tree_size=5)
    with pytest.raises(ledger.LedgerError):
        ledger.consistency_proof(first=3, second=5)


# --- PostgreSQL -----------------------------------------------------------------------------


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_trigger_refuses_even_the_owner_to_update_or_delete_log_rows() -> None:
    append(2)
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        execute_as_owner("UPDATE consent_logentry SET kind = 'edited' WHERE \"index\" = 0",
                         past_triggers=False)
    with pytest.raises(DatabaseError, match="pgtrigger"), transaction.atomic():
        execute_as_owner("DELETE FROM consent_logentry WHERE \"index\" = 1", past_triggers=False)
    assert LogEntry.objects.count() == 2


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_appends_from_several_connections_form_one_consistent_tree() -> None:
    threads, per_thread = 8, 25
    errors: list[BaseException] = []
    start = threading.Barrier(threads)

    def worker(t: int) -> None:
        try:
            start.wait()
            for i in range(per_thread):
                with transaction.atomic():
                    ledger.ledger_append(kind="test", body={"t": t, "i": i})
                if i % 10 == 0:
                    ledger.publish_tree_head()
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join()
    assert not errors, errors
    ledger.publish_tree_head()
    indexes = list(LogEntry.objects.order_by("index").values_list("index", flat=True))
    assert indexes == list(range(threads * per_thread))
    result = ledger.verify_log()
    assert result.ok, result.problems
    heads = list(TreeHead.objects.order_by("tree_size"))
    for older, newer in zip(heads, heads[1:], strict=False):
        v.verify_consistency(
            first=older.tree_size, second=newer.tree_size,
            first_root=bytes.fromhex(older.root_hash), second_root=bytes.fromhex(newer.root_hash),
            proof=ledger.consistency_proof(first=older.tree_size, second=newer.tree_size),
        )


@pytest.mark.django_db
def test_the_beat_task_publishes_a_head_only_when_the_log_grew() -> None:
    from consent.tasks import publish_tree_head

    append(2)
    assert publish_tree_head.apply().get() == 2
    assert publish_tree_head.apply().get() is None


def _next_index_taken_by_a_void() -> int:
    """Make the next index the sequence hands out one that the publisher already filled."""
    with connection.cursor() as cur:
        cur.execute(f"SELECT nextval('{ledger.INDEX_SEQUENCE}')")
        taken = cur.fetchone()[0]
    # setval needs the owner's rights (the runtime role has only USAGE on the sequence)
    execute_as_owner(f"SELECT setval('{ledger.INDEX_SEQUENCE}', %s, false)", [taken])
    void = ledger.prepare_entry(kind=ledger.VOID_KIND, body={"type": "void"})
    LogEntry.objects.create(index=taken, kind=void.kind, entry=void.entry,
                            leaf_hash=void.leaf_hash, created_at=void.created_at)
    return taken


@pytest.mark.postgres
@pytest.mark.django_db
def test_an_append_whose_index_was_filled_by_the_publisher_takes_the_next_one() -> None:
    append(1)
    taken = _next_index_taken_by_a_void()
    (entry,) = append(1)
    assert entry.index == taken + 1
    assert LogEntry.objects.get(index=taken).kind == "void"


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_publisher_waits_for_a_running_change_instead_of_voiding_its_index() -> None:
    append(1)
    ledger.publish_tree_head()
    holding, release, errors = threading.Event(), threading.Event(), []

    def slow_change() -> None:
        try:
            with transaction.atomic():
                ledger.ledger_append(kind="test", body={"n": "slow"})
                holding.set()
                release.wait(10)
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    slow = threading.Thread(target=slow_change)
    slow.start()
    assert holding.wait(10)
    append(1)  # commits after the slow change drew its index: a hole below it
    threading.Timer(0.5, release.set).start()
    head = ledger.publish_tree_head()
    slow.join()
    assert not errors, errors
    assert head.tree_size == 3
    assert not LogEntry.objects.filter(kind="void").exists()
    assert ledger.verify_log().ok


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_head_stops_before_a_change_that_runs_longer_than_the_publisher_waits(
    monkeypatch,
) -> None:
    monkeypatch.setattr(ledger, "HOLE_WAIT", "200ms")
    append(1)
    ledger.publish_tree_head()
    holding, release = threading.Event(), threading.Event()

    def long_change() -> None:
        try:
            with transaction.atomic():
                ledger.ledger_append(kind="test", body={"n": "long"})
                holding.set()
                release.wait(10)
        finally:
            connections.close_all()

    slow = threading.Thread(target=long_change)
    slow.start()
    try:
        assert holding.wait(10)
        append(1)
        assert ledger.publish_tree_head() is None  # nothing contiguous to add yet
    finally:
        release.set()
        slow.join()
    head = ledger.publish_tree_head()
    assert head.tree_size == 3
    assert not LogEntry.objects.filter(kind="void").exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_publisher_fills_the_index_of_a_change_that_rolled_back_with_a_void_entry() -> None:
    append(1)

    def change_that_fails() -> None:
        with transaction.atomic():
            ledger.ledger_append(kind="test", body={"n": "rolled back"})
            raise RuntimeError

    with pytest.raises(RuntimeError):
        change_that_fails()
    append(1)
    started = time.monotonic()
    head = ledger.publish_tree_head()
    assert time.monotonic() - started < 5
    assert head.tree_size == 3
    assert LogEntry.objects.get(index=1).kind == "void"
    assert ledger.verify_log().ok
