"""Reads for residents' data rights: my access log in plain words, the data officer's access
review with anomaly flags, data-subject requests, and the export document.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from consent import ledger, pseudonyms, register
from consent.keystore import keystore
from consent.models import Purpose
from consent.receipts import receipt_for_event
from consent.rights.models import AccessEvent, DataSubjectRequest, ErasureReceipt, ExportJob
from consent.selectors import my_consent_events, my_consents
from core.errors import Forbidden, NotFound
from core.roles import roles_for
from services.models import Event, Follow, ServiceRequest

if TYPE_CHECKING:

    from core.users import AnyUser, User

EXPORT_SCHEMA = "https://civicdesk.example.city/schemas/data-export/v1"

# --- Plain words (en, zh-hans) ---------------------------------------------------------------

FIELD_WORDS = {
    "en": {"name": "name", "email": "e-mail address", "phone": "phone number",
           "exact_location": "exact location", "photos": "photos",
           "description": "description", "address": "address"},
    "zh-hans": {"name": "姓名", "email": "电子邮件地址", "phone": "电话号码",
                "exact_location": "精确位置", "photos": "照片",
                "description": "描述", "address": "地址"},
}
ROLE_WORDS = {
    "en": {"clerk": "clerk", "supervisor": "supervisor", "staff": "staff member",
           "administrator": "administrator"},
    "zh-hans": {"clerk": "办事员", "supervisor": "主管", "staff": "工作人员",
                "administrator": "管理员"},
}
REASON_WORDS = {
    "en": {
        "contact_resident": "to contact you about {ref}",
        "locate_problem": "to find the exact spot of {ref}",
        "review_photos": "to look at the photos of {ref}",
        "coordinate_contractor": "to arrange the repair of {ref} with the contractor",
        "handle_request": "to handle {ref}",
        "account_administration": "to administer your account",
    },
    "zh-hans": {
        "contact_resident": "以便就 {ref} 联系您",
        "locate_problem": "以便确定 {ref} 的具体位置",
        "review_photos": "以便查看 {ref} 的照片",
        "coordinate_contractor": "以便与承包商安排 {ref} 的维修",
        "handle_request": "以便处理 {ref}",
        "account_administration": "以便管理您的账户",
    },
}

# What the staff member did, by the kind of access event.
VERB_WORDS = {
    "en": {
        "reveal": "viewed your {f}",
        "export": "included your {f} in a staff export",
        "bulk": "included your {f} in a bulk operation",
        "view": "opened your request and saw its {f}",
        "admin": "opened your account in the administration and saw your {f}",
    },
    "zh-hans": {
        "reveal": "查看了您的{f}",
        "export": "在员工导出中包含了您的{f}",
        "bulk": "在批量操作中包含了您的{f}",
        "view": "打开了您的请求，看到了其{f}",
        "admin": "在管理后台打开了您的账户，看到了您的{f}",
    },
}


def _lang(language: str | None) -> str:
    return "zh-hans" if (language or "en").lower().startswith("zh") else "en"


def _join(words: list[str], lang: str) -> str:
    if len(words) <= 1:
        return "".join(words)
    if lang == "zh-hans":
        return "、".join(words[:-1]) + "和" + words[-1]
    return ", ".join(words[:-1]) + " and " + words[-1]


def _day(at: datetime, lang: str) -> str:
    local = timezone.localtime(at)
    this_year = timezone.localdate().year
    if lang == "zh-hans":
        prefix = "" if local.year == this_year else f"{local.year}年"
        return f"{prefix}{local.month}月{local.day}日"
    suffix = "" if local.year == this_year else f" {local.year}"
    return f"{local.day} {local:%B}{suffix}"


def access_event_sentence(event: AccessEvent, language: str | None) -> str:
    """'Street Lighting clerk viewed your phone number on 3 May to contact you about CD-…'."""
    lang = _lang(language)
    dept = event.actor_department
    dept_name = ""
    if dept is not None:
        dept_name = (dept.name_zh_hans or dept.name_en) if lang == "zh-hans" else dept.name_en
    role = ROLE_WORDS[lang].get(event.actor_role, ROLE_WORDS[lang]["staff"])
    fields = _join([FIELD_WORDS[lang].get(f, f) for f in event.revealed_fields], lang)
    ref = event.request_reference or ("您的请求" if lang == "zh-hans" else "your request")
    reason = REASON_WORDS[lang].get(event.reason, REASON_WORDS[lang]["contact_resident"])
    why = reason.format(ref=ref)
    when = _day(event.created_at, lang)
    if lang == "zh-hans":
        verb = VERB_WORDS["zh-hans"].get(event.kind, "查看了您的{f}").format(f=fields, ref=ref)
        return f"{when}，{dept_name}{role}{verb}，{why}。"
    verb = VERB_WORDS["en"].get(event.kind, "viewed your {f}")
    who = f"{dept_name} {role}".strip()
    return f"{who[:1].upper()}{who[1:]} {verb.format(f=fields, ref=ref)} on {when} {why}."


def my_access_events(*, user: AnyUser) -> QuerySet[AccessEvent]:
    return (
        AccessEvent.objects.filter(subject_id=user.pk)
        .select_related("actor_department", "purpose")
        .order_by("-created_at", "-id")
    )


def access_event_for_resident(event: AccessEvent, language: str | None) -> dict[str, Any]:
    """What the resident sees: role and department, never the staff member's name."""
    return {
        "event_id": str(event.event_id),
        "text": access_event_sentence(event, language),
        "kind": event.kind,
        "at": event.created_at,
        "actor_role": event.actor_role,
        "department": None if event.actor_department is None else {
            "code": event.actor_department.code, "name": event.actor_department.name},
        "fields": event.revealed_fields,
        "purpose": None if event.purpose is None else {
            "code": event.purpose.code, "title": event.purpose.title,
            "legal_basis": register.basis_json(event.purpose.legal_basis)},
        "reason": event.reason,
        "request": event.request_reference or None,
        "log_index": event.log_entry_id,
    }


