"""Erasure of a resident's account (GDPR Art. 17): the plan, legal holds, the anonymised
requests, ended sessions, the destroyed pseudonym key and the signed receipt.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext

from consent import ledger, pseudonyms, register
from consent.models import ConsentRecord, LegalBasis, Purpose
from consent.rights.exports import export_file_delete
from consent.rights.models import (
    AccessEvent,
    AnonymisedRequest,
    DataSubjectRequest,
    ErasureReceipt,
    ExportJob,
)
from consent.rights.requests import dsr_deadline
from core.errors import Conflict, NotFound
from core.roles import roles_for
from core.security_log import security_event
from services import services as request_services
from services.live import live_disconnect_user
from services.models import Attachment, Event, Follow, ServiceRequest
from services.services import REMOVED_MARKER, AnonymiseCounts

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase
    from django.http import HttpRequest
    from rest_framework.request import Request

    from core.users import User

logger = logging.getLogger(__name__)


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
        "explanation": gettext(
            "Your pseudonym key is deleted from the key store at once. Copies of it remain only "
            "in the key store's backups, which are kept %(key_days)s days: from %(key_gone)s "
            "nobody can recompute your pseudonym or link transparency-log entries to you with "
            "it. The main database never holds the key, but its backups taken before the "
            "erasure still contain your account as it was until they age out after %(db_days)s "
            "days. From %(final)s the link is gone for good."
        ) % {"key_days": key_days, "key_gone": key_gone.date().isoformat(),
             "db_days": db_days, "final": final.date().isoformat()},
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
            holds.append(LegalHold(purpose=p.code, legal_reference=p.legal_reference_text,
                                   categories=cats,
                                   until=start + timedelta(days=p.retention_days)))
    return holds


def erasure_plan(*, user: User) -> ErasurePlan:
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
        {"code": "account", "what": gettext("account"), "detail": gettext(
            "your login e-mail, name, phone, password, second factors and language"),
         "count": 1},
        {"code": "sessions", "what": gettext("sessions"),
         "detail": gettext("every signed-in session and app token ends at once"),
         "count": counts["sessions"]},
        {"code": "reporter_link", "what": gettext("reporter link"),
         "detail": gettext("your requests are no longer connected to you"),
         "count": counts["requests_anonymised"]},
        {"code": "contact_location", "what": gettext("contact and location details"),
         "detail": gettext(
            "contact details sent with your requests, street addresses, exact positions of "
            "private addresses (rounded to about 1 km)"),
         "count": counts["requests_anonymised"]},
        {"code": "follows_consents_exports",
         "what": gettext("follows, consent settings, export files"),
         "count": counts["follows"] + counts["consent_records"] + counts["export_files"]},
        {"code": "pseudonym_key", "what": gettext("pseudonym key"), "detail": gettext(
            "the key that links transparency-log entries to you is deleted from the key store, "
            "which is kept apart from the database (crypto-shredding); see below for when its "
            "last backup is gone"), "count": 1},
        {"code": "dsr_pseudonym", "what": gettext("pseudonym on your data-subject requests"),
         "detail": gettext("your requests stay as records of what was asked and done, without your "
                     "pseudonym"),
         "count": counts["requests_unlinked"]},
    ]
    if "free_text" not in held:
        plan.removed.append({
            "code": "free_text", "what": gettext("free text you wrote"),
            "detail": gettext("descriptions, comments and feedback become “%(marker)s”")
            % {"marker": gettext(REMOVED_MARKER)},
            "count": counts["comments_replaced"] + counts["requests_anonymised"]})
    if "photos" not in held:
        plan.removed.append({"code": "photos", "what": gettext("photos"),
                             "count": counts["photos_deleted"]})
    plan.kept = [
        {"code": "anonymised_requests", "what": gettext("anonymised request records"),
         "detail": gettext("category, district, dates, status and outcome, with no link to you"),
         "why": gettext("public record and statistics; no longer personal data (Recital 26)")},
        {"code": "consent_history", "what": gettext("consent history and transparency-log entries"),
         "detail": gettext(
             "pseudonymised; the consent events keep their pseudonym, because they are the "
             "append-only proof of consent that not even the application may rewrite; with your "
             "key destroyed nothing can recompute that pseudonym from you"),
         "why": gettext("proof that processing was lawful (Art. 7(1), Art. 5(2)); Art. 17(3)(e)")},
        {"code": "access_records", "what": gettext("records of staff access to your data"),
         "detail": gettext("role, department, purpose and time, without any link to you"),
         "why": gettext("the city's accountability (Art. 5(2))")},
        {"code": "erasure_receipt", "what": gettext("this erasure receipt and the request record"),
         "detail": gettext("no personal data and no pseudonym"),
         "why": gettext("to show the request was handled (Art. 5(2), Art. 12)")},
    ]
    for h in holds:
        plan.kept.append({
            "code": "legal_hold",
            "what": ", ".join(str(register.DATA_CATEGORIES.get(c, (c,))[0])
                              for c in h.categories),
            "detail": gettext("kept until %(date)s, then removed automatically")
            % {"date": h.until.date().isoformat()},
            "why": gettext("legal obligation: %(reference)s (Art. 17(3)(b))")
            % {"reference": h.legal_reference or h.purpose},
            "purpose": h.purpose,
            "until": h.until,
        })
    return plan


def redact_terms(user: User) -> list[str]:
    terms = [user.email, user.display_name, user.phone]
    return [t for t in terms if t and len(t.strip()) >= 3]


def requests_anonymise(
    *, request_ids: list[int], cause: str, terms_by_reporter: dict[int, list[str]],
    keep: set[str], kept_until: datetime | None, now: datetime,
) -> AnonymiseCounts:
    """Ask services (the owner of the request tables) to remove the personal parts of these
    requests, then record them as anonymised here; runs inside the caller's transaction.

    `keep` names held categories (free_text / photos) left in place until `kept_until` (a
    legal obligation).
    """
    counts = request_services.requests_anonymise(
        request_ids=request_ids, cause=cause, terms_by_reporter=terms_by_reporter, keep=keep,
        now=now,
    )
    complete = not keep
    AnonymisedRequest.objects.bulk_create(
        [
            AnonymisedRequest(request_id=pk, cause=cause, anonymised_at=now, complete=complete,
                              kept_until=None if complete else kept_until)
            for pk in counts.request_ids
        ],
        update_conflicts=True,
        unique_fields=["request"],
        update_fields=["cause", "anonymised_at", "complete", "kept_until"],
    )
    return counts


def current_sessions(http_request: HttpRequest | Request | None) -> list[SessionBase]:
    """The session objects behind this API call (cookie session and/or app token session)."""
    from django.contrib.sessions.backends.base import SessionBase

    found: list[SessionBase] = []
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


def _sessions_end(user: User, http_request: HttpRequest | Request | None) -> int:
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


def account_erase(*, user: User, dry_run: bool = True,
                  http_request: HttpRequest | Request | None = None,
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
        # The answer and the signed receipt say the same dates: those of the erasure itself.
        plan.finality = erasure_finality(now)
        held = {c for h in plan.holds for c in h.categories}
        kept_until = max((h.until for h in plan.holds), default=None)
        terms = redact_terms(locked)
        ids = list(ServiceRequest.objects.filter(reporter_id=user_id).values_list("pk", flat=True))
        counts = requests_anonymise(
            request_ids=ids, cause=AnonymisedRequest.Cause.ERASURE,
            terms_by_reporter={user_id: terms}, keep=held, kept_until=kept_until, now=now,
        )
        # Traces elsewhere: events and photos by this account on other requests.
        request_services.actor_unlink(user_id=user_id)
        AccessEvent.objects.filter(subject_id=user_id).update(subject=None)
        for job in ExportJob.objects.filter(user_id=user_id):
            export_file_delete(job)
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
            "finality": plan.finality,
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
                deadline=dsr_deadline(now), completed_at=now, erasure_receipt=receipt,
                outcome=outcome,
            )
        # Everything that still points at the account goes with it (e-mail addresses, second
        # factors, sessions, consent records, follows, idempotency keys, export jobs).
        locked.delete()
    security_event("account.erased", user_id=user_id, erasure_receipt=str(receipt_id))
    return ErasureResult(plan=plan, receipt=receipt, dry_run=False)
