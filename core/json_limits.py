"""Limits on every JSON body: size and nesting depth, checked before any parser runs.

Python's json module recurses per nesting level: a body nested a few thousand levels deep
raises RecursionError inside DRF's or allauth's parser (a 500 with a traceback logged at
ERROR). `JsonLimitsMiddleware` answers such bodies with the problem format instead (400 for
depth, 413 for size) on every route — our API, allauth's headless endpoints, anything else —
and the WebSocket consumers use `json_too_deep` on their frames.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _

from core.security_log import security_event

PROBLEM_BASE = "https://civicdesk.example.city/problems/"
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKET = re.compile(rb"[\[\]{}]")


def max_depth() -> int:
    return int(settings.CIVICDESK["MAX_JSON_DEPTH"])


def max_bytes() -> int:
    return int(settings.CIVICDESK["MAX_JSON_BYTES"])


def json_too_deep(data: bytes | str, limit: int | None = None) -> bool:
    """Whether arrays/objects in `data` nest deeper than `limit` (strings are skipped).

    Linear and iterative (never recursive), so any input is safe to check; malformed JSON
    is left for the parser to refuse with its usual 400.
    """
    limit = max_depth() if limit is None else limit
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b'""', raw)):
        if bracket in (b"[", b"{"):
            depth += 1
            if depth > limit:
                return True
        else:
            depth -= 1
    return False


def _is_json(request: HttpRequest) -> bool:
    content_type = request.content_type or ""
    return content_type == "application/json" or content_type.endswith("+json")


def problem_response(status: int, code: str, title: str, detail: str) -> HttpResponse:
    body = {"type": PROBLEM_BASE + code, "title": title, "status": status, "detail": detail,
            "errors": {}}
    return HttpResponse(
        json.dumps(body), status=status, content_type="application/problem+json"
    )


class JsonLimitsMiddleware:
    """413 for a JSON body over MAX_JSON_BYTES, 400 for one nested deeper than MAX_JSON_DEPTH."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method in ("POST", "PUT", "PATCH", "DELETE") and _is_json(request):
            refused = self._check(request)
            if refused is not None:
                return refused
        return self.get_response(request)

    def _check(self, request: HttpRequest) -> HttpResponse | None:
        too_big = problem_response(
            413, "payload_too_large", "Payload too large",
            _("A JSON body may be at most %(limit)d bytes.") % {"limit": max_bytes()},
        )
        try:
            declared = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            declared = 0
        if declared > max_bytes():
            return too_big
        try:
            body = request.body
        except RequestDataTooBig:
            return too_big
        if len(body) > max_bytes():
            return too_big
        if json_too_deep(body):
            security_event("input.json_too_deep", path_kind=request.path.split("/")[1][:20])
            return problem_response(
                400, "json_too_deep", "Invalid input",
                _("JSON may nest arrays and objects at most %(limit)d levels deep.")
                % {"limit": max_depth()},
            )
        return None
