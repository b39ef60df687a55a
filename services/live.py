"""Live updates over Channels: which groups hear of an event, and what each of them may see.

`push_event` runs after commit (outbox fast path or relay); `live_disconnect_user` closes a
user's sockets on logout, role change or deactivation. Message format: docs/live-updates.md.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from asgiref.sync import async_to_sync
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.db import transaction
from django.db.models import Exists, OuterRef, Subquery

from services.models import OPEN_STATUSES, Event, Follow, ServiceRequest, Status

if TYPE_CHECKING:
    from django.http import HttpRequest

    from core.users import AnyUser

# Handler names on the consumers (a channel-layer "type" maps to a consumer method).
MESSAGE = "live.message"
CLOSE = "live.close"

# Message types the client sees.
REQUEST_EVENT = "request.event"
QUEUE_ITEM = "queue.item"

# Keys of Event.data that a resident may see; everything else (routing explanations, …)
# is staff-only.
PUBLIC_DATA_KEYS = frozenset({"move", "outcome"})
# A returned item waits for re-routing: it has left its department's queue.
QUEUE_STATUSES = OPEN_STATUSES - {Status.RETURNED}
STAFF_ROLES = frozenset({"clerk", "supervisor", "staff", "system"})


# --- Group names: server-side ids only, never anything a client sent ------------------------


def resident_group(user_id: int) -> str:
    return f"resident.{user_id}"


def queue_group(department_id: int) -> str:
    return f"queue.{department_id}"


def request_staff_group(request_id: int) -> str:
    return f"request.{request_id}.staff"


def user_group(user_id: int) -> str:
    """Control group: every socket of the user joins it, so the server can close them all."""
    return f"user.{user_id}"


def session_fingerprint(session_key: str | None) -> str | None:
    """A stand-in for the session key in channel messages (the key itself is a credential)."""
    if not session_key:
        return None
    return hashlib.sha256(session_key.encode()).hexdigest()[:32]


# --- Views of one event -------------------------------------------------------------------


def _event_core(event: Event) -> dict[str, Any]:
    return {
        "id": event.pk,
        "type": event.type,
        "version": event.version,
        "created_at": event.created_at.isoformat(),
        "from_status": event.from_status,
        "to_status": event.to_status,
        "actor_role": event.actor_role,
    }


def event_public_view(event: Event) -> dict[str, Any]:
    """What the reporter sees on their timeline (only ever built for public events)."""
    return {
        **_event_core(event),
        "text": event.text,
        "data": {k: v for k, v in event.data.items() if k in PUBLIC_DATA_KEYS},
    }


def event_follower_view(event: Event) -> dict[str, Any]:
    """What another resident following the request sees: the city's words, not the reporter's."""
    view = event_public_view(event)
    if event.actor_role not in STAFF_ROLES:
        view["text"] = ""
    return view


def event_queue_view(event: Event) -> dict[str, Any]:
    """What the department's queue (every clerk of it) sees: what happened, not the text."""
    return {**_event_core(event), "visibility": event.visibility}


def event_staff_view(event: Event) -> dict[str, Any]:
    """The full event, internal notes included: only for the per-request staff stream."""
    return {
        **_event_core(event),
        "visibility": event.visibility,
        "text": event.text,
        "data": event.data,
        "actor_department_id": event.actor_department_id,
    }


def _queue_item(request: ServiceRequest, department_id: int) -> dict[str, Any]:
    """The queue row as it is now (it may already be newer than the event: see `version`)."""
    return {
        "department_id": request.department_id,
        "in_queue": request.department_id == department_id and request.status in QUEUE_STATUSES,
        "version": request.version,
        "status": request.status,
        "priority": request.priority,
        "assignee_id": request.assignee_id,
        "category": request.category.code,
        "district_id": request.district_id,
        "due_at": request.due_at.isoformat() if request.due_at else None,
        "sla_breached_at": (
            request.sla_breached_at.isoformat() if request.sla_breached_at else None
        ),
    }


