"""ASGI entry point: HTTP goes to Django, /ws/ to the Channels consumers."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "portal.settings")
django_asgi_app = get_asgi_application()

from channels.routing import ProtocolTypeRouter, URLRouter  # noqa: E402

from portal.ws import WebSocketAuthMiddleware, websocket_urlpatterns  # noqa: E402

# WebSocketAuthMiddleware checks the Origin (AllowedHostsOriginValidator's rules) before it
# trusts a session cookie; token clients (the app) send no Origin.
application = ProtocolTypeRouter(
    {
        "http": django_asgi_app,
        "websocket": WebSocketAuthMiddleware(URLRouter(websocket_urlpatterns)),
    }
)

from portal.gc_tuning import tune_gc  # noqa: E402

tune_gc()  # the start-up heap is loaded: keep the collector off it (see portal/gc_tuning.py)
