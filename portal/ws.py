"""WebSocket entry: URL patterns and authentication (session cookie or app session token).

Cookies count only with an allowed Origin (a foreign Origin is refused outright); the app
sends its allauth session token as subprotocol `civicdesk.token.<token>` or in a first
`{"type": "auth"}` frame, never in the query string (query strings land in access logs).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from channels.auth import AuthMiddlewareStack
from channels.db import database_sync_to_async
from channels.security.websocket import AllowedHostsOriginValidator, WebsocketDenier
from django.conf import settings
from django.contrib.auth.models import AnonymousUser
from django.urls import re_path

from core.city import portal_origin
from services import consumers

REFERENCE = r"(?P<reference>CD-[23456789BCDFGHJKMNPQRSTVWXYZ]{7})"

websocket_urlpatterns = [
    re_path(r"^ws/resident/$", consumers.ResidentConsumer.as_asgi()),
    re_path(r"^ws/queue/$", consumers.QueueConsumer.as_asgi()),
    re_path(rf"^ws/requests/{REFERENCE}/$", consumers.RequestStaffConsumer.as_asgi()),
    re_path(r"^ws/", consumers.UnknownStreamConsumer.as_asgi()),
]


def _origin(scope: dict[str, Any]) -> Any:
    for name, value in scope.get("headers", []):
        if name == b"origin":
            try:
                return urlparse(value.decode("latin1"))
            except (UnicodeDecodeError, ValueError):
                return urlparse("invalid://")
    return None


def _normalised(origin: Any) -> tuple[str, str, int] | None:
    try:
        port = origin.port
    except ValueError:
        return None
    if not origin.scheme or not origin.hostname:
        return None
    default = 443 if origin.scheme in ("https", "wss") else 80
    return (origin.scheme.replace("ws", "http", 1), origin.hostname.lower(), port or default)


class WebSocketAuthMiddleware:
    """Sets scope["user"] and scope["civicdesk_session_key"] (in-process only) for consumers."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.with_cookies = AuthMiddlewareStack(self._remember_session(inner))
        self.origins = AllowedHostsOriginValidator(inner)

    @staticmethod
    def _remember_session(inner: Any) -> Any:
        async def app(scope: dict[str, Any], receive: Any, send: Any) -> Any:
            session = scope.get("session")
            key = session.session_key if session is not None else None
            scope = {**scope, "civicdesk_session_key": key}
            return await inner(scope, receive, send)

        return app

    def origin_allowed(self, origin: Any) -> bool:
        """The portal's own origin (settings.CIVICDESK["WEBSOCKET_ALLOWED_ORIGINS"]); while
        DEBUG also any ALLOWED_HOSTS origin (localhost and 127.0.0.1 on any port)."""
        seen = _normalised(origin)
        allowed = settings.CIVICDESK.get("WEBSOCKET_ALLOWED_ORIGINS") or [portal_origin()]
        if seen is not None and seen in {_normalised(urlparse(o)) for o in allowed}:
            return True
        return bool(settings.DEBUG and self.origins.valid_origin(origin))

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        origin = _origin(scope)
        if origin is not None and not self.origin_allowed(origin):
            return await WebsocketDenier()(scope, receive, send)
        token = consumers.token_from_subprotocols(scope.get("subprotocols") or [])
        if token is not None:
            result = await database_sync_to_async(consumers.authenticate_token)(token)
            if result is None:
                scope = {**scope, "user": AnonymousUser(), "civicdesk_auth_error": True}
            else:
                user, session_key = result
                scope = {
                    **scope,
                    "user": user,
                    "civicdesk_session_key": session_key,
                }
            return await self.inner(scope, receive, send)
        if origin is not None:
            return await self.with_cookies(scope, receive, send)
        # No Origin: not a browser, so no ambient cookies; the first frame may authenticate.
        return await self.inner({**scope, "user": AnonymousUser()}, receive, send)
