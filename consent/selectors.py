"""Reads for the register, residents' consents, data-officer review and the log."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db.models import Count, Exists, Max, OuterRef, Q, QuerySet
from django.db.models.functions import TruncDay

from consent import ledger, pseudonyms, register
from consent.models import (
    ConsentEvent,
    ConsentReceipt,
    ConsentRecord,
    EventType,
    IntegrityCheck,
    Notice,
    Purpose,
    RefusalCount,
)
from consent.services import notice_json
from core.errors import Forbidden, NotFound
from core.roles import roles_for

if TYPE_CHECKING:
    from core.users import AnyUser, User


def register_purposes(*, include_inactive: bool = False) -> QuerySet[Purpose]:
    """The public register: active purposes; a consent-based one only once it has a
    published notice (before that nobody could consent, so it is not offered or listed).
    `include_inactive` (data officers, exports): every purpose."""
    qs = Purpose.objects.prefetch_related("departments").order_by("code")
    if include_inactive:
        return qs
    has_notice = Exists(Notice.objects.filter(purpose_id=OuterRef("pk")))
    return qs.filter(is_active=True).filter(Q(requires_consent=False) | has_notice)


def current_notices(purposes: list[Purpose]) -> dict[int, dict[str, Notice]]:
    """purpose id → {language: notice} of each purpose's latest version (one query)."""
    latest = dict(
        Notice.objects.filter(purpose__in=purposes)
        .values("purpose_id").annotate(v=Max("version")).values_list("purpose_id", "v")
    )
    out: dict[int, dict[str, Notice]] = {p.pk: {} for p in purposes}
    q = Q(pk__in=[])
    for pid, version in latest.items():
        q |= Q(purpose_id=pid, version=version)
    for n in Notice.objects.filter(q):
        out[n.purpose_id][n.language] = n
    return out


def pick_language(notices: dict[str, Notice], language: str) -> Notice | None:
    return notices.get(language) or notices.get("en") or next(iter(notices.values()), None)


def purpose_json(purpose: Purpose, notice: Notice | None) -> dict[str, Any]:
    return {
        "code": purpose.code,
        "title": purpose.title,
        "description": purpose.description,
        "dpv_purpose": purpose.dpv_purpose,
        "legal_basis": register.basis_json(purpose.legal_basis),
        "legal_reference": purpose.legal_reference,
        "requires_consent": purpose.requires_consent,
        "data_categories": [register.category_json(c) for c in purpose.data_categories],
        "recipients": register.recipients_json(purpose),
        "retention": register.retention_json(purpose),
        "is_active": purpose.is_active,
        "current_notice": notice_json(notice) if notice else None,
    }


def my_consents(*, user: User, language: str) -> list[dict[str, Any]]:
    """Every active purpose with my state and the notice I saw (and the current one)."""
    purposes = list(register_purposes())
    notices = current_notices(purposes)
    records = {
        r.purpose_id: r
        for r in ConsentRecord.objects.filter(subject_id=user.pk).select_related(
            "notice", "last_event"
        )
    }
    out = []
    for p in purposes:
        current = pick_language(notices[p.pk], language)
        item = purpose_json(p, current)
        r = records.get(p.pk)
        if not p.requires_consent:
            item["state"] = "not_consent_based"
            item["explanation"] = (
                f"Processed under {register.basis_json(p.legal_basis)['label']}, not consent."
            )
        elif r is None:
            item["state"] = "not_asked"
        else:
            item["state"] = r.state
            item["decided_at"] = r.updated_at
            item["expires_at"] = r.expires_at
            item["notice_seen"] = notice_json(r.notice)
            item["receipt_id"] = str(r.last_event.event_id)
            latest_material = max(
                (n.version for n in notices[p.pk].values() if n.requires_reconsent), default=0
            )
            if r.state == EventType.GIVEN and r.notice.version < latest_material:
                item["state"] = "given_for_older_notice"
        out.append(item)
    return out


def my_consent_events(*, user: User) -> QuerySet[ConsentEvent]:
    key = pseudonyms.subject_key(user, create=False)
    if key is None:
        return ConsentEvent.objects.none()
    return ConsentEvent.objects.filter(subject_pseudonym=key.pseudonym).select_related(
        "purpose", "log_entry"
    )


def access_consent_event(*, user: User, event_id: str) -> ConsentEvent:
    """The user's own consent event (for a receipt), else NotFound."""
    try:
        event_uuid = uuid.UUID(str(event_id))
        return my_consent_events(user=user).get(event_id=event_uuid)
    except (ConsentEvent.DoesNotExist, ValueError) as exc:
        raise NotFound() from exc


def access_consent_receipt(*, user: User, event_id: str) -> ConsentReceipt:
    """The user's own stored receipt, else NotFound. Found by the receipt itself, not the
    event: a resident can download a receipt they hold even if the event row is gone."""
    try:
        event_uuid = uuid.UUID(str(event_id))
        return ConsentReceipt.objects.get(event_id=event_uuid, subject_id=user.pk)
    except (ConsentReceipt.DoesNotExist, ValueError) as exc:
        raise NotFound() from exc


# --- Data officers ---------------------------------------------------------------------------