@dataclass(frozen=True)
class Delivery:
    group: str
    message: dict[str, Any]
    # Staff deliveries: the departments whose staff may receive it *now*. Each socket checks
    # it against the memberships it holds before sending (access can end mid-connection:
    # a request is returned or re-routed). Never sent to the client.
    departments: tuple[int, ...] | None = None

    def envelope(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": MESSAGE, "message": self.message}
        if self.departments is not None:
            out["departments"] = list(self.departments)
        return out


def _status_at(event: Event, request: ServiceRequest) -> str:
    """The request's status right after `event` (not necessarily its status now)."""
    if event.to_status:
        return event.to_status
    if event.version >= request.version:
        return request.status
    last = (
        Event.objects.filter(request_id=request.pk, version__lte=event.version)
        .exclude(to_status="")
        .order_by("-version")
        .values_list("to_status", flat=True)
        .first()
    )
    return last or request.status


def _previous_public_version() -> Subquery:
    """The version of the public event before this one: residents' gap check."""
    return Subquery(
        Event.objects.filter(
            request_id=OuterRef("request_id"),
            visibility=Event.Visibility.PUBLIC,
            version__lt=OuterRef("version"),
        )
        .order_by("-version")
        .values("version")[:1]
    )


def _department_ids(event: Event, request: ServiceRequest) -> set[int]:
    """Queues that hear of the event: the request's department now, and the one it left."""
    ids = {request.department_id, event.actor_department_id}
    for key in ("from_department_id", "previous_department_id"):
        value = event.data.get(key)
        if isinstance(value, int) and not isinstance(value, bool):
            ids.add(value)
    return {i for i in ids if i is not None}


def event_for_delivery(event_id: int) -> Event | None:
    """The event with what its pushes and e-mails need (request, category, department,
    reporter), in one query: the previous public version and whether anyone follows the
    request come along as subqueries."""
    return (
        Event.objects.select_related(
            "request__category", "request__department", "request__reporter"
        )
        .annotate(
            previous_public_version=_previous_public_version(),
            has_followers=Exists(Follow.objects.filter(request_id=OuterRef("request_id"))),
        )
        .filter(pk=event_id)
        .first()
    )


def deliveries_for_event(*, event_id: int) -> list[Delivery]:
    """Every (group, message) pair the event produces; empty if the event is gone."""
    event = event_for_delivery(event_id)
    return [] if event is None else deliveries_of(event)


def deliveries_of(event: Event) -> list[Delivery]:
    """Every (group, message) pair an event loaded by `event_for_delivery` produces."""
    request = event.request
    base = {
        "reference": request.reference,
        "status": _status_at(event, request),
        "version": event.version,
        "changed_at": event.created_at.isoformat(),
    }
    out: list[Delivery] = []

    if event.visibility == Event.Visibility.PUBLIC:
        resident_message = {
            "type": REQUEST_EVENT,
            **base,
            # Annotations of event_for_delivery.
            "previous_version": getattr(event, "previous_public_version", None) or 0,
        }
        if request.reporter_id is not None:
            out.append(
                Delivery(
                    resident_group(request.reporter_id),
                    {**resident_message, "event": event_public_view(event)},
                )
            )
        if getattr(event, "has_followers", True):
            followers = Follow.objects.filter(request_id=request.pk).values_list(
                "user_id", flat=True
            )
            follower_event = event_follower_view(event)
            out.extend(
                Delivery(resident_group(uid), {**resident_message, "event": follower_event})
                for uid in followers
                if uid != request.reporter_id
            )

    staff_base = {**base, "previous_version": event.version - 1}
    queue_event = event_queue_view(event)
    out.extend(
        Delivery(
            queue_group(department_id),
            {
                "type": QUEUE_ITEM,
                **staff_base,
                "event": queue_event,
                "item": _queue_item(request, department_id),
            },
            departments=(department_id,),
        )
        for department_id in sorted(_department_ids(event, request))
    )
    # The full timeline goes only to staff of the department that holds the request now
    # (as `access_request` decides for REST): after a return or re-route, sockets of the
    # department it left are closed by the consumer instead of hearing on.
    out.append(
        Delivery(
            request_staff_group(request.pk),
            {"type": REQUEST_EVENT, **staff_base, "event": event_staff_view(event)},
            departments=(request.department_id,) if request.department_id else (),
        )
    )
    return out


async def _group_send_all(items: list[tuple[str, dict[str, Any]]]) -> None:
    """Groups in parallel; the messages of one group in the order given (two events of one
    request pushed together arrive in version order)."""
    layer = get_channel_layer()
    if layer is None:
        return
    by_group: dict[str, list[dict[str, Any]]] = {}
    for group, message in items:
        by_group.setdefault(group, []).append(message)

    async def send_in_order(group: str, messages: list[dict[str, Any]]) -> None:
        for message in messages:
            await layer.group_send(group, message)

    await asyncio.gather(*(send_in_order(g, m) for g, m in by_group.items()))


class _SenderLoop:
    """One long-lived event loop thread per process for sending to channels-redis.

    `async_to_sync` from a plain thread (gunicorn, Celery) would build a new event loop and
    a new Redis connection pool for every push; this keeps one of each. The in-memory layer
    lives on the ASGI server's own loop, so it keeps `async_to_sync` (which finds that loop).
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pid = 0

    def loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._pid != os.getpid():  # new, or forked
                self._loop = asyncio.new_event_loop()
                self._pid = os.getpid()
                threading.Thread(
                    target=self._loop.run_forever, name="live-push", daemon=True
                ).start()
            return self._loop


_sender = _SenderLoop()
SEND_TIMEOUT_SECONDS = 10


def group_send_all(items: list[tuple[str, dict[str, Any]]]) -> None:
    """Send each (group, message) on the channel layer; raises if the layer fails."""
    if isinstance(get_channel_layer(), InMemoryChannelLayer):
        async_to_sync(_group_send_all)(items)
        return
    future = asyncio.run_coroutine_threadsafe(_group_send_all(items), _sender.loop())
    future.result(timeout=SEND_TIMEOUT_SECONDS)


def push_event(*, event_id: int) -> Event | None:
    """Send the event to the groups allowed to see it. Idempotent for clients (by version).

    Called after commit only. Raises if the channel layer is down, so the outbox retries.
    Returns the event as loaded (for its notifications), or None if it is gone.
    """
    event = event_for_delivery(event_id)
    if event is None:
        return None
    deliveries = deliveries_of(event)
    if deliveries:
        group_send_all([(d.group, d.envelope()) for d in deliveries])
    return event


@dataclass
class PreparedPush:
    """Events a worker pushes right after its own commit, already in memory with what
    `deliveries_of` reads (request, category, reporter, `previous_public_version`,
    `has_followers`): no reload. `sent` tells the caller whether that happened."""

    events: list[Event]
    sent: bool = False


def push_prepared(prepared: PreparedPush) -> None:
    """Push the prepared events, in order, in one round of sends. Raises if the layer fails."""
    items = [
        (d.group, d.envelope()) for event in prepared.events for d in deliveries_of(event)
    ]
    if items:
        group_send_all(items)
    prepared.sent = True


# --- Closing sockets ------------------------------------------------------------------------


def live_disconnect_user(
    *, user_id: int, session_key: str | None = None, ended: str = ""
) -> None:
    """Close the user's open sockets once the current transaction commits.

    Without `session_key` every socket of the user closes with 4409 (reconnect: roles or the
    account changed, the server decides again what it may see; a deactivated user then gets
    4401). With it, only the sockets of that session close, with 4401 (signed out). With
    `ended` (a reason code, e.g. "password_changed") every socket closes with 4401: all the
    user's sessions have ended.
    Call after a role change, deactivation or logout; calling it twice does no harm.
    """
    message: dict[str, Any] = {"type": CLOSE, "session": session_fingerprint(session_key)}
    if ended:
        message["ended"] = ended
    transaction.on_commit(lambda: group_send_all([(user_group(user_id), message)]), robust=True)


def on_user_logged_out(
    sender: Any, request: HttpRequest | None, user: AnyUser | None, **kwargs: Any) -> None:
    """allauth/Django `user_logged_out`: close the sockets of the session being ended."""
    if user is not None and user.pk is not None:
        session = getattr(request, "session", None)
        live_disconnect_user(user_id=user.pk, session_key=getattr(session, "session_key", None))


def on_user_session_deleted(sender: Any, instance: Any, **kwargs: Any) -> None:
    """allauth usersessions: a session ended from another device ("sign out other devices")."""
    live_disconnect_user(user_id=instance.user_id, session_key=instance.session_key)


def on_roles_changed(sender: Any, instance: Any, **kwargs: Any) -> None:
    """A department role was given, changed or taken away: the user's streams are re-decided."""
    live_disconnect_user(user_id=instance.user_id)


def on_second_factor_changed(
    sender: Any, instance: Any, created: bool = True, **kwargs: Any
) -> None:
    """Staff roles need TOTP: enrolling or removing it changes the roles (use does not)."""
    if created:
        live_disconnect_user(user_id=instance.user_id)


def on_user_saved(sender: Any, instance: Any, created: bool = False, **kwargs: Any) -> None:
    """A deactivated account keeps no socket open; a new password ends every session."""
    if not instance.is_active:
        live_disconnect_user(user_id=instance.pk)
    # Django keeps the new raw password on `_password` from set_password() until save()
    # returns: it is set exactly when this save changed the password (any path: allauth's
    # change and reset, the admin, manage.py changepassword).
    elif not created and getattr(instance, "_password", None) is not None:
        user_sessions_end(user_id=instance.pk, reason="password_changed")


def user_sessions_end(*, user_id: int, reason: str) -> int:
    """End every session of the user (web sessions and app tokens) and close their sockets.

    Django's session hash already refuses the old sessions after a password change; this
    also deletes them (and allauth's UserSession rows) so no stale session lingers.
    """
    from allauth.usersessions.models import UserSession

    # First, so the sockets hear why (each ended session also sends its own "signed out").
    live_disconnect_user(user_id=user_id, ended=reason)
    ended = 0
    for user_session in UserSession.objects.filter(user_id=user_id):
        user_session.end()
        ended += 1
    return ended
