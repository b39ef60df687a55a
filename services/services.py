"""Writes for service requests: the only code that changes a request's state.

Every write runs in one transaction, appends an Event (history is append-only), bumps the
request's `version`, and schedules side effects through the outbox (published after commit).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from portal.errors import Conflict, Forbidden, Invalid
from portal.roles import roles_for
from services import workflow
from services.geo import district_for
from services.models import (
    Category,
    Channel,
    Event,
    Outcome,
    ServiceRequest,
    Status,
)
from services.outbox import EVENT, ROUTE, outbox_enqueue
from services.selectors import actor_kinds


def _actor_role_and_department(
    *, actor: Any, request: ServiceRequest
) -> tuple[str, int | None]:
    """How an actor appears on the timeline: a role and department, never a name."""
    if actor is None:
        return workflow.SYSTEM, None
    role = roles_for(actor).departments.get(request.department_id or -1)
    if role:
        return role, request.department_id
    if request.reporter_id == actor.pk:
        return workflow.RESIDENT, None
    return "staff", None


def event_record(
    *,
    request: ServiceRequest,
    type: str,
    actor: Any = None,
    visibility: str = Event.Visibility.PUBLIC,
    from_status: str = "",
    to_status: str = "",
    text: str = "",
    data: dict | None = None,
) -> Event:
    """Append an event, bump the request's version, and queue the live push/notification.

    Must run inside the caller's transaction with the request row locked.
    """
    role, department_id = _actor_role_and_department(actor=actor, request=request)
    ServiceRequest.objects.filter(pk=request.pk).update(
        version=F("version") + 1, updated_at=timezone.now()
    )
    request.version += 1
    event = Event.objects.create(
        request=request,
        type=type,
        actor=actor,
        actor_role=role,
        actor_department_id=department_id,
        visibility=visibility,
        from_status=from_status,
        to_status=to_status,
        text=text,
        data=data or {},
        version=request.version,
    )
    outbox_enqueue(topic=EVENT, payload={"event_id": event.pk})
    return event


def validate_location(*, lat: float | None, lon: float | None, address: str) -> None:
    errors: dict[str, list[str]] = {}
    if (lat is None) != (lon is None):
        errors["location"] = [_("Give both latitude and longitude, or neither.")]
    if lat is not None and not -90 <= lat <= 90:
        errors["lat"] = [_("Latitude must be between -90 and 90.")]
    if lon is not None and not -180 <= lon <= 180:
        errors["lon"] = [_("Longitude must be between -180 and 180.")]
    if lat is None and lon is None and not address.strip():
        errors["location"] = [_("Give a location: coordinates, an address, or both.")]
    if errors:
        raise Invalid(_("The location is not valid."), errors=errors)


@transaction.atomic
def request_submit(
    *,
    reporter: Any,
    category: Category,
    description: str,
    lat: float | None = None,
    lon: float | None = None,
    address: str = "",
    attribute_values: dict | None = None,
    channel: str = Channel.WEB,
    related_request: ServiceRequest | None = None,
    is_public: bool = False,
    is_private_address: bool = False,
) -> ServiceRequest:
    """File a service request or complaint; routing follows after commit (outbox)."""
    from services.attributes import validate_attribute_values

    if not category.is_active:
        raise Invalid(
            _("This category is no longer available."),
            errors={"category": [_("This category is no longer available.")]},
        )
    description = description.strip()
    if not description:
        raise Invalid(
            _("Describe the problem."), errors={"description": [_("This field is required.")]}
        )
    validate_location(lat=lat, lon=lon, address=address)
    values = validate_attribute_values(category=category, values=attribute_values or {})
    now = timezone.now()
    request = ServiceRequest.objects.create(
        kind=category.kind,
        category=category,
        description=description,
        attribute_values=values,
        lat=lat,
        lon=lon,
        address=address.strip(),
        is_private_address=is_private_address,
        district=district_for(lat=lat, lon=lon),
        channel=channel,
        reporter=reporter,
        related_request=related_request,
        is_public=is_public,
        due_at=now + timedelta(hours=category.sla_hours),
    )
    request.version = 0  # event_record bumps it to 1 with the first event
    ServiceRequest.objects.filter(pk=request.pk).update(version=0)
    event_record(
        request=request,
        type=Event.Type.SUBMITTED,
        actor=reporter,
        to_status=Status.SUBMITTED,
    )
    outbox_enqueue(topic=ROUTE, payload={"request_id": request.pk})
    return request


def _lock(request: ServiceRequest) -> ServiceRequest:
    return ServiceRequest.objects.select_for_update().get(pk=request.pk)


@transaction.atomic
def request_transition(
    *,
    request: ServiceRequest,
    actor: Any,
    to_status: str,
    text: str = "",
    outcome: str = "",
    expected_version: int | None = None,
) -> ServiceRequest:
    """Move a request along the workflow table, or refuse (409/403) and change nothing."""
    locked = _lock(request)
    kinds = actor_kinds(user=actor, request=locked)
    if expected_version is not None and expected_version != locked.version:
        raise Conflict(
            _("The request changed since you loaded it; reload and try again."),
            extra=_conflict_extra(locked, kinds),
        )
    move = workflow.find_move(source=locked.status, target=to_status)
    if move is None:
        raise Conflict(
            _("A request that is %(status)s cannot become %(target)s.")
            % {"status": locked.status, "target": to_status},
            extra=_conflict_extra(locked, kinds),
        )
    if not (move.actors & kinds):
        raise Forbidden(
            _("You may not make this change to this request."),
            extra=_conflict_extra(locked, kinds),
        )
    text = text.strip()
    errors: dict[str, list[str]] = {}
    if move.needs_text and not text:
        errors["text"] = [_("Give a reason or reply for this change.")]
    if move.needs_outcome and outcome not in Outcome.values:
        errors["outcome"] = [_("Choose an outcome.")]
    if errors:
        raise Invalid(_("Some fields are missing."), errors=errors)

    now = timezone.now()
    source = locked.status
    locked.status = to_status
    fields = ["status"]
    if to_status == Status.ROUTED:
        locked.routed_at = now
        fields.append("routed_at")
    elif to_status == Status.RESOLVED:
        locked.resolved_at, locked.outcome = now, outcome
        fields += ["resolved_at", "outcome"]
    elif to_status == Status.CLOSED:
        locked.closed_at = now
        fields.append("closed_at")
    elif to_status == Status.REJECTED:
        locked.closed_at, locked.outcome = now, Outcome.REJECTED
        fields += ["closed_at", "outcome"]
    elif to_status == Status.WITHDRAWN:
        locked.closed_at, locked.outcome = now, Outcome.WITHDRAWN
        fields += ["closed_at", "outcome"]
    elif to_status == Status.REOPENED:
        locked.resolved_at, locked.outcome = None, ""
        fields += ["resolved_at", "outcome"]
    elif to_status == Status.RETURNED:
        locked.return_count += 1
        locked.assignee = None
        fields += ["return_count", "assignee"]
    locked.save(update_fields=fields)

    event_types: dict[str, str] = {
        Status.RETURNED: Event.Type.RETURNED,
        Status.REOPENED: Event.Type.REOPENED,
    }
    event_type = event_types.get(to_status, Event.Type.STATUS_CHANGED)
    event_record(
        request=locked,
        type=event_type,
        actor=actor,
        visibility=Event.Visibility.PUBLIC if move.public else Event.Visibility.INTERNAL,
        from_status=source,
        to_status=to_status,
        text=text,
        data={"move": move.name, **({"outcome": outcome} if outcome else {})},
    )
    if to_status == Status.RETURNED:
        outbox_enqueue(topic=ROUTE, payload={"request_id": locked.pk})
    return locked


def _conflict_extra(request: ServiceRequest, kinds: frozenset[str]) -> dict[str, Any]:
    return {
        "current_status": request.status,
        "version": request.version,
        "allowed_moves": [
            {"move": m.name, "to_status": m.target}
            for m in workflow.allowed_moves(source=request.status, actor_kinds=kinds)
        ],
    }
