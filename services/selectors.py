"""Reads: who may see which request, and the lists built on that."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db.models import Count, F, Q, QuerySet
from django.db.models.functions import Left
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Invalid, NotFound
from core.roles import roles_for
from services import workflow
from services.geo import distance_m
from services.models import (
    OPEN_STATUSES,
    Attachment,
    Category,
    Department,
    DepartmentMembership,
    District,
    Event,
    Follow,
    Outcome,
    Precision,
    SavedQueueFilter,
    ServiceRequest,
    StandardReply,
)
from services.photo_grants import photo_grant_open
from services.reference import reference_snapshot
from services.statistics import SUPPRESS_BELOW

if TYPE_CHECKING:
    from core.users import AnyUser, User
    from services.gazetteer import ResolvedLocation


@dataclass(frozen=True)
class Staffing:
    """Who can take a department's work: active members, and how many are supervisors."""

    members: int = 0
    supervisors: int = 0

    @property
    def staffed(self) -> bool:
        return self.members > 0


def departments_staffing(*, department_ids: Iterable[int] | None = None) -> dict[int, Staffing]:
    """Staffing of each department (all, or the given ids), in one query. A member counts
    while their account is active."""
    departments = Department.objects.all()
    if department_ids is not None:
        departments = departments.filter(pk__in=list(department_ids))
    return {
        d.pk: Staffing(members=d.active_members, supervisors=d.active_supervisors)  # type: ignore[attr-defined]
        for d in annotate_staffing(departments).only("pk")
    }


def annotate_staffing(departments: QuerySet[Department]) -> QuerySet[Department]:
    """Departments with `active_members` and `active_supervisors` counted (one query)."""
    active = Q(members__user__is_active=True)
    return departments.annotate(
        active_members=Count("members", filter=active),
        active_supervisors=Count("members", filter=active & Q(members__role="supervisor")),
    )


def actor_kinds(*, user: AnyUser | None, request: ServiceRequest) -> frozenset[str]:
    """What `user` is in relation to `request`: resident (reporter), clerk, supervisor."""
    kinds = set()
    if user is None:
        return frozenset({workflow.SYSTEM})
    if request.reporter_id is not None and request.reporter_id == user.pk:
        kinds.add(workflow.RESIDENT)
    if request.department_id is None:
        return frozenset(kinds)  # nobody is staff of an unrouted request
    roles = roles_for(user)
    role = roles.departments.get(request.department_id) if request.department_id else None
    if role == "supervisor":
        kinds.update({workflow.SUPERVISOR, workflow.CLERK})
    elif role == "clerk":
        kinds.add(workflow.CLERK)
    return frozenset(kinds)


def access_request(
    *, user: AnyUser, reference: str, for_update: bool = False, as_staff: bool = False
) -> ServiceRequest:
    """The request with this reference if `user` may see it; NotFound for everyone else.

    Residents see their own requests (and ones they follow, read-only); staff see their
    departments' requests. `as_staff=True` admits only the staff path.
    """
    qs = ServiceRequest.objects.select_related("category", "department", "district")
    if for_update:
        qs = qs.select_for_update(of=("self",))
    request = qs.filter(reference=reference).first()
    if request is None or user is None or not user.is_authenticated:
        raise NotFound(_("No such request."))
    roles = roles_for(user)
    if roles.is_staff_of(request.department_id):
        return request
    if not as_staff and request.reporter_id == user.pk:
        return request
    if (
        not as_staff
        and not for_update
        and request.followers.filter(user_id=user.pk).exists()
    ):
        return request
    raise NotFound(_("No such request."))


def requests_of_resident(
    *,
    user: AnyUser,
    statuses: Iterable[str] = (),
    kind: str = "",
    updated_since: datetime | None = None,
) -> QuerySet[ServiceRequest]:
    """The resident's own requests, newest change first (index reporter_updated). A visitor
    has none (pages and the API ask for a sign-in before they get here)."""
    if not user.is_authenticated:
        return ServiceRequest.objects.none()
    qs = ServiceRequest.objects.filter(reporter=user)
    statuses = list(statuses)
    if statuses:
        qs = qs.filter(status__in=statuses)
    if kind:
        qs = qs.filter(kind=kind)
    if updated_since is not None:
        qs = qs.filter(updated_at__gt=updated_since)
    return qs.select_related("category", "department", "district").order_by(
        "-updated_at", "-id"
    )


