"""Writes for the register and consent: publish notices, record consent decisions.

Each consent change appends a ConsentEvent, updates the derived ConsentRecord and appends a
transparency-log entry, all in one transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone
from django.utils.translation import gettext

from consent import ledger, pseudonyms, register
from consent.models import (
    ConsentEvent,
    ConsentRecord,
    EventType,
    Method,
    Notice,
    Purpose,
)
from portal.errors import Conflict, Invalid, NotFound

DECISIONS = {
    "give": EventType.GIVEN,
    "withdraw": EventType.WITHDRAWN,
    "refuse": EventType.REFUSED,
}


def text_sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# --- Register --------------------------------------------------------------------------------


@transaction.atomic
def purpose_upsert(*, code: str, **fields: Any) -> Purpose:
    """Create or update a register entry after validating it (admin and demo seed)."""
    departments = fields.pop("departments", None)
    register.validate_purpose_fields(
        data_categories=fields.get("data_categories", []),
        recipients=fields.get("recipients", []),
        legal_basis=fields["legal_basis"],
        requires_consent=fields.get("requires_consent", False),
    )
    purpose, _ = Purpose.objects.update_or_create(code=code, defaults=fields)
    if departments is not None:
        purpose.departments.set(departments)
    return purpose


@transaction.atomic
def notice_publish(
    *, purpose: Purpose, texts: dict[str, tuple[str, str]], requires_reconsent: bool = True
) -> list[Notice]:
    """Publish the next version of a purpose's notice in every given language.

    A material change (`requires_reconsent`) of a consent-based purpose means consents given
    for older versions no longer count (they are reported as "given for an older notice").
    """
    if "en" not in texts:
        raise Invalid(gettext("A notice needs an English text."),
                      errors={"texts": [gettext("'en' is required.")]})
    purpose = Purpose.objects.select_for_update().get(pk=purpose.pk)
    last = Notice.objects.filter(purpose=purpose).order_by("-version").first()
    version = (last.version if last else 0) + 1
    return [
        Notice.objects.create(
            purpose=purpose,
            version=version,
            language=lang,
            title=title,
            text=text,
            text_sha256=text_sha256(text),
            requires_reconsent=requires_reconsent,
        )
        for lang, (title, text) in texts.items()
    ]


def current_notice(purpose: Purpose, language: str | None = None) -> Notice | None:
    """The latest version in `language`, else in English."""
    latest = Notice.objects.filter(purpose=purpose).order_by("-version").values("version")[:1]
    notices = {
        n.language: n
        for n in Notice.objects.filter(purpose=purpose, version=Subquery(latest))
    }
    if not notices:
        return None
    return notices.get(language or "en") or notices.get("en") or next(iter(notices.values()))


def notice_json(notice: Notice) -> dict[str, Any]:
    return {
        "version": notice.version,
        "language": notice.language,
        "title": notice.title,
        "text": notice.text,
        "sha256": notice.text_sha256,
        "published_at": notice.published_at,
    }


# --- Consent ---------------------------------------------------------------------------------


@dataclass
class ConsentChange:
    record: ConsentRecord | None
    event: ConsentEvent | None
    changed: bool
    effects: dict[str, Any] = field(default_factory=dict)


def _effects(*, subject: Any, purpose: Purpose, state: str) -> dict[str, Any]:
    """What stops and what continues, under which basis (told on every change)."""
    continuing = []
    still_consented = set(
        ConsentRecord.objects.filter(subject_id=subject.pk, state=EventType.GIVEN)
        .exclude(purpose=purpose)
        .values_list("purpose_id", flat=True)
    )
    for p in Purpose.objects.filter(is_active=True).exclude(pk=purpose.pk).order_by("code"):
        if p.requires_consent and p.pk not in still_consented:
            continue
        continuing.append(
            {
                "purpose": p.code,
                "title": p.title,
                "legal_basis": register.basis_json(p.legal_basis),
                "legal_reference": p.legal_reference,
                "why": (
                    "you gave consent and have not withdrawn it"
                    if p.requires_consent
                    else "this processing does not rest on consent, so withdrawing consent "
                    "elsewhere does not change it"
                ),
            }
        )
    this = {
        "purpose": purpose.code,
        "title": purpose.title,
        "description": purpose.description,
        "data_categories": [register.category_json(c) for c in purpose.data_categories],
        "recipients": purpose.recipients,
    }
    if state == EventType.GIVEN:
        return {"starts": this, "continues": continuing}
    return {
        "stops": {
            **this,
            "effective": "immediately: every later processing step checks your consent first",
            "note": "Processing that happened before the withdrawal stays lawful (GDPR Art. 7(3)); "
            "data kept only for this purpose is deleted at the end of its retention period.",
        },
        "continues": continuing,
    }


def _lock_subject(subject: Any) -> None:
    # One consent change per resident at a time: makes the idempotency check race-free.
    get_user_model().objects.select_for_update().filter(pk=subject.pk).values_list("pk").first()


def consent_decide(
    *,
    subject: Any,
    purpose_code: str,
    decision: str,
    notice_version: int,
    language: str | None = None,
    method: str = Method.WEB,
    recorded_by: Any = None,
    expires_at: datetime | None = None,
) -> ConsentChange:
    """Give, withdraw or refuse consent for one purpose, for the notice version shown.

    Raises NotFound (unknown purpose), Invalid (purpose not consent-based, bad input) or
    Conflict (a stale notice version: the current notice is in `extra`).
    A repeated identical decision changes nothing and appends nothing.
    """
    ledger.log_key()  # no signing key in production → refuse before changing anything
    if decision not in DECISIONS:
        raise Invalid(gettext("Unknown decision."),
                      errors={"decision": [gettext("Use give, withdraw or refuse.")]})
    if method not in Method.values or method == Method.SYSTEM:
        raise Invalid(gettext("Unknown method."),
                      errors={"method": [gettext("Use web, mobile or counter.")]})
    if method == Method.COUNTER and recorded_by is None:
        raise Invalid(gettext("A counter consent is recorded by a clerk."),
                      errors={"method": [gettext("counter needs the clerk who recorded it.")]})
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid(gettext("Expiry must be in the future."),
                      errors={"expires_at": [gettext("In the past.")]})
    purpose = Purpose.objects.filter(code=purpose_code, is_active=True).first()
    if purpose is None:
        raise NotFound(gettext("No active purpose with this code in the register."))
    if not purpose.requires_consent:
        basis = register.basis_json(purpose.legal_basis)
        raise Invalid(
            gettext(
                "'%(purpose)s' does not rest on consent but on %(basis)s%(reference)s. A public "
                "authority uses consent only for optional purposes (GDPR Recital 43), so there is "
                "nothing to give or withdraw here; you may object to it (Art. 21) by contacting "
                "the data protection officer."
            ) % {
                "purpose": purpose.title_en,
                "basis": basis["label"],
                "reference": f" ({purpose.legal_reference})" if purpose.legal_reference else "",
            },
            errors={"purpose": [gettext("This purpose is not based on consent.")]},
            extra={"legal_basis": basis},
        )
    language = language or getattr(subject, "preferred_language", "en") or "en"
    with transaction.atomic():
        _lock_subject(subject)
        notice = current_notice(purpose, language)
        if notice is None:
            raise Conflict(gettext("This purpose has no published notice yet."))
        if notice_version != notice.version:
            raise Conflict(
                gettext(
                    "You were shown version %(shown)s of the notice; the current version is "
                    "%(current)s. Please read it and decide again."
                ) % {"shown": notice_version, "current": notice.version},
                extra={"current_notice": notice_json(notice)},
            )
        target = DECISIONS[decision]
        record = (
            ConsentRecord.objects.select_related("notice")
            .filter(subject_id=subject.pk, purpose=purpose)
            .first()
        )
        if record is not None and record.state == target and (
            target != EventType.GIVEN
            or (record.notice.version == notice.version and record.expires_at == expires_at)
        ):
            return ConsentChange(record=record, event=record.last_event, changed=False,
                                 effects=_effects(subject=subject, purpose=purpose, state=target))
        if target == EventType.WITHDRAWN and (record is None or record.state != EventType.GIVEN):
            # Nothing to withdraw: no entry, the state stays what it was.
            return ConsentChange(record=record, event=None, changed=False,
                                 effects=_effects(subject=subject, purpose=purpose, state=target))
        event, record = _record_change(
            subject=subject, purpose=purpose, event_type=target, notice=notice, method=method,
            recorded_by=recorded_by, expires_at=expires_at if target == EventType.GIVEN else None,
            record=record,
        )
    return ConsentChange(record=record, event=event, changed=True,
                         effects=_effects(subject=subject, purpose=purpose, state=target))


def _record_change(
    *, subject: Any, purpose: Purpose, event_type: str, notice: Notice, method: str,
    recorded_by: Any, expires_at: datetime | None, record: ConsentRecord | None,
) -> tuple[ConsentEvent, ConsentRecord]:
    """Event + derived record + log entry. Everything but the log insert happens before the
    log lock is taken (the record points at the event's reserved id; FKs are checked at
    commit), so the serialized part is the lock and one statement."""
    now = timezone.now()
    event_id = uuid.uuid4()
    actor_role = "clerk" if method == Method.COUNTER else (
        "system" if method == Method.SYSTEM else "subject"
    )
    key = pseudonyms.subject_key(subject)
    assert key is not None  # noqa: S101 - created on first use
    body = {
        "type": "consent",
        "event_id": str(event_id),
        "subject": pseudonyms.log_subject_with(key, nonce=str(event_id)),
        "purpose": purpose.code,
        "event": event_type,
        "legal_basis": purpose.legal_basis,
        "notice": {"version": notice.version, "language": notice.language,
                   "sha256": notice.text_sha256},
        "method": method,
        "actor": actor_role,
        "expires": ledger.utc_seconds(expires_at) if expires_at else None,
    }
    values = {
        "event_id": event_id,
        "subject_pseudonym": key.pseudonym,
        "purpose_id": purpose.pk,
        "event_type": event_type,
        "notice_id": notice.pk,
        "notice_version": notice.version,
        "notice_sha256": notice.text_sha256,
        "language": notice.language,
        "method": method,
        "actor_role": actor_role,
        "recorded_by_id": recorded_by.pk if method == Method.COUNTER and recorded_by else None,
        "created_at": now,
        "expires_at": expires_at,
    }
    reserved = ledger.reserve_id(ConsentEvent)
    if reserved is not None:
        values["id"] = reserved
        draft = ConsentEvent(**values)
        record = _update_record(subject=subject, purpose=purpose, event=draft, record=record)
    entry = ledger.ledger_append(
        kind="consent", body=body, at=now,
        attach=ledger.Attached(model=ConsentEvent, values=values, link="log_entry"),
    )
    event: ConsentEvent = entry.attached  # type: ignore[attr-defined]
    event.log_entry = entry
    if reserved is None:
        record = _update_record(subject=subject, purpose=purpose, event=event, record=record)
    assert record is not None  # noqa: S101
    record.last_event = event
    return event, record


def _update_record(
    *, subject: Any, purpose: Purpose, event: ConsentEvent, record: ConsentRecord | None
) -> ConsentRecord:
    if record is None:
        return ConsentRecord.objects.create(
            subject_id=subject.pk, purpose=purpose, state=event.event_type, notice=event.notice,
            last_event=event, expires_at=event.expires_at, updated_at=event.created_at,
        )
    record.state = event.event_type
    record.notice = event.notice
    record.last_event = event
    record.expires_at = event.expires_at
    record.updated_at = event.created_at
    record.save(update_fields=["state", "notice", "last_event", "expires_at", "updated_at"])
    return record


def consent_expire_due(*, now: datetime | None = None, limit: int = 500) -> int:
    """Turn given consents past their expiry into an 'expired' event. Idempotent, batched."""
    now = now or timezone.now()
    done = 0
    ids = list(
        ConsentRecord.objects.filter(state=EventType.GIVEN, expires_at__lte=now)
        .values_list("pk", flat=True)[:limit]
    )
    for pk in ids:
        with transaction.atomic():
            record = (
                ConsentRecord.objects.select_for_update()
                .select_related("subject", "purpose", "notice")
                .filter(pk=pk, state=EventType.GIVEN, expires_at__lte=now)
                .first()
            )
            if record is None:
                continue
            _record_change(
                subject=record.subject, purpose=record.purpose, event_type=EventType.EXPIRED,
                notice=record.notice, method=Method.SYSTEM, recorded_by=None, expires_at=None,
                record=record,
            )
            done += 1
    return done
