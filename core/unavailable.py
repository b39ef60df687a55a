"""While PostgreSQL is unreachable, every request answers 503 with Retry-After, never a 500.

A database that is down or restarting surfaces as Django's `OperationalError` (connection
refused, the pool's wait for a connection timing out, a connection cut by a restart) or
`InterfaceError` (a connection already closed). Three places turn them into 503s: the API's
and Open311's exception handlers (their own error formats), `DatabaseUnavailableMiddleware`
(pages), and `server_error` (the 500 handler: errors raised in middleware, e.g. while loading
the signed-in user, never reach a view's handler). Nothing was written: the transaction was
rolled back, so the client may simply retry.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable
from typing import Any

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, HttpResponseServerError, JsonResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 5
DATABASE_DOWN = (OperationalError, InterfaceError)
# Paths whose clients read JSON (the REST API, allauth headless, Open311).
JSON_PREFIXES = ("/api/", "/_allauth/", "/open311/")
PROBLEM_TYPE = "https://civicdesk.example.city/problems/unavailable"


def database_is_down(exc: BaseException | None) -> bool:
    return isinstance(exc, DATABASE_DOWN)


def unavailable_detail() -> str:
    return _("The service is briefly unavailable. Nothing was saved; try again in a few seconds.")


def _log(request: HttpRequest, exc: BaseException) -> None:
    # The message of a database error can quote SQL parameters: log its class only.
    logger.warning(
        "database unavailable: answered 503",
        extra={"path": request.path, "error": type(exc).__name__},
    )


def unavailable_response(request: HttpRequest, exc: BaseException) -> HttpResponse:
    """503 + Retry-After: problem details for JSON clients, a short page for browsers."""
    _log(request, exc)
    response: HttpResponse
    if request.path.startswith(JSON_PREFIXES):
        response = JsonResponse(
            {
                "type": PROBLEM_TYPE,
                "title": "Service unavailable",
                "status": 503,
                "detail": unavailable_detail(),
            },
            status=503,
            content_type="application/problem+json",
        )
    else:
        response = HttpResponse(render_to_string("503.html"), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware:
    """Pages: a view that fails because the database is down answers 503, not 500."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> Any:
        if database_is_down(exception):
            return unavailable_response(request, exception)
        return None


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 handler (`handler500`): a database outage met in middleware is still a 503."""
    exc = sys.exc_info()[1]
    if exc is not None and database_is_down(exc):
        return unavailable_response(request, exc)
    return HttpResponseServerError(render_to_string("500.html"))
