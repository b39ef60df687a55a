"""Session activity (last seen, IP, user agent on allauth's UserSession), at most once a minute.

allauth's own tracking (USERSESSIONS_TRACK_ACTIVITY) rewrites the UserSession row on every
request: five SQL statements per API call, more than the call's own work on a queue page.
We switch it off and record activity here instead, when a session was not seen in the last
minute (one cache SET NX per request otherwise) — the same resolution the session idle
timeout already uses (portal.middleware).
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from allauth.usersessions.models import UserSession
from django.core.cache import cache
from django.http import HttpRequest

if TYPE_CHECKING:
    from django.contrib.sessions.backends.base import SessionBase

    from core.users import AnyUser


ACTIVITY_INTERVAL_SECONDS = 60


def session_activity_track(
    request: HttpRequest, *, user: AnyUser | None, session: SessionBase | None
) -> None:
    """Record that `user` used `session` now, unless that was recorded under a minute ago."""
    key = getattr(session, "session_key", None)
    if not key or user is None or not user.is_authenticated:
        return
    # The key is a credential: only a digest of it goes into the cache's key space.
    mark = "civicdesk:session-seen:" + hashlib.sha256(key.encode()).hexdigest()[:32]
    if not cache.add(mark, 1, ACTIVITY_INTERVAL_SECONDS):
        return
    UserSession.objects.create_from_request(request, user=user, session=session)
