"""Writes for service requests: the only code that changes a request's state.

Every write runs in one transaction, appends an Event (history is append-only), bumps the
request's `version`, and schedules side effects through the outbox (published after commit).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

from django.contrib.auth.models import AnonymousUser
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from core.errors import Conflict, Forbidden, Invalid, NotFound, Unprocessable
from core.roles import roles_for
from core.statements import server_bound
from outbox.services import outbox_enqueue
from services import workflow
from services.attachments import max_photos
from services.attributes import validate_attribute_values
from services.gazetteer import location_resolve
from services.geo import DistrictShape
from services.models import (
    OPEN_STATUSES,
    Attachment,
    Category,
    Channel,
    DepartmentMembership,
    District,
    Event,
    Follow,
    IdempotencyKey,
    Outcome,
    Priority,
    SavedQueueFilter,
    ServiceRequest,
    Status,
)
from services.open311.models import Open311Submission
from services.reference import category_by_code
from services.selectors import (
    QUEUE_FILTER_KEYS,
    access_saved_queue_filter,
    actor_kinds,
    district_by_code,
    idempotency_cutoff,
)

if TYPE_CHECKING:
    from datetime import datetime

    from django.core.files.storage import Storage

    from core.users import User
    from services.attachments import PreparedPhoto

logger = logging.getLogger(__name__)

# Outbox topics this app publishes (services/tasks.py registers their publishers).
TOPIC_ROUTE = "request.route"  # {"request_id"}: route (again) after commit
TOPIC_EVENT = "request.event"  # {"event_id"}: live push and notifications after commit

MAX_TEXT = 5000
AS_RESIDENT = frozenset({workflow.RESIDENT})


def _actor_role_and_department(
    *, actor: User | None, request: ServiceRequest
) -> tuple[str, int | None]:
    """How an actor appears on the timeline: a role and department, never a name."""
    if actor is None:
        return workflow.SYSTEM, None
    if request.department_id is None:
        # Nobody is staff of an unrouted request: no need to look the actor's roles up.
        return (workflow.RESIDENT if request.reporter_id == actor.pk else "staff"), None
    role = roles_for(actor).departments.get(request.department_id)
    if role:
        return role, request.department_id
    if request.reporter_id == actor.pk:
        return workflow.RESIDENT, None
    return "staff", None


def event_record(
    *,
    request: ServiceRequest,
    type: str,
    actor: User | None = None,
    visibility: str = Event.Visibility.PUBLIC,
    from_status: str = "",
    to_status: str = "",
    text: str = "",
    data: dict | None = None,
    bump: bool = True,
    changes: dict[str, Any] | None = None,
    role: str = "",
    publish: bool = True,
) -> Event:
    """Append an event, bump the request's version, and queue the live push/notification.

    Must run inside the caller's transaction with the request row locked. `bump=False` when
    the caller has already written the new version (a request created with its first event).
    `changes` are further columns of the request to write in the same UPDATE as the version
    (the caller has set them on `request` already). `role` names an actor who has no
    account here (e.g. "open311": someone writing through a client app). `publish=False`
    when the caller's own outbox row delivers the event (a new request's routing message
    carries it).
    """
    department_id: int | None = None
    if not role:
        role, department_id = _actor_role_and_department(actor=actor, request=request)
    if bump:
        ServiceRequest.objects.filter(pk=request.pk).update(
            version=F("version") + 1, updated_at=timezone.now(), **(changes or {})
        )
        request.version += 1
    elif changes:
        ServiceRequest.objects.filter(pk=request.pk).update(**changes)
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
    if publish:
        outbox_enqueue(topic=TOPIC_EVENT, payload={"event_id": event.pk})
    return event


def validate_location(
    *, lat: float | None, lon: float | None, address: str, district: District | None = None
) -> None:
    errors: dict[str, list[str]] = {}
    if (lat is None) != (lon is None):
        errors["location"] = [_("Give both latitude and longitude, or neither.")]
    if lat is not None and not -90 <= lat <= 90:
        errors["lat"] = [_("Latitude must be between -90 and 90.")]
    if lon is not None and not -180 <= lon <= 180:
        errors["lon"] = [_("Longitude must be between -180 and 180.")]
    if lat is None and lon is None and not address.strip() and district is None:
        errors["location"] = [_("Give a location: coordinates, an address or a district.")]
    if errors:
        raise Invalid(_("The location is not valid."), errors=errors)


def _category_open_check(category: Category) -> None:
    if not category.is_active:
        raise Invalid(
            _("This category is no longer available."),
            errors={"category": [_("This category is no longer available.")]},
        )


def request_submit(
    *,
    reporter: User | None,
    category: Category,
    description: str,
    lat: float | None = None,
    lon: float | None = None,
    address: str = "",
    district: District | None = None,
    attribute_values: dict | None = None,
    channel: str = Channel.WEB,
    related_request: ServiceRequest | None = None,
    is_public: bool = False,
    is_private_address: bool = False,
) -> ServiceRequest:
    """Write a new service request or complaint; routing follows after commit (outbox).

    Residents' submissions come in through `request_file` (the one door: category code,
    related reference, Idempotency-Key, photos); this writes the row and holds the rules every
    filing obeys, whoever calls it. The place is a point (`exact`), an address (geocoded
    through the gazetteer when it knows it: precision `address`) or only a district
    (`district`, never a point): see `services.gazetteer.location_resolve`.
    """
    _category_open_check(category)
    if related_request is not None and (
        reporter is None or related_request.reporter_id != reporter.pk
    ):
        # A complaint may only point at the complainant's own request.
        raise _not_your_request()
    description = description.strip()
    if not description:
        raise Invalid(
            _("Describe the problem."), errors={"description": [_("This field is required.")]}
        )
    validate_location(lat=lat, lon=lon, address=address, district=district)
    values = validate_attribute_values(category=category, values=attribute_values or {})
    place = location_resolve(lat=lat, lon=lon, address=address, district=district)
    # Checked above, before any write: the writes need no savepoint of their own inside a
    # caller's transaction (a failing write fails the caller's transaction as a whole).
    with transaction.atomic(savepoint=False), server_bound():
        now = timezone.now()
        request = ServiceRequest.objects.create(
            kind=category.kind,
            category=category,
            description=description,
            attribute_values=values,
            lat=place.lat,
            lon=place.lon,
            address=place.address,
            location_precision=place.precision,
            street=place.street,
            is_private_address=is_private_address,
            district=place.district,
            channel=channel,
            reporter=reporter,
            related_request=related_request,
            is_public=is_public,
            due_at=now + timedelta(hours=category.sla_hours),
            version=1,  # the version of its first event
        )
        submitted = event_record(
            request=request,
            type=Event.Type.SUBMITTED,
            actor=reporter,
            to_status=Status.SUBMITTED,
            bump=False,
            publish=False,
        )
        # One row, one broker message: the routing task pushes the `submitted` event first.
        outbox_enqueue(
            topic=TOPIC_ROUTE, payload={"request_id": request.pk, "event_id": submitted.pk}
        )
    # The events this filing wrote, in order: the answer shows them without reading them back.
    request.new_events = [submitted]  # type: ignore[attr-defined]
    return request


def _lock(request: ServiceRequest) -> ServiceRequest:
    return ServiceRequest.objects.select_for_update().get(pk=request.pk)


@transaction.atomic
def request_transition(
    *,
    request: ServiceRequest,
    actor: User | None,
    to_status: str,
    text: str = "",
    outcome: str = "",
    expected_version: int | None = None,
    via: str = "",
    data: dict | None = None,
    acting_as: frozenset[str] | None = None,
) -> ServiceRequest:
    """Move a request along the workflow table, or refuse (409/403) and change nothing.

    `via` names the dedicated service making a move that is not open to the generic path;
    `data` is merged into the event's structured data. `acting_as` limits the actor kinds
    considered (the resident "confirm" button must not work as a supervisor's "close").
    """
    locked = _lock(request)
    kinds = actor_kinds(user=actor, request=locked)
    if acting_as is not None:
        kinds = kinds & acting_as
    if expected_version is not None and expected_version != locked.version:
        raise Conflict(
            _("The request changed since you loaded it; reload and try again."),
            extra=_conflict_extra(locked, kinds),
        )
    move = workflow.find_move(source=locked.status, target=to_status)
    if move is not None and move.dedicated and move.name != via:
        move = None  # e.g. closing as a duplicate goes through request_mark_duplicate
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
    if move.needs_outcome and outcome not in workflow.RESOLUTION_OUTCOMES:
        errors["outcome"] = [
            _("Choose an outcome: %(values)s.")
            % {"values": ", ".join(str(o) for o in workflow.RESOLUTION_OUTCOMES)}
        ]
    if not move.needs_outcome and outcome and move.name != "duplicate":
        errors["outcome"] = [_("An outcome is recorded only when resolving.")]
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
        if move.name == "duplicate":
            locked.outcome = Outcome.DUPLICATE
            fields.append("outcome")
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
    if move.name == "duplicate":
        event_type = Event.Type.MARKED_DUPLICATE
    event_record(
        request=locked,
        type=event_type,
        actor=actor,
        visibility=Event.Visibility.PUBLIC if move.public else Event.Visibility.INTERNAL,
        from_status=source,
        to_status=to_status,
        text=text,
        data={"move": move.name, **({"outcome": outcome} if outcome else {}), **(data or {})},
    )
    if to_status == Status.RETURNED:
        outbox_enqueue(topic=TOPIC_ROUTE, payload={"request_id": locked.pk})
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


# --- Submission with photos and an Idempotency-Key ---------------------------------------------


def _attachments_store(
    *, request: ServiceRequest, photos: list[PreparedPhoto], actor: User | None, staff: bool
) -> list[Attachment]:
    """Write already-checked photos; called inside the caller's transaction."""
    stored: list[Attachment] = []
    try:
        for photo in photos:
            attachment = Attachment(
                request=request,
                content_type=photo.content_type,
                width=photo.width,
                height=photo.height,
                size=photo.size,
                uploaded_by=actor,
                uploaded_by_staff=staff,
            )
            attachment.file.save("photo", ContentFile(photo.content), save=False)
            attachment.save()
            stored.append(attachment)
    except Exception:
        for attachment in stored:
            attachment.file.delete(save=False)
        raise
    return stored


@transaction.atomic
def _submit_with_photos(
    *, reporter: User | None, photos: list[PreparedPhoto], **fields: Any
) -> ServiceRequest:
    """`request_submit` plus photos, all or nothing."""
    request = request_submit(reporter=reporter, **fields)
    if photos:
        stored = _attachments_store(request=request, photos=photos, actor=reporter, staff=False)
        request.new_events.append(  # type: ignore[attr-defined]
            event_record(
                request=request,
                type=Event.Type.ATTACHMENT_ADDED,
                actor=reporter,
                data={"count": len(stored)},
            )
        )
    return request


def idempotency_keys_prune() -> int:
    """Delete forgotten Idempotency-Keys (daily beat task). Returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=idempotency_cutoff()).delete()
    return deleted


def _submit_once(
    *,
    reporter: User,
    idempotency_key: str,
    body_hash: str,
    photos: list[PreparedPhoto],
    **fields: Any,
) -> tuple[ServiceRequest, bool]:
    """Submit once per (reporter, Idempotency-Key): (request, created).

    A retry with the same key and body returns the first request; the same key with a
    different body is refused (422). Two concurrent retries race on the unique constraint;
    the loser rolls back and answers like a retry. A key older than IDEMPOTENCY_KEY_HOURS is
    forgotten: the submission is new.
    """
    for _attempt in range(2):
        existing = (
            IdempotencyKey.objects.select_related("request")
            .filter(user=reporter, key=idempotency_key)
            .first()
        )
        if existing is not None and existing.created_at < idempotency_cutoff():
            IdempotencyKey.objects.filter(pk=existing.pk).delete()
            existing = None
        if existing is not None:
            if existing.body_hash != body_hash:
                raise Unprocessable(
                    _("This Idempotency-Key was already used with a different request body."),
                    errors={"Idempotency-Key": [_("Use a new key for a new request.")]},
                )
            return existing.request, False
        try:
            with transaction.atomic():
                request = _submit_with_photos(reporter=reporter, photos=photos, **fields)
                IdempotencyKey.objects.create(
                    user=reporter, key=idempotency_key, body_hash=body_hash, request=request
                )
        except IntegrityError:
            continue  # another attempt with this key committed first: answer as a replay
        return request, True
    raise Conflict(_("This request is being submitted right now; retry in a moment."))


# --- The one door for filing a request ---------------------------------------------------------


class Filed(NamedTuple):
    """What `request_file` did: the request, and whether this call created it (False: a replay
    of an earlier submission with the same Idempotency-Key and body)."""

    request: ServiceRequest
    created: bool


def category_resolve(*, code: str) -> Category:
    """The category with this code, or a field error (open or not: see `request_submit`)."""
    category = category_by_code(code)  # the per-process reference data: no query
    if category is None:
        raise Invalid(_("Unknown category."), errors={"category": [_("Unknown category.")]})
    return category


def submission_body_hash(
    *,
    category: Category,
    description: str,
    lat: float | None,
    lon: float | None,
    address: str,
    attribute_values: dict[str, Any],
    related_request: str | None,
    is_public: bool,
    is_private_address: bool,
    photos: Sequence[PreparedPhoto],
    district: str = "",
) -> str:
    """What makes two submissions "the same body" for an Idempotency-Key, whatever the door:
    the checked values, and each photo by the SHA-256 of its (metadata-free) bytes."""
    body = {
        "category": category.code,
        "description": description.strip(),
        "lat": lat,
        "lon": lon,
        "address": address.strip(),
        "district": district or None,
        "attributes": attribute_values,
        "related_request": related_request or None,
        "is_public": is_public,
        "is_private_address": is_private_address,
        "photos": [hashlib.sha256(photo.content).hexdigest() for photo in photos],
    }
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def request_file(
    *,
    reporter: User | None,
    category: str,
    description: str,
    lat: float | None = None,
    lon: float | None = None,
    address: str = "",
    district: str = "",
    attribute_values: dict[str, Any] | None = None,
    channel: str = Channel.WEB,
    related_request: str | None = None,
    is_public: bool = False,
    is_private_address: bool = False,
    photos: Sequence[PreparedPhoto] = (),
    idempotency_key: str | None = None,
) -> Filed:
    """File a service request or complaint: the one door of the API, the web form, the guided
    report, the counter and Open311. A new rule about filing goes here (or in `request_submit`,
    which this calls), not in a view.

    `category` and `district` are codes and `related_request` a reference, as the resident
    sent them (an address is geocoded by `request_submit`); `photos` are already checked
    (`services.attachments.photos_prepare`). With an `idempotency_key` a retry with the same
    body answers the first request (`Filed(created=False)`) and another body under the same
    key is refused (422).
    `reporter` is the signed-in resident, or None for a channel without accounts (Open311).
    Raises `core.errors.Invalid` with field-level messages for bad input, writing nothing.
    """
    if isinstance(reporter, AnonymousUser):
        raise Forbidden(_("Sign in to report"))
    resolved = category_resolve(code=category)
    _category_open_check(resolved)
    values = validate_attribute_values(category=resolved, values=attribute_values or {})
    related = _related_request_resolve(reference=related_request)
    chosen_district = district_by_code(code=district)
    fields: dict[str, Any] = {
        "category": resolved,
        "description": description,
        "lat": lat,
        "lon": lon,
        "address": address,
        "district": chosen_district,
        "attribute_values": values,
        "channel": channel,
        "related_request": related,
        "is_public": is_public,
        "is_private_address": is_private_address,
    }
    if idempotency_key is None or reporter is None:
        return Filed(_submit_with_photos(reporter=reporter, photos=list(photos), **fields), True)
    body_hash = submission_body_hash(
        category=resolved,
        description=description,
        lat=lat,
        lon=lon,
        address=address,
        district=chosen_district.code if chosen_district else "",
        attribute_values=values,
        related_request=related_request,
        is_public=is_public,
        is_private_address=is_private_address,
        photos=photos,
    )
    request, created = _submit_once(
        reporter=reporter,
        idempotency_key=idempotency_key,
        body_hash=body_hash,
        photos=list(photos),
        **fields,
    )
    return Filed(request, created)


def _related_request_resolve(*, reference: str | None) -> ServiceRequest | None:
    """The request a complaint points at; whose it may be is `request_submit`'s rule."""
    if not reference:
        return None
    related = ServiceRequest.objects.filter(reference=reference).first()
    if related is None:
        raise _not_your_request()
    return related


def _not_your_request() -> Invalid:
    message = _("Choose one of your own requests.")
    return Invalid(message, errors={"related_request": [message]})


# --- Resident actions ------------------------------------------------------------------------


def _clean_text(text: str, *, field: str = "text", required: bool = True) -> str:
    text = (text or "").strip()
    if required and not text:
        raise Invalid(_("Some fields are missing."), errors={field: [_("This field is required.")]})
    if len(text) > MAX_TEXT:
        message = _("Use at most %(n)d characters.") % {"n": MAX_TEXT}
        raise Invalid(message, errors={field: [message]})
    return text


def _require(kinds: frozenset[str], allowed: frozenset[str]) -> None:
    if not (kinds & allowed):
        raise Forbidden(_("You may not do this on this request."))


@transaction.atomic
def request_comment(*, request: ServiceRequest, actor: User, text: str) -> Event:
    """The reporter adds a comment to their request's public timeline."""
    text = _clean_text(text)
    locked = _lock(request)
    _require(actor_kinds(user=actor, request=locked), frozenset({workflow.RESIDENT}))
    return event_record(
        request=locked, type=Event.Type.COMMENT_BY_RESIDENT, actor=actor, text=text
    )


@transaction.atomic
def request_attach(
    *, request: ServiceRequest, actor: User, photos: list[PreparedPhoto]
) -> list[Attachment]:
    """Add checked photos (reporter or staff of the department), within the per-request limit."""
    locked = _lock(request)
    kinds = actor_kinds(user=actor, request=locked)
    _require(kinds, frozenset({workflow.RESIDENT}) | workflow.STAFF)
    if not photos:
        raise Invalid(_("Add a photo."), errors={"photos": [_("This field is required.")]})
    limit = max_photos()
    if locked.attachments.count() + len(photos) > limit:
        message = _("A request may have at most %(n)d photos.") % {"n": limit}
        raise Invalid(message, errors={"photos": [message]})
    staff = bool(kinds & workflow.STAFF)
    stored = _attachments_store(request=locked, photos=photos, actor=actor, staff=staff)
    event_record(
        request=locked,
        type=Event.Type.ATTACHMENT_ADDED,
        actor=actor,
        data={"count": len(stored)},
    )
    return stored


def request_withdraw(*, request: ServiceRequest, actor: User) -> ServiceRequest:
    return request_transition(
        request=request, actor=actor, to_status=Status.WITHDRAWN, acting_as=AS_RESIDENT
    )


def request_confirm(*, request: ServiceRequest, actor: User) -> ServiceRequest:
    """The resident confirms the resolution ("fixed"): closed, outcome kept."""
    return request_transition(
        request=request,
        actor=actor,
        to_status=Status.CLOSED,
        data={"answer": "confirmed"},
        acting_as=AS_RESIDENT,
    )


def request_reopen(
    *, request: ServiceRequest, actor: User, reason: str, not_fixed: bool = False
) -> ServiceRequest:
    """The resident reopens a resolution; `not_fixed` records their answer "not fixed"."""
    if not_fixed and not (reason or "").strip():
        reason = _("The resident says the problem is not fixed.")
    return request_transition(
        request=request,
        actor=actor,
        to_status=Status.REOPENED,
        text=_clean_text(reason, field="reason"),
        data={"answer": "not_fixed"} if not_fixed else None,
        acting_as=AS_RESIDENT,
    )


@transaction.atomic
def request_rate(
    *, request: ServiceRequest, actor: User, rating: int, feedback: str = ""
) -> ServiceRequest:
    """The reporter rates a closed request (1–5), once."""
    feedback = _clean_text(feedback, field="feedback", required=False)[:2000]
    if not isinstance(rating, int) or not 1 <= rating <= 5:
        raise Invalid(
            _("Rate from 1 to 5."), errors={"rating": [_("Rate from 1 to 5.")]}
        )
    locked = _lock(request)
    _require(actor_kinds(user=actor, request=locked), frozenset({workflow.RESIDENT}))
    if locked.status != Status.CLOSED:
        raise Conflict(
            _("A request can be rated once it is closed."),
            extra={"current_status": locked.status, "version": locked.version},
        )
    if locked.rating is not None:
        raise Conflict(
            _("This request has already been rated."),
            extra={"current_status": locked.status, "version": locked.version},
        )
    locked.rating, locked.feedback = rating, feedback
    locked.save(update_fields=["rating", "feedback"])
    event_record(
        request=locked,
        type=Event.Type.RATED,
        actor=actor,
        visibility=Event.Visibility.INTERNAL,
        data={"rating": rating},
    )
    return locked


def request_follow(*, request: ServiceRequest, user: User) -> bool:
    """Follow a request (found via `nearby`) to get its updates. True if newly followed."""
    if request.reporter_id == user.pk:
        return False
    _follow, created = Follow.objects.get_or_create(user=user, request=request)
    return created


def request_unfollow(*, request: ServiceRequest, user: User) -> None:
    deleted, _rows = Follow.objects.filter(user=user, request=request).delete()
    if not deleted:
        raise NotFound(_("You do not follow this request."))


# --- Staff actions -----------------------------------------------------------------------------


def _require_open(locked: ServiceRequest, message: str) -> None:
    """409 with the current status unless the request is still open."""
    if locked.status not in OPEN_STATUSES:
        raise Conflict(message, extra={"current_status": locked.status, "version": locked.version})


def _require_not_held_by_another(
    locked: ServiceRequest, actor: User, kinds: frozenset[str]
) -> None:
    """A clerk may not take over (or release) what a colleague holds; a supervisor may."""
    if locked.assignee_id not in (None, actor.pk) and workflow.SUPERVISOR not in kinds:
        raise Conflict(
            _("Someone else is working on this request; a supervisor can reassign it."),
            extra={"current_status": locked.status, "version": locked.version},
        )


def _assignee_set(locked: ServiceRequest, actor: User, assignee: User | None) -> None:
    previous = locked.assignee_id
    locked.assignee = assignee
    event_record(
        changes={"assignee": assignee},
        request=locked,
        type=Event.Type.ASSIGNED,
        actor=actor,
        visibility=Event.Visibility.INTERNAL,
        data={"assignee_id": assignee.pk if assignee else None, "previous_assignee_id": previous},
    )


@transaction.atomic
def request_assign(
    *,
    request: ServiceRequest,
    actor: User,
    assignee: User | None = None,
    expected_version: int | None = None,
) -> ServiceRequest:
    """Assign to oneself (clerk), or to a member of the department (supervisor).

    With `expected_version`, a request changed since the caller loaded it is refused (409).
    """
    locked = _lock(request)
    kinds = actor_kinds(user=actor, request=locked)
    _require(kinds, workflow.STAFF)
    if expected_version is not None and expected_version != locked.version:
        raise Conflict(
            _("The request changed since you loaded it; reload and try again."),
            extra=_conflict_extra(locked, kinds),
        )
    target = assignee if assignee is not None else actor
    if target.pk != actor.pk and workflow.SUPERVISOR not in kinds:
        raise Forbidden(_("Only a supervisor can assign a request to someone else."))
    if target.pk != actor.pk and not DepartmentMembership.objects.filter(
        user=target, department_id=locked.department_id or 0
    ).exists():
        raise Invalid(
            _("That person is not a member of this department."),
            errors={"assignee": [_("Choose a clerk of this department.")]},
        )
    _require_open(locked, _("Only open requests can be assigned."))
    _require_not_held_by_another(locked, actor, kinds)
    if locked.assignee_id != target.pk:
        _assignee_set(locked, actor, target)
    return locked


@transaction.atomic
def request_unassign(*, request: ServiceRequest, actor: User) -> ServiceRequest:
    """Put an open request back in the department's pool: its assignee, or a supervisor."""
    locked = _lock(request)
    kinds = actor_kinds(user=actor, request=locked)
    _require(kinds, workflow.STAFF)
    if locked.assignee_id is None:
        return locked
    _require_not_held_by_another(locked, actor, kinds)
    _require_open(locked, _("Only open requests can be assigned."))
    _assignee_set(locked, actor, None)
    return locked


@transaction.atomic
def request_set_priority(
    *, request: ServiceRequest, actor: User, priority: int, reason: str
) -> ServiceRequest:
    """Staff of the department raise or lower an open request's priority, with a reason."""
    reason = _clean_text(reason, field="reason")
    if priority not in Priority.values:
        raise Invalid(
            _("Choose a priority."), errors={"priority": [_("Choose low, normal, high or urgent.")]}
        )
    locked = _lock(request)
    _require(actor_kinds(user=actor, request=locked), workflow.STAFF)
    _require_open(locked, _("Only open requests can change priority."))
    if locked.priority == priority:
        return locked
    before = locked.priority
    locked.priority = priority
    event_record(
        changes={"priority": priority},
        request=locked,
        type=Event.Type.PRIORITY_CHANGED,
        actor=actor,
        visibility=Event.Visibility.INTERNAL,
        text=reason,
        data={"priority_from": before, "priority_to": priority},
    )
    return locked


@transaction.atomic
def request_reply(*, request: ServiceRequest, actor: User, text: str) -> Event:
    """A public answer from staff to the resident."""
    text = _clean_text(text)
    locked = _lock(request)
    _require(actor_kinds(user=actor, request=locked), workflow.STAFF)
    return event_record(request=locked, type=Event.Type.PUBLIC_REPLY, actor=actor, text=text)


@transaction.atomic
def request_note(*, request: ServiceRequest, actor: User, text: str) -> Event:
    """An internal note: staff only, never shown to the resident."""
    text = _clean_text(text)
    locked = _lock(request)
    _require(actor_kinds(user=actor, request=locked), workflow.STAFF)
    return event_record(
        request=locked,
        type=Event.Type.INTERNAL_NOTE,
        actor=actor,
        visibility=Event.Visibility.INTERNAL,
        text=text,
    )


def request_return(
    *, request: ServiceRequest, actor: User, reason: str, expected_version: int | None = None
) -> ServiceRequest:
    """Send back for re-routing (wrong department); the reason is required."""
    return request_transition(
        request=request,
        actor=actor,
        to_status=Status.RETURNED,
        text=_clean_text(reason, field="reason"),
        expected_version=expected_version,
    )


@transaction.atomic
def request_mark_duplicate(
    *, request: ServiceRequest, actor: User, original: ServiceRequest, text: str = ""
) -> ServiceRequest:
    """Close `request` as a duplicate of `original`; its reporter and followers follow it."""
    if original.pk == request.pk:
        raise Invalid(
            _("A request cannot duplicate itself."),
            errors={"original": [_("Choose another request.")]},
        )
    # Lock both rows in id order so two opposite markings cannot deadlock.
    rows = {
        r.pk: r
        for r in ServiceRequest.objects.select_for_update()
        .filter(pk__in=[request.pk, original.pk])
        .order_by("pk")
    }
    original = rows[original.pk]
    if original.duplicate_of_id is not None or original.status in (
        Status.WITHDRAWN,
        Status.REJECTED,
    ):
        raise Invalid(
            _("The original must be a live request, not a duplicate itself."),
            errors={"original": [_("Choose the request that is being worked on.")]},
        )
    text = _clean_text(text, required=False)
    duplicate = request_transition(
        request=request,
        actor=actor,
        to_status=Status.CLOSED,
        text=text or _("This is a duplicate of %(ref)s; follow that request for updates.")
        % {"ref": original.reference},
        via="duplicate",
        data={"original": original.reference},
    )
    duplicate.duplicate_of = original
    duplicate.save(update_fields=["duplicate_of"])
    user_ids = set(Follow.objects.filter(request=duplicate).values_list("user_id", flat=True))
    if duplicate.reporter_id is not None:
        user_ids.add(duplicate.reporter_id)
    user_ids.discard(original.reporter_id)
    Follow.objects.bulk_create(
        [Follow(user_id=uid, request=original) for uid in sorted(user_ids)],
        ignore_conflicts=True,
    )
    Follow.objects.filter(request=duplicate).delete()
    event_record(
        request=original,
        type=Event.Type.MARKED_DUPLICATE,
        actor=actor,
        visibility=Event.Visibility.INTERNAL,
        data={"duplicate": duplicate.reference, "followers_added": len(user_ids)},
    )
    return duplicate


# --- Periodic ------------------------------------------------------------------------------------


def requests_auto_close(*, now: datetime | None = None) -> int:
    """Close requests resolved more than AUTO_CLOSE_DAYS ago (system move). Returns the count.

    Each request closes in its own transaction, so one failure does not undo the others,
    and a request the resident reopens meanwhile is simply skipped (409 → not counted).
    """
    from django.conf import settings

    now = now or timezone.now()
    cutoff = now - timedelta(days=int(settings.CIVICDESK["AUTO_CLOSE_DAYS"]))
    ids = list(
        ServiceRequest.objects.filter(status=Status.RESOLVED, resolved_at__lte=cutoff)
        .order_by("resolved_at")
        .values_list("pk", flat=True)
    )
    closed = 0
    for pk in ids:
        try:
            request_transition(
                request=ServiceRequest(pk=pk),
                actor=None,
                to_status=Status.CLOSED,
                data={"auto_closed": True},
            )
        except Conflict:
            continue
        closed += 1
    return closed


# --- Removing personal data (asked by consent.rights: erasure and retention) -----------------

#: What replaces free text a resident wrote once it may no longer be kept.
REMOVED_MARKER = "[removed at the resident's request or at the end of its retention period]"
REDACTED = "[removed]"


@dataclass
class AnonymiseCounts:
    requests: int = 0
    photos: int = 0
    comments: int = 0
    request_ids: list[int] = field(default_factory=list)  # the requests anonymised


def _redact(text: str, terms: list[str]) -> str:
    lowered = text.lower()
    for term in terms:
        start = lowered.find(term.lower())
        while start != -1:
            text = text[:start] + REDACTED + text[start + len(term):]
            lowered = text.lower()
            start = lowered.find(term.lower(), start + len(REDACTED))
    return text


def _attachment_files_delete(attachments: list[Attachment]) -> int:
    """Delete the photos' files once the transaction has committed. Returns how many."""
    for attachment in attachments:
        name: str = attachment.file.name or ""
        storage = attachment.file.storage

        def remove(name: str = name, storage: Storage = storage) -> None:
            try:
                storage.delete(name)
            except OSError:
                logger.warning("photo file could not be deleted")

        transaction.on_commit(remove)
    return len(attachments)


def requests_anonymise(
    *, request_ids: list[int], cause: str, terms_by_reporter: dict[int, list[str]],
    keep: set[str], now: datetime,
) -> AnonymiseCounts:
    """Remove the personal parts of these requests; runs inside the caller's transaction.

    Keeps category, district, dates, status and outcome. `keep` names held categories
    (free_text / photos) left in place (a legal obligation). Like every other change, each
    request's version goes up, an internal `anonymised` event is recorded and its live push
    is queued (outbox). Set-based: a fixed number of queries per batch (plus one outbox row
    per request) whatever its size.
    """
    counts = AnonymiseCounts()
    rows = list(
        ServiceRequest.objects.select_for_update(of=("self",)).filter(pk__in=request_ids)
        .only("pk", "reporter_id", "lat", "lon", "street", "is_private_address", "version")
    )
    if not rows:
        return counts
    ids = [r.pk for r in rows]
    reporter_of = {r.pk: r.reporter_id for r in rows}
    events = Event.objects.filter(request_id__in=ids)
    # Staff texts that quote the reporter's e-mail, name or phone: redact those words.
    changed = []
    for ev in events.exclude(text="").only("pk", "request_id", "text"):
        terms = terms_by_reporter.get(reporter_of.get(ev.request_id) or 0, [])
        cleaned = _redact(ev.text, terms) if terms else ev.text
        if cleaned != ev.text:
            ev.text = cleaned
            changed.append(ev)
    Event.objects.bulk_update(changed, ["text"], batch_size=500)
    events.filter(actor_id=F("request__reporter_id")).update(actor=None)
    if "free_text" not in keep:
        counts.comments = events.filter(type=Event.Type.COMMENT_BY_RESIDENT).exclude(
            text=REMOVED_MARKER).update(text=REMOVED_MARKER)
    # A home's exact position is personal data: round it to about 1 km (and forget its street).
    private = [r for r in rows if r.is_private_address]
    for r in private:
        if r.lat is not None and r.lon is not None:
            r.lat, r.lon = round(r.lat, 2), round(r.lon, 2)
        r.street = ""
    ServiceRequest.objects.bulk_update(private, ["lat", "lon", "street"], batch_size=500)
    update: dict[str, Any] = {"reporter": None, "address": ""}
    if "free_text" not in keep:
        update.update(description=REMOVED_MARKER, feedback="", attribute_values={})
    ServiceRequest.objects.filter(pk__in=ids).update(
        version=F("version") + 1, updated_at=timezone.now(), **update
    )
    if "photos" not in keep:
        photos = list(Attachment.objects.filter(request_id__in=ids))
        counts.photos = _attachment_files_delete(photos)
        Attachment.objects.filter(pk__in=[a.pk for a in photos]).delete()
    Open311Submission.objects.filter(request_id__in=ids).update(
        email="", first_name="", last_name="", phone="", device_id="", account_id="",
        address_id="",
    )
    recorded = Event.objects.bulk_create(
        [
            Event(
                request_id=r.pk, type=Event.Type.ANONYMISED, actor_role=workflow.SYSTEM,
                visibility=Event.Visibility.INTERNAL, data={"cause": cause},
                version=r.version + 1,
            )
            for r in rows
        ]
    )
    for event in recorded:
        outbox_enqueue(topic=TOPIC_EVENT, payload={"event_id": event.pk})
    counts.requests = len(ids)
    counts.request_ids = ids
    return counts


def actor_unlink(*, user_id: int) -> None:
    """Timeline entries and photos by this account on any request stop naming it (erasure)."""
    Event.objects.filter(actor_id=user_id).update(actor=None)
    Attachment.objects.filter(uploaded_by_id=user_id).update(uploaded_by=None)


# --- Staff queue: a clerk's saved filters ------------------------------------------------------

SAVED_QUEUE_FILTERS_MAX = 30


@transaction.atomic
def queue_filter_save(*, user: User, name: str, filters: dict[str, Any]) -> SavedQueueFilter:
    """Save (or replace, by name) one of `user`'s queue filters; only they see it."""
    name = " ".join((name or "").split())
    if not name:
        raise Invalid(_("Give the filter a name."), errors={"name": [_("Give the filter a name.")]})
    if len(name) > SavedQueueFilter._meta.get_field("name").max_length:  # type: ignore[operator]
        message = _("Use a shorter name.")
        raise Invalid(message, errors={"name": [message]})
    kept = {k: str(v)[:100] for k, v in filters.items() if k in QUEUE_FILTER_KEYS and v}
    saved = SavedQueueFilter.objects.filter(user=user, name=name).first()
    if saved is None:
        if SavedQueueFilter.objects.filter(user=user).count() >= SAVED_QUEUE_FILTERS_MAX:
            message = _("You have %(n)d saved filters; delete one first.") % {
                "n": SAVED_QUEUE_FILTERS_MAX
            }
            raise Invalid(message, errors={"name": [message]})
        return SavedQueueFilter.objects.create(user=user, name=name, filters=kept)
    saved.filters = kept
    saved.save(update_fields=["filters"])
    return saved


def queue_filter_delete(*, user: User, filter_id: int | str) -> None:
    """Delete one of `user`'s saved filters; NotFound for anyone else's."""
    access_saved_queue_filter(user=user, filter_id=filter_id).delete()


# --- City setup (the admin) -------------------------------------------------------------------


@transaction.atomic
def districts_import(*, shapes: list[DistrictShape]) -> tuple[int, int]:
    """Create or update districts by code from checked shapes (services.geo), all or none.
    Returns (created, updated)."""
    created = updated = 0
    for item in shapes:
        _, was_created = District.objects.update_or_create(
            code=item.code,
            defaults={
                "name_en": item.name_en,
                "name_zh_hans": item.name_zh_hans,
                "boundary": item.boundary,
            },
        )
        created += was_created
        updated += not was_created
    return created, updated
