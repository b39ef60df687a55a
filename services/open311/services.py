"""Writes for Open311: issuing and revoking client keys, filing a request for a client app.

Filing goes through services.services.request_submit (channel "open311", no reporter account),
so validation, routing and the outbox are exactly those of our own channels.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from django.core.cache import cache
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import RateLimited
from services import services as request_services
from services.attachments import PreparedPhoto
from services.models import Category, Channel, ServiceRequest
from services.open311.models import ApiKey, Open311Submission, hash_key, new_raw_key

logger = logging.getLogger(__name__)


def api_key_issue(*, name: str, rate_limit_per_minute: int = 60, note: str = "") -> tuple[
    ApiKey, str
]:
    """Create a key for a client app; returns (key row, raw key). Only the hash is stored."""
    raw_key = new_raw_key()
    api_key = ApiKey.objects.create(
        name=name,
        prefix=raw_key[:9],
        key_hash=hash_key(raw_key),
        rate_limit_per_minute=rate_limit_per_minute,
        note=note,
    )
    return api_key, raw_key


def api_key_revoke(*, api_key: ApiKey) -> ApiKey:
    """Stop a key working at once; its past submissions keep pointing at it."""
    now = timezone.now()
    ApiKey.objects.filter(pk=api_key.pk, revoked_at__isnull=True).update(
        is_active=False, revoked_at=now
    )
    api_key.refresh_from_db()
    return api_key


def api_key_throttle(*, api_key: ApiKey, now: float | None = None) -> None:
    """Count one use of the key in the current minute; RateLimited (429) past its limit.

    A fixed one-minute window in the shared cache (Redis in production), so every web
    worker counts against the same budget. If the cache is unreachable we let the request
    through rather than refuse every client app.
    """
    now = time.time() if now is None else now
    window = int(now // 60)
    key = f"open311:rate:{api_key.pk}:{window}"
    try:
        cache.add(key, 0, timeout=120)
        count = cache.incr(key)
    except Exception:  # noqa: BLE001 - any cache failure: fail open, and say so
        logger.warning("open311 rate limit not checked: cache unavailable")
        return
    if count > api_key.rate_limit_per_minute:
        retry_after = max(1, 60 - int(now % 60))
        raise RateLimited(
            _("Too many requests with this api_key; retry in %(s)d seconds.") % {"s": retry_after},
            retry_after=retry_after,
        )


@dataclass(frozen=True)
class Contact:
    """What the client app says about the person reporting (personal data: never public)."""

    email: str = ""
    first_name: str = ""
    last_name: str = ""
    phone: str = ""
    device_id: str = ""
    account_id: str = ""


@dataclass(frozen=True)
class Location:
    lat: float | None = None
    lon: float | None = None
    address_string: str = ""
    address_id: str = ""


@dataclass(frozen=True)
class Report:
    category: Category
    location: Location
    description: str = ""
    attribute_values: dict[str, Any] = field(default_factory=dict)
    media_url: str = ""


@transaction.atomic
def open311_request_submit(
    *,
    api_key: ApiKey,
    report: Report,
    contact: Contact,
    photos: list[PreparedPhoto] | None = None,
) -> ServiceRequest:
    """File a request for a client app, recording the app and the contact it sent."""
    location = report.location
    address = location.address_string.strip()
    if not address and location.address_id and location.lat is None:
        # We hold no master address register: keep the id where the clerk will see it.
        address = _("Address ID %(id)s") % {"id": location.address_id}
    fields: dict[str, Any] = {
        "category": report.category,
        # Open311 makes the description optional; our workflow needs a text to work with.
        "description": report.description.strip() or report.category.name_en,
        "lat": location.lat,
        "lon": location.lon,
        "address": address,
        "attribute_values": report.attribute_values,
        "channel": Channel.OPEN311,
        # Nothing in Open311 says the reporter chose to publish: private by default.
        "is_public": False,
    }
    if photos:
        request = request_services.request_submit_with_photos(
            reporter=None, photos=photos, **fields
        )
    else:
        request = request_services.request_submit(reporter=None, **fields)
    Open311Submission.objects.create(
        request=request,
        api_key=api_key,
        email=contact.email,
        first_name=contact.first_name,
        last_name=contact.last_name,
        phone=contact.phone,
        device_id=contact.device_id,
        account_id=contact.account_id,
        address_id=location.address_id,
        media_url=report.media_url,
    )
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return request


def open311_contact_erase(*, request: ServiceRequest) -> int:
    """Erase the contact fields a client app sent with this request (data-subject erasure)."""
    return Open311Submission.objects.filter(request=request).update(
        email="", first_name="", last_name="", phone="", device_id="", account_id=""
    )