# --- Data officers ---------------------------------------------------------------------------


def require_data_officer(user: AnyUser) -> None:
    if not roles_for(user).data_officer:
        raise Forbidden("Only data officers may do this.")


def officer_access_events(
    *, actor: int | None = None, department: str = "", purpose: str = "",
    since: datetime | None = None, until: datetime | None = None, kind: str = "",
) -> QuerySet[AccessEvent]:
    qs = AccessEvent.objects.select_related(
        "actor_department", "purpose"
    ).order_by("-id")
    if actor is not None:
        qs = qs.filter(actor_id=actor)
    if department:
        qs = qs.filter(actor_department__code=department)
    if purpose:
        qs = qs.filter(purpose__code=purpose)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    if kind:
        qs = qs.filter(kind=kind)
    return qs


def anomaly_threshold() -> int:
    return int(settings.CIVICDESK["ACCESS_ANOMALY_DAILY_REVEALS"])


def reveals_per_actor_day(
    *, actor_ids: set[int] | None = None, since: datetime | None = None,
    until: datetime | None = None,
) -> dict[tuple[int, date], int]:
    """(actor id, local day) → number of access events, in one grouped query. Opening the
    requests of one's own queue (kind `view`) is daily work and does not count here."""
    qs = AccessEvent.objects.exclude(actor=None).exclude(kind=AccessEvent.Kind.VIEW)
    if actor_ids is not None:
        qs = qs.filter(actor_id__in=actor_ids)
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    rows = (
        qs.annotate(day=TruncDate("created_at", tzinfo=timezone.get_current_timezone()))
        .values("actor_id", "day").annotate(n=Count("id")).order_by()
    )
    return {(r["actor_id"], r["day"]): r["n"] for r in rows}


def access_anomalies(*, since: datetime | None = None,
                     until: datetime | None = None) -> list[dict[str, Any]]:
    """Actors who revealed unusually much on one day (more than the threshold in settings)."""
    limit = anomaly_threshold()
    counts = reveals_per_actor_day(since=since, until=until)
    return [
        {"actor_id": actor, "day": day, "access_events": n, "threshold": limit}
        for (actor, day), n in sorted(counts.items(), key=lambda kv: (kv[0][1], kv[0][0]),
                                      reverse=True)
        if n > limit
    ]


def officer_access_rows(events: list[AccessEvent]) -> list[dict[str, Any]]:
    """Rows for data officers: pseudonyms and actor ids, flagged when the day is anomalous."""
    limit = anomaly_threshold()
    actors = {e.actor_id for e in events if e.actor_id is not None}
    counts: dict[tuple[int, date], int] = {}
    if events and actors:
        start = min(e.created_at for e in events) - timedelta(days=1)
        end = max(e.created_at for e in events) + timedelta(days=1)
        counts = reveals_per_actor_day(actor_ids=actors, since=start, until=end)
    store = keystore()
    keys = {sid: store.get(sid) for sid in {e.subject_id for e in events} if sid is not None}
    out = []
    for e in events:
        day = timezone.localtime(e.created_at).date()
        n = counts.get((e.actor_id, day), 0) if e.actor_id is not None else 0
        key = keys.get(e.subject_id) if e.subject_id is not None else None
        out.append({
            "event_id": str(e.event_id),
            "kind": e.kind,
            "at": e.created_at,
            "actor_id": e.actor_id,
            "actor_role": e.actor_role,
            "department": e.actor_department.code if e.actor_department else None,
            "subject_pseudonym": pseudonyms.pseudonym_of_key(key) if key is not None else None,
            "request": e.request_reference or None,
            "fields": e.revealed_fields,
            "purpose": e.purpose.code if e.purpose is not None else "",
            "reason": e.reason,
            "log_index": e.log_entry_id,
            "actor_day_count": n,
            "anomalous": n > limit,
        })
    return out