def require_data_officer(user: AnyUser) -> None:
    if not roles_for(user).data_officer:
        raise Forbidden("Only data officers may read consent events.")


def officer_consent_events(
    *,
    purpose: str | None = None,
    pseudonym: str | None = None,
    method: str | None = None,
    decision: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    notice_version: int | None = None,
) -> QuerySet[ConsentEvent]:
    qs = ConsentEvent.objects.select_related("purpose", "log_entry").order_by("-created_at", "-id")
    if purpose:
        qs = qs.filter(purpose__code=purpose)
    if pseudonym:
        qs = qs.filter(subject_pseudonym=pseudonym)
    if method:
        qs = qs.filter(method=method)
    if decision:
        qs = qs.filter(event_type=decision)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    if notice_version is not None:
        qs = qs.filter(notice_version=notice_version)
    return qs


def officer_event_row(e: ConsentEvent) -> dict[str, Any]:
    """One event as data officers see it: pseudonym, never name or contact details."""
    return {
        "event_id": str(e.event_id),
        "pseudonym": e.subject_pseudonym,
        "purpose": e.purpose.code,
        "decision": e.event_type,
        "notice_version": e.notice_version,
        "notice_sha256": e.notice_sha256,
        "language": e.language,
        "method": e.method,
        "actor": e.actor_role,
        "created_at": e.created_at.isoformat(),
        "expires_at": e.expires_at.isoformat() if e.expires_at else None,
        "log_index": e.log_entry_id,
    }


def iter_officer_rows(qs: QuerySet[ConsentEvent], chunk: int = 2000) -> Iterator[dict[str, Any]]:
    for e in qs.iterator(chunk_size=chunk):
        yield officer_event_row(e)


def consent_aggregates(
    *, purpose: str | None = None, since: datetime | None = None, until: datetime | None = None
) -> list[dict[str, Any]]:
    """Per purpose × notice version × day: counts of each decision and the consent rate."""
    qs = officer_consent_events(purpose=purpose, since=since, until=until).order_by()
    rows = (
        qs.annotate(day=TruncDay("created_at"))
        .values("purpose__code", "notice_version", "day")
        .annotate(
            given=Count("id", filter=Q(event_type=EventType.GIVEN)),
            withdrawn=Count("id", filter=Q(event_type=EventType.WITHDRAWN)),
            refused=Count("id", filter=Q(event_type=EventType.REFUSED)),
            expired=Count("id", filter=Q(event_type=EventType.EXPIRED)),
        )
        .order_by("purpose__code", "notice_version", "day")
    )
    out = []
    for r in rows:
        decided = r["given"] + r["refused"]
        out.append(
            {
                "purpose": r["purpose__code"],
                "notice_version": r["notice_version"],
                "day": r["day"].date().isoformat(),
                "given": r["given"],
                "withdrawn": r["withdrawn"],
                "refused": r["refused"],
                "expired": r["expired"],
                "consent_rate": round(r["given"] / decided, 4) if decided else None,
            }
        )
    return out


def current_state_counts() -> list[dict[str, Any]]:
    """Current records per purpose × notice version × state."""
    rows = (
        ConsentRecord.objects.values("purpose__code", "notice__version", "state")
        .annotate(n=Count("id"))
        .order_by("purpose__code", "notice__version", "state")
    )
    return [dict(r) for r in rows]


def refusal_counts(*, since: datetime | None = None) -> list[dict[str, Any]]:
    qs = RefusalCount.objects.order_by("-day", "purpose_code", "reason")
    if since:
        qs = qs.filter(day__gte=since)
    return list(qs.values("purpose_code", "day", "reason", "count")[:1000])  # type: ignore[arg-type]


def _check_json(check: IntegrityCheck | None) -> dict[str, Any] | None:
    if check is None:
        return None
    return {
        "started_at": check.started_at,
        "finished_at": check.finished_at,
        "tree_size": check.tree_size,
        "heads_checked": check.heads_checked,
        "ok": check.ok,
        "problems": check.problems[:50],
    }


def integrity_alarms() -> list[str]:
    """Open integrity alarms: the latest full verification or promise check failed."""
    alarms = []
    for kind in IntegrityCheck.Kind:
        last = IntegrityCheck.objects.filter(kind=kind).order_by("-started_at", "-id").first()
        if last is not None and not last.ok:
            alarms.append(f"{kind.value}: {len(last.problems)} problem(s) at "
                          f"{last.started_at:%Y-%m-%dT%H:%M:%SZ}")
    return alarms


def integrity_status() -> dict[str, Any]:
    last = IntegrityCheck.objects.filter(kind=IntegrityCheck.Kind.FULL).order_by(
        "-started_at").first()
    promises = IntegrityCheck.objects.filter(kind=IntegrityCheck.Kind.PROMISES).order_by(
        "-started_at", "-id").first()
    head = ledger.latest_head()
    return {
        "log_size": ledger.log_size(),
        "latest_tree_head": ledger.tree_head_json(head) if head else None,
        "last_verification": _check_json(last),
        "last_promise_check": _check_json(promises),
        "alarms": integrity_alarms(),
    }
