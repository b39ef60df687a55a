"""WebSocket consumers: thin; the server decides the groups from the user and access selectors.

Streams: /ws/resident/ (my requests), /ws/queue/ (my departments' queues),
/ws/requests/<reference>/ (one request, staff only). Protocol: docs/live-updates.md.
"""

from __future__ import annotations

import asyncio
import json
import random
from typing import TYPE_CHECKING, Any

from allauth.core.internal.sessionkit import get_session_user
from allauth.headless.internal.sessionkit import lookup_session
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.conf import settings

from core.errors import NotFound
from core.json_limits import json_too_deep
from core.roles import roles_for, session_bind
from core.session_limits import (
    app_token_session,
    session_limit_reached,
    token_session_check,
)
from services import live
from services.selectors import access_request

if TYPE_CHECKING:
    from core.users import User

SUBPROTOCOL = "civicdesk.v1"
AUTH_SUBPROTOCOL_PREFIX = "civicdesk.token."
MAX_FRAME_CHARS = 4096
MAX_BAD_FRAMES = 10
AUTH_TIMEOUT_SECONDS = 10.0  # settings.CIVICDESK_WS_AUTH_TIMEOUT overrides
RECHECK_SECONDS = 300.0  # settings.CIVICDESK_WS_RECHECK_SECONDS overrides

# Close codes (4000–4999 are the application's; see docs/live-updates.md).
CLOSE_TOO_BIG = 1009
CLOSE_BAD_CLIENT = 4400
CLOSE_UNAUTHENTICATED = 4401
CLOSE_FORBIDDEN = 4403
CLOSE_NOT_FOUND = 4404
CLOSE_AUTH_TIMEOUT = 4408
CLOSE_RECONNECT = 4409


