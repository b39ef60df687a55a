"""Consent receipts (Kantara Consent Receipt v1.1 with the ISO/IEC TS 27560 record fields),
bound in full to the transparency log.

At a consent change `receipt_body` builds every field; the log entry commits to the SHA-256 of
its RFC 8785 form (`receipt_sha256`), and a promise of inclusion is signed once. Both are stored
(`ConsentReceipt`) and `receipt_document` returns them unchanged on every download, with the
current proof (inclusion in the latest cosigned head) in the unbound `log` section.
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.urls import reverse

from consent import ledger, register, witnessing
from consent import verify as v
from consent.models import ConsentEvent, ConsentReceipt, EventType, LogEntry, Notice, Purpose
from core import city
from core.security_log import security_event

KANTARA_VERSION = "KI-CR-v1.1.0"
SCHEMA_VERSION = "civicdesk/consent-receipt/v2"
CONFORMS_TO = [
    "https://kantarainitiative.org/confluence/display/infosharing/Consent+Receipt+Specification"
    "#KI-CR-v1.1.0",
    "https://www.iso.org/standard/80392.html#ISO-IEC-TS-27560-2023",
]
CONSENT_TYPE = {"counter": "EXPRESSED_ON_BEHALF", "web": "EXPLICIT", "mobile": "EXPLICIT",
                "system": "EXPLICIT"}
# A Kantara v1.1 reader has no state field: the purpose line and consentType say it instead.
STATE_WORDING = {
    EventType.WITHDRAWN: "CONSENT WITHDRAWN",
    EventType.REFUSED: "CONSENT REFUSED",
    EventType.EXPIRED: "CONSENT EXPIRED",
}


def policy_url(purpose: Purpose, notice: Notice) -> str:
    """Absolute, versioned URL of the exact notice the resident saw."""
    path = reverse("api:register-purpose-notice",
                   kwargs={"code": purpose.code, "version": notice.version})
    return city.portal_url(f"{path}?language={notice.language}")


def _recipients(purpose: Purpose) -> list[dict[str, Any]]:
    return [
        {"name": r.get("name", ""), "role": r.get("role", ""),
         "roleDpv": register.RECIPIENT_ROLES.get(r.get("role", ""), ""),
         "country": r.get("country", "")}
        for r in purpose.recipients if r.get("role") != "internal"
    ]


def receipt_body(
    *, event_id: str, event_type: str, purpose: Purpose, notice: Notice, method: str,
    actor_role: str, created_at: datetime, expires_at: datetime | None, pseudonym: str,
    subject_opening: str,
) -> dict[str, Any]:
    """Every field of a receipt that the log entry binds (everything but the `log` proofs)."""
    ctrl = register.controller()
    key = ledger.log_key()
    recipients = _recipients(purpose)
    basis = register.LEGAL_BASES.get(purpose.legal_basis, ("", ""))
    state_word = STATE_WORDING.get(event_type)  # type: ignore[call-overload]
    title = purpose.title_en
    retention = {
        "periodDays": purpose.retention_days,
        "period": f"P{purpose.retention_days}D",
        "starts": purpose.retention_trigger,
        "endAction": purpose.retention_end_action,
        "endActionDpv": register.RETENTION_ACTIONS.get(purpose.retention_end_action, ""),
    }
    if state_word is None:
        termination = (
            f"Withdraw at any time (POST /api/v1/me/consents/{purpose.code} with "
            f"decision=withdraw); data kept {purpose.retention_days} days "
            f"{purpose.retention_trigger}, then {purpose.retention_end_action}.")
    else:
        termination = (
            f"{state_word.capitalize()} at {ledger.utc_seconds(created_at)}: no processing for "
            f"this purpose from then on; data already kept is {purpose.retention_end_action}d "
            f"{purpose.retention_days} days {purpose.retention_trigger}.")
    pii = [register.category_json(c)["dpv"] for c in purpose.data_categories]
    return {
        "version": KANTARA_VERSION,
        "schemaVersion": SCHEMA_VERSION,
        "conformsTo": CONFORMS_TO,
        "jurisdiction": ctrl["jurisdiction"],
        "consentTimestamp": int(created_at.timestamp()),
        "collectionMethod": method,
        "consentReceiptID": event_id,
        "publicKey": str(key.verifier),
        "language": notice.language,
        "piiPrincipalId": pseudonym,
        "piiPrincipalProof": {
            "opening": subject_opening,
            "scheme": "the log entry's subject = SHA-256('civicdesk/log-subject-commitment/v1"
                      "\\n' || opening)",
        },
        "piiControllers": [
            {
                "piiController": ctrl["name"],
                "onBehalf": False,
                "contact": ctrl["dpo"]["name"],
                "address": register.controller_address(),
                "email": ctrl["dpo"]["email"],
                "phone": ctrl["dpo"]["phone"],
                "piiControllerUrl": city.portal_url("/"),
            }
        ],
        "policyUrl": policy_url(purpose, notice),
        "services": [
            {
                "service": "CivicDesk — Citizen Service Center",
                "purposes": [
                    {
                        "purpose": f"{state_word}: {title}" if state_word else title,
                        "purposeCode": purpose.code,
                        "purposeCategory": [purpose.dpv_purpose],
                        "consentType": state_word.split()[-1] if state_word
                        else CONSENT_TYPE.get(method, "EXPLICIT"),
                        "piiCategory": [iri for iri in pii if not iri.endswith("NonPersonalData")],
                        "primaryPurpose": False,
                        "termination": termination,
                        "thirdPartyDisclosure": bool(recipients),
                        "thirdPartyName": ", ".join(r["name"] for r in recipients),
                        "legalBasis": {"code": purpose.legal_basis, "dpv": basis[0],
                                       "gdpr": basis[1]},
                        "retention": retention,
                        "recipients": recipients,
                    }
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
        # ISO/IEC TS 27560 record fields that Kantara v1.1 lacks.
        "consentEvent": {
            "state": event_type,
            "notice": {"version": notice.version, "language": notice.language,
                       "sha256": notice.text_sha256},
            "method": method,
            "actor": actor_role,
            "expiry": ledger.utc_seconds(expires_at) if expires_at else None,
        },
    }


def receipt_row(
    *, subject_id: int, body: dict[str, Any], entry: LogEntry,
) -> ConsentReceipt:
    """The stored receipt (unsaved; the caller inserts it with the entry): body, entry and
    the promise of inclusion, signed here, once."""
    promise = ledger.inclusion_promise(entry)
    return ConsentReceipt(
        event_id=body["consentReceiptID"], subject_id=subject_id, log_index=-1,
        leaf_hash=entry.leaf_hash, entry=entry.entry, issued_at=entry.created_at,
        body=ledger.canonical(body).decode(), promise=promise["statement"],
        promise_signature=promise["signature"],
    )


def _log_section(stored: ConsentReceipt) -> dict[str, Any]:
    key = ledger.log_key()
    witnesses = witnessing.configured_witnesses()
    log: dict[str, Any] = {
        "origin": key.origin,
        "index": stored.log_index,
        "leaf_hash": stored.leaf_hash,
        "entry": stored.entry,
        "verifier_key": str(key.verifier),
        "promise": {"statement": stored.promise, "signature": stored.promise_signature},
        "witness_keys": [str(w.key) for w in witnesses],
        "witness_quorum": witnessing.quorum(),
    }
    head = ledger.latest_head()
    current = LogEntry.objects.filter(index=stored.log_index).values_list(
        "leaf_hash", flat=True).first()
    if current != stored.leaf_hash and (current is not None or (
            head is not None and head.tree_size > stored.log_index)):
        security_event("tlog.integrity.alarm", check="receipt", log_index=stored.log_index)
        log.update(status="missing", detail=(
            "The log no longer holds the entry this receipt's promise names. This receipt is "
            "signed evidence of that; the city's data officer has been alerted."))
        return log
    if head is not None and head.tree_size > stored.log_index:
        log.update(
            status="included",
            tree_size=head.tree_size,
            checkpoint=witnessing.checkpoint_note(head),
            inclusion_proof=[h.hex() for h in ledger.inclusion_proof(
                index=stored.log_index, tree_size=head.tree_size)],
        )
    else:
        log.update(
            status="promised",
            detail=f"The entry will be in a signed tree head within "
            f"{ledger.max_merge_delay_seconds()} seconds of "
            f"{ledger.utc_seconds(stored.issued_at)}; download the receipt again then to get "
            "the inclusion proof.",
        )
    return log


def receipt_document(stored: ConsentReceipt) -> dict[str, Any]:
    """The receipt as issued plus the current proof of inclusion."""
    return {**json.loads(stored.body), "log": _log_section(stored)}


def receipt_for_event(event: ConsentEvent) -> dict[str, Any]:
    stored = ConsentReceipt.objects.filter(event_id=event.event_id).first()
    if stored is None:  # an event from before receipts were bound (no signed receipt)
        return {"consentReceiptID": str(event.event_id), "schemaVersion": "legacy",
                "log": {"index": event.log_entry_id, "status": "unbound"}}
    return receipt_document(stored)


def verify_document(document: dict[str, Any]) -> v.ReceiptResult:
    """The same checks the resident's verifier makes, with this log's keys."""
    witnesses = witnessing.configured_witnesses()
    return v.verify_receipt(document, key=ledger.log_key().verifier,
                            witnesses=[w.key for w in witnesses], quorum=0)
