"""Data-use register, notices, consent events/records and the transparency log.

Writes go through consent/services.py (consent) and consent/ledger.py (the log); reads through
consent/selectors.py. The log tables and the consent event stream are append-only (pgtrigger).
"""

from __future__ import annotations

import pgtrigger
from django.conf import settings
from django.db import models
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from core.i18n import localized

APPEND_ONLY = pgtrigger.Protect(
    name="append_only", operation=pgtrigger.Update | pgtrigger.Delete
)
NEVER_UPDATED = pgtrigger.Protect(name="never_updated", operation=pgtrigger.Update)
# Row triggers do not fire on TRUNCATE: a statement-level guard refuses it (the runtime role has
# no TRUNCATE privilege either; this stops the owner's accidental `flush`, see portal/dbroles.py).
NO_TRUNCATE = pgtrigger.Trigger(
    name="no_truncate",
    level=pgtrigger.Statement,
    when=pgtrigger.Before,
    operation=pgtrigger.Truncate,
    func="RAISE EXCEPTION 'civicdesk: % is append-only, TRUNCATE is refused', TG_TABLE_NAME; "
    "RETURN NULL;",
)


class LegalBasis(models.TextChoices):
    CONSENT = "consent", _("consent (GDPR Art. 6(1)(a))")
    CONTRACT = "contract", _("contract (Art. 6(1)(b))")
    LEGAL_OBLIGATION = "legal_obligation", _("legal obligation (Art. 6(1)(c))")
    VITAL_INTERESTS = "vital_interests", _("vital interests (Art. 6(1)(d))")
    PUBLIC_TASK = "public_task", _("public task (Art. 6(1)(e))")


class RetentionEndAction(models.TextChoices):
    DELETE = "delete", _("delete")
    ANONYMISE = "anonymise", _("anonymise")


class Purpose(models.Model):
    """One declared use of residents' data: the unit of the public register."""

    code = models.SlugField(unique=True, max_length=60)
    title_en = models.CharField(max_length=160)
    title_zh_hans = models.CharField(max_length=160, blank=True)
    description_en = models.TextField()
    description_zh_hans = models.TextField(blank=True)
    dpv_purpose = models.URLField(
        max_length=200, help_text=_("W3C DPV purpose IRI, e.g. https://w3id.org/dpv#ServiceProvision")
    )
    legal_basis = models.CharField(max_length=30, choices=LegalBasis.choices)
    legal_reference = models.CharField(
        max_length=200, blank=True, help_text=_("The law or task that grounds a non-consent basis.")
    )
    legal_reference_zh_hans = models.CharField(
        _("legal reference (Simplified Chinese)"), max_length=200, blank=True)
    # Codes from consent.register.DATA_CATEGORIES (each maps to a DPV personal-data IRI).
    data_categories = models.JSONField(default=list)
    departments = models.ManyToManyField("services.Department", blank=True, related_name="+")
    # [{"name": ..., "role": "processor"|"controller"|"recipient", "country": "CN"}]
    recipients = models.JSONField(default=list, blank=True)
    retention_days = models.PositiveIntegerField()
    retention_trigger = models.CharField(
        max_length=120, default="after the request is closed",
        help_text=_("When the retention period starts."),
    )
    retention_trigger_zh_hans = models.CharField(
        _("retention trigger (Simplified Chinese)"), max_length=120, blank=True)
    retention_end_action = models.CharField(max_length=20, choices=RetentionEndAction.choices)
    requires_consent = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(
                name="consent_purpose_consent_iff_basis",
                condition=(
                    models.Q(requires_consent=True, legal_basis="consent")
                    | (models.Q(requires_consent=False) & ~models.Q(legal_basis="consent"))
                ),
            )
        ]

    def __str__(self) -> str:
        return self.code

    @property
    def title(self) -> str:
        return localized(self.title_en, self.title_zh_hans)

    @property
    def description(self) -> str:
        return localized(self.description_en, self.description_zh_hans)

    # The city's own translation when it wrote one; else the message catalog's (the demo
    # register's texts are in it); else the English.
    @property
    def legal_reference_text(self) -> str:
        en = gettext(self.legal_reference) if self.legal_reference else ""
        return localized(en, self.legal_reference_zh_hans)

    @property
    def retention_trigger_text(self) -> str:
        en = gettext(self.retention_trigger) if self.retention_trigger else ""
        return localized(en, self.retention_trigger_zh_hans)


