"""Consent receipts (Kantara Consent Receipt v1.1 with the ISO/IEC TS 27560 record fields),
bound in full to the transparency log.

At a consent change `receipt_body` builds every field; the log entry commits to the SHA-256 of
its RFC 8785 form (`receipt_sha256`), and a promise of inclusion is signed once. Both are stored
(`ConsentReceipt`) and `receipt_document` returns them unchanged on every download, with the
current proof (inclusion in the latest cosigned head) in the unbound `log` section.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
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
    return city.portal_url(f"{_notice_path(purpose.code, notice.version)}"
                           f"?language={notice.language}")


@lru_cache(maxsize=256)
def _notice_path(code: str, version: int) -> str:
    return reverse("api:register-purpose-notice", kwargs={"code": code, "version": version})


def _recipients(purpose: Purpose) -> list[dict[str, Any]]:
    return [
        {"name": r.get("name", ""), "role": r.get("role", ""),
         "roleDpv": register.RECIPIENT_ROLES.get(r.get("role", ""), ""),
         "country": r.get("country", "")}
        for r in purpose.recipients if r.get("role") != "internal"
    ]


@dataclass(frozen=True)
class _Fixed:
    """The parts of a receipt that depend only on the purpose, the notice, the decision, the
    method, the city and the log key: built once and shared (never mutated)."""

    purpose: Purpose
    city: dict[str, Any]
    key: ledger.LogKey
    top: dict[str, Any]
    service: dict[str, Any]
    purpose_item: dict[str, Any]
    event: dict[str, Any]


# (purpose id, notice id, state, method, actor) → the fixed parts. An entry counts only for the
# same purpose object (the register snapshot makes a new one whenever the register changes),
# the same city settings and the same log key; otherwise it is rebuilt.
_fixed_parts: dict[tuple[Any, ...], _Fixed] = {}


def _fixed(*, purpose: Purpose, notice: Notice, event_type: str, method: str,
           actor_role: str) -> _Fixed:
    conf, key = city.city(), ledger.log_key()
    cache_key = (purpose.pk, notice.pk, event_type, method, actor_role)
    found = _fixed_parts.get(cache_key)
    if found is not None and found.purpose is purpose and found.city is conf and found.key is key:
        return found
    ctrl = register.controller()
    recipients = _recipients(purpose)
    basis = register.LEGAL_BASES.get(purpose.legal_basis, ("", ""))
    state_word = STATE_WORDING.get(event_type)  # type: ignore[call-overload]
    title = purpose.title_en
    pii = [register.category_json(c)["dpv"] for c in purpose.data_categories]
    fixed = _Fixed(
        purpose=purpose, city=conf, key=key,
        top={
            "version": KANTARA_VERSION,
            "schemaVersion": SCHEMA_VERSION,
            "conformsTo": CONFORMS_TO,
            "jurisdiction": ctrl["jurisdiction"],
            "collectionMethod": method,
            "publicKey": str(key.verifier),
            "language": notice.language,
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
            "sensitive": False,
            "spiCat": [],
        },
        service={"service": "CivicDesk — Citizen Service Center"},
        purpose_item={
            "purpose": f"{state_word}: {title}" if state_word else title,
            "purposeCode": purpose.code,
            "purposeCategory": [purpose.dpv_purpose],
            "consentType": state_word.split()[-1] if state_word
            else CONSENT_TYPE.get(method, "EXPLICIT"),
            "piiCategory": [iri for iri in pii if not iri.endswith("NonPersonalData")],
            "primaryPurpose": False,
            "thirdPartyDisclosure": bool(recipients),
            "thirdPartyName": ", ".join(r["name"] for r in recipients),
            "legalBasis": {"code": purpose.legal_basis, "dpv": basis[0], "gdpr": basis[1]},
            "retention": {
                "periodDays": purpose.retention_days,
                "period": f"P{purpose.retention_days}D",
                "starts": purpose.retention_trigger,
                "endAction": purpose.retention_end_action,
                "endActionDpv": register.RETENTION_ACTIONS.get(purpose.retention_end_action, ""),
            },
            "recipients": recipients,
        },
        event={
            "state": event_type,
            "notice": {"version": notice.version, "language": notice.language,
                       "sha256": notice.text_sha256},
            "method": method,
            "actor": actor_role,
        },
    )
    _fixed_parts[cache_key] = fixed
    return fixed


def receipt_body(
    *, event_id: str, event_type: str, purpose: Purpose, notice: Notice, method: str,
    actor_role: str, created_at: datetime, expires_at: datetime | None, pseudonym: str,
    subject_opening: str,
) -> dict[str, Any]:
    """Every field of a receipt that the log entry binds (everything but the `log` proofs)."""
    fixed = _fixed(purpose=purpose, notice=notice, event_type=event_type, method=method,
                   actor_role=actor_role)
    state_word = STATE_WORDING.get(event_type)  # type: ignore[call-overload]
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
    return {
        **fixed.top,
        "consentTimestamp": int(created_at.timestamp()),
        "consentReceiptID": event_id,
        "piiPrincipalId": pseudonym,
        "piiPrincipalProof": {
            "opening": subject_opening,
            "scheme": "the log entry's subject = SHA-256('civicdesk/log-subject-commitment/v1"
                      "\\n' || opening)",
        },
        "services": [
            {**fixed.service, "purposes": [{**fixed.purpose_item, "termination": termination}]}
        ],
        # ISO/IEC TS 27560 record fields that Kantara v1.1 lacks.
        "consentEvent": {
            **fixed.event,
            "expiry": ledger.utc_seconds(expires_at) if expires_at else None,
        },
    }


def receipt_row(
    *, subject_id: int, event_id: str, body_text: str, entry: LogEntry,
) -> ConsentReceipt:
    """The stored receipt (unsaved; the caller inserts it with the entry): the canonical body
    (`body_text`, the bytes `receipt_sha256` is taken over), the entry and the promise of
    inclusion, signed here, once."""
    promise = ledger.inclusion_promise(entry)
    return ConsentReceipt(
        event_id=event_id, subject_id=subject_id, log_index=-1,
        leaf_hash=entry.leaf_hash, entry=entry.entry, issued_at=entry.created_at,
        body=body_text, promise=promise["statement"],
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
