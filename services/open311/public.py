"""The public face of a request in Open311's fields, shared by the Open311 API and the
portal's public report pages (so the two cannot disagree): coarse location for a private
address, no description or photo unless the resident made the request public."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.translation import gettext as _

from services.models import ServiceRequest
from services.open311 import selectors

PRIVATE_PRECISION = 3


def w3c(value: datetime | None) -> str | None:
    """W3C datetime (ISO 8601 with the offset), in the city's time zone."""
    if value is None:
        return None
    return timezone.localtime(value).isoformat(timespec="seconds")


def service_notice(request: ServiceRequest) -> str:
    return _("We aim to resolve this within %(hours)d hours.") % {
        "hours": request.category.sla_hours
    }


def public_request_data(request: ServiceRequest) -> dict[str, Any]:
    """One request as the public may see it (Open311 fields): the privacy rules live here."""
    submission = getattr(request, "open311_submission", None)
    private = request.is_private_address
    lat, lon = request.lat, request.lon
    if private and lat is not None and lon is not None:
        lat, lon = round(lat, PRIVATE_PRECISION), round(lon, PRIVATE_PRECISION)
    media_url = submission.media_url if submission is not None else ""
    address_id = submission.address_id if submission is not None else ""
    return {
        "service_request_id": request.reference,
        "status": selectors.open311_status(request.status),
        "status_notes": getattr(request, "status_notes", None) or None,
        "service_name": request.category.name,
        "service_code": request.category.code,
        "description": request.description if request.is_public else None,
        "agency_responsible": request.department.name if request.department else None,
        "service_notice": service_notice(request),
        "requested_datetime": w3c(request.created_at),
        # The latest public update, not the row's own clock: a rating or an internal
        # note after closure changes nothing a client app can see.
        "updated_datetime": w3c(
            getattr(request, "public_updated_at", None) or request.created_at
        ),
        "expected_datetime": w3c(request.due_at),
        "address": (request.address or None) if not private else None,
        "address_id": (address_id or None) if not private else None,
        "zipcode": None,
        "lat": lat,
        "long": lon,
        # Our extension: how well the place is known. `exact` (a point the reporter placed;
        # FixMyStreet's lat/long), `address` (the gazetteer's point for the address, or none),
        # `district` (no point).
        "location_precision": request.location_precision,
        "media_url": (media_url or None) if request.is_public else None,
    }
