"""WebSocket URL patterns (filled by the live-updates work in services.consumers)."""

websocket_urlpatterns: list = []
