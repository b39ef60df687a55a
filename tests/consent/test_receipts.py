"""Receipts are bound in full to the log and verify offline with the standalone verifier
(tools/civicdesk_verify.py: standard library only)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import rfc8785

from consent import ledger, policy, services
from consent.models import ConsentReceipt
from consent.receipts import receipt_document
from consent.verify import VerificationError, canonical_json, verify_receipt

# Every test here runs against each consent store (consent/store.py) the database offers.
pytestmark = pytest.mark.usefixtures("consent_store")

VERIFY = Path(__file__).resolve().parents[2] / "tools" / "civicdesk_verify.py"


def give(resident, purpose=policy.PURPOSE_SMS, decision="give"):
    return services.consent_decide(subject=resident, purpose_code=purpose, decision=decision,
                                   notice_version=1)


@pytest.fixture
def receipt(resident, register):
    change = give(resident)
    ledger.publish_tree_head()
    return receipt_document(change.receipt)


def run_verifier(tmp_path: Path, receipt: dict, *args: str) -> subprocess.CompletedProcess[str]:
    # A copy of the one file, run in isolation without site-packages (-I -S): no Django, no
    # project, no `cryptography`; only the standard library.
    shutil.copy(VERIFY, tmp_path / "civicdesk_verify.py")
    (tmp_path / "receipt.json").write_text(json.dumps(receipt, default=str))
    return subprocess.run(
        [sys.executable, "-I", "-S", "civicdesk_verify.py", "receipt", "receipt.json", *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=60,
    )


def test_receipt_has_kantara_and_iso_27560_fields_and_the_log_proof(receipt) -> None:
    assert receipt["version"] == "KI-CR-v1.1.0"
    for key in ("jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID",
                "publicKey", "language", "piiPrincipalId", "piiControllers", "policyUrl",
                "services", "sensitive", "spiCat", "schemaVersion", "conformsTo"):
        assert key in receipt
    controller = receipt["piiControllers"][0]
    assert set(controller["address"]) >= {"streetAddress", "addressLocality", "addressCountry"}
    assert receipt["policyUrl"].startswith("http")
    assert "/notices/1" in receipt["policyUrl"]
    purpose = receipt["services"][0]["purposes"][0]
    assert purpose["legalBasis"]["gdpr"].endswith("A6-1-a")
    assert purpose["retention"]["period"] == "P90D"
    assert purpose["recipients"][0]["country"] == "CN"
    assert receipt["log"]["status"] == "included"
    assert receipt["log"]["inclusion_proof"] == []
    assert receipt["log"]["tree_size"] == 1


def test_the_sms_receipt_names_only_personal_data_categories(receipt) -> None:
    categories = receipt["services"][0]["purposes"][0]["piiCategory"]
    assert "https://w3id.org/dpv/pd#TelephoneNumber" in categories
    assert not any(c.endswith("NonPersonalData") for c in categories)


def test_a_withdrawal_reads_as_a_withdrawal_to_a_kantara_only_reader(resident, register) -> None:
    give(resident)
    change = give(resident, decision="withdraw")
    document = receipt_document(change.receipt)
    purpose = document["services"][0]["purposes"][0]
    assert purpose["consentType"] == "WITHDRAWN"
    assert purpose["purpose"].startswith("CONSENT WITHDRAWN:")
    assert verify_receipt(document).status == "promised"


def test_the_receipt_body_is_rfc_8785_canonical_in_the_verifier_too(receipt) -> None:
    body = {k: v for k, v in receipt.items() if k != "log"}
    assert canonical_json(body) == rfc8785.dumps(body)


def test_the_standalone_verifier_accepts_a_genuine_receipt_with_only_the_stdlib(
        tmp_path, receipt) -> None:
    result = run_verifier(tmp_path, receipt, "--key", str(ledger.log_key().verifier))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK: entry 0 is included" in result.stdout
    assert "every field of the receipt is bound" in result.stdout


def test_the_standalone_verifier_rejects_an_edited_entry(tmp_path, receipt) -> None:
    forged = copy.deepcopy(receipt)
    forged["log"]["entry"] = forged["log"]["entry"].replace('"given"', '"refused"')
    result = run_verifier(tmp_path, forged, "--key", str(ledger.log_key().verifier))
    assert result.returncode == 1
    assert "FAILED" in result.stdout


def _set(path: str, value):
    def edit(r: dict) -> None:
        *parents, last = path.split(".")
        target = r
        for p in parents:
            target = target[int(p)] if p.isdigit() else target[p]
        target[last] = value
    return edit


EDITS = {
    "purpose": _set("services.0.purposes.0.purposeCode", policy.PURPOSE_SURVEY),
    "state withdrawn to given": _set("consentEvent.state", "given"),
    "timestamp": lambda r: r.__setitem__("consentTimestamp", r["consentTimestamp"] - 3600),
    "pseudonym": _set("piiPrincipalId", "ps-" + "0" * 32),
    "title": _set("services.0.purposes.0.purpose", "Something else"),
    "disclosures": _set("services.0.purposes.0.thirdPartyName", "Another Company Ltd."),
    "third-party flag": _set("services.0.purposes.0.thirdPartyDisclosure", False),
    "controller": _set("piiControllers.0.piiController", "Someone Else"),
    "controller address": _set("piiControllers.0.address.streetAddress", "9 Elsewhere"),
    "policy url": _set("policyUrl", "https://evil.example/policy"),
    "notice version": _set("consentEvent.notice.version", 2),
    "expiry": _set("consentEvent.expiry", "2099-01-01T00:00:00Z"),
    "retention": _set("services.0.purposes.0.retention.periodDays", 9999),
    "pii categories": _set("services.0.purposes.0.piiCategory", []),
    "subject proof": _set("piiPrincipalProof.opening", "00" * 32),
    "an added field": lambda r: r.__setitem__("extra", "anything"),
}


@pytest.mark.parametrize("edit", EDITS.values(), ids=EDITS.keys())
def test_every_edited_receipt_field_is_rejected(resident, register, edit) -> None:
    give(resident)
    change = give(resident, decision="withdraw")  # a withdrawal: the "→ given" edit matters
    ledger.publish_tree_head()
    document = receipt_document(change.receipt)
    assert verify_receipt(document).status == "included"
    forged = copy.deepcopy(document)
    edit(forged)
    with pytest.raises(VerificationError):
        verify_receipt(forged)


def test_the_promise_is_signed_once_and_returned_unchanged(resident, register) -> None:
    change = give(resident)
    first = receipt_document(change.receipt)
    ledger.publish_tree_head()
    later = receipt_document(ConsentReceipt.objects.get(event_id=change.event.event_id))
    assert later["log"]["promise"] == first["log"]["promise"]
    assert {k: v for k, v in later.items() if k != "log"} == \
        {k: v for k, v in first.items() if k != "log"}


def test_a_promise_from_another_log_key_fails(receipt) -> None:
    other = ledger._load_key("", "other.example/log", True).verifier
    with pytest.raises(VerificationError):
        verify_receipt(receipt, key=other)


def test_the_receipt_proves_the_entry_is_the_resident_s_without_the_log_revealing_it(
        receipt) -> None:
    entry = json.loads(receipt["log"]["entry"])
    opening = receipt["piiPrincipalProof"]["opening"]
    assert opening not in receipt["log"]["entry"]
    assert receipt["piiPrincipalId"] not in receipt["log"]["entry"]
    from consent.verify import subject_commitment

    assert entry["body"]["subject"] == subject_commitment(opening)


def test_a_receipt_with_a_proof_for_another_tree_fails(resident, register, receipt) -> None:
    for _ in range(3):
        give(resident, policy.PURPOSE_SURVEY)
        give(resident, policy.PURPOSE_SURVEY, decision="withdraw")
    ledger.publish_tree_head()
    first = ConsentReceipt.objects.order_by("issued_at", "id").first()
    later = receipt_document(first)
    assert verify_receipt(later).status == "included"
    assert later["log"]["tree_size"] == 7
    forged = copy.deepcopy(later)
    forged["log"]["inclusion_proof"] = receipt["log"]["inclusion_proof"]
    with pytest.raises(VerificationError):
        verify_receipt(forged)


def test_a_resident_can_check_the_receipt_against_a_later_head_via_consistency(receipt,
                                                                               resident) -> None:
    give(resident, policy.PURPOSE_SURVEY)
    ledger.publish_tree_head()
    ledger.verify_against_head(receipt["log"]["checkpoint"])


def test_pure_python_ed25519_agrees_with_rfc_8032_test_vector_1() -> None:
    from tools.civicdesk_verify import ed25519_verify_pure

    public = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
    signature = bytes.fromhex(
        "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39"
        "701cf9b46bd25bf5f0595bbe24655141438e7a100b")
    assert ed25519_verify_pure(public, b"", signature)
    assert not ed25519_verify_pure(public, b"x", signature)
    assert not ed25519_verify_pure(public, b"", signature[:-1] + b"\x0c")