def iter_officer_access_rows(
    qs: QuerySet[AccessEvent], *, chunk: int = 2000
) -> Iterator[dict[str, Any]]:
    """`officer_access_rows` for a whole (newest-first) queryset, a chunk at a time by id, so
    an export of millions of events never holds more than one chunk in memory."""
    before: int | None = None
    while True:
        page = qs.filter(pk__lt=before) if before is not None else qs
        events = list(page.order_by("-id")[:chunk])
        if not events:
            return
        yield from officer_access_rows(events)
        if len(events) < chunk:
            return
        before = events[-1].pk


def data_subject_requests(
    *, status: str = "", kind: str = "", channel: str = "", overdue: bool | None = None,
) -> QuerySet[DataSubjectRequest]:
    qs = DataSubjectRequest.objects.select_related("recorded_by").order_by("deadline", "id")
    if status:
        qs = qs.filter(status=status)
    if kind:
        qs = qs.filter(kind=kind)
    if channel:
        qs = qs.filter(channel=channel)
    if overdue is not None:
        late = {"status__in": DataSubjectRequest.OPEN_STATUSES, "deadline__lt": timezone.now()}
        qs = qs.filter(**late) if overdue else qs.exclude(**late)
    return qs


def access_data_subject_request(*, user: AnyUser, reference: str) -> DataSubjectRequest:
    require_data_officer(user)
    dsr = DataSubjectRequest.objects.filter(reference=reference).first()
    if dsr is None:
        raise NotFound("No such data-subject request.")
    return dsr


def access_export_job(*, user: User, job_id: str | uuid.UUID) -> ExportJob:
    """The user's own export job; NotFound for anyone else's or a malformed id."""
    try:
        job_uuid = uuid.UUID(str(job_id))
    except ValueError as exc:
        raise NotFound("No such export.") from exc
    job = ExportJob.objects.filter(pk=job_uuid, user_id=user.pk).first()
    if job is None:
        raise NotFound("No such export.")
    return job


def erasure_receipt_json(receipt: ErasureReceipt) -> dict[str, Any]:
    return {
        "receipt_id": str(receipt.pk),
        "erased_at": receipt.erased_at,
        "statement": receipt.statement,
        "signature": receipt.signature,
        "key_id": receipt.key_id,
        "verifier_key": str(ledger.log_key().verifier),
        "log_index": receipt.log_entry_id,
        "summary": receipt.summary,
    }


# --- Export document -------------------------------------------------------------------------


def _purpose_processing(p: Purpose, consent_state: str | None) -> dict[str, Any]:
    return {
        "purpose": {"code": p.code, "title": p.title_en, "description": p.description_en,
                    "dpv": p.dpv_purpose},
        "legal_basis": register.basis_json(p.legal_basis),
        "legal_reference": p.legal_reference,
        "personal_data_categories": [register.category_json(c) for c in p.data_categories],
        "recipients": register.recipients_json(p),
        "retention": register.retention_json(p),
        "requires_consent": p.requires_consent,
        "your_consent": consent_state if p.requires_consent else "not_consent_based",
        "active": p.is_active,
    }


def _profile(user: User) -> dict[str, Any]:
    from allauth.account.models import EmailAddress
    from allauth.mfa.models import Authenticator
    from allauth.usersessions.models import UserSession

    return {
        "id": user.pk,
        "email": user.email,
        "display_name": user.display_name,
        "phone": user.phone,
        "preferred_language": user.preferred_language,
        "date_joined": user.date_joined,
        "last_login": user.last_login,
        "is_active": user.is_active,
        "email_addresses": [
            {"email": e.email, "verified": e.verified, "primary": e.primary}
            for e in EmailAddress.objects.filter(user=user).order_by("id")
        ],
        "second_factors": [
            {"type": a.type, "created_at": a.created_at, "last_used_at": a.last_used_at}
            for a in Authenticator.objects.filter(user=user).order_by("id")
        ],
        "sessions": [
            {"created_at": s.created_at, "last_seen_at": s.last_seen_at, "ip": s.ip,
             "user_agent": s.user_agent}
            for s in UserSession.objects.filter(user=user).order_by("created_at")
        ],
    }


