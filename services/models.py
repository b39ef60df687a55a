"""Service requests and complaints: departments, categories, districts, requests, events.

State changes go through services/services.py; the workflow table is in services/workflow.py.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models.functions import Now
from django.utils.translation import gettext_lazy as _

from core.i18n import localized

# Unambiguous alphabet: no 0/O, 1/I/L, no vowels that spell words.
REFERENCE_ALPHABET = "23456789BCDFGHJKMNPQRSTVWXYZ"
REFERENCE_LENGTH = 7


def new_reference() -> str:
    body = "".join(secrets.choice(REFERENCE_ALPHABET) for _ in range(REFERENCE_LENGTH))
    return f"CD-{body}"


class Localized(models.Model):
    """Names and descriptions in English and Simplified Chinese."""

    name_en = models.CharField(_("name (English)"), max_length=120)
    name_zh_hans = models.CharField(_("name (Simplified Chinese)"), max_length=120, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.name_en

    @property
    def name(self) -> str:
        return localized(self.name_en, self.name_zh_hans)


class Department(Localized):
    code = models.SlugField(unique=True, max_length=50)
    email = models.EmailField(blank=True)
    is_triage = models.BooleanField(
        default=False, help_text=_("Receives what routing cannot place; supervisors sort it.")
    )
    is_active = models.BooleanField(default=True)

    class Meta:
        ordering = ["name_en"]


class DepartmentMembership(models.Model):
    class Role(models.TextChoices):
        CLERK = "clerk", _("clerk")
        SUPERVISOR = "supervisor", _("supervisor")

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="members")
    role = models.CharField(max_length=20, choices=Role.choices, default=Role.CLERK)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "department"], name="one_membership_per_dept")
        ]

    def __str__(self) -> str:
        return f"{self.role} of {self.department.code}"


class District(Localized):
    code = models.SlugField(unique=True, max_length=50)
    boundary = models.JSONField(
        help_text=_("GeoJSON Polygon or MultiPolygon, coordinates as [lon, lat].")
    )

    class Meta:
        ordering = ["code"]


class Category(Localized):
    class Kind(models.TextChoices):
        REQUEST = "request", _("service request")
        COMPLAINT = "complaint", _("complaint")

    code = models.SlugField(unique=True, max_length=50)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.REQUEST)
    description_en = models.TextField(blank=True)
    description_zh_hans = models.TextField(blank=True)
    group = models.CharField(max_length=80, blank=True)
    group_zh_hans = models.CharField(max_length=80, blank=True)
    keywords = models.CharField(max_length=300, blank=True, help_text=_("Comma-separated."))
    department = models.ForeignKey(
        Department,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="categories",
        help_text=_("Default department; empty means the text classifier decides."),
    )
    sla_hours = models.PositiveIntegerField(default=72)
    attributes = models.JSONField(
        default=list,
        blank=True,
        help_text=_(
            "Open311 attributes: list of {code, datatype, required, description, order, values}."
        ),
    )
    is_active = models.BooleanField(default=True)
    is_public = models.BooleanField(
        default=True, help_text=_("Listed in Open311 and public statistics.")
    )
    uses_classifier = models.BooleanField(
        default=False, help_text=_("Free-text category ('other'): the classifier routes it.")
    )
    # Open311 discovery's `changeset` follows the latest edit of any category.
    updated_at = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["kind", "name_en"]
        verbose_name_plural = _("categories")

    @property
    def description(self) -> str:
        return localized(self.description_en, self.description_zh_hans)

    @property
    def group_name(self) -> str:
        """The group in the active language (`group` stays the English one)."""
        return localized(self.group, self.group_zh_hans)


class RoutingRule(models.Model):
    """Explicit rule: category (× district) → department. Lower `order` is tried first."""

    order = models.PositiveIntegerField(default=100)
    category = models.ForeignKey(Category, on_delete=models.CASCADE, related_name="rules")
    district = models.ForeignKey(
        District, on_delete=models.CASCADE, null=True, blank=True, related_name="rules"
    )
    department = models.ForeignKey(Department, on_delete=models.PROTECT, related_name="rules")
    is_active = models.BooleanField(default=True)
    note = models.CharField(max_length=200, blank=True)

    class Meta:
        ordering = ["order", "id"]

    def __str__(self) -> str:
        return f"rule #{self.pk}: {self.category.code} × {self.district_id} → {self.department_id}"


class Precision(models.TextChoices):
    """How well a request's place is known. Only `exact` is a point the resident placed
    (map, device, coordinates); `address` is the gazetteer's point for an address (or no
    point when the address is not in it); `district` never has a point."""

    EXACT = "exact", _("exact point")
    ADDRESS = "address", _("address")
    DISTRICT = "district", _("district only")


class Status(models.TextChoices):
    SUBMITTED = "submitted", _("submitted")
    ROUTED = "routed", _("routed")
    IN_PROGRESS = "in_progress", _("in progress")
    RESOLVED = "resolved", _("resolved")
    CLOSED = "closed", _("closed")
    REJECTED = "rejected", _("rejected")
    REOPENED = "reopened", _("reopened")
    RETURNED = "returned", _("returned")
    WITHDRAWN = "withdrawn", _("withdrawn")


OPEN_STATUSES = frozenset(
    {
        Status.SUBMITTED,
        Status.ROUTED,
        Status.IN_PROGRESS,
        Status.REOPENED,
        Status.RETURNED,
    }
)


class Priority(models.IntegerChoices):
    LOW = 1, _("low")
    NORMAL = 2, _("normal")
    HIGH = 3, _("high")
    URGENT = 4, _("urgent")


class Channel(models.TextChoices):
    WEB = "web", _("web")
    MOBILE = "mobile", _("mobile app")
    OPEN311 = "open311", _("Open311")
    COUNTER = "counter", _("service counter")


class Outcome(models.TextChoices):
    FIXED = "fixed", _("fixed")
    DUPLICATE = "duplicate", _("duplicate")
    NOT_CITY_RESPONSIBILITY = "not_city_responsibility", _("not the city's responsibility")
    NO_ACTION_NEEDED = "no_action_needed", _("no action needed")
    COULD_NOT_FIX = "could_not_fix", _("could not fix")
    WITHDRAWN = "withdrawn", _("withdrawn by the resident")
    REJECTED = "rejected", _("rejected")


class ServiceRequest(models.Model):
    reference = models.CharField(max_length=16, unique=True, default=new_reference, editable=False)
    kind = models.CharField(max_length=20, choices=Category.Kind.choices)
    # Foreign keys whose lookups a composite index below already serves (its first column)
    # carry no index of their own: every insert and routing update writes one index less.
    category = models.ForeignKey(
        Category, on_delete=models.PROTECT, related_name="requests", db_index=False
    )
    description = models.TextField(max_length=5000)
    attribute_values = models.JSONField(default=dict, blank=True)
    lat = models.FloatField(null=True, blank=True)
    lon = models.FloatField(null=True, blank=True)
    address = models.CharField(max_length=300, blank=True)
    location_precision = models.CharField(
        max_length=10, choices=Precision.choices, default=Precision.EXACT
    )
    # The street's name without a house number (from the address gazetteer), for the
    # duplicate check on the same street and for what a candidate shows.
    street = models.CharField(max_length=200, blank=True)
    is_private_address = models.BooleanField(
        default=False, help_text=_("The location is a home: exact position is personal data.")
    )
    district = models.ForeignKey(
        District, on_delete=models.SET_NULL, null=True, blank=True, related_name="requests"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SUBMITTED)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NORMAL)
    department = models.ForeignKey(
        Department, on_delete=models.PROTECT, null=True, blank=True, related_name="requests",
        db_index=False,
    )
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="assigned_requests",
    )
    channel = models.CharField(max_length=20, choices=Channel.choices, default=Channel.WEB)
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="reported_requests",
        db_index=False,
    )
    related_request = models.ForeignKey(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="complaints",
        help_text=_("For a complaint: the earlier request it is about."),
    )
    duplicate_of = models.ForeignKey(
        "self", on_delete=models.SET_NULL, null=True, blank=True, related_name="duplicates"
    )
    outcome = models.CharField(max_length=40, choices=Outcome.choices, blank=True)
    rating = models.PositiveSmallIntegerField(
        null=True, blank=True, validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    feedback = models.TextField(max_length=2000, blank=True)
    is_public = models.BooleanField(
        default=False,
        help_text=_("The resident chose to publish the description and photos (Open311)."),
    )
    return_count = models.PositiveSmallIntegerField(default=0)
    sla_breached_at = models.DateTimeField(null=True, blank=True)
    version = models.PositiveIntegerField(default=1)
    due_at = models.DateTimeField(null=True, blank=True)
    # Stamped by the database clock, like routed_at (Now()): their difference is the routing
    # latency, whatever the clocks of the web and worker hosts say.
    created_at = models.DateTimeField(db_default=Now(), db_index=True, editable=False)
    updated_at = models.DateTimeField(auto_now=True)
    routed_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The clerk queue: department, status filter, priority desc then due_at (keyset).
            models.Index(
                fields=["department", "status", "-priority", "due_at", "id"], name="queue_keyset"
            ),
            models.Index(fields=["department", "-priority", "due_at", "id"], name="dept_keyset"),
            models.Index(fields=["reporter", "-updated_at"], name="reporter_updated"),
            models.Index(fields=["category", "status"], name="category_status"),
            models.Index(fields=["category", "district", "created_at"], name="nearby_district"),
            # The stranded-routing sweep (routing.requests_awaiting_routing). Partial: a routed
            # request leaves it, so routing's update does not write it.
            models.Index(
                fields=["updated_at"],
                name="awaiting_routing",
                condition=models.Q(status__in=["submitted", "returned"]),
            ),
        ]

    def __str__(self) -> str:
        return self.reference

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class GazetteerAddress(models.Model):
    """One address of the city's address gazetteer (`manage.py import_addresses`): its text,
    a normalised search key, its point and the district that point lies in."""

    text = models.CharField(max_length=300)
    search_key = models.CharField(max_length=300, unique=True)
    number = models.CharField(max_length=30, blank=True)
    street = models.CharField(max_length=200)
    street_key = models.CharField(max_length=200, db_index=True)
    city = models.CharField(max_length=100, blank=True)
    postcode = models.CharField(max_length=20, blank=True)
    lat = models.FloatField()
    lon = models.FloatField()
    district = models.ForeignKey(
        District, on_delete=models.SET_NULL, null=True, blank=True, related_name="addresses"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["street_key", "search_key"]
        indexes = [models.Index(fields=["lat", "lon"], name="gazetteer_point")]
        verbose_name = _("gazetteer address")
        verbose_name_plural = _("gazetteer addresses")

    def __str__(self) -> str:
        return self.text


class Event(models.Model):
    """One append-only entry on a request's timeline. Never edited."""

    class Type(models.TextChoices):
        SUBMITTED = "submitted", _("submitted")
        ROUTED = "routed", _("routed")
        ASSIGNED = "assigned", _("assigned")
        STATUS_CHANGED = "status_changed", _("status changed")
        PUBLIC_REPLY = "public_reply", _("public reply")
        INTERNAL_NOTE = "internal_note", _("internal note")
        COMMENT_BY_RESIDENT = "comment_by_resident", _("comment by resident")
        ATTACHMENT_ADDED = "attachment_added", _("photo added")
        RETURNED = "returned", _("returned for re-routing")
        SLA_BREACHED = "sla_breached", _("deadline passed")
        REOPENED = "reopened", _("reopened")
        RATED = "rated", _("rated")
        MARKED_DUPLICATE = "marked_duplicate", _("marked as duplicate")
        PRIORITY_CHANGED = "priority_changed", _("priority changed")
        ANONYMISED = "anonymised", _("personal data removed")

    class Visibility(models.TextChoices):
        PUBLIC = "public", _("public")
        INTERNAL = "internal", _("internal")

    # Looked up through event_timeline (request, created_at): no index of its own.
    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="events", db_index=False
    )
    type = models.CharField(max_length=30, choices=Type.choices)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    actor_role = models.CharField(max_length=20, blank=True)
    actor_department = models.ForeignKey(
        Department, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    visibility = models.CharField(
        max_length=10, choices=Visibility.choices, default=Visibility.PUBLIC
    )
    from_status = models.CharField(max_length=20, blank=True)
    to_status = models.CharField(max_length=20, blank=True)
    text = models.TextField(max_length=5000, blank=True)
    data = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [models.Index(fields=["request", "created_at"], name="event_timeline")]

    def __str__(self) -> str:
        return f"{self.type} on {self.request_id}"


def new_attachment_token() -> str:
    return secrets.token_urlsafe(16)  # 22 characters, 128 bits


def attachment_path(instance: Attachment, filename: str) -> str:
    # Random name, never the uploader's file name (it may contain personal data).
    return f"attachments/{secrets.token_hex(2)}/{secrets.token_urlsafe(24)}.{instance.extension}"


class Attachment(models.Model):
    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="attachments"
    )
    token = models.CharField(max_length=32, unique=True, default=new_attachment_token)
    file = models.FileField(upload_to=attachment_path)
    content_type = models.CharField(max_length=40)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    size = models.PositiveIntegerField()
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    uploaded_by_staff = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"attachment {self.token}"

    @property
    def extension(self) -> str:
        return {"image/jpeg": "jpg", "image/png": "png", "image/webp": "webp"}.get(
            self.content_type, "bin"
        )