class Notice(models.Model):
    """An immutable, versioned text of a purpose in one language (what residents are shown)."""

    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="notices")
    version = models.PositiveIntegerField()
    language = models.CharField(max_length=10, choices=settings.LANGUAGES)
    title = models.CharField(max_length=160)
    text = models.TextField()
    text_sha256 = models.CharField(max_length=64, editable=False)
    requires_reconsent = models.BooleanField(
        default=True,
        help_text=_("A material change: consents given for older versions stop counting."),
    )
    published_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["purpose_id", "-version", "language"]
        constraints = [
            models.UniqueConstraint(
                fields=["purpose", "version", "language"], name="consent_notice_unique_version"
            )
        ]
        triggers = [APPEND_ONLY, NO_TRUNCATE]

    def __str__(self) -> str:
        return f"{self.purpose_id} v{self.version} ({self.language})"


class NoticeDraft(models.Model):
    """A notice being written in the admin: editable until it is published, then read-only.

    Publishing (consent.services.notice_draft_publish) appends the Notice rows residents are
    shown, exactly as `manage.py publish_notice` does, and records which version it became.
    """

    purpose = models.ForeignKey(Purpose, on_delete=models.CASCADE, related_name="drafts")
    title_en = models.CharField(_("title (English)"), max_length=160)
    text_en = models.TextField(_("text (English)"))
    title_zh_hans = models.CharField(_("title (Simplified Chinese)"), max_length=160, blank=True)
    text_zh_hans = models.TextField(_("text (Simplified Chinese)"), blank=True)
    requires_reconsent = models.BooleanField(
        default=True,
        help_text=_("A material change: consents given for older versions stop counting."),
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    published_version = models.PositiveIntegerField(null=True, blank=True, editable=False)
    published_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["purpose_id", "-created_at"]
        verbose_name = _("notice draft")

    def __str__(self) -> str:
        state = f"v{self.published_version}" if self.published_version else "draft"
        return f"{self.purpose} {state}: {self.title_en}"

    @property
    def is_published(self) -> bool:
        return self.published_version is not None


class EventType(models.TextChoices):
    REQUESTED = "requested", _("shown / asked")
    GIVEN = "given", _("given")
    WITHDRAWN = "withdrawn", _("withdrawn")
    REFUSED = "refused", _("refused")
    EXPIRED = "expired", _("expired")


class Method(models.TextChoices):
    WEB = "web", _("web portal")
    MOBILE = "mobile", _("mobile app")
    COUNTER = "counter", _("at the counter, recorded by a clerk on the resident's behalf")
    SYSTEM = "system", _("by the system (e.g. expiry)")


class LogEntry(models.Model):
    """A leaf of the transparency log: canonical (RFC 8785) JSON, never updated."""

    index = models.BigIntegerField(primary_key=True)
    kind = models.CharField(max_length=40)
    entry = models.TextField(help_text=_("The exact canonical JSON that is hashed."))
    leaf_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["index"]
        triggers = [APPEND_ONLY, NO_TRUNCATE]
        verbose_name_plural = "log entries"

    def __str__(self) -> str:
        return f"log entry {self.index}"


class MerkleNode(models.Model):
    """Cached hash of a complete, aligned subtree (level >= 1): id = level << 48 | index."""

    id = models.BigIntegerField(primary_key=True)
    hash = models.CharField(max_length=64)

    class Meta:
        triggers = [APPEND_ONLY, NO_TRUNCATE]

    def __str__(self) -> str:
        return f"node {self.id >> 48}/{self.id & ((1 << 48) - 1)}"


class TreeHead(models.Model):
    """A signed tree head, published in batches and kept forever as history."""

    tree_size = models.BigIntegerField(unique=True)
    root_hash = models.CharField(max_length=64)
    timestamp = models.DateTimeField()
    key_id = models.CharField(max_length=8)
    checkpoint = models.TextField(help_text=_("C2SP signed note (tlog-checkpoint)."))

    class Meta:
        ordering = ["-tree_size"]
        get_latest_by = "tree_size"
        triggers = [APPEND_ONLY, NO_TRUNCATE]

    def __str__(self) -> str:
        return f"tree head {self.tree_size}"


class TreeHeadCosignature(models.Model):
    """A witness's cosignature/v1 line on one tree head (C2SP tlog-cosignature)."""

    tree_size = models.BigIntegerField()
    witness = models.CharField(max_length=200, help_text=_("The witness's key name."))
    line = models.TextField(help_text=_("The signature line as the witness returned it."))
    cosigned_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["tree_size", "witness"],
                                    name="consent_cosignature_unique"),
        ]
        triggers = [APPEND_ONLY, NO_TRUNCATE]

    def __str__(self) -> str:
        return f"cosignature of {self.tree_size} by {self.witness}"


