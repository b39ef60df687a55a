"""Writes for the register and consent: publish notices, record consent decisions.

Each consent change appends a ConsentEvent, updates the derived ConsentRecord and appends a
transparency-log entry, all in one transaction.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from django.db import IntegrityError, connection, transaction
from django.db.models import Subquery
from django.utils import timezone
from django.utils.translation import get_language, gettext

from consent import ledger, pseudonyms, receipts, register
from consent import verify as v
from consent.keystore import keystore
from consent.models import (
    ConsentEvent,
    ConsentReceipt,
    ConsentRecord,
    EventType,
    Method,
    Notice,
    NoticeDraft,
    Purpose,
)
from consent.store import (
    ConsentStore,
    PreparedChange,
    RecordVersion,
    StaleRecord,
    consent_store,
)
from core.errors import Conflict, Invalid, NotFound
from outbox.services import outbox_enqueue

if TYPE_CHECKING:
    from core.users import User

# Outbox topic this app publishes (consent/tasks.py registers its publisher).
TOPIC_LOG_VERIFY = "log.verify"  # {}: verify the whole transparency log in a worker


def log_verification_request() -> None:
    """Ask for a full verification of the log in the background (after commit, through the
    outbox, so a broker outage delays it rather than losing it)."""
    with transaction.atomic():
        outbox_enqueue(topic=TOPIC_LOG_VERIFY, payload={})


_METHODS = frozenset(Method.values)

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


@transaction.atomic
def notice_draft_publish(*, draft_id: int) -> list[Notice]:
    """Publish a draft written in the admin: the same `notice_publish` the command uses, once.

    The draft row is locked, so two administrators pressing "publish" publish one version.
    """
    draft = NoticeDraft.objects.select_for_update().select_related("purpose").get(pk=draft_id)
    if draft.is_published:
        raise Conflict(gettext("This draft is already published as version %(v)s.")
                       % {"v": draft.published_version})
    texts = {"en": (draft.title_en.strip(), draft.text_en.strip())}
    if draft.text_zh_hans.strip():
        texts["zh-hans"] = (draft.title_zh_hans.strip() or draft.title_en.strip(),
                            draft.text_zh_hans.strip())
    if not all(title and text for title, text in texts.values()):
        raise Invalid(gettext("A notice needs a title and a text."),
                      errors={"text_en": [gettext("Write the title and the text.")]})
    notices = notice_publish(purpose=draft.purpose, texts=texts,
                             requires_reconsent=draft.requires_reconsent)
    draft.published_version = notices[0].version
    draft.published_at = notices[0].published_at
    draft.save(update_fields=["published_version", "published_at", "updated_at"])
    return notices


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


# --- Register snapshot (per process) --------------------------------------------------------
#
# Every consent change needs the purpose, its current notice and, for the "what continues"
# answer, the whole register. Those rows change rarely, so each process keeps them in memory
# and checks, in the same statement that reads the resident's records, a fingerprint of the
# register (on PostgreSQL each purpose row's id and xmin, i.e. the transaction that last wrote
# it; on SQLite the rows themselves; notices are immutable, so their count and highest id).
# Any change anywhere, even a queryset update(), changes the fingerprint and the snapshot is
# reloaded before it is used: a change never acts on a stale register.


@dataclass(frozen=True)
class RegisterSnapshot:
    fingerprint: tuple[Any, Any]
    by_code: dict[str, Purpose]
    active: list[Purpose]  # ordered by code
    notices: dict[int, Notice]  # every notice by id
    current: dict[int, dict[str, Notice]]  # purpose id → language → latest version
    _effects: dict[str, dict[int, dict[str, dict[str, Any]]]] = field(default_factory=dict)

    def effect_items(self, language: str) -> dict[int, dict[str, dict[str, Any]]]:
        """Per purpose, the "continues" and "this purpose" parts of a change's effects in the
        active language (built once per snapshot and language; callers get copies)."""
        cached = self._effects.get(language)
        if cached is None:
            cached = {p.pk: _effect_item(p) for p in self.by_code.values()}
            self._effects[language] = cached
        return cached

    def current_notice(self, purpose: Purpose, language: str | None) -> Notice | None:
        notices = self.current.get(purpose.pk) or {}
        if not notices:
            return None
        return notices.get(language or "en") or notices.get("en") or next(iter(notices.values()))


def _effect_item(p: Purpose) -> dict[str, dict[str, Any]]:
    return {
        "continues": {
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
        },
        "this": {
            "purpose": p.code,
            "title": p.title,
            "description": p.description,
            "data_categories": [register.category_json(c) for c in p.data_categories],
            "recipients": p.recipients,
        },
    }


_snapshot: RegisterSnapshot | None = None


def _load_snapshot() -> RegisterSnapshot:
    global _snapshot
    fingerprint = consent_store().fingerprint()
    purposes = list(Purpose.objects.order_by("code"))
    notices = {n.pk: n for n in Notice.objects.order_by("purpose_id", "version", "language")}
    by_id = {p.pk: p for p in purposes}
    latest: dict[int, int] = {}
    for n in notices.values():
        latest[n.purpose_id] = max(latest.get(n.purpose_id, 0), n.version)
    current: dict[int, dict[str, Notice]] = {p.pk: {} for p in purposes}
    for n in notices.values():
        n.purpose = by_id[n.purpose_id]
        if n.version == latest[n.purpose_id]:
            current[n.purpose_id][n.language] = n
    _snapshot = RegisterSnapshot(
        fingerprint=fingerprint,  # type: ignore[arg-type]
        by_code={p.code: p for p in purposes},
        active=[p for p in purposes if p.is_active],
        notices=notices,
        current=current,
    )
    return _snapshot


def register_snapshot(fingerprint: tuple[Any, Any] | None = None) -> RegisterSnapshot:
    """The register as of `fingerprint` (read in the caller's statement); reloads if stale."""
    snap = _snapshot
    if snap is None or fingerprint is None or snap.fingerprint != fingerprint:
        snap = _load_snapshot()
    return snap


# --- Consent ---------------------------------------------------------------------------------


@dataclass
class ConsentChange:
    record: ConsentRecord | None
    event: ConsentEvent | None
    changed: bool
    effects: dict[str, Any] = field(default_factory=dict)
    receipt: ConsentReceipt | None = None


def _effects(
    *, snap: RegisterSnapshot, purpose: Purpose, state: str, still_consented: set[int]
) -> dict[str, Any]:
    """What stops and what continues, under which basis (told on every change)."""
    items = snap.effect_items(get_language() or "en")
    continuing = [
        dict(items[p.pk]["continues"]) for p in snap.active
        if p.pk != purpose.pk and (not p.requires_consent or p.pk in still_consented)
    ]
    this = dict(items[purpose.pk]["this"])
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


@dataclass
class _SubjectState:
    snap: RegisterSnapshot
    key: bytes | None
    pseudonym: str
    # purpose id → (id, state, notice id, last event id, expires_at, updated_at)
    records: dict[int, tuple[Any, ...]]

    def record(self, subject_id: int, purpose: Purpose) -> ConsentRecord | None:
        row = self.records.get(purpose.pk)
        if row is None:
            return None
        record = ConsentRecord(
            id=row[0], subject_id=subject_id, purpose=purpose, state=row[1], notice_id=row[2],
            last_event_id=row[3], expires_at=row[4], updated_at=row[5],
        )
        record._state.adding = False
        record._state.db = connection.alias
        notice = self.snap.notices.get(row[2])
        if notice is not None:
            record.notice = notice
        return record


def _read_subject(subject: User, store: ConsentStore) -> _SubjectState:
    """The register (as of the fingerprint read with the records), the resident's key and
    all their records. No row lock: the write is a compare-and-set on the record."""
    rows = store.read_subject(subject.pk)
    # The key comes from the key store (a file read from the page cache), not the database.
    key = keystore().get(subject.pk)
    return _SubjectState(
        snap=register_snapshot(rows.fingerprint),
        key=key,
        pseudonym=pseudonyms.pseudonym_of_key(key) if key is not None else "",
        records=rows.records,
    )


def consent_decide(
    *,
    subject: User,
    purpose_code: str,
    decision: str,
    notice_version: int,
    language: str | None = None,
    method: str = Method.WEB,
    recorded_by: User | None = None,
    expires_at: datetime | None = None,
) -> ConsentChange:
    """Give, withdraw or refuse consent for one purpose, for the notice version shown.

    Raises NotFound (unknown purpose), Invalid (purpose not consent-based, bad input) or
    Conflict (a stale notice version: the current notice is in `extra`).
    A repeated identical decision changes nothing and appends nothing.

    On PostgreSQL a change is two round trips: one read (register fingerprint, the resident's
    key and records) and one write (record compare-and-set + event + log entry in a single
    statement, which commits by itself); no lock is shared between residents.
    """
    ledger.log_key()  # no signing key in production → refuse before changing anything
    if decision not in DECISIONS:
        raise Invalid(gettext("Unknown decision."),
                      errors={"decision": [gettext("Use give, withdraw or refuse.")]})
    if method not in _METHODS or method == Method.SYSTEM:
        raise Invalid(gettext("Unknown method."),
                      errors={"method": [gettext("Use web, mobile or counter.")]})
    if method == Method.COUNTER and recorded_by is None:
        raise Invalid(gettext("A counter consent is recorded by a clerk."),
                      errors={"method": [gettext("counter needs the clerk who recorded it.")]})
    if expires_at is not None and expires_at <= timezone.now():
        raise Invalid(gettext("Expiry must be in the future."),
                      errors={"expires_at": [gettext("In the past.")]})
    language = language or getattr(subject, "preferred_language", "en") or "en"
    target = DECISIONS[decision]
    store = consent_store()
    for attempt in range(8):
        try:
            with store.transaction():
                return _decide_once(
                    store=store, subject=subject, purpose_code=purpose_code, target=target,
                    notice_version=notice_version, language=language, method=method,
                    recorded_by=recorded_by, expires_at=expires_at,
                )
        except StaleRecord:
            continue
        except IntegrityError as exc:
            if not ledger.is_index_conflict(exc) or attempt == 7:
                raise
    raise Conflict(
        gettext("Your consent was changed at the same time elsewhere; please try again.")
    )


def _decide_once(
    *, store: ConsentStore, subject: User, purpose_code: str, target: str,
    notice_version: int, language: str, method: str, recorded_by: User | None,
    expires_at: datetime | None,
) -> ConsentChange:
    state = _read_subject(subject, store)
    snap = state.snap
    purpose = snap.by_code.get(purpose_code)
    if purpose is None or not purpose.is_active:
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
                "purpose": purpose.title,
                "basis": basis["label"],
                # The register's reference in the active language.
                "reference": f" ({purpose.legal_reference_text})"
                if purpose.legal_reference else "",
            },
            errors={"purpose": [gettext("This purpose is not based on consent.")]},
            extra={"legal_basis": basis},
        )
    notice = snap.current_notice(purpose, language)
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
    # (id, state, notice id, last event id, expires_at, updated_at) as read, or None
    row = state.records.get(purpose.pk)
    still = {pid for pid, r in state.records.items()
             if r[1] == EventType.GIVEN and pid != purpose.pk}
    effects = _effects(snap=snap, purpose=purpose, state=target, still_consented=still)
    if row is not None and row[1] == target and (
        target != EventType.GIVEN
        or (snap.notices[row[2]].version == notice.version and row[4] == expires_at)
    ):
        record = state.record(subject.pk, purpose)
        return ConsentChange(record=record, event=record.last_event if record else None,
                             changed=False, effects=effects)
    if target == EventType.WITHDRAWN and (row is None or row[1] != EventType.GIVEN):
        # Nothing to withdraw: no entry, the state stays what it was.
        return ConsentChange(record=state.record(subject.pk, purpose), event=None,
                             changed=False, effects=effects)
    key, pseudonym = state.key, state.pseudonym
    if key is None:  # first change of this resident: create the key (outside the log)
        created = pseudonyms.subject_key_create(subject)
        key, pseudonym = bytes(created.key), created.pseudonym
    event, record, receipt = _write_change(
        store=store, subject_id=subject.pk, purpose=purpose, event_type=target, notice=notice,
        method=method, recorded_by=recorded_by,
        expires_at=expires_at if target == EventType.GIVEN else None,
        record=RecordVersion(pk=row[0], last_event_id=row[3]) if row is not None else None,
        key=key, pseudonym=pseudonym,
    )
    return ConsentChange(record=record, event=event, changed=True, effects=effects,
                         receipt=receipt)