class Refused(Exception):
    """The user may not open this stream."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code = code
        self.reason = reason


def token_from_subprotocols(subprotocols: list[str]) -> str | None:
    """The app session token offered as subprotocol `civicdesk.token.<token>`, if any."""
    for protocol in subprotocols:
        if protocol.startswith(AUTH_SUBPROTOCOL_PREFIX):
            return protocol[len(AUTH_SUBPROTOCOL_PREFIX):]
    return None


def authenticate_token(token: object) -> tuple[User, str] | None:
    """(user, session_key) for a valid allauth app session token of an active user, within
    the session limits."""
    found = app_token_session(token)
    if found is None:
        return None
    if not roles_for(found.user).authenticated:
        return None
    if not token_session_check(found.session, found.user):
        return None
    return found.user, found.session_key


def session_user(session_key: str | None, user_id: int) -> Any:
    """The user the session still signs in (active, same user), bound to that session for
    `roles_for`; None once the session ended or signs in someone else."""
    if not session_key:
        return None
    session = lookup_session(session_key)
    if session is None:
        return None
    user = get_session_user(session)
    if user is None or user.pk != user_id:
        return None
    session_bind(user, session)
    if not roles_for(user).authenticated:
        return None
    # Idle and absolute limits (an open socket is not activity: a session past a limit ends).

    if session_limit_reached(session, user):
        return None
    return user


def session_belongs_to(session_key: str, user_id: int) -> bool:
    """Whether the session still exists and still signs in this (active) user."""
    return session_user(session_key, user_id) is not None


class LiveConsumer(AsyncJsonWebsocketConsumer):
    """Authentication, frame checks and delivery; subclasses decide the groups."""

    stream = ""

    async def connect(self) -> None:
        self.joined: list[str] = []
        self.bad_frames = 0
        self.auth_timer: asyncio.Task | None = None
        self.recheck: asyncio.Task | None = None
        self.user: User | None = None
        # The user's department memberships as this socket holds them; every staff delivery
        # is checked against them (services.live.Delivery.departments).
        self.departments: frozenset[int] = frozenset()
        self.remember_session(self.scope.get("civicdesk_session_key"))
        offered = self.scope.get("subprotocols") or []
        await self.accept(SUBPROTOCOL if SUBPROTOCOL in offered else None)
        if self.scope.get("civicdesk_auth_error"):
            await self.refuse(CLOSE_UNAUTHENTICATED, "invalid_token")
            return
        user = self.scope.get("user")
        if user is not None and user.is_authenticated:
            await self.start(user)
        else:
            # Mobile clients that cannot set Sec-WebSocket-Protocol send {"type": "auth"} first.
            self.auth_timer = asyncio.ensure_future(self.close_unless_authenticated())

    def remember_session(self, session_key: str | None) -> None:
        self.session_key = session_key
        self.session_fingerprint = live.session_fingerprint(session_key)

    async def recheck_session(self) -> None:
        """Close the socket once its session has ended, even if no close message came
        (the session expired, or Redis was down when the user signed out)."""
        interval = getattr(settings, "CIVICDESK_WS_RECHECK_SECONDS", RECHECK_SECONDS)
        if self.user is None:  # started by `start`, once the user is known
            return
        while True:
            await asyncio.sleep(interval * random.uniform(0.8, 1.2))  # noqa: S311 - jitter
            user = await database_sync_to_async(session_user)(self.session_key, self.user.pk)
            if user is None:
                await self.refuse(CLOSE_UNAUTHENTICATED, "session_ended")
                return
            # Also a backstop for a lost "roles changed" message: re-decide the stream.
            try:
                await database_sync_to_async(self.subscribe)(user)
            except Refused:
                await self.access_lost()
                return

    async def close_unless_authenticated(self) -> None:
        await asyncio.sleep(getattr(settings, "CIVICDESK_WS_AUTH_TIMEOUT", AUTH_TIMEOUT_SECONDS))
        if self.user is None:
            await self.refuse(CLOSE_AUTH_TIMEOUT, "auth_timeout")

    def subscribe_bound(self, user: User) -> tuple[list[str], dict[str, Any]]:
        """`subscribe` with the user's roles taken from this socket's own session (staff
        powers need that session to have passed the second factor)."""
        session = lookup_session(self.session_key) if self.session_key else None
        session_bind(user, session)
        return self.subscribe(user)

    async def start(self, user: User) -> None:
        try:
            groups, hello = await database_sync_to_async(self.subscribe_bound)(user)
        except Refused as refused:
            await self.refuse(refused.code, refused.reason)
            return
        self.user = user
        for group in [live.user_group(user.pk), *groups]:
            await self.channel_layer.group_add(group, self.channel_name)
            self.joined.append(group)
        await self.send_json({"type": "ready", "stream": self.stream, **hello})
        if self.session_key is not None:
            self.recheck = asyncio.ensure_future(self.recheck_session())

    def subscribe(self, user: User) -> tuple[list[str], dict[str, Any]]:
        """The groups this user's socket joins, and extra fields for the `ready` frame;
        sets `self.departments`. Raises Refused when the stream is not (or no longer) theirs."""
        raise NotImplementedError

    async def access_lost(self) -> None:
        """The user may no longer see this stream: close it (docs/live-updates.md)."""
        await self.refuse(CLOSE_RECONNECT, "access_ended")

    async def refuse(self, code: int, reason: str) -> None:
        await self.send_json({"type": "error", "code": reason})
        await self.close(code=code)

    async def disconnect(self, code: int) -> None:
        for task in (self.auth_timer, self.recheck):
            if task is not None:
                task.cancel()
        for group in self.joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        self.joined = []

    # --- client → server ---------------------------------------------------------------

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if text_data is None:
            await self.bad_frame("binary_not_supported", "Send JSON text frames.")
            return
        if len(text_data) > MAX_FRAME_CHARS:
            await self.close(code=CLOSE_TOO_BIG)
            return
        if json_too_deep(text_data):
            await self.bad_frame("too_deep", "JSON nested too deeply.")
            return
        try:
            content = json.loads(text_data)
        except (ValueError, RecursionError):
            await self.bad_frame("invalid_json", "The frame is not valid JSON.")
            return
        if not isinstance(content, dict) or not isinstance(content.get("type"), str):
            await self.bad_frame("invalid_message", 'Send an object with a string "type".')
            return
        await self.receive_json(content)

    async def receive_json(self, content: dict[str, Any], **kwargs: Any) -> None:
        kind = content["type"]
        if kind == "auth":
            await self.receive_auth(content)
        elif self.user is None:
            await self.refuse(CLOSE_UNAUTHENTICATED, "auth_required")
        elif kind == "ping":
            await self.send_json({"type": "pong"})
        else:
            await self.bad_frame("unknown_type", "Known types: auth, ping.")

    async def receive_auth(self, content: dict[str, Any]) -> None:
        if self.user is not None:
            await self.bad_frame("already_authenticated", "This socket is signed in already.")
            return
        result = await database_sync_to_async(authenticate_token)(content.get("token"))
        if result is None:
            await self.refuse(CLOSE_UNAUTHENTICATED, "invalid_token")
            return
        if self.auth_timer is not None:
            self.auth_timer.cancel()
        user, session_key = result
        self.remember_session(session_key)
        await self.start(user)

    async def bad_frame(self, code: str, detail: str) -> None:
        self.bad_frames += 1
        if self.bad_frames > MAX_BAD_FRAMES:
            await self.refuse(CLOSE_BAD_CLIENT, "too_many_bad_frames")
            return
        await self.send_json({"type": "error", "code": code, "detail": detail})

    # --- channel layer → client --------------------------------------------------------

    async def live_message(self, message: dict[str, Any]) -> None:
        allowed = message.get("departments")
        if allowed is not None and not self.departments.intersection(allowed):
            # Access ended since connect (the request was returned or re-routed): nothing
            # more is delivered on this socket.
            await self.access_lost()
            return
        await self.send_json(message["message"])

    async def live_close(self, message: dict[str, Any]) -> None:
        session = message.get("session")
        ended = message.get("ended")
        if ended:
            await self.refuse(CLOSE_UNAUTHENTICATED, str(ended))
        elif session is None:
            await self.refuse(CLOSE_RECONNECT, "reconnect")
        elif session == self.session_fingerprint:
            await self.refuse(CLOSE_UNAUTHENTICATED, "signed_out")


class UnknownStreamConsumer(LiveConsumer):
    """Any other /ws/ path (or a malformed reference): a clear close instead of a crash."""

    async def connect(self) -> None:
        self.joined, self.auth_timer, self.recheck = [], None, None
        await self.accept()
        await self.refuse(CLOSE_NOT_FOUND, "unknown_stream")


class ResidentConsumer(LiveConsumer):
    """Public events of the user's own requests and of the requests they follow."""

    stream = "resident"

    def subscribe(self, user: User) -> tuple[list[str], dict[str, Any]]:
        if not roles_for(user).authenticated:
            raise Refused(CLOSE_UNAUTHENTICATED, "not_authenticated")
        return [live.resident_group(user.pk)], {}