class ConsentEvent(models.Model):
    """Append-only stream of consent events (ISO/IEC TS 27560: a withdrawal is a new event).

    The resident is identified only by a keyed pseudonym, so erasing the resident's key makes
    the history unlinkable without rewriting anything.
    """

    event_id = models.UUIDField(unique=True)
    # Indexes: every consent change inserts here, so only the ones reads use. The pseudonym is
    # matched exactly (no LIKE index); `purpose` leads consent_ev_purpose_time; notices are
    # append-only (never deleted), so the notice FK needs no index for delete checks.
    subject_pseudonym = models.CharField(max_length=40)
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="events",
                                db_index=False)
    event_type = models.CharField(max_length=20, choices=EventType.choices)
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="events",
                               db_index=False)
    notice_version = models.PositiveIntegerField()
    notice_sha256 = models.CharField(max_length=64)
    language = models.CharField(max_length=10)
    method = models.CharField(max_length=20, choices=Method.choices)
    actor_role = models.CharField(
        max_length=20, help_text=_("'subject' (the resident), 'clerk' (counter) or 'system'.")
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
        related_name="+", help_text=_("The clerk who recorded a counter consent."),
    )
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField(null=True, blank=True)
    log_entry = models.OneToOneField(LogEntry, on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        triggers = [APPEND_ONLY, NO_TRUNCATE]
        indexes = [
            models.Index(fields=["purpose", "created_at"], name="consent_ev_purpose_time"),
            models.Index(fields=["subject_pseudonym"], name="consent_ev_pseudonym"),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.purpose_id} ({self.event_id})"


class ConsentReceipt(models.Model):
    """A consent receipt as issued: the body the log entry commits to (RFC 8785 JSON) and the
    promise of inclusion signed once, at issue. Downloads return them unchanged, even if the
    event or its log entry is later removed. Deleted with the resident's account (erasure)."""

    event_id = models.UUIDField(unique=True)
    subject = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE,
                                related_name="+", db_index=False)
    log_index = models.BigIntegerField()
    leaf_hash = models.CharField(max_length=64)
    entry = models.TextField(help_text=_("The log entry as issued (canonical JSON)."))
    issued_at = models.DateTimeField()
    body = models.TextField(help_text=_("Canonical JSON of every bound receipt field."))
    promise = models.TextField(help_text=_("The signed promise of inclusion (statement)."))
    promise_signature = models.CharField(max_length=100)

    class Meta:
        triggers = [NEVER_UPDATED]
        indexes = [models.Index(fields=["issued_at"], name="consent_receipt_issued")]

    def __str__(self) -> str:
        return f"receipt {self.event_id}"


class ConsentRecord(models.Model):
    """The current consent state of one resident for one purpose (derived from the events).

    Updated on every consent change, so none of the columns a change sets is indexed: the
    update is HOT (no index entries written). `subject` leads consent_record_unique; notices
    and events are append-only (never deleted), so their FKs need no index for delete checks.
    """

    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="consent_records",
        db_index=False,
    )
    purpose = models.ForeignKey(Purpose, on_delete=models.PROTECT, related_name="records")
    state = models.CharField(max_length=20, choices=EventType.choices)
    notice = models.ForeignKey(Notice, on_delete=models.PROTECT, related_name="+",
                               db_index=False)
    last_event = models.ForeignKey(ConsentEvent, on_delete=models.PROTECT, related_name="+",
                                   db_index=False)
    expires_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subject", "purpose"], name="consent_record_unique")
        ]

    def __str__(self) -> str:
        return f"record {self.pk}: {self.state}"


class RefusalCount(models.Model):
    """How often processing was refused by the policy gate, per purpose/day/reason (no subject)."""

    purpose_code = models.CharField(max_length=60)
    day = models.DateField()
    reason = models.CharField(max_length=40)
    count = models.PositiveBigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["purpose_code", "day", "reason"], name="consent_refusal_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.purpose_code} {self.day} {self.reason}: {self.count}"


class IntegrityCheck(models.Model):
    """The result of one log check: a full verification (verify_log / the nightly task) or a
    check of the promises of inclusion whose merge delay has passed."""

    class Kind(models.TextChoices):
        FULL = "full", _("full verification")
        PROMISES = "promises", _("promises of inclusion")

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField()
    tree_size = models.BigIntegerField()
    heads_checked = models.PositiveIntegerField(default=0)
    ok = models.BooleanField()
    problems = models.JSONField(default=list)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FULL)
    # promises: every receipt with a smaller id has been checked
    checked_through = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"check {self.started_at:%Y-%m-%d %H:%M} {'ok' if self.ok else 'FAILED'}"