def requests_of_resident_page(
    *, qs: QuerySet[ServiceRequest], after: tuple[datetime, int] | None, limit: int
) -> tuple[list[ServiceRequest], bool]:
    """Keyset page of `requests_of_resident` after (updated_at, id): (rows, has_more)."""
    if after is not None:
        updated_at, pk = after
        qs = qs.filter(Q(updated_at__lt=updated_at) | Q(updated_at=updated_at, id__lt=pk))
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit


def access_request_to_follow(*, user: AnyUser, reference: str) -> ServiceRequest:
    """An open request anyone signed in may follow (as found via `nearby`); else NotFound."""
    if user is None or not user.is_authenticated:
        raise NotFound(_("No such request."))
    request = (
        ServiceRequest.objects.select_related("category")
        .filter(
            reference=reference,
            status__in=OPEN_STATUSES,
            duplicate_of__isnull=True,
            is_private_address=False,
        )
        .first()
    )
    if request is None:
        # The owner and staff may also "follow" what they can see (a no-op for the owner).
        return access_request(user=user, reference=reference)
    return request


def requests_followed_by(*, user: AnyUser) -> QuerySet[ServiceRequest]:
    """The requests `user` follows (not their own), newest change first, for "My requests"."""
    if not user.is_authenticated:  # not "requests nobody follows"
        return ServiceRequest.objects.none()
    return (
        ServiceRequest.objects.filter(followers__user_id=user.pk)
        .exclude(reporter_id=user.pk)
        .select_related("category", "department", "district")
        .order_by("-updated_at", "-id")
    )


def access_follow_target(*, user: AnyUser, reference: str) -> ServiceRequest:
    """The request `user` follows (for unfollow); NotFound otherwise."""
    if user is None or not user.is_authenticated:
        raise NotFound(_("No such request."))
    request = ServiceRequest.objects.filter(
        reference=reference, followers__user_id=user.pk
    ).first()
    if request is None:
        raise NotFound("You do not follow this request.")
    return request


def viewer_is_owner_or_staff(*, user: AnyUser, request: ServiceRequest) -> bool:
    """Followers see the public progress of a request, not the reporter's text or photos."""
    return request.reporter_id == user.pk or roles_for(user).is_staff_of(request.department_id)


def access_attachment(*, user: AnyUser, reference: str, token: str) -> Attachment:
    """A photo of a request the user may see in full; NotFound otherwise.

    The reporter uses the photo's own token. Staff of the request's department need a link
    made for them by their own logged reveal (`services.photo_grants`): a colleague's link, a
    plain token or an expired link is NotFound.
    """
    request = access_request(user=user, reference=reference)
    if request.reporter_id is not None and request.reporter_id == user.pk:
        token = photo_grant_open(grant=token, viewer_id=user.pk) or token
    elif roles_for(user).is_staff_of(request.department_id):
        granted = photo_grant_open(grant=token, viewer_id=user.pk)
        if granted is None:
            raise NotFound("No such attachment.")
        token = granted
    else:
        raise NotFound("No such attachment.")
    attachment = Attachment.objects.filter(request=request, token=token).first()
    if attachment is None:
        raise NotFound("No such attachment.")
    return attachment


def events_for_resident(*, request: ServiceRequest) -> list[Event]:
    return list(
        request.events.filter(visibility=Event.Visibility.PUBLIC)
        .select_related("actor_department")
        .order_by("created_at", "id")
    )


def events_for_staff(*, request: ServiceRequest) -> list[Event]:
    return list(
        request.events.select_related("actor_department", "actor").order_by("created_at", "id")
    )


