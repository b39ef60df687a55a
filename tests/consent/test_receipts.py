"""Receipts verify offline with the standalone verifier (standard library + cryptography)."""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from consent import ledger, policy, services
from consent.receipts import receipt_for_event
from consent.verify import VerificationError, verify_receipt

VERIFY = Path(__file__).resolve().parents[2] / "consent" / "verify.py"


@pytest.fixture
def receipt(resident, register):
    change = services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SMS,
                                     decision="give", notice_version=1)
    ledger.publish_tree_head()
    return receipt_for_event(change.event)


def run_verifier(tmp_path: Path, receipt: dict, key: str) -> subprocess.CompletedProcess[str]:
    # A copy of the one file, run in isolation (-I): no Django, no project on the path.
    shutil.copy(VERIFY, tmp_path / "verify.py")
    (tmp_path / "receipt.json").write_text(json.dumps(receipt, default=str))
    return subprocess.run(
        [sys.executable, "-I", "verify.py", "receipt.json", "--key", key],
        cwd=tmp_path, capture_output=True, text=True, timeout=30,
    )


def test_receipt_has_kantara_fields_and_the_log_proof(receipt) -> None:
    assert receipt["version"] == "KI-CR-v1.1.0"
    for key in ("jurisdiction", "consentTimestamp", "collectionMethod", "consentReceiptID",
                "publicKey", "language", "piiPrincipalId", "piiControllers", "policyUrl",
                "services", "sensitive", "spiCat"):
        assert key in receipt
    assert receipt["log"]["status"] == "included"
    assert receipt["log"]["inclusion_proof"] == []
    assert receipt["log"]["tree_size"] == 1


def test_the_standalone_verifier_accepts_a_genuine_receipt(tmp_path, receipt) -> None:
    result = run_verifier(tmp_path, receipt, str(ledger.log_key().verifier))
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("OK: entry 0 is included")


def test_the_standalone_verifier_rejects_an_edited_receipt(tmp_path, receipt) -> None:
    forged = copy.deepcopy(receipt)
    forged["log"]["entry"] = forged["log"]["entry"].replace('"given"', '"refused"')
    result = run_verifier(tmp_path, forged, str(ledger.log_key().verifier))
    assert result.returncode == 1
    assert "FAILED" in result.stdout


def test_a_receipt_verified_against_another_key_fails(receipt) -> None:
    other = ledger._load_key("", "other.example/log", True).verifier
    with pytest.raises(VerificationError):
        verify_receipt(receipt, key=other)


def test_a_receipt_with_a_proof_for_another_tree_fails(resident, register, receipt) -> None:
    for _ in range(3):
        services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SURVEY,
                                decision="give", notice_version=1)
        services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SURVEY,
                                decision="withdraw", notice_version=1)
    ledger.publish_tree_head()
    from consent.models import ConsentEvent

    later = receipt_for_event(ConsentEvent.objects.order_by("created_at", "id").first())
    assert verify_receipt(later) == "included"
    assert later["log"]["tree_size"] == 7
    forged = copy.deepcopy(later)
    forged["log"]["inclusion_proof"] = receipt["log"]["inclusion_proof"]
    with pytest.raises(VerificationError):
        verify_receipt(forged)


def test_a_resident_can_check_the_receipt_against_a_later_head_via_consistency(receipt,
                                                                               resident) -> None:
    services.consent_decide(subject=resident, purpose_code=policy.PURPOSE_SURVEY,
                            decision="give", notice_version=1)
    ledger.publish_tree_head()
    ledger.verify_against_head(receipt["log"]["checkpoint"])
