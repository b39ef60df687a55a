"""No personal data in logs: file a request carrying a marker, run the flows that handle it,
and search the project's real log output (the configured JSON handler, its redaction filter
included) for the marker.

Before, queue search terms (free text, addresses) travelled in URLs and reached access logs;
the redaction caught only e-mail, phone and token shapes.
"""

from __future__ import annotations

import io
import logging
from urllib.parse import quote, quote_plus

import pytest
from django.core.servers.basehttp import WSGIRequestHandler
from django.test import Client

from portal.logging import JsonFormatter, RedactPersonalDataFilter
from services.models import ServiceRequest
from services.routing import request_route
from tests.factories import CategoryFactory
from tests.sessions import mfa_login

pytestmark = pytest.mark.django_db

MARKER = "Zebrafinch Quillmoor"
SPELLINGS = (MARKER, MARKER.lower(), quote(MARKER), quote_plus(MARKER), "Zebrafinch", "Quillmoor")


@pytest.fixture
def captured_logs():
    """The project's console handler (settings.LOGGING), writing into a buffer for the test."""
    buffer = io.StringIO()
    handlers = [
        h for h in logging.getLogger().handlers
        if isinstance(h.formatter, JsonFormatter)
        and any(isinstance(f, RedactPersonalDataFilter) for f in h.filters)
    ]
    assert handlers, "settings.LOGGING's console handler is not installed"
    previous = [h.setStream(buffer) for h in handlers]  # type: ignore[attr-defined]
    # Access lines are scanned through this handler whatever the configuration says (that
    # runserver's lines do go through it is test_access_lines_go_through_the_redacting_handler).
    server = logging.getLogger("django.server")
    added = [h for h in handlers if h not in server.handlers]
    for handler in added:
        server.addHandler(handler)
    yield buffer
    for handler in added:
        server.removeHandler(handler)
    for handler, stream in zip(handlers, previous, strict=True):
        handler.setStream(stream)  # type: ignore[attr-defined]


def test_access_lines_go_through_the_redacting_handler() -> None:
    server = logging.getLogger("django.server")
    assert not server.propagate
    assert any(
        isinstance(h.formatter, JsonFormatter)
        and any(isinstance(f, RedactPersonalDataFilter) for f in h.filters)
        for h in server.handlers
    )


def access_line(method: str, path: str, status: int) -> None:
    """One access-log line exactly as runserver writes it (WSGIRequestHandler.log_message)."""

    class Handler:
        request = None

        def log_date_time_string(self) -> str:
            return "03/Dec/2026 15:00:00"

    WSGIRequestHandler.log_message(
        Handler(), '"%s" %s %s', f"{method} {path} HTTP/1.1", str(status), "0"  # type: ignore[arg-type]
    )


def test_marker_of_a_filed_request_never_reaches_the_logs(
    captured_logs, roads, triage, resident, clerk_roads
) -> None:
    from consent.demo import seed_register

    seed_register()
    CategoryFactory(code="lamp-log", department=roads)
    me = mfa_login(Client(), resident)
    clerk = mfa_login(Client(), clerk_roads)

    # The resident files a request and comments, the marker in every free-text field.
    response = me.post("/api/v1/requests", {
        "category": "lamp-log", "description": f"Dark lamp. Ask for {MARKER}.",
        "address": f"7 {MARKER} Street", "lat": 39.05, "lon": 116.05,
    }, content_type="application/json")
    assert response.status_code == 201, response.content
    reference = response.json()["reference"]
    request_route(request_id=ServiceRequest.objects.get(reference=reference).pk)
    me.post(f"/api/v1/requests/{reference}/comments", {"text": f"{MARKER} again"},
            content_type="application/json")

    # The clerk searches for it: API (POST; a GET with ?q= is refused), the queue page.
    # (Outcomes are asserted in test_hidden_search.py; here only what reaches the logs.)
    clerk.post("/api/v1/queue", {"q": MARKER}, content_type="application/json")
    clerk.get("/api/v1/queue", {"q": MARKER})
    page = clerk.post("/staff/queue/", {"q": MARKER})
    if page.status_code == 302:
        clerk.get(page["Location"])
    clerk.get("/staff/queue/", {"q": MARKER})
    clerk.get(f"/staff/requests/{reference}/")
    clerk.post(f"/api/v1/staff/requests/{reference}/reveal",
               {"fields": ["phone", "exact_location"], "purpose": "service-delivery"},
               content_type="application/json")
    # Bad input carrying the marker: a nested body, an unknown request.
    clerk.post("/api/v1/queue", '{"q": "' + MARKER + '", "x": ' + "[" * 500 + "]" * 500 + "}",
               content_type="application/json")
    me.get("/api/v1/requests/CD-ZZZZZZZ", {"q": MARKER})
    # What the server's access log writes for such requests (old clients, hand-typed URLs).
    access_line("GET", f"/api/v1/queue?q={quote_plus(MARKER)}&limit=5", 400)
    access_line("GET", f"/staff/queue/?q={quote_plus(MARKER)}", 404)
    access_line("GET", f"/api/v1/requests?q={quote(MARKER)}", 404)

    output = captured_logs.getvalue()
    assert output, "the flows logged nothing: the scan would prove nothing"
    assert '"logger": "django.server"' in output  # the access lines were scanned too
    for spelling in SPELLINGS:
        assert spelling not in output
