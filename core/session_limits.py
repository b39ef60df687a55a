"""The session limits (idle and absolute), the same for web sessions, app tokens and sockets:
staff accounts idle out sooner than residents'. Used by portal.middleware and the consumers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from django.conf import settings

from core.roles import roles_for
from core.security_log import security_event

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from core.users import AnyUser, User

STARTED = "_civicdesk_session_started"
SEEN = "_civicdesk_session_seen"


def session_limit_reached(session: SessionBase, user: AnyUser) -> str:
    """"idle" or "absolute" when the session is past a limit, else "" (and the session is
    stamped as seen, at most once a minute). The same limits for web sessions and app tokens
    (an app token *is* a session): staff accounts idle out sooner than residents'."""
    limits = settings.CIVICDESK
    now = int(time.time())
    started = session.get(STARTED)
    seen = session.get(SEEN)
    if started is None:
        session[STARTED] = now
        session[SEEN] = now
        return ""
    roles = roles_for(user)
    idle_limit = (
        limits["STAFF_IDLE_TIMEOUT"] if roles.privileged_account
        else limits["RESIDENT_IDLE_TIMEOUT"]
    )
    expired = now - started > limits["SESSION_ABSOLUTE_TIMEOUT"]
    idle = seen is not None and now - seen > idle_limit
    if expired or idle:
        return "absolute" if expired else "idle"
    # Write at most once a minute, not on every request.
    if seen is None or now - seen >= 60:
        session[SEEN] = now
    return ""


def token_session_check(session: SessionBase, user: User) -> bool:
    """Apply the session limits to an app token's session: False (and the token deleted) when
    it is past one; saves the "seen" stamp when it changed."""
    reason = session_limit_reached(session, user)
    if reason:
        security_event("auth.session.expired", user_id=user.pk, reason=reason, client="app")
        session.delete()
        return False
    if session.modified:
        session.save()
    return True
