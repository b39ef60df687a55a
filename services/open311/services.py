"""Writes for Open311: issuing and revoking client keys, filing a request for a client app.

Filing goes through services.services.request_file (channel "open311", no reporter account),
so validation, routing and the outbox are exactly those of our own channels.
"""

from __future__ import annotations

import logging
import re
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Forbidden, Invalid, RateLimited
from services import services as request_services
from services.attachments import PreparedPhoto
from services.models import Category, Channel, Event, ServiceRequest
from services.open311.models import (
    ApiKey,
    Open311Submission,
    Open311UpdateReceipt,
    hash_key,
    new_raw_key,
)
from services.open311.selectors import access_public_request

# What a client app may send beyond a service's definition (FixMyStreet adds attribute[uprn],
# attribute[easting], attribute[fixmystreet_id]…): kept as text for the clerk, within limits.
EXTRA_ATTRIBUTE_CODE = re.compile(r"[A-Za-z0-9_.:-]{1,50}")
MAX_EXTRA_ATTRIBUTES = 30
MAX_EXTRA_VALUE = 200

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


def split_attribute_values(
    *, category: Category, values: dict[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(values for the category's own attributes, other values kept as text) or Invalid."""
    defined = {a.get("code") for a in category.attributes or [] if isinstance(a, dict)}
    known = {code: v for code, v in values.items() if code in defined}
    extra: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    for code, value in values.items():
        if code in defined:
            continue
        items = value if isinstance(value, list) else [value]
        if not EXTRA_ATTRIBUTE_CODE.fullmatch(code):
            errors[f"attributes.{code[:50]}"] = [_("Use letters, digits, _ . : - (at most 50).")]
        elif any(len(str(item)) > MAX_EXTRA_VALUE for item in items):
            errors[f"attributes.{code}"] = [
                _("Use at most %(n)d characters.") % {"n": MAX_EXTRA_VALUE}
            ]
        elif str(value).strip() and value != []:
            extra[code] = [str(i) for i in items] if isinstance(value, list) else str(value)
    if len(extra) > MAX_EXTRA_ATTRIBUTES:
        errors["attributes"] = [
            _("Send at most %(n)d attributes the service does not define.")
            % {"n": MAX_EXTRA_ATTRIBUTES}
        ]
    if errors:
        raise Invalid(_("Some attributes are not valid."), errors=errors)
    return known, extra


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
    known, extra = split_attribute_values(
        category=report.category, values=report.attribute_values
    )
    request, _created = request_services.request_file(
        reporter=None,
        category=report.category.code,
        # Open311 makes the description optional; our workflow needs a text to work with.
        description=report.description.strip() or report.category.name_en,
        lat=location.lat,
        lon=location.lon,
        address=address,
        attribute_values=known,
        channel=Channel.OPEN311,
        # Nothing in Open311 says the reporter chose to publish: private by default.
        is_public=False,
        photos=photos or (),
    )
    if extra:
        # Kept beside the checked values so the clerk sees them (the timeline lists codes the
        # category does not define after its own); never shown in a public GET.
        request.attribute_values = {**extra, **request.attribute_values}
        ServiceRequest.objects.filter(pk=request.pk).update(
            attribute_values=request.attribute_values
        )
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
    api_key_mark_used(api_key=api_key)
    return request


LAST_USED_RESOLUTION = timedelta(minutes=1)


def api_key_mark_used(*, api_key: ApiKey) -> None:
    """Stamp the key's last use, to the minute. Every submission of a client app used to
    rewrite the key's row inside its transaction, so the app's submissions queued on that
    row lock one commit at a time; now one a minute writes, the rest match no row."""
    now = timezone.now()
    ApiKey.objects.filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lt=now - LAST_USED_RESOLUTION),
        pk=api_key.pk,
    ).update(last_used_at=now)


@dataclass(frozen=True)
class UpdateIn:
    """An update a client app posts (FixMyStreet: a resident's comment on a report)."""

    service_request_id: str
    update_id: str
    description: str = ""
    media_url: str = ""
    status: str = ""  # what the client app says (OPEN, FIXED…): recorded, never applied
    updated_datetime: datetime | None = None


def open311_update_receive(*, api_key: ApiKey, update: UpdateIn) -> Event:
    """A client app's update on a request it filed → a comment on the request's timeline.

    Idempotent per (key, update_id): a retry answers the event of the first post. The status
    the client sends is only recorded: residents' words do not move our workflow (the city's
    staff do), as with a comment in the portal.
    """
    previous = _update_receipt(api_key=api_key, update=update)
    if previous is not None:
        return previous
    try:
        with transaction.atomic():
            return _update_record(api_key=api_key, update=update)
    except IntegrityError:
        # The same update posted twice at once: the other post won; answer its event.
        previous = _update_receipt(api_key=api_key, update=update)
        if previous is None:
            raise
        return previous


def _update_receipt(*, api_key: ApiKey, update: UpdateIn) -> Event | None:
    receipt = (
        Open311UpdateReceipt.objects.select_related("event", "request")
        .filter(api_key=api_key, update_id=update.update_id)
        .first()
    )
    if receipt is None:
        return None
    if receipt.request.reference != update.service_request_id:
        raise Invalid(
            _("update_id %(id)s was already used for another request.")
            % {"id": update.update_id},
            errors={"update_id": [_("This update_id was already used for another request.")]},
        )
    return receipt.event


def _update_record(*, api_key: ApiKey, update: UpdateIn) -> Event:
    found = access_public_request(reference=update.service_request_id)
    request = ServiceRequest.objects.select_for_update().get(pk=found.pk)
    filed_by = (
        Open311Submission.objects.filter(request=request).values_list("api_key_id", flat=True)
    ).first()
    if filed_by != api_key.pk:
        raise Forbidden(_("This api_key may post updates only to requests it filed."))
    text = update.description.strip()
    if not text:
        text = _("A photo was added: %(url)s") % {"url": update.media_url}
    data: dict[str, Any] = {"open311_update_id": update.update_id, "client_app": api_key.name}
    if update.status:
        data["client_status"] = update.status[:40]
    if update.media_url:
        data["media_url"] = update.media_url
    if update.updated_datetime is not None:
        data["client_datetime"] = update.updated_datetime.isoformat()
    event = request_services.event_record(
        request=request,
        type=Event.Type.COMMENT_BY_RESIDENT,
        text=text[: request_services.MAX_TEXT],
        data=data,
        role="open311",
    )
    Open311UpdateReceipt.objects.create(
        api_key=api_key, update_id=update.update_id, request=request, event=event
    )
    ApiKey.objects.filter(pk=api_key.pk).update(last_used_at=timezone.now())
    return event


def open311_contact_erase(*, request: ServiceRequest) -> int:
    """Erase the contact fields a client app sent with this request (data-subject erasure)."""
    return Open311Submission.objects.filter(request=request).update(
        email="", first_name="", last_name="", phone="", device_id="", account_id=""
    )
