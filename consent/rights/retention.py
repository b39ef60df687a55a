"""The nightly retention sweep: every purpose of the register has its retention period
applied to what is held for it (`PURPOSE_DATA`), and each run is logged with every purpose's
period and what it applied to.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from consent import ledger, policy, pseudonyms
from consent.models import Purpose
from consent.rights.common import FINAL_STATUSES, rights_setting
from consent.rights.erasure import redact_terms, requests_anonymise
from consent.rights.exports import export_file_delete
from consent.rights.models import (
    AnonymisedRequest,
    ExportJob,
    RetentionRun,
)
from services.models import Attachment, Event, ServiceRequest, SurveyInvitation

logger = logging.getLogger(__name__)


@dataclass
class RetentionSummary:
    dry_run: bool
    counts: dict[str, int]
    purposes: dict[str, int]  # every active purpose → its retention period in days
    run: RetentionRun | None = None
    # purpose → what its retention applies to (a key of PURPOSE_DATA's values, or "unknown")
    applied: dict[str, str] = field(default_factory=dict)


# What the service holds for each purpose of the demo register, and so what its retention
# period applies to. A purpose a city adds without data of its own here is logged as
# "unknown" (no processing of ours stores data for it), so the data officer sees it.
PURPOSE_DATA: dict[str, str] = {
    # The request, its text, place, photos and the residents' comments.
    policy.PURPOSE_SERVICE_DELIVERY: "requests",
    # The mark that a reporter was asked (services.surveys); their answer is the request's
    # rating, part of the request.
    policy.PURPOSE_SURVEY: "survey_invitations",
    # E-mails and text messages are sent and not stored (the once-only mark of a sent
    # notification lives in the cache for 14 days, shorter than either period).
    policy.PURPOSE_STATUS_EMAILS: "nothing_stored",
    policy.PURPOSE_SMS: "nothing_stored",
    # Shared through a logged reveal (consent.rights.reveals, purpose contractor-sharing,
    # gated by consent.policy.permits); nothing is stored beyond the access event.
    policy.PURPOSE_CONTRACTOR: "nothing_stored",
    # The router is retrained weekly from the texts still held under service delivery.
    policy.PURPOSE_ROUTING_TRAINING: "nothing_stored",
    # Aggregates without personal data.
    policy.PURPOSE_OPEN_STATISTICS: "nothing_stored",
}


def _service_purpose() -> Purpose | None:
    return Purpose.objects.filter(code=policy.PURPOSE_SERVICE_DELIVERY, is_active=True).first()


def _keyset(qs: QuerySet[Any], batch: int) -> Iterable[list[Any]]:
    """Primary keys of `qs` in ascending batches (bounded memory, short transactions)."""
    last = 0
    while True:
        ids = list(qs.filter(pk__gt=last).order_by("pk").values_list("pk", flat=True)[:batch])
        if not ids:
            return
        yield ids
        last = ids[-1]


def retention_candidates(*, now: datetime) -> dict[str, Any]:
    """Querysets of what is past its retention period (shared by the run and the dry run)."""
    out: dict[str, Any] = {}
    purpose = _service_purpose()
    if purpose is not None:
        cutoff = now - timedelta(days=purpose.retention_days)
        done = AnonymisedRequest.objects.filter(complete=True).values("request_id")
        out["requests"] = ServiceRequest.objects.filter(
            status__in=FINAL_STATUSES, closed_at__lt=cutoff
        ).exclude(pk__in=done)
        out["service_purpose"] = purpose
    survey = Purpose.objects.filter(code=policy.PURPOSE_SURVEY, is_active=True).first()
    if survey is not None:
        out["survey_invitations"] = SurveyInvitation.objects.filter(
            sent_at__lt=now - timedelta(days=survey.retention_days)
        )
    out["held_released"] = AnonymisedRequest.objects.filter(complete=False, kept_until__lte=now)
    out["exports"] = ExportJob.objects.filter(state=ExportJob.State.READY, expires_at__lte=now)
    return out


def apply_retention(*, dry_run: bool = False, now: datetime | None = None,
                    batch_size: int | None = None) -> RetentionSummary:
    """Apply each purpose's retention from the register: anonymise closed requests past it,
    release legal holds that ended, delete expired export files. Idempotent and batched;
    a real run appends a counts-only summary to the transparency log."""
    now = now or timezone.now()
    batch = batch_size or rights_setting("RETENTION_BATCH_SIZE")
    found = retention_candidates(now=now)
    register_purposes = list(Purpose.objects.filter(is_active=True).order_by("code"))
    purposes = {p.code: p.retention_days for p in register_purposes}
    applied = {p.code: PURPOSE_DATA.get(p.code, "unknown") for p in register_purposes}
    for code, what in applied.items():
        if what == "unknown":
            logger.warning("retention: no data of ours is held for this purpose",
                           extra={"purpose": code})
    counts = {"requests_anonymised": 0, "photos_deleted": 0, "comments_replaced": 0,
              "held_texts_released": 0, "exports_expired": 0, "survey_invitations_deleted": 0}
    if dry_run:
        if "requests" in found:
            qs = found["requests"]
            counts["requests_anonymised"] = qs.count()
            counts["photos_deleted"] = Attachment.objects.filter(request__in=qs).count()
            counts["comments_replaced"] = Event.objects.filter(
                request__in=qs, type=Event.Type.COMMENT_BY_RESIDENT).count()
        counts["held_texts_released"] = found["held_released"].count()
        counts["exports_expired"] = found["exports"].count()
        if "survey_invitations" in found:
            counts["survey_invitations_deleted"] = found["survey_invitations"].count()
        return RetentionSummary(dry_run=True, counts=counts, purposes=purposes, applied=applied)

    run = RetentionRun.objects.create(started_at=now, dry_run=False)
    if "requests" in found:
        qs = found["requests"]
        for ids in _keyset(qs, batch):
            with transaction.atomic():
                reporters = _reporter_terms(ids)
                c = requests_anonymise(
                    request_ids=ids, cause=AnonymisedRequest.Cause.RETENTION,
                    terms_by_reporter=reporters, keep=set(), kept_until=None, now=now,
                )
            counts["requests_anonymised"] += c.requests
            counts["photos_deleted"] += c.photos
            counts["comments_replaced"] += c.comments
    held = AnonymisedRequest.objects.filter(complete=False, kept_until__lte=now)
    for ids in _keyset(held, batch):
        with transaction.atomic():
            request_ids = list(AnonymisedRequest.objects.filter(pk__in=ids)
                               .values_list("request_id", flat=True))
            c = requests_anonymise(
                request_ids=request_ids, cause=AnonymisedRequest.Cause.ERASURE,
                terms_by_reporter={}, keep=set(), kept_until=None, now=now,
            )
        counts["held_texts_released"] += c.requests
        counts["photos_deleted"] += c.photos
        counts["comments_replaced"] += c.comments
    for ids in _keyset(found["exports"], batch):
        for job in ExportJob.objects.filter(pk__in=ids):
            export_file_delete(job)
        counts["exports_expired"] += ExportJob.objects.filter(pk__in=ids).update(
            state=ExportJob.State.EXPIRED, file_name=""
        )
    if "survey_invitations" in found:
        for ids in _keyset(found["survey_invitations"], batch):
            deleted, _ = SurveyInvitation.objects.filter(pk__in=ids).delete()
            counts["survey_invitations_deleted"] += deleted
    # Keys of erased residents whose erasure died before the key was deleted.
    counts["orphan_keys_destroyed"] = pseudonyms.orphan_keys_destroy()
    with transaction.atomic():
        entry = ledger.ledger_append(
            kind="retention",
            body={"type": "retention", "run": run.pk, "counts": counts,
                  "retention_days": purposes, "applied_to": applied},
        )
        RetentionRun.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(), counts=counts, log_entry=entry
        )
    run.refresh_from_db()
    return RetentionSummary(dry_run=False, counts=counts, purposes=purposes, run=run,
                            applied=applied)


def _reporter_terms(request_ids: list[int]) -> dict[int, list[str]]:
    reporter_ids = set(
        ServiceRequest.objects.filter(pk__in=request_ids).exclude(reporter=None)
        .values_list("reporter_id", flat=True)
    )
    return {
        u.pk: redact_terms(u)
        for u in get_user_model().objects.filter(pk__in=reporter_ids)
        .only("pk", "email", "display_name", "phone")
    }