def routing_explanation(*, events: list[Event]) -> dict[str, Any] | None:
    """The structured reason recorded by the latest `routed` event, if any."""
    routed = [e for e in events if e.type == Event.Type.ROUTED]
    if not routed:
        return None
    latest = routed[-1]
    return {"at": latest.created_at, "text": latest.text, **(latest.data or {})}


# --- Nearby (duplicates before filing) ---------------------------------------------------------

@dataclass(frozen=True)
class NearbyCandidate:
    """An open request that may be the same problem, and why we think so.

    `match`: "distance" (both places are exact points, `distance_m` apart), "address" (near
    the same address point: one of them is only an address, so no distance is claimed),
    "street" (the same street, recently) or "district" (the same district, recently: one of
    them is known only to its district).
    """

    request: ServiceRequest
    match: str
    distance_m: float | None = None
    followers: int = 0
    photo_token: str = ""


def requests_nearby(
    *,
    category: Category,
    place: ResolvedLocation,
    radius_m: float | None = None,
    limit: int = 20,
    now: datetime | None = None,
    viewer_id: int | None = None,
) -> list[NearbyCandidate]:
    """Open requests of `category` that may be the same problem as one at `place` (a
    `services.gazetteer.ResolvedLocation`): nearest points first, then the same street, then
    the same district, newest first. Never a distance to a place that is not a point.

    Private-address requests are left out: their position is personal data. So are the
    viewer's own (`viewer_id`): they are in "My requests", and one cannot follow them.
    """
    radius = float(radius_m or settings.CIVICDESK["NEARBY_RADIUS_M"])
    since = (now or timezone.now()) - timedelta(days=settings.CIVICDESK["NEARBY_RECENT_DAYS"])
    open_of_category = ServiceRequest.objects.filter(
        category=category,
        status__in=OPEN_STATUSES,
        duplicate_of__isnull=True,
        is_private_address=False,
    ).select_related("category", "district")
    if viewer_id is not None:
        open_of_category = open_of_category.exclude(reporter_id=viewer_id)
    exact = Precision.EXACT
    found: dict[int, NearbyCandidate] = {}
    order: dict[int, tuple] = {}
    if place.lat is not None and place.lon is not None:
        lat, lon = place.lat, place.lon
        dlat = radius / 111_320.0
        dlon = radius / (111_320.0 * max(math.cos(math.radians(lat)), 0.01))
        for request in open_of_category.filter(
            lat__gte=lat - dlat, lat__lte=lat + dlat, lon__gte=lon - dlon, lon__lte=lon + dlon
        )[:500]:
            d = distance_m(lat, lon, request.lat or 0.0, request.lon or 0.0)
            if d > radius:
                continue
            both_exact = place.precision == exact and request.location_precision == exact
            found[request.pk] = NearbyCandidate(
                request=request,
                match="distance" if both_exact else "address",
                distance_m=d if both_exact else None,
            )
            order[request.pk] = (0, d, request.pk)
    if place.street:
        same_street = open_of_category.filter(street__iexact=place.street, created_at__gte=since)
        if place.precision == exact:
            same_street = same_street.exclude(location_precision=exact)  # judged by distance
        for request in same_street.order_by("-created_at")[:limit]:
            if request.pk not in found:
                found[request.pk] = NearbyCandidate(request=request, match="street")
                order[request.pk] = (1, -request.created_at.timestamp(), request.pk)
    if place.district is not None:
        same_district = open_of_category.filter(district=place.district, created_at__gte=since)
        if place.precision != Precision.DISTRICT:
            same_district = same_district.filter(location_precision=Precision.DISTRICT)
        for request in same_district.order_by("-created_at")[:limit]:
            if request.pk not in found:
                found[request.pk] = NearbyCandidate(request=request, match="district")
                order[request.pk] = (2, -request.created_at.timestamp(), request.pk)
    chosen = sorted(found.values(), key=lambda c: order[c.request.pk])[:limit]
    if not chosen:
        return []
    ids = [c.request.pk for c in chosen]
    followers = dict(
        Follow.objects.filter(request_id__in=ids)
        .values("request_id")
        .annotate(n=Count("id"))
        .values_list("request_id", "n")
    )
    # The first published photo of each (listed last, so it overwrites the later ones).
    photos: dict[int, str] = dict(
        Attachment.objects.filter(
            request_id__in=[c.request.pk for c in chosen if c.request.is_public],
            uploaded_by_staff=False,
        )
        .order_by("-created_at", "-id")
        .values_list("request_id", "token")
    )
    return [
        NearbyCandidate(
            request=c.request, match=c.match, distance_m=c.distance_m,
            followers=followers.get(c.request.pk, 0), photo_token=photos.get(c.request.pk, ""),
        )
        for c in chosen
    ]


