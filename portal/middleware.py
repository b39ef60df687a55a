"""Session lifetime: an inactivity timeout and an absolute timeout (OWASP ASVS 3.3).

Staff sessions idle out sooner than residents'. A session past either limit is logged out
and the next request is anonymous (the API answers 401, pages redirect to login).
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib.auth import logout
from django.http import HttpRequest, HttpResponse

from core.roles import session_bind
from core.security_log import security_event
from core.session_activity import session_activity_track
from core.session_limits import (
    app_session_remember,
    app_token_session,
    session_limit_reached,
    token_session_check,
)


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
        if "X-Session-Token" in request.headers:
            # App tokens (our API, allauth's headless app endpoints): a token past a limit is
            # deleted here, so whatever authenticates it next finds no session (401).
            token = request.headers["X-Session-Token"]
            found = app_token_session(token)
            if found is not None and token_session_check(found.session, found.user):
                # The API's authentication takes it from here: no second lookup.
                app_session_remember(request, token=token, session=found.session, user=found.user)
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated and hasattr(request, "session"):
            self._enforce(request)
            if request.user.is_authenticated:  # still signed in after the timeouts
                session_activity_track(request, user=request.user, session=request.session)
        return self.get_response(request)

    def _enforce(self, request: HttpRequest) -> None:
        reason = session_limit_reached(request.session, request.user)
        if reason:
            security_event("auth.session.expired", user_id=request.user.pk, reason=reason)
            logout(request)
