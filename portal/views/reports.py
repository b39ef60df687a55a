"""Public reports: requests their reporters chose to publish, as a list (street and district
filters) and a read-only page each — the fields Open311 shows, from the same serializer.

Nothing personal: no reporter, no private address (a home is shown as its district), no
staff-only data; photos only those the reporter published with the request.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.paginator import Paginator
from django.db.models import Q
from django.http import FileResponse, Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.dateparse import parse_datetime
from django.views.decorators.http import require_GET

from core.errors import NotFound
from portal.map_tiles import map_start
from services.models import (
    OPEN_STATUSES,
    Attachment,
    District,
    Follow,
    Precision,
    ServiceRequest,
    Status,
)
from services.open311.public import public_request_data
from services.open311.selectors import PUBLIC_FIELDS, public_requests

PAGE_SIZE = 25
DISTRICT_FIELDS = ("district__code", "district__name_en", "district__name_zh_hans")


def public_reports() -> Any:
    """Published requests, with what the list and page show (one query per page)."""
    return (
        public_requests()
        .filter(is_public=True, duplicate_of__isnull=True)
        .select_related("district")
        .only(*PUBLIC_FIELDS, "district_id", "reporter_id", "street", *DISTRICT_FIELDS)
    )


def access_public_report(*, reference: str) -> ServiceRequest:
    found = public_reports().filter(reference=reference[:16]).first()
    if found is None:
        raise NotFound("No such public report.")
    return found


def _row(sr: ServiceRequest) -> dict[str, Any]:
    """The Open311 fields of one request (so the page and Open311 cannot disagree)."""
    data = public_request_data(sr)
    for key in ("requested_datetime", "updated_datetime", "expected_datetime"):
        data[key] = parse_datetime(data[key]) if data.get(key) else None
    data["sr"] = sr
    data["workflow_status"] = Status(sr.status).label
    data["location_precision_label"] = Precision(sr.location_precision).label
    data["district"] = sr.district.name if sr.district_id and sr.district else ""
    return data


@require_GET
def reports_list(request: HttpRequest) -> HttpResponse:
    street = request.GET.get("street", "").strip()[:100]
    district = request.GET.get("district", "").strip()[:50]
    state = request.GET.get("status", "")
    qs = public_reports()
    if street:
        # A home address is never matched (that would reveal it); only street locations.
        qs = qs.filter(
            Q(address__icontains=street) | Q(street__icontains=street), is_private_address=False
        )
    if district:
        qs = qs.filter(district__code=district)
    if state == "open":
        qs = qs.filter(status__in=OPEN_STATUSES)
    elif state == "closed":
        qs = qs.exclude(status__in=OPEN_STATUSES)
    else:
        state = ""
    page = Paginator(qs.order_by("-created_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    query = request.GET.copy()
    query.pop("page", None)
    rows = [_row(sr) for sr in page.object_list]
    districts = list(District.objects.order_by("code"))
    # A map only when the city has a tile server (docs/map-tiles.md); markers at the same
    # (for a home, coarsened) position Open311 gives.
    tile_url = settings.CIVICDESK.get("MAP_TILE_URL", "")
    placed = [r for r in rows if r["lat"] is not None and r["long"] is not None]
    start = None
    if tile_url and placed:
        start = {
            "lat": sum(r["lat"] for r in placed) / len(placed),
            "lon": sum(r["long"] for r in placed) / len(placed),
            "zoom": 13,
        }
    elif tile_url:
        start = map_start(districts)
    return render(
        request,
        "portal/public/reports.html",
        {
            "rows": rows,
            "placed": placed,
            "map_tile_url": tile_url,
            "map_start": start,
            "map_attribution": settings.CIVICDESK.get("MAP_ATTRIBUTION", ""),
            "page": page,
            "query": query.urlencode(),
            "districts": districts,
            "filters": {"street": street, "district": district, "status": state},
        },
    )


@require_GET
def report_detail(request: HttpRequest, reference: str) -> HttpResponse:
    try:
        sr = access_public_report(reference=reference)
    except NotFound as error:
        raise Http404(error.detail) from error
    user = request.user
    signed_in = bool(user.is_authenticated)
    is_reporter = signed_in and sr.reporter_id == user.pk
    following = signed_in and Follow.objects.filter(request=sr, user_id=int(user.pk or 0)).exists()
    photos = list(
        Attachment.objects.filter(request=sr, uploaded_by_staff=False).order_by("created_at", "id")
    )
    return render(
        request,
        "portal/public/report_detail.html",
        {
            "r": _row(sr),
            "photos": photos,
            "signed_in": signed_in,
            "is_reporter": is_reporter,
            "following": following,
            "can_follow": signed_in and not is_reporter and not following and sr.is_open
            and not sr.is_private_address,
        },
    )


@require_GET
def report_photo(request: HttpRequest, reference: str, token: str) -> FileResponse:
    """A photo the reporter published with their request (never a staff upload)."""
    try:
        sr = access_public_report(reference=reference)
    except NotFound as error:
        raise Http404(error.detail) from error
    attachment = Attachment.objects.filter(
        request=sr, token=token[:64], uploaded_by_staff=False
    ).first()
    if attachment is None:
        raise Http404("No such photo.")
    response = FileResponse(attachment.file.open("rb"), content_type=attachment.content_type)
    response["Cache-Control"] = "public, max-age=300"
    response["X-Content-Type-Options"] = "nosniff"
    return response
