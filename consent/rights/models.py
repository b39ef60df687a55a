"""Residents' data rights: staff access events, exports, data-subject requests, erasure receipts
and retention runs.

Writes go through consent/rights/ (reveals, requests, exports, erasure, retention,
counter); reads through consent/rights/selectors.py.
"""

from __future__ import annotations

import secrets
import uuid

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _


class AccessEvent(models.Model):
    """One look by staff at a resident's personal data (a reveal, an export, a bulk job).

    Shown to the resident by role and department, never by the staff member's name (CJEU
    C-579/21); `actor` is kept only for the data officer's anomaly view.
    """

    class Kind(models.TextChoices):
        REVEAL = "reveal", _("revealed on demand")
        EXPORT = "export", _("included in a staff export")
        BULK = "bulk", _("included in a bulk operation")
        VIEW = "view", _("seen on a staff page")
        ADMIN = "admin", _("seen in the administration")

    event_id = models.UUIDField(unique=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REVEAL)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text=_("The resident whose data was seen (cleared on erasure)."),
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text=_("Internal: for the data officer's anomaly view only."),
    )
    actor_role = models.CharField(max_length=20)
    actor_department = models.ForeignKey(
        "services.Department", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    request = models.ForeignKey(
        "services.ServiceRequest", null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    request_reference = models.CharField(max_length=16, blank=True)
    revealed_fields = models.JSONField(default=list)
    # None: no purpose of the register covers what was seen (e.g. a city with no register yet);
    # the look is recorded all the same.
    purpose = models.ForeignKey(
        "consent.Purpose", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reason = models.CharField(max_length=40)
    created_at = models.DateTimeField()
    log_entry = models.OneToOneField("consent.LogEntry", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["subject", "-created_at"], name="rights_access_subject"),
            models.Index(fields=["actor", "created_at"], name="rights_access_actor_day"),
            models.Index(fields=["created_at"], name="rights_access_time"),
        ]

    def __str__(self) -> str:
        return f"access {self.event_id}"


class ExportJob(models.Model):
    """A resident's data export (GDPR Art. 15 + 20), built by a Celery task into a zip file
    outside the web root; downloadable by its owner only, until `expires_at`."""

    class State(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        READY = "ready", _("ready")
        FAILED = "failed", _("failed")
        EXPIRED = "expired", _("expired")

    ACTIVE_STATES = (State.QUEUED, State.RUNNING)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    channel = models.CharField(max_length=20, default="web")
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    file_name = models.CharField(
        max_length=200, blank=True, help_text=_("Relative to EXPORT_ROOT.")
    )
    size_bytes = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True)
    error = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=models.Q(state__in=["queued", "running"]),
                name="rights_one_active_export_per_user",
            )
        ]

    def __str__(self) -> str:
        return f"export {self.pk} ({self.state})"


def new_dsr_reference() -> str:
    return "DSR-" + "".join(secrets.choice("23456789BCDFGHJKMNPQRSTVWXYZ") for _ in range(7))


class ErasureReceipt(models.Model):
    """Proof that an account was erased: what went, what stays and why, signed by the log key."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # No subject pseudonym (docs/data-subject-rights.md): the receipt and its log entry name
    # no one; the resident holds the signed statement.
    erased_at = models.DateTimeField()
    summary = models.JSONField(default=dict)
    statement = models.TextField(help_text=_("Canonical JSON that is signed."))
    signature = models.CharField(max_length=200)
    key_id = models.CharField(max_length=16)
    log_entry = models.OneToOneField("consent.LogEntry", on_delete=models.PROTECT, related_name="+")

    class Meta:
        ordering = ["-erased_at"]

    def __str__(self) -> str:
        return f"erasure receipt {self.pk}"


class DataSubjectRequest(models.Model):
    """A request under GDPR Art. 15-17 (web, app or at the counter), due within one month."""

    class Kind(models.TextChoices):
        EXPORT = "export", _("export / access to my data (Art. 15, 20)")
        ERASURE = "erasure", _("erasure (Art. 17)")
        ACCESS = "access", _("information about the processing (Art. 15)")
        RECTIFICATION = "rectification", _("rectification (Art. 16)")

    class Channel(models.TextChoices):
        WEB = "web", _("web portal")
        MOBILE = "mobile", _("mobile app")
        COUNTER = "counter", _("at the counter, recorded by a clerk")

    class Status(models.TextChoices):
        RECEIVED = "received", _("received")
        IN_PROGRESS = "in_progress", _("in progress")
        EXTENDED = "extended", _("extended (Art. 12(3))")
        COMPLETED = "completed", _("completed")
        REFUSED = "refused", _("refused with reasons")

    OPEN_STATUSES = (Status.RECEIVED, Status.IN_PROGRESS, Status.EXTENDED)

    reference = models.CharField(max_length=16, unique=True, default=new_dsr_reference)
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+",
    )
    subject_pseudonym = models.CharField(max_length=40, blank=True)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    channel = models.CharField(max_length=20, choices=Channel.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
        related_name="+", help_text=_("The clerk or officer who recorded a counter request."),
    )
    received_at = models.DateTimeField()
    deadline = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)
    outcome = models.TextField(
        blank=True, max_length=2000,
        help_text=_("What the resident is told; a refusal cites its ground (e.g. Art. 17(3))."),
    )
    export_job = models.ForeignKey(
        ExportJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    erasure_receipt = models.ForeignKey(
        ErasureReceipt, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["deadline", "id"]
        indexes = [models.Index(fields=["status", "deadline"], name="rights_dsr_due")]

    def __str__(self) -> str:
        return self.reference


class AnonymisedRequest(models.Model):
    """Marks a service request whose personal data was removed (keeps retention idempotent).

    `complete` is False while a legal obligation in the register still holds the reporter's
    text or photos (`kept_until`); retention finishes the job then.
    """

    class Cause(models.TextChoices):
        RETENTION = "retention", _("retention period ended")
        ERASURE = "erasure", _("the reporter erased their account")

    request = models.OneToOneField(
        "services.ServiceRequest", on_delete=models.CASCADE, related_name="+"
    )
    cause = models.CharField(max_length=20, choices=Cause.choices)
    anonymised_at = models.DateTimeField()
    complete = models.BooleanField(default=True)
    kept_until = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"anonymised request {self.request_id}"


class RetentionRun(models.Model):
    """Summary of one retention run (counts only); real runs are also in the log."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    dry_run = models.BooleanField(default=False)
    counts = models.JSONField(default=dict)
    log_entry = models.OneToOneField(
        "consent.LogEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        ordering = ["-started_at"]
        get_latest_by = "started_at"

    def __str__(self) -> str:
        return f"retention run {self.started_at:%Y-%m-%d %H:%M}"


# Module-level names for drf-spectacular's ENUM_NAME_OVERRIDES (import_string needs them).
AccessEventKind = AccessEvent.Kind
DataSubjectRequestKind = DataSubjectRequest.Kind
DataSubjectRequestChannel = DataSubjectRequest.Channel
DataSubjectRequestStatus = DataSubjectRequest.Status
ExportJobState = ExportJob.State
