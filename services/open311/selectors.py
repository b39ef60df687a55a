"""Reads for Open311: what the public may see, and which client app holds a key.

Everything here is public: only categories marked public, never complaints, and the callers
shape the output so that no reporter data ever leaves (see services/open311/api.py).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Forbidden, NotFound
from services.models import OPEN_STATUSES, Category, Event, ServiceRequest, Status
from services.open311.models import ApiKey, hash_key

CLOSED_STATUSES = frozenset(set(Status.values) - set(OPEN_STATUSES))

# Public timeline entries written by city staff: their text is the request's status notes.
STAFF_TEXT_EVENTS = (
    Event.Type.PUBLIC_REPLY,
    Event.Type.STATUS_CHANGED,
    Event.Type.MARKED_DUPLICATE,
)
# Public timeline entries that are an Open311 "update" (FixMyStreet's extension).
UPDATE_EVENTS = (*STAFF_TEXT_EVENTS, Event.Type.ROUTED, Event.Type.REOPENED)


# Only what the public output reads: wide rows are most of a 1,000-request list's cost.
PUBLIC_FIELDS = (
    "reference", "kind", "status", "description", "is_public", "address", "is_private_address",
    "lat", "lon", "created_at", "updated_at", "due_at",
    "category__code", "category__name_en", "category__name_zh_hans", "category__sla_hours",
    "category__kind", "category__is_public",
    "department__name_en", "department__name_zh_hans",
    "open311_submission__media_url", "open311_submission__address_id",
)


def open311_status(status: str) -> str:
    """Our workflow status → the spec's open/closed."""
    return "open" if status in OPEN_STATUSES else "closed"


def statuses_for(open311_statuses: set[str]) -> set[str]:
    """The spec's open/closed → the workflow statuses they stand for."""
    out: set[str] = set()
    if "open" in open311_statuses:
        out |= set(OPEN_STATUSES)
    if "closed" in open311_statuses:
        out |= set(CLOSED_STATUSES)
    return out


def api_key_authenticate(*, raw_key: str) -> ApiKey:
    """The active key with this value; Forbidden (the spec's 403) for anything else."""
    raw_key = (raw_key or "").strip()
    if not raw_key:
        raise Forbidden(_("api_key is missing."))
    api_key = ApiKey.objects.filter(key_hash=hash_key(raw_key)).first()
    if api_key is None or not api_key.is_active:
        raise Forbidden(_("api_key is not valid."))
    return api_key


def public_categories() -> QuerySet[Category]:
    return Category.objects.filter(
        is_active=True, is_public=True, kind=Category.Kind.REQUEST
    ).order_by("group", "name_en", "code")


def access_public_category(*, service_code: str) -> Category:
    category = public_categories().filter(code=service_code).first()
    if category is None:
        raise NotFound(_("service_code %(code)s was not found.") % {"code": service_code})
    return category


def public_requests() -> QuerySet[ServiceRequest]:
    """Requests anyone may read over Open311, with what the output needs in one query."""
    latest_note = (
        Event.objects.filter(
            request=OuterRef("pk"),
            visibility=Event.Visibility.PUBLIC,
            type__in=STAFF_TEXT_EVENTS,
        )
        .exclude(text="")
        .order_by("-created_at", "-id")
        .values("text")[:1]
    )
    return (
        ServiceRequest.objects.filter(
            kind=Category.Kind.REQUEST,
            category__is_public=True,
            category__kind=Category.Kind.REQUEST,
        )
        .select_related("category", "department", "open311_submission")
        .only(*PUBLIC_FIELDS)
        .annotate(status_notes=Subquery(latest_note))
    )


def access_public_request(*, reference: str) -> ServiceRequest:
    request = public_requests().filter(reference=reference).first()
    if request is None:
        raise NotFound(_("service_request_id %(id)s was not found.") % {"id": reference})
    return request


def requests_search(
    *,
    references: list[str] | None = None,
    service_codes: list[str] | None = None,
    start: datetime,
    end: datetime,
    statuses: set[str] | None = None,
    limit: int = 1000,
) -> list[ServiceRequest]:
    """GET requests: ids override every other filter (as the spec says); newest first."""
    qs = public_requests()
    if references:
        qs = qs.filter(reference__in=references)
    else:
        qs = qs.filter(created_at__gte=start, created_at__lte=end)
        if service_codes:
            qs = qs.filter(category__code__in=service_codes)
        if statuses:
            qs = qs.filter(status__in=statuses_for(statuses))
    return list(qs.order_by("-created_at", "-id")[:limit])


def public_updates(*, start: datetime, end: datetime, limit: int = 1000) -> list[Event]:
    """FixMyStreet's servicerequestupdates: public timeline changes, oldest first.

    Each event is annotated with `status_then`, the workflow status the request had right
    after it (the last status-changing event up to and including it).
    """
    status_then = (
        Event.objects.filter(request=OuterRef("request_id"), created_at__lte=OuterRef("created_at"))
        .exclude(to_status="")
        .order_by("-created_at", "-id")
        .values("to_status")[:1]
    )
    return list(
        Event.objects.filter(
            visibility=Event.Visibility.PUBLIC,
            type__in=UPDATE_EVENTS,
            created_at__gte=start,
            created_at__lte=end,
            request__kind=Category.Kind.REQUEST,
            request__category__is_public=True,
            request__category__kind=Category.Kind.REQUEST,
        )
        .select_related("request")
        .annotate(status_then=Subquery(status_then))
        .order_by("created_at", "id")[:limit]
    )


def default_window(
    *, start: datetime | None, end: datetime | None, days: int = 90
) -> tuple[datetime, datetime]:
    """The spec's default: the most recent `days`, or `days` either side of the given bound."""
    span = timedelta(days=days)
    if start is not None and end is not None:
        return start, end
    if start is not None:
        return start, start + span
    end = end if end is not None else timezone.now()
    return end - span, end
