"""Reads for Open311: what the public may see, and which client app holds a key.

Everything here is public: only categories marked public, never complaints, and the callers
shape the output so that no reporter data ever leaves (see services/open311/api.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from django.db.models import OuterRef, Q, QuerySet, Subquery
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Forbidden, NotFound
from services.models import OPEN_STATUSES, Category, Event, Outcome, ServiceRequest, Status
from services.open311.models import ApiKey, hash_key
from services.reference import category_by_code

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
    "lat", "lon", "location_precision", "created_at", "updated_at", "due_at",
    "category__code", "category__name_en", "category__name_zh_hans", "category__sla_hours",
    "category__kind", "category__is_public",
    "department__name_en", "department__name_zh_hans",
    "open311_submission__media_url", "open311_submission__address_id",
)


def open311_status(status: str) -> str:
    """Our workflow status → the spec's open/closed."""
    return "open" if status in OPEN_STATUSES else "closed"


# FixMyStreet's extended statuses (its Open311 update extension; FixMyStreet lower-cases what
# it reads, and maps fixed → "fixed - council", not_councils_responsibility → "not
# responsible", no_further_action → "unable to fix", closed → "closed").
OUTCOME_STATUSES = {
    Outcome.FIXED: "fixed",
    Outcome.NOT_CITY_RESPONSIBILITY: "not_councils_responsibility",
    Outcome.NO_ACTION_NEEDED: "no_further_action",
    Outcome.COULD_NOT_FIX: "no_further_action",
    Outcome.DUPLICATE: "duplicate",
    # A rejection is the city declining the request ("not our road"): not its job.
    Outcome.REJECTED: "not_councils_responsibility",
    Outcome.WITHDRAWN: "closed",
}


def fixmystreet_status(status: str, outcome: str = "") -> str:
    """Workflow status + outcome → FixMyStreet's extended status for servicerequestupdates."""
    if status == Status.IN_PROGRESS:
        return "in_progress"
    if status in OPEN_STATUSES:
        return "open"
    return OUTCOME_STATUSES.get(outcome, "closed")  # type: ignore[call-overload]


def _outcome_after(event: Event, outcome: str) -> str:
    """The request's outcome once this status-changing event has happened."""
    data = event.data or {}
    if event.to_status == Status.RESOLVED:
        return str(data.get("outcome", ""))
    if event.to_status == Status.REOPENED:
        return ""
    if event.to_status == Status.CLOSED and data.get("move") == "duplicate":
        return Outcome.DUPLICATE
    if event.to_status == Status.REJECTED:
        return Outcome.REJECTED
    if event.to_status == Status.WITHDRAWN:
        return Outcome.WITHDRAWN
    return outcome


def statuses_then(events: Iterable[Event]) -> dict[int, tuple[str, str]]:
    """{event id: (workflow status, outcome) right after it} for the given update events.

    One query: the status-changing events of the requests concerned, replayed in order.
    """
    events = list(events)
    wanted = {e.pk for e in events}
    request_ids = {e.request_id for e in events}
    if not wanted:
        return {}
    out: dict[int, tuple[str, str]] = {}
    state: dict[int, tuple[str, str]] = {}
    history = Event.objects.filter(request_id__in=request_ids).filter(
        Q(pk__in=wanted) | ~Q(to_status="")
    )
    for event in history.order_by("created_at", "id").only(
        "id", "request_id", "to_status", "data", "created_at"
    ):
        status, outcome = state.get(event.request_id, (Status.SUBMITTED, ""))
        if event.to_status:
            status, outcome = event.to_status, _outcome_after(event, outcome)
            state[event.request_id] = (status, outcome)
        if event.pk in wanted:
            out[event.pk] = (status, outcome)
    return out


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


def services_changeset(*, adapter_changeset: str) -> str:
    """Discovery's sortable `changeset`: the adapter's own, or the latest category edit."""
    latest = Category.objects.order_by("-updated_at").values_list("updated_at", flat=True).first()
    if latest is None:
        return adapter_changeset
    edited = latest.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return max(adapter_changeset, edited)


def public_categories() -> QuerySet[Category]:
    return Category.objects.filter(
        is_active=True, is_public=True, kind=Category.Kind.REQUEST
    ).order_by("group", "name_en", "code")


def access_public_category(*, service_code: str) -> Category:
    """A category Open311 clients may file in (from the per-process reference data)."""
    category = category_by_code(service_code)
    if category is not None and not (
        category.is_active and category.is_public and category.kind == Category.Kind.REQUEST
    ):
        category = None
    if category is None:
        raise NotFound(_("service_code %(code)s was not found.") % {"code": service_code})
    return category


def public_requests() -> QuerySet[ServiceRequest]:
    """Requests anyone may read over Open311, with what the output needs in one query.

    `public_updated_at` is the time of the latest public update (what servicerequestupdates
    lists), so a rating or an internal note after closure does not move `updated_datetime`.
    """
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
    latest_update = (
        Event.objects.filter(
            request=OuterRef("pk"), visibility=Event.Visibility.PUBLIC, type__in=UPDATE_EVENTS
        )
        .order_by("-created_at", "-id")
        .values("created_at")[:1]
    )
    return (
        ServiceRequest.objects.filter(
            kind=Category.Kind.REQUEST,
            category__is_public=True,
            category__kind=Category.Kind.REQUEST,
        )
        .select_related("category", "department", "open311_submission")
        .only(*PUBLIC_FIELDS)
        .annotate(status_notes=Subquery(latest_note), public_updated_at=Subquery(latest_update))
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
    offset: int = 0,
) -> list[ServiceRequest]:
    """GET requests: ids override every other filter (as the spec says); newest first.

    `limit` + `offset` page through the result (our extension; the spec caps nothing).
    """
    qs = public_requests()
    if references:
        qs = qs.filter(reference__in=references)
    else:
        qs = qs.filter(created_at__gte=start, created_at__lte=end)
        if service_codes:
            qs = qs.filter(category__code__in=service_codes)
        if statuses:
            qs = qs.filter(status__in=statuses_for(statuses))
    return list(qs.order_by("-created_at", "-id")[offset : offset + limit])


def public_updates(
    *, start: datetime, end: datetime, limit: int = 1000, offset: int = 0
) -> list[Event]:
    """FixMyStreet's servicerequestupdates: public timeline changes, oldest first.

    Each event carries `status_then` and `outcome_then`: the request's workflow status and
    outcome right after it (see `statuses_then`).
    """
    events = list(
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
        .order_by("created_at", "id")[offset : offset + limit]
    )
    then = statuses_then(events)
    for event in events:
        event.status_then, event.outcome_then = then.get(  # type: ignore[attr-defined]
            event.pk, (event.request.status, event.request.outcome)
        )
    return events


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