# --- Staff queue --------------------------------------------------------------------------------


@dataclass
class QueueFilters:
    statuses: list[str] = field(default_factory=list)
    department: str = ""
    category: str = ""
    district: str = ""
    priority: int | None = None
    overdue: bool | None = None
    assigned: str = ""  # "me" | "unassigned" | ""
    q: str = ""


def _queue_base(*, user: AnyUser, filters: QueueFilters) -> QuerySet[ServiceRequest]:
    roles = roles_for(user)
    departments = sorted(roles.staff_department_ids)
    qs = ServiceRequest.objects.all()
    if filters.department:
        department_id = (
            Department.objects.filter(code=filters.department, id__in=departments)
            .values_list("id", flat=True)
            .first()
        )
        if department_id is None:
            raise Invalid(
                "Not one of your departments.",
                errors={"department": ["Not one of your departments."]},
            )
        departments = [department_id]
    qs = qs.filter(department_id__in=departments)
    if filters.statuses:
        qs = qs.filter(status__in=filters.statuses)
    else:
        qs = qs.filter(status__in=sorted(OPEN_STATUSES))
    if filters.category:
        qs = qs.filter(category__code=filters.category)
    if filters.district:
        qs = qs.filter(district__code=filters.district)
    if filters.priority is not None:
        qs = qs.filter(priority=filters.priority)
    if filters.overdue is not None:
        now = timezone.now()
        overdue = Q(due_at__lt=now, status__in=sorted(OPEN_STATUSES))
        qs = qs.filter(overdue) if filters.overdue else qs.exclude(overdue)
    if filters.assigned == "me":
        qs = qs.filter(assignee_id=user.pk)
    elif filters.assigned == "unassigned":
        qs = qs.filter(assignee__isnull=True)
    if filters.q:
        term = filters.q.strip()
        # Only what the queue shows may match: a withheld (private) home address is not
        # searchable, or the search would confirm a guessed address without a logged reveal.
        qs = qs.filter(
            Q(reference=term.upper())
            | Q(description__icontains=term)
            | Q(address__icontains=term, is_private_address=False)
        )
    return qs


QueuePosition = tuple[int, datetime | None, int]


def _queue_ordered(
    *, user: AnyUser, filters: QueueFilters, after: QueuePosition | None
) -> QuerySet[ServiceRequest]:
    """The caller's departments' work after `after`, in queue order: priority desc, due_at,
    id (the order of the composite indexes queue_keyset / dept_keyset)."""
    qs = _queue_base(user=user, filters=filters)
    if after is not None:
        priority, due_at, pk = after
        if due_at is None:
            later = Q(due_at__isnull=True, id__gt=pk)
        else:
            later = (
                Q(due_at__gt=due_at)
                | Q(due_at__isnull=True)
                | Q(due_at=due_at, id__gt=pk)
            )
        qs = qs.filter(Q(priority__lt=priority) | (Q(priority=priority) & later))
    return qs.order_by(F("priority").desc(), F("due_at").asc(nulls_last=True), "id")


def queue_page(
    *, user: AnyUser, filters: QueueFilters, after: QueuePosition | None, limit: int
) -> tuple[list[ServiceRequest], bool]:
    """One keyset page of the caller's departments' work, as model instances (the portal's
    workbench); one query whatever `limit`."""
    qs = _queue_ordered(user=user, filters=filters, after=after).select_related(
        "category", "department", "district", "assignee"
    )
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit


