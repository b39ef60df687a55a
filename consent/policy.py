"""The single gate for processing personal data: `permits(subject=..., purpose=...)`.

Every processing step for a consent-based purpose calls it at the moment of processing.
Refusals are counted per purpose/day/reason, never with anything that identifies the resident.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from consent.models import ConsentRecord, Notice, Purpose, RefusalCount

if TYPE_CHECKING:
    from core.users import AnyUser

# Purpose codes of the demo city's register (consent/demo.py seeds them).
PURPOSE_SERVICE_DELIVERY = "service-delivery"
PURPOSE_STATUS_EMAILS = "status-emails"
PURPOSE_SMS = "status-notifications-sms"
PURPOSE_SURVEY = "satisfaction-survey"
PURPOSE_CONTRACTOR = "contractor-sharing"
PURPOSE_ROUTING_TRAINING = "routing-model-training"
PURPOSE_OPEN_STATISTICS = "open-statistics"

# Reason codes.
CONSENT_GIVEN = "consent_given"
NO_CONSENT = "no_consent"
WITHDRAWN = "withdrawn"
REFUSED = "refused"
EXPIRED = "expired"
NOTICE_OUTDATED = "notice_outdated"
NOT_CONSENT_BASED = "not_consent_based"
UNKNOWN_PURPOSE = "unknown_purpose"
PURPOSE_INACTIVE = "purpose_inactive"
NO_SUBJECT = "no_subject"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    basis: str  # "consent", "public_task", ... ("" for an unknown purpose)
    reason: str  # one of the reason codes above

    def __bool__(self) -> bool:
        return self.allowed


def _decide(
    *, subject: AnyUser | None, purpose: Purpose | None, record: ConsentRecord | None,
    latest_material_version: int,
) -> Decision:
    if purpose is None:
        return Decision(False, "", UNKNOWN_PURPOSE)
    if not purpose.is_active:
        return Decision(False, purpose.legal_basis, PURPOSE_INACTIVE)
    if not purpose.requires_consent:
        return Decision(True, purpose.legal_basis, NOT_CONSENT_BASED)
    if subject is None or getattr(subject, "pk", None) is None:
        return Decision(False, purpose.legal_basis, NO_SUBJECT)
    if record is None:
        return Decision(False, purpose.legal_basis, NO_CONSENT)
    if record.state == "withdrawn":
        return Decision(False, purpose.legal_basis, WITHDRAWN)
    if record.state == "refused":
        return Decision(False, purpose.legal_basis, REFUSED)
    if record.state == "expired":
        return Decision(False, purpose.legal_basis, EXPIRED)
    if record.state != "given":
        return Decision(False, purpose.legal_basis, NO_CONSENT)
    if record.expires_at is not None and record.expires_at <= timezone.now():
        return Decision(False, purpose.legal_basis, EXPIRED)
    if record.notice.version < latest_material_version:
        return Decision(False, purpose.legal_basis, NOTICE_OUTDATED)
    return Decision(True, purpose.legal_basis, CONSENT_GIVEN)


def _latest_material_version(purpose: Purpose) -> int:
    version = (
        Notice.objects.filter(purpose=purpose, requires_reconsent=True)
        .order_by("-version")
        .values_list("version", flat=True)
        .first()
    )
    return version or 0


def permits(*, subject: AnyUser | None, purpose: str) -> Decision:
    """May `purpose` process `subject`'s data right now? Counts the refusal if not."""
    purpose_obj = Purpose.objects.filter(code=purpose).first()
    record = None
    latest = 0
    if (
        purpose_obj is not None
        and purpose_obj.requires_consent
        and subject is not None
        and getattr(subject, "pk", None) is not None
    ):
        record = (
            ConsentRecord.objects.select_related("notice")
            .filter(subject_id=subject.pk, purpose=purpose_obj)
            .first()
        )
        if record is not None and record.state == "given":
            latest = _latest_material_version(purpose_obj)
    decision = _decide(
        subject=subject, purpose=purpose_obj, record=record, latest_material_version=latest
    )
    if not decision.allowed:
        count_refusal(purpose=purpose, reason=decision.reason)
    return decision


def permitted_subject_ids(*, purpose: str, subject_ids: Iterable[int]) -> set[int]:
    """Bulk form of `permits` for batch jobs (e.g. training-set selection): the ids allowed.

    Same rules as `permits`; refusals are counted in one increment per reason.
    """
    ids = set(subject_ids)
    purpose_obj = Purpose.objects.filter(code=purpose).first()
    if purpose_obj is None or not purpose_obj.is_active:
        reason = UNKNOWN_PURPOSE if purpose_obj is None else PURPOSE_INACTIVE
        count_refusal(purpose=purpose, reason=reason, n=len(ids))
        return set()
    if not purpose_obj.requires_consent:
        return ids
    latest = _latest_material_version(purpose_obj)
    now = timezone.now()
    allowed: set[int] = set()
    for sid, state, expires_at, version in ConsentRecord.objects.filter(
        purpose=purpose_obj, subject_id__in=ids
    ).values_list("subject_id", "state", "expires_at", "notice__version"):
        if (
            state == "given"
            and (expires_at is None or expires_at > now)
            and version >= latest
        ):
            allowed.add(sid)
    if len(ids) > len(allowed):
        count_refusal(purpose=purpose, reason=NO_CONSENT, n=len(ids) - len(allowed))
    return allowed


def count_refusal(*, purpose: str, reason: str, n: int = 1) -> None:
    """Add `n` to today's refusal counter for (purpose, reason)."""
    if n <= 0:
        return
    day = timezone.localdate()
    key = {"purpose_code": purpose[:60], "day": day, "reason": reason}
    with transaction.atomic():
        if RefusalCount.objects.filter(**key).update(count=F("count") + n):
            return
        try:
            with transaction.atomic():
                RefusalCount.objects.create(count=n, **key)
        except IntegrityError:
            RefusalCount.objects.filter(**key).update(count=F("count") + n)
