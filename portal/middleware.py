"""Session lifetime: an inactivity timeout and an absolute timeout (OWASP ASVS 3.3).

Staff sessions idle out sooner than residents'. A session past either limit is logged out
and the next request is anonymous (the API answers 401, pages redirect to login).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.conf import settings
from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from core.roles import roles_for, session_bind
from core.security_log import security_event
from core.session_activity import session_activity_track

STARTED = "_civicdesk_session_started"
SEEN = "_civicdesk_session_seen"


class SessionRolesMiddleware:
    """Binds the signed-in user to the session it came from, so `roles_for` can ask whether
    this session passed the second factor (staff powers need it). Right after Django's
    AuthenticationMiddleware, before anything asks for roles."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            session_bind(user, request.session)
        return self.get_response(request)


class SessionTimeoutMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            self._enforce(request)
            if request.user.is_authenticated:  # still signed in after the timeouts
                session_activity_track(request, user=request.user, session=request.session)
        return self.get_response(request)

    def _enforce(self, request: HttpRequest) -> None:
        limits = settings.CIVICDESK
        now = int(time.time())
        session = request.session
        started = session.get(STARTED)
        seen = session.get(SEEN)
        if started is None:
            session[STARTED] = now
            session[SEEN] = now
            return
        roles = roles_for(request.user)
        idle_limit = (
            limits["STAFF_IDLE_TIMEOUT"]
            if roles.staff or roles.data_officer or roles.administrator
            else limits["RESIDENT_IDLE_TIMEOUT"]
        )
        expired = now - started > limits["SESSION_ABSOLUTE_TIMEOUT"]
        idle = seen is not None and now - seen > idle_limit
        if expired or idle:
            security_event(
                "auth.session.expired",
                user_id=request.user.pk,
                reason="absolute" if expired else "idle",
            )
            logout(request)
            return
        # Write at most once a minute, not on every request.
        if seen is None or now - seen >= 60:
            session[SEEN] = now