# What one API queue row shows; the description only as far as the row shows it.
QUEUE_ROW_FIELDS = (
    "id", "reference", "kind", "status", "priority", "address", "is_private_address",
    "location_precision",
    "due_at", "return_count", "created_at", "updated_at", "version",
    "category__code", "category__name_en", "category__name_zh_hans",
    "department__code", "department__name_en", "department__name_zh_hans",
    "district__code", "district__name_en", "district__name_zh_hans",
    "assignee_id", "assignee__display_name",
)
QUEUE_DESCRIPTION_CHARS = 160


def queue_page_rows(
    *, user: AnyUser, filters: QueueFilters, after: QueuePosition | None, limit: int
) -> tuple[list[dict[str, Any]], bool]:
    """The same page as `queue_page`, as plain rows (QUEUE_ROW_FIELDS + `description_start`, cut to
    QUEUE_DESCRIPTION_CHARS in SQL): the API's hot path builds its JSON without model
    instances or the full texts."""
    qs = _queue_ordered(user=user, filters=filters, after=after).values(
        *QUEUE_ROW_FIELDS, description_start=Left("description", QUEUE_DESCRIPTION_CHARS)
    )
    rows = list(qs[: limit + 1])
    return rows[:limit], len(rows) > limit


def queue_counts(*, user: AnyUser, department: str = "") -> dict[str, Any]:
    """Counts per status (open ones), overdue and unassigned, in one query."""
    base = _queue_base(user=user, filters=QueueFilters(department=department))
    now = timezone.now()
    aggregates = {
        status: Count("id", filter=Q(status=status)) for status in sorted(OPEN_STATUSES)
    }
    row = base.aggregate(
        total=Count("id"),
        overdue=Count("id", filter=Q(due_at__lt=now)),
        unassigned=Count("id", filter=Q(assignee__isnull=True)),
        **aggregates,
    )
    return {
        "total": row["total"],
        "overdue": row["overdue"],
        "unassigned": row["unassigned"],
        "by_status": {status: row[status] for status in sorted(OPEN_STATUSES)},
    }


def categories_active() -> QuerySet[Category]:
    return Category.objects.filter(is_active=True).order_by("kind", "group", "name_en")


def districts_all() -> QuerySet[District]:
    return District.objects.order_by("code")


def district_by_code(*, code: str, field: str = "district") -> District | None:
    """The district with this code; None for ""; a field-level Invalid for an unknown code."""
    code = (code or "").strip()
    if not code:
        return None
    district = reference_snapshot().districts_by_code.get(code[:50])
    if district is None:
        raise Invalid(_("Unknown district."), errors={field: [_("Unknown district.")]})
    return district


def followed_request_ids(*, user: User) -> set[int]:
    return set(Follow.objects.filter(user=user).values_list("request_id", flat=True))



def idempotency_cutoff() -> datetime:
    """Keys made before this moment no longer make a retry out of a submission."""
    return timezone.now() - timedelta(hours=settings.CIVICDESK["IDEMPOTENCY_KEY_HOURS"])


# --- The supervisors' team overview ----------------------------------------------------------

TEAM_SLA_DAYS = 90
TEAM_OVERDUE_SHOWN = 50


@dataclass(frozen=True)
class SlaRow:
    """One category's resolutions in the period: how many fixed the problem by the deadline."""

    label: str
    resolved: int
    fixed_in_time: int

    @property
    def suppressed(self) -> bool:
        return self.resolved < SUPPRESS_BELOW

    @property
    def sla_percent(self) -> int | None:
        if self.suppressed:
            return None
        return round(100 * self.fixed_in_time / self.resolved)


@dataclass(frozen=True)
class TeamSection:
    """A supervised department: who holds how much open work, what is overdue, SLA rows."""

    department: Department
    workload: list[tuple[DepartmentMembership, int]]
    unassigned: int
    open_count: int
    overdue: list[ServiceRequest]
    sla_rows: list[SlaRow]