def _write_change(
    *, store: ConsentStore, subject_id: int, purpose: Purpose, event_type: str, notice: Notice,
    method: str, recorded_by: User | None, expires_at: datetime | None,
    record: RecordVersion | None, key: bytes, pseudonym: str,
) -> tuple[ConsentEvent, ConsentRecord, ConsentReceipt]:
    """Event + derived record + log entry + receipt, applied only if the record is still as
    read (`record`, None = no record yet); the store raises StaleRecord otherwise.

    The entry binds the whole receipt: it carries the SHA-256 of the receipt's canonical body,
    and as `subject` a hash of a per-entry secret (`opening`, in the receipt) so the resident
    can show "this entry is mine" and nobody else can link entries.
    """
    now = timezone.now()
    event_id = uuid.uuid4()
    actor_role = "clerk" if method == Method.COUNTER else (
        "system" if method == Method.SYSTEM else "subject"
    )
    opening = pseudonyms.log_subject_with_key(key, nonce=str(event_id))
    receipt = receipts.receipt_body(
        event_id=str(event_id), event_type=event_type, purpose=purpose, notice=notice,
        method=method, actor_role=actor_role, created_at=now, expires_at=expires_at,
        pseudonym=pseudonym, subject_opening=opening,
    )
    receipt_text = ledger.canonical(receipt, plain=True)
    body = {
        "type": "consent",
        "event_id": str(event_id),
        "subject": v.subject_commitment(opening),
        "purpose": purpose.code,
        "event": event_type,
        "legal_basis": purpose.legal_basis,
        "notice": {"version": notice.version, "language": notice.language,
                   "sha256": notice.text_sha256},
        "method": method,
        "actor": actor_role,
        "expires": ledger.utc_seconds(expires_at) if expires_at else None,
        "receipt_sha256": v.sha256_hex(receipt_text),
    }
    entry = ledger.prepare_entry(kind="consent", body=body, at=now, plain=True)
    stored = receipts.receipt_row(subject_id=subject_id, event_id=str(event_id),
                                  body_text=receipt_text.decode(), entry=entry)
    event = ConsentEvent(
        event_id=event_id, subject_pseudonym=pseudonym, purpose_id=purpose.pk,
        event_type=event_type, notice_id=notice.pk, notice_version=notice.version,
        notice_sha256=notice.text_sha256, language=notice.language, method=method,
        actor_role=actor_role,
        recorded_by_id=recorded_by.pk if method == Method.COUNTER and recorded_by else None,
        created_at=now, expires_at=expires_at,
    )
    written = store.write_change(PreparedChange(
        subject_id=subject_id, event=event, entry=entry, receipt=stored, record=record))
    record_id = written.record_id
    event.log_entry = entry
    event.purpose = purpose
    event.notice = notice
    new = ConsentRecord(id=record_id, subject_id=subject_id, purpose=purpose, state=event_type,
                        notice=notice, last_event=event, expires_at=expires_at, updated_at=now)
    new._state.adding = False
    new._state.db = connection.alias
    return event, new, stored


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
                ConsentRecord.objects.select_for_update(of=("self",))
                .select_related("subject", "purpose", "notice")
                .filter(pk=pk, state=EventType.GIVEN, expires_at__lte=now)
                .first()
            )
            if record is None:
                continue
            key = pseudonyms.subject_key(record.subject)
            assert key is not None  # noqa: S101
            _write_change(
                store=consent_store(), subject_id=record.subject_id, purpose=record.purpose,
                event_type=EventType.EXPIRED, notice=record.notice, method=Method.SYSTEM,
                recorded_by=None, expires_at=None,
                record=RecordVersion(pk=record.pk, last_event_id=record.last_event_id),
                key=bytes(key.key),
                pseudonym=key.pseudonym,
            )
            done += 1
    return done