class Follow(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="follows"
    )
    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="followers")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "request"], name="follow_once"),
        ]

    def __str__(self) -> str:
        return f"follow of {self.request_id}"


class IdempotencyKey(models.Model):
    """Remembers a submission so a retried POST with the same key returns the same request."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    key = models.CharField(max_length=100)
    body_hash = models.CharField(max_length=64)
    request = models.ForeignKey(ServiceRequest, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_per_user"),
        ]

    def __str__(self) -> str:
        return f"idempotency key for {self.request_id}"


class SurveyInvitation(models.Model):
    """A satisfaction survey sent to a request's reporter (only with their consent, purpose
    `satisfaction-survey`): the mark that it was sent once. Deleted at the end of that
    purpose's retention period (consent.rights.retention)."""

    request = models.OneToOneField(ServiceRequest, on_delete=models.CASCADE, related_name="+")
    sent_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"survey invitation for {self.request_id}"


class StandardReply(models.Model):
    """A department's ready-made answer to residents, in both languages; a clerk inserts it
    into a reply or a resolution and may edit it before sending."""

    department = models.ForeignKey(
        Department, on_delete=models.CASCADE, related_name="standard_replies"
    )
    title_en = models.CharField(_("title (English)"), max_length=120)
    title_zh_hans = models.CharField(_("title (Simplified Chinese)"), max_length=120, blank=True)
    body_en = models.TextField(_("text (English)"), max_length=5000)
    body_zh_hans = models.TextField(_("text (Simplified Chinese)"), max_length=5000, blank=True)
    is_active = models.BooleanField(_("offered to clerks"), default=True)
    order = models.PositiveIntegerField(default=100)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["department", "order", "title_en"]
        verbose_name = _("standard reply")
        verbose_name_plural = _("standard replies")

    def __str__(self) -> str:
        return self.title_en

    @property
    def title(self) -> str:
        return localized(self.title_en, self.title_zh_hans)

    def body_in(self, language: str) -> str:
        """The text in `language` ("en" / "zh-hans"), English when there is no translation."""
        if language == "zh-hans" and self.body_zh_hans:
            return self.body_zh_hans
        return self.body_en


class SavedQueueFilter(models.Model):
    """A clerk's named queue filter. Only its owner sees and uses it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_queue_filters"
    )
    name = models.CharField(max_length=60)
    # The queue filter's fields (status, category, district, priority, overdue, q, assigned).
    filters = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["user", "name"], name="saved_queue_filter_name"),
        ]

    def __str__(self) -> str:
        return f"saved queue filter {self.pk}"
