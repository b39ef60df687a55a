"""App-token sessions and the session limits (idle and absolute), the same for web sessions,
app tokens and sockets: staff accounts idle out sooner than residents'. Used by
portal.middleware, core.api.authentication and the consumers."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, NamedTuple, TypeGuard

from allauth.core.internal.sessionkit import get_session_user
from allauth.headless import app_settings as headless_settings
from django.conf import settings

from core.roles import roles_for, session_bind
from core.security_log import security_event

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase
    from django.http import HttpRequest

    from core.users import AnyUser, User

STARTED = "_civicdesk_session_started"
SEEN = "_civicdesk_session_seen"
MAX_TOKEN_LENGTH = 128


def app_token_shaped(token: object) -> TypeGuard[str]:
    """Whether `token` can be an app session token at all (checked before any lookup)."""
    return (
        isinstance(token, str)
        and 0 < len(token) <= MAX_TOKEN_LENGTH
        and token.isascii()
        and token.isprintable()
        and " " not in token  # session keys have none; nor may a cache key
    )


class AppTokenSession(NamedTuple):
    session: SessionBase
    session_key: str
    user: User


def app_token_session(token: object) -> AppTokenSession | None:
    """The session and user of an allauth app session token (X-Session-Token, a socket's token),
    the user bound to that session so that `roles_for` asks whether *this* sign-in passed the
    second factor; None unless the token names a live session of an active user.

    The one token lookup of the HTTP middleware and the sockets. It does not apply the
    session limits: `token_session_check` does.
    """
    if not app_token_shaped(token):
        return None
    # The configured token strategy turns the token into its session, as allauth's own
    # X-Session-Token authentication does.
    session = headless_settings.TOKEN_STRATEGY.lookup_session(token)
    key = session.session_key if session is not None else None
    if session is None or not key:
        return None
    user = get_session_user(session)
    if user is None:
        return None
    session_bind(user, session)
    return AppTokenSession(session=session, session_key=key, user=user)


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
    expired = now - started > limits["SESSION_ABSOLUTE_TIMEOUT"]
    idle = False
    shortest = min(limits["STAFF_IDLE_TIMEOUT"], limits["RESIDENT_IDLE_TIMEOUT"])
    if not expired and seen is not None and now - seen > shortest:
        # Only now does it matter whose session it is (the roles cost a query).
        idle_limit = (
            limits["STAFF_IDLE_TIMEOUT"] if roles_for(user).privileged_account
            else limits["RESIDENT_IDLE_TIMEOUT"]
        )
        idle = now - seen > idle_limit
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


# The app session an X-Session-Token named, as the middleware found it (checked against the
# limits): the API's authentication takes it from there instead of looking it up again.
_APP_SESSION_ATTR = "_civicdesk_app_session"


def app_session_remember(
    request: HttpRequest, *, token: str, session: SessionBase, user: User
) -> None:
    setattr(request, _APP_SESSION_ATTR, (token, session, user))


def app_session_recall(request: HttpRequest, token: str) -> tuple[User, SessionBase] | None:
    """(user, session) remembered for this request and token, or None."""
    found = getattr(request, _APP_SESSION_ATTR, None)
    if found is None or found[0] != token:
        return None
    return found[2], found[1]
