"""Open311 client apps (API keys) and what a client app sent with each request it filed.

Keys are stored only as a SHA-256 hash; the raw key is shown once, when it is issued.
Reporter contact fields sent over Open311 live here, never on the public request.
"""

from __future__ import annotations

import hashlib
import secrets

from django.db import models
from django.utils.translation import gettext_lazy as _

from services.models import ServiceRequest

KEY_PREFIX = "o311_"


def new_raw_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(raw_key: str) -> str:
    # The key is 256 random bits, so an unsalted hash cannot be brute-forced; it lets us
    # look a key up by an indexed column without ever storing the key itself.
    return hashlib.sha256(raw_key.encode("utf-8")).hexdigest()


class ApiKey(models.Model):
    """One client app (a 311 app, a FixMyStreet site, a city system) allowed to POST."""

    name = models.CharField(_("client app"), max_length=120)
    prefix = models.CharField(
        max_length=16, editable=False, help_text=_("The first characters, to recognise a key.")
    )
    key_hash = models.CharField(max_length=64, unique=True, editable=False)
    is_active = models.BooleanField(_("active"), default=True)
    revoked_at = models.DateTimeField(null=True, blank=True, editable=False)
    rate_limit_per_minute = models.PositiveIntegerField(
        default=60, help_text=_("Requests filed per minute with this key before 429.")
    )
    note = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True, editable=False)

    class Meta:
        ordering = ["name", "id"]
        verbose_name = _("Open311 API key")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class Open311Submission(models.Model):
    """Which client app filed a request, and the reporter contact it sent (personal data)."""

    request = models.OneToOneField(
        ServiceRequest, on_delete=models.CASCADE, related_name="open311_submission"
    )
    api_key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="submissions")
    email = models.EmailField(blank=True)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    phone = models.CharField(max_length=40, blank=True)
    device_id = models.CharField(max_length=200, blank=True)
    account_id = models.CharField(max_length=200, blank=True)
    address_id = models.CharField(max_length=100, blank=True)
    media_url = models.URLField(
        max_length=500, blank=True, help_text=_("Stored as a link; the server never fetches it.")
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Open311 submission")

    def __str__(self) -> str:
        return f"Open311 submission of {self.request_id}"


class Open311UpdateReceipt(models.Model):
    """An update a client app posted (servicerequestupdates), kept so a retry is a no-op.

    The client's `update_id` is unique per key: posting it again answers the same event.
    The poster's name and contact are not kept; the comment is anonymous on our side.
    """

    api_key = models.ForeignKey(ApiKey, on_delete=models.PROTECT, related_name="updates")
    update_id = models.CharField(max_length=100)
    request = models.ForeignKey(
        ServiceRequest, on_delete=models.CASCADE, related_name="open311_updates"
    )
    event = models.OneToOneField(
        "services.Event", on_delete=models.CASCADE, related_name="open311_receipt"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = _("Open311 update received")
        constraints = [
            models.UniqueConstraint(
                fields=["api_key", "update_id"], name="open311_update_once_per_key"
            )
        ]

    def __str__(self) -> str:
        return f"Open311 update {self.update_id} on {self.request_id}"