def team_overview(*, user: AnyUser, now: datetime | None = None) -> list[TeamSection]:
    """One section per department `user` supervises; five queries a department, however many
    requests it holds (the SLA rows over the last TEAM_SLA_DAYS days)."""
    now = now or timezone.now()
    departments = Department.objects.filter(pk__in=roles_for(user).supervised_department_ids)
    return [_team_section(department=d, now=now) for d in departments]


def _team_section(*, department: Department, now: datetime) -> TeamSection:
    members = list(
        DepartmentMembership.objects.filter(department=department).select_related("user")
    )
    open_requests = ServiceRequest.objects.filter(
        department=department, status__in=OPEN_STATUSES
    )
    load: dict[int | None, int] = {
        row["assignee"]: row["n"]
        for row in open_requests.values("assignee").annotate(n=Count("id")).order_by()
    }
    overdue = list(
        open_requests.filter(due_at__lt=now)
        .select_related("category", "assignee")
        .order_by("due_at", "id")[:TEAM_OVERDUE_SHOWN]
    )
    return TeamSection(
        department=department,
        workload=[(m, load.get(m.user_id, 0)) for m in members],
        unassigned=load.get(None, 0),
        open_count=sum(load.values()),
        overdue=overdue,
        sla_rows=_team_sla_rows(department=department, since=now - timedelta(days=TEAM_SLA_DAYS)),
    )


def _team_sla_rows(*, department: Department, since: datetime) -> list[SlaRow]:
    # Only a resolution that fixed the problem meets a deadline.
    in_time = Q(outcome=Outcome.FIXED) & (Q(due_at__isnull=True) | Q(resolved_at__lte=F("due_at")))
    counts = (
        ServiceRequest.objects.filter(department=department, resolved_at__gte=since)
        .values("category")
        .annotate(resolved=Count("id"), fixed_in_time=Count("id", filter=in_time))
        .order_by()
    )
    by_category = {row["category"]: row for row in counts}
    categories = Category.objects.filter(pk__in=by_category)
    rows = [
        SlaRow(
            label=c.name,
            resolved=by_category[c.pk]["resolved"],
            fixed_in_time=by_category[c.pk]["fixed_in_time"],
        )
        for c in categories
    ]
    return sorted(rows, key=lambda r: r.label)


# --- Staff queue: the next item, saved filters, standard replies --------------------------------


def queue_position(request: ServiceRequest) -> QueuePosition:
    """Where `request` stands in queue order (see `_queue_ordered`)."""
    return request.priority, request.due_at, request.pk


def queue_next(
    *, user: AnyUser, filters: QueueFilters, after: QueuePosition, exclude_id: int
) -> ServiceRequest | None:
    """The item after `after` in the caller's queue order under `filters`; past the end, the
    first one again (never `exclude_id`, the item the clerk just worked)."""
    for position in (after, None):
        row = (
            _queue_ordered(user=user, filters=filters, after=position)
            .exclude(pk=exclude_id)
            .only("id", "reference")
            .first()
        )
        if row is not None:
            return row
    return None


# The keys a saved queue filter keeps (QueueFilterForm's fields and the "assigned" choice).
QUEUE_FILTER_KEYS = ("status", "category", "district", "priority", "overdue", "q", "assigned")


def saved_queue_filters(*, user: User) -> list[SavedQueueFilter]:
    return list(SavedQueueFilter.objects.filter(user_id=user.pk))


def access_saved_queue_filter(*, user: User, filter_id: int | str) -> SavedQueueFilter:
    """One of `user`'s own saved filters; NotFound for anyone else's (or a malformed id)."""
    try:
        pk = int(filter_id)
    except (TypeError, ValueError):
        raise NotFound("No such filter.") from None
    if not 0 < pk < 2**31:
        raise NotFound("No such filter.")
    owner = getattr(user, "pk", None)
    saved = SavedQueueFilter.objects.filter(pk=pk, user_id=owner or 0).first()
    if saved is None:
        raise NotFound("No such filter.")
    return saved


def standard_replies_for(*, department_id: int | None) -> list[StandardReply]:
    """The active standard replies of a department, in their order."""
    if department_id is None:
        return []
    return list(StandardReply.objects.filter(department_id=department_id, is_active=True))
