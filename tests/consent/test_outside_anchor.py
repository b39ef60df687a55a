"""The outside anchor and the promise checker: verify_log compares the database log with the
heads kept outside it (mirror, witnesses) and with the promises it signed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.conf import settings
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import transaction
from django.test import Client
from django.utils import timezone

from consent import anchor, ledger, policy, services
from consent.models import ConsentReceipt, IntegrityCheck
from consent.receipts import receipt_document
from consent.selectors import integrity_alarms
from consent.tasks import publish_cycle

from .conftest import tamper


def append(n: int) -> None:
    for i in range(n):
        with transaction.atomic():
            ledger.ledger_append(kind="test", body={"n": i})


def problems(**kwargs) -> list[str]:
    return [p["problem"] for p in ledger.verify_log(**kwargs).problems]


def after_the_merge_delay():
    return timezone.now() + settings.CIVICDESK["LOG_MAX_MERGE_DELAY"] + timedelta(seconds=1)


@pytest.mark.django_db
def test_every_head_is_written_to_the_mirror_outside_the_database() -> None:
    append(2)
    ledger.publish_tree_head()
    append(3)
    ledger.publish_tree_head()
    notes = anchor.mirrored_notes(ledger.log_key().origin)
    assert [n.tree_size for n in notes] == [2, 5]
    assert anchor.read_note(notes[-1].name) == ledger.latest_head().checkpoint


@pytest.mark.django_db
def test_an_untouched_log_agrees_with_its_outside_heads() -> None:
    append(5)
    ledger.publish_tree_head()
    result = ledger.verify_log()
    assert result.ok, result.problems
    assert result.outside_heads == 1


@pytest.mark.django_db
def test_a_truncated_log_is_named_as_empty_with_history_outside() -> None:
    append(5)
    ledger.publish_tree_head()
    for table in ("consent_treehead", "consent_merklenode", "consent_logentry"):
        tamper(f"DELETE FROM {table}")  # noqa: S608 - constant names
    assert "the log is empty but heads of it exist outside the database (truncated)" in \
        problems()
    with pytest.raises(CommandError):
        call_command("verify_log")


@pytest.mark.django_db
def test_a_tail_rollback_of_entries_and_heads_is_named() -> None:
    append(4)
    ledger.publish_tree_head()
    append(4)
    ledger.publish_tree_head()
    tamper('DELETE FROM consent_logentry WHERE "index" >= 4')
    tamper("DELETE FROM consent_treehead WHERE tree_size > 4")
    tamper("DELETE FROM consent_merklenode")
    assert "the log is shorter than a head kept outside the database (rolled back or " \
        "truncated)" in problems()


@pytest.mark.django_db
def test_a_forked_head_is_refused_by_the_witness_and_named_by_verify_log(witness) -> None:
    append(4)
    assert publish_cycle()["witnesses"] == {witness.key.name: "cosigned"}
    # The operator (holding the log key) rewrites entry 2 and signs a new head of size 4.
    forged = ledger.prepare_entry(kind="test", body={"n": "rewritten"})
    tamper('UPDATE consent_logentry SET entry = %s, leaf_hash = %s WHERE "index" = 2',
           [forged.entry, forged.leaf_hash])
    for table in ("consent_treehead", "consent_merklenode", "consent_treeheadcosignature"):
        tamper(f"DELETE FROM {table}")  # noqa: S608 - constant names
    ledger.publish_tree_head()
    outcome = publish_cycle()["witnesses"][witness.key.name]
    assert "409" in outcome
    assert "fork" in outcome
    found = problems()
    assert "fork: the database's tree head and one kept outside have the same size but " \
        "different roots" in found
    assert "the log's entries differ from a head kept outside the database (edited, removed " \
        "or reordered entries)" in found


@pytest.mark.django_db
def test_a_head_no_witness_cosigned_is_named(witness) -> None:
    append(3)
    ledger.publish_tree_head(at=timezone.now() - timedelta(hours=1))  # never sent to witnesses
    assert "the newest tree head is cosigned by 0 witness(es), 1 required (no witness vouches " \
        "for it)" in problems()


@pytest.mark.django_db
def test_a_deletion_inside_the_merge_delay_is_named_by_the_promise_check(
        resident, register, caplog) -> None:
    services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS, decision="give",
                            notice_version=1)
    second = services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SURVEY,
                                     decision="give", notice_version=1)
    index = second.receipt.log_index
    # Before the next head: the change is removed, as if it never happened.
    tamper("DELETE FROM consent_consentrecord WHERE last_event_id = %s", [second.event.pk])
    tamper("DELETE FROM consent_consentevent WHERE id = %s", [second.event.pk])
    tamper('DELETE FROM consent_logentry WHERE "index" = %s', [index])
    ledger.publish_tree_head()
    assert ledger.latest_head().tree_size == index
    check = ledger.check_promises(now=after_the_merge_delay())
    assert not check.ok
    assert check.problems[0]["index"] == index
    assert "missing" in check.problems[0]["problem"]
    assert any(getattr(r, "event", "") == "tlog.integrity.alarm" for r in caplog.records)
    assert integrity_alarms()
    health = Client().get("/healthz").json()
    assert health["integrity"]["transparency_log"] == "alarm"
    assert any("broken promise" in p for p in problems(now=after_the_merge_delay()))


@pytest.mark.django_db
def test_promises_kept_are_checked_once_and_pass(resident, register) -> None:
    services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS, decision="give",
                            notice_version=1)
    ledger.publish_tree_head()
    check = ledger.check_promises(now=after_the_merge_delay())
    assert check.ok
    assert ledger.check_promises(now=after_the_merge_delay()) is None
    assert IntegrityCheck.objects.filter(kind="promises").count() == 1


@pytest.mark.django_db
def test_a_receipt_still_downloads_unchanged_after_its_event_and_entry_are_gone(
        client_for, resident, register) -> None:
    change = services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS,
                                     decision="give", notice_version=1)
    ledger.publish_tree_head()
    client = client_for(resident)
    url = f"/api/v1/me/consents/receipts/{change.event.event_id}"
    before = client.get(url).json()
    tamper("DELETE FROM consent_consentrecord WHERE last_event_id = %s", [change.event.pk])
    tamper("DELETE FROM consent_consentevent WHERE id = %s", [change.event.pk])
    tamper('DELETE FROM consent_logentry WHERE "index" = %s', [change.receipt.log_index])
    response = client.get(url)
    assert response.status_code == 200
    after = response.json()
    assert {k: v for k, v in after.items() if k != "log"} == \
        {k: v for k, v in before.items() if k != "log"}
    assert after["log"]["promise"] == before["log"]["promise"]
    assert after["log"]["status"] == "missing"


@pytest.mark.django_db
def test_the_inclusion_proof_endpoint_names_a_missing_entry_row_instead_of_failing(api) -> None:
    append(4)
    ledger.publish_tree_head()
    tamper('DELETE FROM consent_logentry WHERE "index" = 2')
    for index in (2, 3):
        response = api.get("/api/v1/log/proof/inclusion", {"index": index})
        assert response.status_code == 409
        body = response.json()
        assert body["type"].endswith("log_integrity")
        assert "missing" in body["detail"]


@pytest.mark.django_db
def test_the_receipt_a_resident_holds_matches_what_the_log_stores(resident, register) -> None:
    change = services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS,
                                     decision="give", notice_version=1)
    stored = ConsentReceipt.objects.get(event_id=change.event.event_id)
    document = receipt_document(stored)
    entry = json.loads(document["log"]["entry"])
    assert entry["body"]["receipt_sha256"]
    assert stored.leaf_hash == document["log"]["leaf_hash"]


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_change_deleted_before_its_head_is_named_not_silently_voided(resident,
                                                                       register) -> None:
    first = services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS,
                                    decision="give", notice_version=1)
    services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SURVEY,
                            decision="give", notice_version=1)
    index = first.receipt.log_index
    tamper("DELETE FROM consent_consentrecord WHERE last_event_id = %s", [first.event.pk])
    tamper("DELETE FROM consent_consentevent WHERE id = %s", [first.event.pk])
    tamper('DELETE FROM consent_logentry WHERE "index" = %s', [index])
    ledger.publish_tree_head()  # the hole is filled with a void entry, as for a rollback
    check = ledger.check_promises(now=after_the_merge_delay())
    assert [(p["index"], "replaced" in p["problem"]) for p in check.problems] == [(index, True)]