def _requests(user: User) -> tuple[list[dict[str, Any]], list[tuple[str, Any]]]:
    photos: list[tuple[str, Any]] = []
    out = []
    qs = (
        ServiceRequest.objects.filter(reporter=user)
        .select_related("category", "district", "department", "related_request")
        .prefetch_related("attachments", "open311_submission")
        .order_by("created_at", "id")
    )
    for r in qs.iterator(chunk_size=200):
        events = (
            Event.objects.filter(request=r, visibility=Event.Visibility.PUBLIC)
            .select_related("actor_department").order_by("created_at", "id")
        )
        items = []
        for a in r.attachments.all():
            arcname = f"photos/{r.reference}/{a.token}.{a.extension}"
            photos.append((arcname, a))
            items.append({
                "file": arcname, "content_type": a.content_type, "width": a.width,
                "height": a.height, "size": a.size, "uploaded_by_you": a.uploaded_by_id == user.pk,
                "created_at": a.created_at,
            })
        submission = getattr(r, "open311_submission", None)
        out.append({
            "reference": r.reference,
            "kind": r.kind,
            "category": {"code": r.category.code, "name": r.category.name_en},
            "description": r.description,
            "attribute_values": r.attribute_values,
            "location": {"lat": r.lat, "lon": r.lon, "address": r.address,
                         "is_private_address": r.is_private_address,
                         "district": r.district.code if r.district else None},
            "status": r.status,
            "outcome": r.outcome,
            "department": r.department.code if r.department else None,
            "channel": r.channel,
            "is_public": r.is_public,
            "rating": r.rating,
            "feedback": r.feedback,
            "related_request": r.related_request.reference if r.related_request else None,
            "created_at": r.created_at,
            "updated_at": r.updated_at,
            "resolved_at": r.resolved_at,
            "closed_at": r.closed_at,
            "open311_contact": None if submission is None else {
                "email": submission.email, "first_name": submission.first_name,
                "last_name": submission.last_name, "phone": submission.phone,
                "device_id": submission.device_id, "account_id": submission.account_id,
            },
            "events": [
                {
                    "type": e.type,
                    "at": e.created_at,
                    "from_status": e.from_status,
                    "to_status": e.to_status,
                    "text": e.text,
                    "by": "you" if e.actor_id == user.pk else (e.actor_role or "system"),
                    "department": e.actor_department.code if e.actor_department else None,
                }
                for e in events
            ],
            "photos": items,
        })
    return out, photos


def _consents(user: User) -> dict[str, Any]:

    history = [
        {
            "event_id": str(e.event_id),
            "purpose": e.purpose.code,
            "event": e.event_type,
            "notice": {"version": e.notice_version, "language": e.language,
                       "sha256": e.notice_sha256, "text": e.notice.text},
            "method": e.method,
            "actor": e.actor_role,
            "at": e.created_at,
            "expires_at": e.expires_at,
            "receipt": receipt_for_event(e),
        }
        for e in my_consent_events(user=user).select_related("notice").order_by("created_at", "id")
    ]
    return {"current": my_consents(user=user, language=user.preferred_language or "en"),
            "history": history}


def _notifications(user: User) -> dict[str, Any]:
    from django.apps import apps

    model = apps.all_models.get("services", {}).get("notification")
    if model is None:
        return {
            "stored": False,
            "note": "CivicDesk does not keep a copy of the e-mails and messages it sends you; "
            "what they said is in each request's public events above.",
            "items": [],
        }
    fields = [f.name for f in model._meta.concrete_fields if f.name not in ("id",)]
    rows = model._default_manager.filter(user=user).order_by("pk").values(*fields)
    return {"stored": True, "items": list(rows)}


def export_document(*, user: User) -> tuple[dict[str, Any], list[tuple[str, Any]]]:
    """Everything CivicDesk holds about `user`, and the photo files to put next to it."""
    requests, photos = _requests(user)
    consents = _consents(user)
    states = {c["code"]: c.get("state") for c in consents["current"]}
    key = pseudonyms.subject_key(user, create=False)
    document = {
        "schema": EXPORT_SCHEMA,
        "generated_at": timezone.now(),
        "controller": register.controller(),
        "subject": {"pseudonym": key.pseudonym if key else None},
        "profile": _profile(user),
        "requests": requests,
        "follows": [
            {"request": f.request.reference, "since": f.created_at}
            for f in Follow.objects.filter(user=user).select_related("request").order_by("id")
        ],
        "consents": consents,
        "access_log": [
            access_event_for_resident(e, user.preferred_language)
            for e in my_access_events(user=user)
        ],
        "notifications": _notifications(user),
        "data_subject_requests": [
            {"reference": d.reference, "kind": d.kind, "channel": d.channel, "status": d.status,
             "received_at": d.received_at, "deadline": d.deadline,
             "completed_at": d.completed_at, "outcome": d.outcome}
            for d in DataSubjectRequest.objects.filter(subject=user).order_by("received_at")
        ],
        "processing": [
            _purpose_processing(p, states.get(p.code))
            for p in Purpose.objects.prefetch_related("departments").order_by("code")
        ],
    }
    return document, photos
