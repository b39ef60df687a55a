"""Consent receipts: Kantara Consent Receipt v1.1 fields plus the log proof that backs them.

Before the next batched tree head exists a receipt carries a signed promise of inclusion; once a
head covers the entry it also carries the inclusion proof and the signed checkpoint.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings

from consent import ledger, register
from consent.models import ConsentEvent
from core import city

KANTARA_VERSION = "KI-CR-v1.1.0"
CONSENT_TYPE = {"counter": "EXPRESSED_ON_BEHALF", "web": "EXPLICIT", "mobile": "EXPLICIT"}


def receipt_for_event(event: ConsentEvent) -> dict[str, Any]:
    purpose = event.purpose
    entry = event.log_entry
    ctrl = register.controller()
    key = ledger.log_key()
    recipients = [r for r in purpose.recipients if r.get("role") != "internal"]
    head = ledger.latest_head()
    log: dict[str, Any] = {
        "origin": key.origin,
        "index": entry.index,
        "leaf_hash": entry.leaf_hash,
        "entry": entry.entry,
        "verifier_key": str(key.verifier),
        "promise": ledger.inclusion_promise(entry),
    }
    if head is not None and head.tree_size > entry.index:
        log.update(
            status="included",
            tree_size=head.tree_size,
            checkpoint=head.checkpoint,
            inclusion_proof=[
                h.hex() for h in ledger.inclusion_proof(index=entry.index,
                                                         tree_size=head.tree_size)
            ],
        )
    else:
        mmd = int(settings.CIVICDESK["LOG_MAX_MERGE_DELAY"].total_seconds())
        log.update(
            status="promised",
            detail=f"The entry will be in a signed tree head within {mmd} seconds; download the "
            "receipt again then to get the inclusion proof.",
        )
    return {
        "version": KANTARA_VERSION,
        "jurisdiction": ctrl["jurisdiction"],
        "consentTimestamp": int(event.created_at.timestamp()),
        "collectionMethod": event.get_method_display(),
        "consentReceiptID": str(event.event_id),
        "publicKey": str(key.verifier),
        "language": event.language,
        "piiPrincipalId": event.subject_pseudonym,
        "piiControllers": [
            {
                "piiController": ctrl["name"],
                "onBehalf": False,
                "contact": ctrl["dpo"]["name"],
                "address": ctrl["dpo"]["address"],
                "email": ctrl["dpo"]["email"],
                "phone": ctrl["dpo"]["phone"],
            }
        ],
        "policyUrl": city.portal_url("/api/v1/register/purposes"),
        "services": [
            {
                "service": "CivicDesk — Citizen Service Center",
                "purposes": [
                    {
                        "purpose": purpose.title_en,
                        "purposeCode": purpose.code,
                        "purposeCategory": [purpose.dpv_purpose],
                        "consentType": CONSENT_TYPE.get(event.method, "EXPLICIT"),
                        "piiCategory": [
                            register.category_json(c)["dpv"] for c in purpose.data_categories
                        ],
                        "primaryPurpose": False,
                        "termination": (
                            f"Withdraw at any time (POST /api/v1/me/consents/{purpose.code} "
                            f"with decision=withdraw); data kept {purpose.retention_days} days "
                            f"{purpose.retention_trigger}, then {purpose.retention_end_action}."
                        ),
                        "thirdPartyDisclosure": bool(recipients),
                        "thirdPartyName": ", ".join(r["name"] for r in recipients),
                    }
                ],
            }
        ],
        "sensitive": False,
        "spiCat": [],
        # ISO/IEC TS 27560 record fields that Kantara v1.1 lacks.
        "consentEvent": {
            "state": event.event_type,
            "notice": {"version": event.notice_version, "language": event.language,
                       "sha256": event.notice_sha256},
            "method": event.method,
            "actor": event.actor_role,
            "expiry": event.expires_at,
        },
        "log": log,
    }