class QueueConsumer(LiveConsumer):
    """Every change to the queues of the departments the user works in."""

    stream = "queue"

    def subscribe(self, user: User) -> tuple[list[str], dict[str, Any]]:
        roles = roles_for(user)
        if not roles.authenticated:
            raise Refused(CLOSE_UNAUTHENTICATED, "not_authenticated")
        departments = sorted(roles.staff_department_ids)
        if not departments:
            raise Refused(CLOSE_FORBIDDEN, "not_staff")
        if self.joined and set(departments) != set(self.departments):
            # Re-checked while connected and the memberships changed: reconnect.
            raise Refused(CLOSE_RECONNECT, "access_ended")
        self.departments = roles.staff_department_ids
        return [live.queue_group(d) for d in departments], {"departments": departments}


class RequestStaffConsumer(LiveConsumer):
    """One request's full timeline, internal notes included, for its department's staff."""

    stream = "request"

    def subscribe(self, user: User) -> tuple[list[str], dict[str, Any]]:
        reference = self.scope["url_route"]["kwargs"]["reference"]
        try:
            request = access_request(user=user, reference=reference, as_staff=True)
        except NotFound:
            raise Refused(CLOSE_NOT_FOUND, "not_found") from None
        self.departments = roles_for(user).staff_department_ids
        hello = {
            "reference": request.reference,
            "status": request.status,
            "version": request.version,
        }
        return [live.request_staff_group(request.pk)], hello

    async def access_lost(self) -> None:
        # The same answer REST gives that clerk now: the request is not theirs to see.
        await self.refuse(CLOSE_NOT_FOUND, "access_ended")
