"""Writes for residents' data rights: staff reveals (access events), exports, erasure,
counter data-subject requests and the retention sweep.

Every change that touches personal data runs in one transaction together with its
transparency-log entry (consent.ledger), whose subject is a keyed pseudonym.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import secrets
import uuid
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from dateutil.relativedelta import relativedelta
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from consent import ledger, policy, pseudonyms
from consent.models import ConsentRecord, LegalBasis, Purpose
from consent.rights.models import (
    AccessEvent,
    AnonymisedRequest,
    DataSubjectRequest,
    ErasureReceipt,
    ExportJob,
    RetentionRun,
)
from consent.rights.selectors import export_document
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.roles import roles_for
from core.security_log import security_event
from outbox.services import outbox_enqueue
from services.live import live_disconnect_user
from services.models import Attachment, Event, Follow, ServiceRequest
from services.open311.models import Open311Submission
from services.photo_grants import photo_grant
from services.selectors import access_request

logger = logging.getLogger(__name__)

#: What replaces free text a resident wrote once it may no longer be kept.
REMOVED_MARKER = "[removed at the resident's request or at the end of its retention period]"
REDACTED = "[removed]"

# Revealable fields → the register categories that cover them (any one suffices).
REVEAL_FIELDS: dict[str, frozenset[str]] = {
    "name": frozenset({"name", "contact", "account"}),
    "email": frozenset({"email", "contact", "account"}),
    "phone": frozenset({"phone", "contact"}),
    "exact_location": frozenset({"exact_location", "address"}),
    "photos": frozenset({"photos"}),
}
CONTACT_FIELDS = ("name", "email", "phone")

# Why staff open the data; shown to the resident in plain words (consent.rights.selectors).
REVEAL_REASONS = ("contact_resident", "locate_problem", "review_photos", "coordinate_contractor")

FINAL_STATUSES = ("closed", "rejected", "withdrawn")
EXPORT_SCHEMA_PATH = Path(__file__).resolve().parent / "export_schema.json"
STALE_EXPORT_AFTER = timedelta(minutes=30)

# Outbox topic this app publishes (consent/rights/tasks.py registers its publisher).
TOPIC_EXPORT = "rights.export"  # {"job_id"}: build one resident's export


def _conf(name: str) -> Any:
    return settings.CIVICDESK[name]


# --- Access events (staff looks at personal data) --------------------------------------------


@dataclass
class Reveal:
    event: AccessEvent
    values: dict[str, Any]


def _default_reason(fields: list[str]) -> str:
    if any(f in CONTACT_FIELDS for f in fields):
        return "contact_resident"
    if "exact_location" in fields:
        return "locate_problem"
    return "review_photos"


def _clean_reveal_input(
    fields: Iterable[str] | None, purpose: str | None, reason: str
) -> list[str]:
    errors: dict[str, list[str]] = {}
    chosen = list(dict.fromkeys(fields or []))
    if not chosen:
        errors["fields"] = [
            gettext("Choose what to show: %(fields)s.") % {"fields": ", ".join(REVEAL_FIELDS)}
        ]
    unknown = [f for f in chosen if f not in REVEAL_FIELDS]
    if unknown:
        errors["fields"] = [gettext("Unknown fields: %(fields)s.") % {"fields": ", ".join(unknown)}]
    if not purpose:
        errors["purpose"] = [gettext("Say why: choose a purpose from the data-use register.")]
    if reason and reason not in REVEAL_REASONS:
        errors["reason"] = [
            gettext("Use one of: %(values)s.") % {"values": ", ".join(REVEAL_REASONS)}
        ]
    if errors:
        raise Invalid(gettext("Personal data is shown only for a stated purpose."), errors=errors)
    return chosen


def _register_purpose(code: str, fields: list[str]) -> Purpose:
    purpose = Purpose.objects.filter(code=code, is_active=True).first()
    if purpose is None:
        message = gettext("Not an active purpose of the data-use register.")
        raise Invalid(message, errors={"purpose": [message]})
    declared = set(purpose.data_categories)
    uncovered = [f for f in fields if not (REVEAL_FIELDS[f] & declared)]
    if uncovered:
        raise Invalid(
            gettext("The register does not list %(fields)s for '%(purpose)s'.")
            % {"fields": ", ".join(uncovered), "purpose": purpose.code},
            errors={"fields": [
                gettext("Not declared for this purpose: %(fields)s.")
                % {"fields": ", ".join(uncovered)}
            ]},
        )
    return purpose


def _staff_role(actor: Any, department_id: int | None) -> str:
    return roles_for(actor).departments.get(department_id or -1, "staff")


def access_event_record(
    *,
    actor: Any,
    subject: Any,
    fields: list[str],
    purpose: Purpose,
    reason: str,
    kind: str = AccessEvent.Kind.REVEAL,
    request: Any = None,
    department: Any = None,
) -> AccessEvent:
    """Record one staff look at `subject`'s data: log entry + stored event, one transaction.

    Public so staff exports and bulk jobs that include personal data record themselves too.
    """
    with transaction.atomic():
        now = timezone.now()
        event_id = uuid.uuid4()
        department = department or (request.department if request is not None else None)
        role = _staff_role(actor, getattr(department, "pk", None))
        body = {
            "type": "access",
            "event_id": str(event_id),
            "access": kind,
            "subject": pseudonyms.log_subject(subject, nonce=str(event_id)),
            "actor_role": role,
            "department": getattr(department, "code", ""),
            "fields": sorted(fields),
            "purpose": purpose.code,
            "legal_basis": purpose.legal_basis,
            "reason": reason,
        }
        entry = ledger.ledger_append(kind="access", body=body, at=now)
        event = AccessEvent.objects.create(
            event_id=event_id,
            kind=kind,
            subject=subject,
            actor=actor,
            actor_role=role,
            actor_department=department,
            request=request,
            request_reference=getattr(request, "reference", ""),
            revealed_fields=sorted(fields),
            purpose=purpose,
            reason=reason,
            created_at=now,
            log_entry=entry,
        )
    security_event("personal_data.revealed", user_id=actor.pk, access_event=str(event_id),
                   purpose=purpose.code)
    return event


def _revealed_values(
    request: Any, reporter: Any, fields: list[str], *, viewer: Any
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for f in fields:
        if f == "name":
            values["name"] = reporter.display_name
        elif f == "email":
            values["email"] = reporter.email
        elif f == "phone":
            values["phone"] = reporter.phone
        elif f == "exact_location":
            values["exact_location"] = {
                "lat": request.lat, "lon": request.lon, "address": request.address,
            }
        elif f == "photos":
            # Links for this viewer only, short-lived: a colleague needs their own reveal.
            grants = [
                (a, photo_grant(viewer_id=viewer.pk, attachment_token=a.token))
                for a in request.attachments.order_by("created_at", "id")
            ]
            values["photos"] = [
                {
                    "token": grant,
                    "content_type": a.content_type,
                    "url": f"/api/v1/requests/{request.reference}/attachments/{grant}",
                }
                for a, grant in grants
            ]
    return values


def contact_details_reveal(
    *, actor: Any, reference: str, fields: Iterable[str] | None, purpose: str | None,
    reason: str = "",
) -> Reveal:
    """Show the reporter's contact details / exact location / photos to department staff.

    Staff outside the request's department get NotFound (the same access function as the
    queue). Needs a purpose from the register that declares the fields; consent-based
    purposes also need the resident's consent at this moment (consent.policy.permits).
    Each call is one access event, visible to the resident and in the transparency log.
    """
    chosen = _clean_reveal_input(fields, purpose, reason)
    request = access_request(user=actor, reference=reference, as_staff=True)
    register_purpose = _register_purpose(str(purpose), chosen)
    reporter = request.reporter
    if reporter is None:
        raise Conflict(gettext("This request has no reporter any more (the account was erased)."))
    if register_purpose.requires_consent:
        decision = policy.permits(subject=reporter, purpose=register_purpose.code)
        if not decision:
            raise Forbidden(
                gettext(
                    "The resident has not consented to '%(purpose)s' (%(reason)s); the data "
                    "cannot be used for it."
                ) % {"purpose": register_purpose.code, "reason": decision.reason},
                errors={"purpose": [gettext("No valid consent for this purpose.")]},
            )
    event = access_event_record(
        actor=actor, subject=reporter, fields=chosen, purpose=register_purpose,
        reason=reason or _default_reason(chosen), request=request,
    )
    return Reveal(event=event, values=_revealed_values(request, reporter, chosen, viewer=actor))


# --- Data-subject requests -------------------------------------------------------------------


def _deadline(received: datetime, months: int = 1) -> datetime:
    return received + relativedelta(months=months)


def dsr_create(
    *, kind: str, channel: str, subject: Any = None, subject_email: str = "",
    recorded_by: Any = None, outcome: str = "",
) -> DataSubjectRequest:
    """Record a data-subject request; at the counter the clerk who records it is kept."""
    errors: dict[str, list[str]] = {}
    if kind not in DataSubjectRequest.Kind.values:
        errors["kind"] = [gettext("Use one of: %(values)s.")
                          % {"values": ", ".join(DataSubjectRequest.Kind.values)}]
    if channel not in DataSubjectRequest.Channel.values:
        errors["channel"] = [gettext("Use one of: %(values)s.")
                             % {"values": ", ".join(DataSubjectRequest.Channel.values)}]
    if channel == DataSubjectRequest.Channel.COUNTER and recorded_by is None:
        errors["channel"] = [gettext("A counter request is recorded by a clerk.")]
    if subject is None and subject_email:
        subject = get_user_model().objects.filter(email__iexact=subject_email.strip()).first()
        if subject is None:
            errors["subject_email"] = [gettext("No account with this e-mail address.")]
    if errors:
        raise Invalid(gettext("The data-subject request is not valid."), errors=errors)
    now = timezone.now()
    return DataSubjectRequest.objects.create(
        subject=subject,
        subject_pseudonym=pseudonyms.pseudonym_for(subject) if subject is not None else "",
        kind=kind,
        channel=channel,
        recorded_by=recorded_by if channel == DataSubjectRequest.Channel.COUNTER else None,
        received_at=now,
        deadline=_deadline(now),
        outcome=outcome,
    )


@transaction.atomic
def dsr_update(*, dsr: DataSubjectRequest, status: str | None = None,
               outcome: str | None = None) -> DataSubjectRequest:
    """Move a data-subject request on; refusals must give their ground; one extension."""
    dsr = DataSubjectRequest.objects.select_for_update().get(pk=dsr.pk)
    if status is not None and status not in DataSubjectRequest.Status.values:
        raise Invalid(gettext("Unknown status."), errors={
            "status": [gettext("Use one of: %(values)s.")
                       % {"values": ", ".join(DataSubjectRequest.Status.values)}]})
    if dsr.status not in DataSubjectRequest.OPEN_STATUSES and status not in (None, dsr.status):
        raise Conflict(gettext("This request is already closed."))
    if outcome is not None:
        dsr.outcome = outcome.strip()
    if status == DataSubjectRequest.Status.REFUSED and not dsr.outcome:
        raise Invalid(gettext("A refusal states its reasons."), errors={
            "outcome": [gettext("Give the reason and its legal ground, e.g. Art. 17(3)(b).")]})
    if status == DataSubjectRequest.Status.EXTENDED:
        if dsr.status == DataSubjectRequest.Status.EXTENDED:
            raise Conflict(
                gettext("The deadline was already extended once (Art. 12(3): two months).")
            )
        if not dsr.outcome:
            raise Invalid(gettext("An extension tells the resident why."), errors={
                "outcome": [gettext("Explain the extension to the resident.")]})
        dsr.deadline = _deadline(dsr.received_at, months=3)
    if status in (DataSubjectRequest.Status.COMPLETED, DataSubjectRequest.Status.REFUSED):
        dsr.completed_at = timezone.now()
    if status is not None:
        dsr.status = status
    dsr.save()
    return dsr


DSR_ACTIONS = ("start_export", "erase")


def dsr_action(*, dsr: DataSubjectRequest, action: str, actor: Any) -> DataSubjectRequest:
    """A data officer carries out a counter request: start the export (the resident downloads
    it from their account) or erase the account (identity was checked at the counter)."""
    if action not in DSR_ACTIONS:
        raise Invalid(gettext("Unknown action."), errors={
            "action": [gettext("Use %(values)s.") % {"values": ", ".join(DSR_ACTIONS)}]})
    if dsr.status not in DataSubjectRequest.OPEN_STATUSES:
        raise Conflict(gettext("This request is already closed."))
    subject = dsr.subject
    if subject is None:
        raise Conflict(gettext("No account is linked to this request."))
    expected = {"start_export": (DataSubjectRequest.Kind.EXPORT, DataSubjectRequest.Kind.ACCESS),
                "erase": (DataSubjectRequest.Kind.ERASURE,)}[action]
    if dsr.kind not in expected:
        raise Invalid(
            gettext("'%(action)s' does not fit a request of kind '%(kind)s'.")
            % {"action": action, "kind": dsr.kind},
            errors={"action": [gettext("Not for a %(kind)s request.") % {"kind": dsr.kind}]},
        )
    if action == "start_export":
        # One transaction: the job is sent on commit, so it cannot finish before the link.
        with transaction.atomic():
            job, _ = export_start(user=subject, channel="counter")
            DataSubjectRequest.objects.filter(pk=dsr.pk).update(
                export_job=job, status=DataSubjectRequest.Status.IN_PROGRESS
            )
    else:
        account_erase(user=subject, dry_run=False, channel="counter", dsr=dsr)
    security_event("data_subject_request.actioned", user_id=actor.pk, action=action,
                   dsr=dsr.reference)
    return DataSubjectRequest.objects.get(pk=dsr.pk)


# --- Export ----------------------------------------------------------------------------------


def export_root() -> Path:
    root = Path(_conf("EXPORT_ROOT"))
    root.mkdir(parents=True, exist_ok=True)
    return root


def export_start(*, user: Any, channel: str = "web") -> tuple[ExportJob, bool]:
    """Queue an export of everything about `user`; a queued or running one is returned instead.

    Returns (job, created). The build is queued after commit through the outbox.
    """
    if channel not in ("web", "mobile", "counter"):
        channel = "web"
    with transaction.atomic():
        get_user_model().objects.select_for_update().filter(pk=user.pk).values_list("pk").first()
        active = ExportJob.objects.filter(user=user, state__in=ExportJob.ACTIVE_STATES).first()
        if active is not None:
            started = active.started_at or active.created_at
            if timezone.now() - started < STALE_EXPORT_AFTER:
                return active, False
            # A worker died with it: fail it so a new one can start.
            ExportJob.objects.filter(pk=active.pk).update(
                state=ExportJob.State.FAILED, error="timed out", finished_at=timezone.now()
            )
        try:
            with transaction.atomic():
                job = ExportJob.objects.create(user=user, channel=channel)
        except IntegrityError:
            return ExportJob.objects.get(user=user, state__in=ExportJob.ACTIVE_STATES), False
        dsr = dsr_create(kind=DataSubjectRequest.Kind.EXPORT, channel=channel, subject=user) \
            if channel != "counter" else None
        if dsr is not None:
            DataSubjectRequest.objects.filter(pk=dsr.pk).update(
                export_job=job, status=DataSubjectRequest.Status.IN_PROGRESS
            )
        job_id = str(job.pk)
        # Through the outbox: a broker outage neither turns the 202 into a 500 nor loses the
        # job (the relay publishes it when the broker is back).
        outbox_enqueue(topic=TOPIC_EXPORT, payload={"job_id": job_id})
    security_event("data_export.requested", user_id=user.pk, export_job=job_id)
    return job, True


def export_build(*, job_id: str | uuid.UUID) -> ExportJob | None:
    """Build the export zip for a queued job (the Celery task calls this). Idempotent."""
    job_id = uuid.UUID(str(job_id))
    with transaction.atomic():
        job = (
            ExportJob.objects.select_for_update()
            .filter(pk=job_id, state__in=ExportJob.ACTIVE_STATES)
            .select_related("user")
            .first()
        )
        if job is None:
            return None
        job.state = ExportJob.State.RUNNING
        job.started_at = timezone.now()
        job.save(update_fields=["state", "started_at"])
    name = f"{secrets.token_hex(2)}/{secrets.token_urlsafe(24)}.zip"
    path = export_root() / name
    try:
        document, photos = export_document(user=job.user)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("civicdesk-export.json",
                        json.dumps(document, cls=DjangoJSONEncoder, ensure_ascii=False, indent=2))
            zf.write(EXPORT_SCHEMA_PATH, "schema.json")
            for arcname, attachment in photos:
                with attachment.file.open("rb") as src, zf.open(arcname, "w") as dst:
                    while chunk := src.read(64 * 1024):
                        dst.write(chunk)
        os.replace(tmp, path)
        digest = hashlib.sha256()
        with path.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1024 * 1024), b""):
                digest.update(chunk)
    except Exception as exc:
        logger.exception("export build failed", extra={"export_job": str(job_id)})
        ExportJob.objects.filter(pk=job_id).update(
            state=ExportJob.State.FAILED, error=type(exc).__name__, finished_at=timezone.now()
        )
        DataSubjectRequest.objects.filter(export_job_id=job_id).update(
            outcome="The export failed; please start it again."
        )
        raise
    now = timezone.now()
    with transaction.atomic():
        ExportJob.objects.filter(pk=job_id).update(
            state=ExportJob.State.READY,
            finished_at=now,
            expires_at=now + timedelta(hours=_conf("EXPORT_LINK_HOURS")),
            file_name=name,
            size_bytes=path.stat().st_size,
            sha256=digest.hexdigest(),
        )
        DataSubjectRequest.objects.filter(
            export_job_id=job_id, status__in=DataSubjectRequest.OPEN_STATUSES
        ).update(status=DataSubjectRequest.Status.COMPLETED, completed_at=now,
                 outcome="Your export is ready to download.")
    return ExportJob.objects.get(pk=job_id)


def export_file_path(job: ExportJob) -> Path:
    return export_root() / job.file_name


def _export_file_delete(job: ExportJob) -> None:
    if job.file_name:
        try:
            export_file_path(job).unlink(missing_ok=True)
        except OSError:
            logger.warning("export file could not be deleted", extra={"export_job": str(job.pk)})


# --- Erasure ---------------------------------------------------------------------------------


@dataclass
class LegalHold:
    purpose: str
    legal_reference: str
    categories: list[str]
    until: datetime


@dataclass
class ErasurePlan:
    removed: list[dict[str, Any]] = field(default_factory=list)
    kept: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)
    holds: list[LegalHold] = field(default_factory=list)

    finality: dict[str, Any] = field(default_factory=dict)

    def as_json(self) -> dict[str, Any]:
        return {"removed": self.removed, "kept": self.kept, "counts": self.counts,
                "finality": self.finality}


def erasure_finality(at: datetime) -> dict[str, Any]:
    """When an erasure at `at` can no longer be undone by anyone (docs/data-subject-rights.md).

    The key is deleted from the key store at once; copies survive in the key store's backups
    (KEYSTORE_BACKUP_DAYS). Main database backups never hold the key, but those taken before
    the erasure hold the account itself, and with it its links to the consent history, until
    they age out (DATABASE_BACKUP_DAYS). The link is gone for good when both have.
    """
    conf = settings.CIVICDESK
    key_days, db_days = int(conf["KEYSTORE_BACKUP_DAYS"]), int(conf["DATABASE_BACKUP_DAYS"])
    key_gone, db_gone = at + timedelta(days=key_days), at + timedelta(days=db_days)
    final = max(key_gone, db_gone)
    return {
        "key_deleted_at": ledger.utc_seconds(at),
        "key_store_backup_days": key_days,
        "key_backups_gone_by": ledger.utc_seconds(key_gone),
        "database_backup_days": db_days,
        "database_backups_gone_by": ledger.utc_seconds(db_gone),
        "link_gone_for_good_by": ledger.utc_seconds(final),
        "explanation": (
            "Your pseudonym key is deleted from the key store at once. Copies of it remain only "
            f"in the key store's backups, which are kept {key_days} days: from "
            f"{key_gone.date().isoformat()} nobody can recompute your pseudonym or link "
            "transparency-log entries to you with it. The main database never holds the key, "
            "but its backups taken before the erasure still contain your account as it was "
            f"until they age out after {db_days} days. From {final.date().isoformat()} the "
            "link is gone for good."
        ),
    }


@dataclass
class ErasureResult:
    plan: ErasurePlan
    receipt: ErasureReceipt | None = None
    dry_run: bool = True


HELD_CATEGORIES = ("free_text", "photos")


def _legal_holds(now: datetime, latest_closed: datetime | None) -> list[LegalHold]:
    """Purposes of the register that oblige the city by law to keep text or photos."""
    holds = []
    start = max(latest_closed or now, now)
    for p in Purpose.objects.filter(is_active=True, legal_basis=LegalBasis.LEGAL_OBLIGATION):
        cats = [c for c in p.data_categories if c in HELD_CATEGORIES]
        if cats:
            holds.append(LegalHold(purpose=p.code, legal_reference=p.legal_reference,
                                   categories=cats,
                                   until=start + timedelta(days=p.retention_days)))
    return holds


def erasure_plan(*, user: Any) -> ErasurePlan:
    """What erasing `user` would remove, and what must be kept and why (the dry run)."""
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.usersessions.models import UserSession

    now = timezone.now()
    privileged = user.is_data_officer or user.is_superuser or user.memberships.exists()
    if privileged or roles_for(user).staff:
        raise Conflict(
            gettext(
                "Staff accounts are closed by an administrator, not erased here: the city must be "
                "able to account for work done under them (Art. 17(3)(b))."
            ),
        )
    requests = ServiceRequest.objects.filter(reporter=user)
    latest_closed = requests.exclude(closed_at=None).order_by("-closed_at") \
        .values_list("closed_at", flat=True).first()
    holds = _legal_holds(now, latest_closed)
    held = {c for h in holds for c in h.categories}
    counts = {
        "email_addresses": EmailAddress.objects.filter(user=user).count(),
        "authenticators": Authenticator.objects.filter(user=user).count(),
        "sessions": UserSession.objects.filter(user=user).count(),
        "requests_anonymised": requests.count(),
        "photos_deleted": 0 if "photos" in held else
        Attachment.objects.filter(request__reporter=user).count(),
        "comments_replaced": 0 if "free_text" in held else Event.objects.filter(
            request__reporter=user, type=Event.Type.COMMENT_BY_RESIDENT).count(),
        "follows": Follow.objects.filter(user=user).count(),
        "consent_records": ConsentRecord.objects.filter(subject_id=user.pk).count(),
        "export_files": ExportJob.objects.filter(user=user).exclude(file_name="").count(),
        "access_events_unlinked": AccessEvent.objects.filter(subject=user).count(),
        "requests_unlinked": DataSubjectRequest.objects.filter(subject=user).count(),
    }
    plan = ErasurePlan(counts=counts, holds=holds, finality=erasure_finality(now))
    plan.removed = [
        {"what": "account", "detail": "your login e-mail, name, phone, password, second factors "
         "and language", "count": 1},
        {"what": "sessions", "detail": "every signed-in session and app token ends at once",
         "count": counts["sessions"]},
        {"what": "reporter link", "detail": "your requests are no longer connected to you",
         "count": counts["requests_anonymised"]},
        {"what": "contact and location details", "detail": "contact details sent with your "
         "requests, street addresses, exact positions of private addresses (rounded to about "
         "1 km)", "count": counts["requests_anonymised"]},
        {"what": "follows, consent settings, export files",
         "count": counts["follows"] + counts["consent_records"] + counts["export_files"]},
        {"what": "pseudonym key", "detail": "the key that links transparency-log entries to "
         "you is deleted from the key store, which is kept apart from the database "
         "(crypto-shredding); see `finality` for when its last backup is gone", "count": 1},
        {"what": "pseudonym on your data-subject requests", "detail": "your requests stay as "
         "records of what was asked and done, without your pseudonym",
         "count": counts["requests_unlinked"]},
    ]
    if "free_text" not in held:
        plan.removed.append({"what": "free text you wrote",
                             "detail": f"descriptions, comments and feedback become "
                             f"\"{REMOVED_MARKER}\"", "count": counts["comments_replaced"]
                             + counts["requests_anonymised"]})
    if "photos" not in held:
        plan.removed.append({"what": "photos", "count": counts["photos_deleted"]})
    plan.kept = [
        {"what": "anonymised request records", "detail": "category, district, dates, status and "
         "outcome, with no link to you", "why": "public record and statistics; no longer "
         "personal data (Recital 26)"},
        {"what": "consent history and transparency-log entries", "detail": "pseudonymised; "
         "the consent events keep their pseudonym, because they are the append-only proof of "
         "consent that not even the application may rewrite; with your key destroyed nothing "
         "can recompute that pseudonym from you",
         "why": "proof that processing was lawful (Art. 7(1), Art. 5(2)); Art. 17(3)(e)"},
        {"what": "records of staff access to your data", "detail": "role, department, purpose "
         "and time, without any link to you", "why": "the city's accountability (Art. 5(2))"},
        {"what": "this erasure receipt and the request record", "detail": "no personal data "
         "and no pseudonym",
         "why": "to show the request was handled (Art. 5(2), Art. 12)"},
    ]
    for h in holds:
        plan.kept.append({
            "what": ", ".join(h.categories),
            "detail": f"kept until {h.until.date().isoformat()}, then removed automatically",
            "why": f"legal obligation: {h.legal_reference or h.purpose} (Art. 17(3)(b))",
            "purpose": h.purpose,
            "until": h.until,
        })
    return plan


def _redact_terms(user: Any) -> list[str]:
    terms = [user.email, user.display_name, user.phone]
    return [t for t in terms if t and len(t.strip()) >= 3]


def _redact(text: str, terms: list[str]) -> str:
    lowered = text.lower()
    for term in terms:
        start = lowered.find(term.lower())
        while start != -1:
            text = text[:start] + REDACTED + text[start + len(term):]
            lowered = text.lower()
            start = lowered.find(term.lower(), start + len(REDACTED))
    return text


def _delete_attachment_files(attachments: list[Any]) -> int:
    n = 0
    for a in attachments:
        name = a.file.name
        storage = a.file.storage

        def remove(name: str = name, storage: Any = storage) -> None:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("photo file could not be deleted")

        transaction.on_commit(remove)
        n += 1
    return n


@dataclass
class AnonymiseCounts:
    requests: int = 0
    photos: int = 0
    comments: int = 0


def _requests_anonymise(
    *, request_ids: list[int], cause: str, terms_by_reporter: dict[int, list[str]],
    keep: set[str], kept_until: datetime | None, now: datetime,
) -> AnonymiseCounts:
    """Remove the personal parts of these requests; runs inside the caller's transaction.

    Keeps category, district, dates, status and outcome. `keep` names held categories
    (free_text / photos) left in place until `kept_until` (a legal obligation). Set-based:
    a fixed number of queries per batch whatever its size.
    """
    from django.db.models import F

    counts = AnonymiseCounts()
    rows = list(
        ServiceRequest.objects.select_for_update(of=("self",)).filter(pk__in=request_ids)
        .only("pk", "reporter_id", "lat", "lon", "is_private_address")
    )
    if not rows:
        return counts
    ids = [r.pk for r in rows]
    reporter_of = {r.pk: r.reporter_id for r in rows}
    events = Event.objects.filter(request_id__in=ids)
    # Staff texts that quote the reporter's e-mail, name or phone: redact those words.
    changed = []
    for ev in events.exclude(text="").only("pk", "request_id", "text"):
        terms = terms_by_reporter.get(reporter_of.get(ev.request_id) or 0, [])
        cleaned = _redact(ev.text, terms) if terms else ev.text
        if cleaned != ev.text:
            ev.text = cleaned
            changed.append(ev)
    Event.objects.bulk_update(changed, ["text"], batch_size=500)
    events.filter(actor_id=F("request__reporter_id")).update(actor=None)
    if "free_text" not in keep:
        counts.comments = events.filter(type=Event.Type.COMMENT_BY_RESIDENT).exclude(
            text=REMOVED_MARKER).update(text=REMOVED_MARKER)
    # A home's exact position is personal data: round it to about 1 km.
    private = [r for r in rows if r.is_private_address and r.lat is not None and r.lon is not None]
    for r in private:
        r.lat, r.lon = round(r.lat or 0.0, 2), round(r.lon or 0.0, 2)
    ServiceRequest.objects.bulk_update(private, ["lat", "lon"], batch_size=500)
    update: dict[str, Any] = {"reporter": None, "address": ""}
    if "free_text" not in keep:
        update.update(description=REMOVED_MARKER, feedback="", attribute_values={})
    ServiceRequest.objects.filter(pk__in=ids).update(**update)
    if "photos" not in keep:
        photos = list(Attachment.objects.filter(request_id__in=ids))
        counts.photos = _delete_attachment_files(photos)
        Attachment.objects.filter(pk__in=[a.pk for a in photos]).delete()
    Open311Submission.objects.filter(request_id__in=ids).update(
        email="", first_name="", last_name="", phone="", device_id="", account_id="",
        address_id="",
    )
    complete = not keep
    AnonymisedRequest.objects.bulk_create(
        [
            AnonymisedRequest(request_id=pk, cause=cause, anonymised_at=now, complete=complete,
                              kept_until=None if complete else kept_until)
            for pk in ids
        ],
        update_conflicts=True,
        unique_fields=["request"],
        update_fields=["cause", "anonymised_at", "complete", "kept_until"],
    )
    counts.requests = len(ids)
    return counts


def current_sessions(http_request: Any) -> list[Any]:
    """The session objects behind this API call (cookie session and/or app token session)."""
    from django.contrib.sessions.backends.base import SessionBase

    found: list[Any] = []
    if http_request is None:
        return found
    auth = getattr(http_request, "auth", None)
    if isinstance(auth, SessionBase):
        found.append(auth)
    django_request = getattr(http_request, "_request", http_request)
    session = getattr(django_request, "session", None)
    if isinstance(session, SessionBase):
        found.append(session)
    return found


def _sessions_end(user: Any, http_request: Any) -> int:
    from allauth.usersessions.models import UserSession

    ended = 0
    for s in UserSession.objects.filter(user_id=user.pk):
        s.end()
        ended += 1
    for session in current_sessions(http_request):
        if session.session_key:
            session.delete()
            ended += 1
    live_disconnect_user(user_id=user.pk)
    return ended


def account_erase(*, user: Any, dry_run: bool = True, http_request: Any = None,
                  channel: str = "web", dsr: DataSubjectRequest | None = None) -> ErasureResult:
    """Erase a resident's account (GDPR Art. 17) or, with `dry_run`, say what it would do.

    Requests stay as anonymised records; free text and photos are removed unless a legal
    obligation in the register holds them (then kept to its end and the resident told).
    Sessions end, the pseudonym key is destroyed (the log needs no rewrite) and a signed
    erasure receipt is returned. Re-authentication is checked by the API.
    """
    plan = erasure_plan(user=user)
    if dry_run:
        return ErasureResult(plan=plan, dry_run=True)
    user_id = user.pk
    with transaction.atomic():
        locked = get_user_model().objects.select_for_update().filter(pk=user_id).first()
        if locked is None:  # erased meanwhile (a second click, another device)
            raise NotFound(gettext("This account no longer exists."))
        now = timezone.now()
        held = {c for h in plan.holds for c in h.categories}
        kept_until = max((h.until for h in plan.holds), default=None)
        terms = _redact_terms(locked)
        ids = list(ServiceRequest.objects.filter(reporter_id=user_id).values_list("pk", flat=True))
        counts = _requests_anonymise(
            request_ids=ids, cause=AnonymisedRequest.Cause.ERASURE,
            terms_by_reporter={user_id: terms}, keep=held, kept_until=kept_until, now=now,
        )
        # Traces elsewhere: events and photos by this account on other requests.
        Event.objects.filter(actor_id=user_id).update(actor=None)
        Attachment.objects.filter(uploaded_by_id=user_id).update(uploaded_by=None)
        AccessEvent.objects.filter(subject_id=user_id).update(subject=None)
        for job in ExportJob.objects.filter(user_id=user_id):
            _export_file_delete(job)
        # Requests stay as records of what was done, linked to no one (not even a pseudonym).
        unlinked = DataSubjectRequest.objects.filter(subject_id=user_id).update(
            subject=None, subject_pseudonym="")
        sessions = _sessions_end(locked, http_request)
        # The key goes once the erasure has committed (a rollback must not lose it); if the
        # process dies in between, the nightly retention run destroys it (orphan_keys_destroy).
        transaction.on_commit(lambda: pseudonyms.pseudonym_key_destroy(subject=user_id))
        receipt_id = uuid.uuid4()
        summary = {
            "removed": {
                **{k: v for k, v in plan.counts.items() if k not in (
                    "requests_anonymised", "photos_deleted", "comments_replaced")},
                "requests_anonymised": counts.requests,
                "photos_deleted": counts.photos,
                "comments_replaced": counts.comments,
                "sessions": sessions,
                "requests_unlinked": unlinked,
            },
            "finality": erasure_finality(now),
            "kept": [
                {k: v for k, v in item.items() if k != "until"}
                | ({"until": ledger.utc_seconds(item["until"])} if "until" in item else {})
                for item in plan.kept
            ],
        }
        entry = ledger.ledger_append(
            kind="erasure",
            body={"type": "erasure", "receipt_id": str(receipt_id),
                  "removed": summary["removed"],
                  "legal_holds": [h.purpose for h in plan.holds]},
            at=now,
        )
        signed = ledger.sign_statement({
            "type": "civicdesk/erasure-receipt/v1",
            "receipt_id": str(receipt_id),
            "erased_at": ledger.utc_seconds(now),
            "log": {"origin": ledger.log_key().origin, "index": entry.index,
                    "leaf_hash": entry.leaf_hash},
            **summary,
        })
        receipt = ErasureReceipt.objects.create(
            id=receipt_id, erased_at=now, summary=summary,
            statement=signed["statement"], signature=signed["signature"],
            key_id=signed["key_id"], log_entry=entry,
        )
        outcome = "Your account was erased. Keep this receipt."
        if dsr is not None:  # a counter request: complete it
            DataSubjectRequest.objects.filter(pk=dsr.pk).update(
                status=DataSubjectRequest.Status.COMPLETED, completed_at=now,
                erasure_receipt=receipt, outcome=outcome,
            )
        else:
            DataSubjectRequest.objects.create(
                subject=None, subject_pseudonym="", kind=DataSubjectRequest.Kind.ERASURE,
                channel=channel if channel in DataSubjectRequest.Channel.values else "web",
                status=DataSubjectRequest.Status.COMPLETED, received_at=now,
                deadline=_deadline(now), completed_at=now, erasure_receipt=receipt,
                outcome=outcome,
            )
        # Everything that still points at the account goes with it (e-mail addresses, second
        # factors, sessions, consent records, follows, idempotency keys, export jobs).
        locked.delete()
    security_event("account.erased", user_id=user_id, erasure_receipt=str(receipt_id))
    return ErasureResult(plan=plan, receipt=receipt, dry_run=False)


# --- Retention -------------------------------------------------------------------------------


@dataclass
class RetentionSummary:
    dry_run: bool
    counts: dict[str, int]
    purposes: dict[str, int]
    run: RetentionRun | None = None


def _service_purpose() -> Purpose | None:
    return Purpose.objects.filter(code=policy.PURPOSE_SERVICE_DELIVERY, is_active=True).first()


def _keyset(qs: Any, batch: int) -> Iterable[list[Any]]:
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
    out["held_released"] = AnonymisedRequest.objects.filter(complete=False, kept_until__lte=now)
    out["exports"] = ExportJob.objects.filter(state=ExportJob.State.READY, expires_at__lte=now)
    return out


def apply_retention(*, dry_run: bool = False, now: datetime | None = None,
                    batch_size: int | None = None) -> RetentionSummary:
    """Apply each purpose's retention from the register: anonymise closed requests past it,
    release legal holds that ended, delete expired export files. Idempotent and batched;
    a real run appends a counts-only summary to the transparency log."""
    now = now or timezone.now()
    batch = batch_size or _conf("RETENTION_BATCH_SIZE")
    found = retention_candidates(now=now)
    purposes: dict[str, int] = {}
    counts = {"requests_anonymised": 0, "photos_deleted": 0, "comments_replaced": 0,
              "held_texts_released": 0, "exports_expired": 0}
    if dry_run:
        if "requests" in found:
            qs = found["requests"]
            counts["requests_anonymised"] = qs.count()
            counts["photos_deleted"] = Attachment.objects.filter(request__in=qs).count()
            counts["comments_replaced"] = Event.objects.filter(
                request__in=qs, type=Event.Type.COMMENT_BY_RESIDENT).count()
        counts["held_texts_released"] = found["held_released"].count()
        counts["exports_expired"] = found["exports"].count()
        if "service_purpose" in found:
            purposes[found["service_purpose"].code] = found["service_purpose"].retention_days
        return RetentionSummary(dry_run=True, counts=counts, purposes=purposes)

    run = RetentionRun.objects.create(started_at=now, dry_run=False)
    if "requests" in found:
        purposes[found["service_purpose"].code] = found["service_purpose"].retention_days
        qs = found["requests"]
        for ids in _keyset(qs, batch):
            with transaction.atomic():
                reporters = _reporter_terms(ids)
                c = _requests_anonymise(
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
            c = _requests_anonymise(
                request_ids=request_ids, cause=AnonymisedRequest.Cause.ERASURE,
                terms_by_reporter={}, keep=set(), kept_until=None, now=now,
            )
        counts["held_texts_released"] += c.requests
        counts["photos_deleted"] += c.photos
        counts["comments_replaced"] += c.comments
    for ids in _keyset(found["exports"], batch):
        for job in ExportJob.objects.filter(pk__in=ids):
            _export_file_delete(job)
        counts["exports_expired"] += ExportJob.objects.filter(pk__in=ids).update(
            state=ExportJob.State.EXPIRED, file_name=""
        )
    # Keys of erased residents whose erasure died before the key was deleted.
    counts["orphan_keys_destroyed"] = pseudonyms.orphan_keys_destroy()
    with transaction.atomic():
        entry = ledger.ledger_append(
            kind="retention",
            body={"type": "retention", "run": run.pk, "counts": counts,
                  "retention_days": purposes},
        )
        RetentionRun.objects.filter(pk=run.pk).update(
            finished_at=timezone.now(), counts=counts, log_entry=entry
        )
    run.refresh_from_db()
    return RetentionSummary(dry_run=False, counts=counts, purposes=purposes, run=run)


def _reporter_terms(request_ids: list[int]) -> dict[int, list[str]]:
    reporter_ids = set(
        ServiceRequest.objects.filter(pk__in=request_ids).exclude(reporter=None)
        .values_list("reporter_id", flat=True)
    )
    return {
        u.pk: _redact_terms(u)
        for u in get_user_model().objects.filter(pk__in=reporter_ids)
        .only("pk", "email", "display_name", "phone")
    }
