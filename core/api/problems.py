"""One error format for the whole API, in the spirit of RFC 9457 (problem details).

    {"type": "...", "title": "...", "status": 409, "detail": "...", "errors": {field: [msg]}}
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from django.utils.translation import gettext as _
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import exception_handler

from core.errors import DomainError, RateLimited
from core.security_log import security_event
from core.unavailable import RETRY_AFTER_SECONDS, database_is_down, unavailable_detail

PROBLEM_BASE = "https://civicdesk.example.city/problems/"


class Conflict(exceptions.APIException):
    """A valid request that the current state does not allow (e.g. an illegal transition)."""

    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state of the resource."
    default_code = "conflict"

    def __init__(self, detail: str | None = None, *, extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.extra = extra or {}


class Unprocessable(exceptions.APIException):
    status_code = status.HTTP_422_UNPROCESSABLE_ENTITY
    default_detail = "The request cannot be processed."
    default_code = "unprocessable"

    def __init__(self, detail: str | None = None, *, extra: dict[str, Any] | None = None):
        super().__init__(detail)
        self.extra = extra or {}


class PayloadTooLarge(exceptions.APIException):
    status_code = status.HTTP_413_REQUEST_ENTITY_TOO_LARGE
    default_detail = "The upload is too large."
    default_code = "payload_too_large"


_TITLES = {
    400: "Invalid input",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    429: "Too many requests",
    503: "Service unavailable",
}


def _flatten(detail: Any) -> dict[str, list[str]]:
    """DRF's nested ValidationError detail → {"field.sub": ["message", ...]}."""
    out: dict[str, list[str]] = {}

    def walk(value: Any, prefix: str) -> None:
        if isinstance(value, dict):
            for key, sub in value.items():
                walk(sub, f"{prefix}.{key}" if prefix else str(key))
        elif isinstance(value, list) and value and all(
            not isinstance(v, dict | list) for v in value
        ):
            out.setdefault(prefix or "non_field_errors", []).extend(str(v) for v in value)
        elif isinstance(value, list):
            for i, sub in enumerate(value):
                walk(sub, f"{prefix}.{i}" if prefix else str(i))
        else:
            out.setdefault(prefix or "non_field_errors", []).append(str(value))

    walk(detail, "")
    return out


def problem(
    status_code: int,
    detail: str,
    *,
    code: str | None = None,
    errors: dict[str, list[str]] | None = None,
    extra: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    body: dict[str, Any] = {
        "type": PROBLEM_BASE + (code or str(status_code)),
        "title": _TITLES.get(status_code, "Error"),
        "status": status_code,
        "detail": detail,
    }
    if errors:
        body["errors"] = errors
    if extra:
        body.update(extra)
    response = Response(body, status=status_code, headers=headers)
    response.content_type = "application/problem+json"
    return response


def problem_exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if database_is_down(exc):
        return problem(
            503,
            unavailable_detail(),
            code="unavailable",
            headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
        )
    if isinstance(exc, DomainError):
        if exc.status_code == 403:
            request = context.get("request")
            security_event(
                "authz.denied",
                user_id=getattr(getattr(request, "user", None), "pk", None),
                view=type(context.get("view")).__name__,
                status=403,
            )
        headers = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after)
        return problem(
            exc.status_code,
            exc.detail,
            code=exc.code,
            errors=exc.errors or None,
            extra=exc.extra or None,
            headers=headers,
        )
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if response.status_code in (401, 403):
        request = context.get("request")
        security_event(
            "authz.denied" if response.status_code == 403 else "authn.required",
            user_id=getattr(getattr(request, "user", None), "pk", None),
            view=type(context.get("view")).__name__,
            status=response.status_code,
        )

    kept = ("Retry-After", "WWW-Authenticate", "Allow")
    headers = {k: v for k, v in response.headers.items() if k in kept}
    code = exc.default_code if isinstance(exc.default_code, str) else None
    if isinstance(exc, exceptions.ValidationError):
        return problem(
            400,
            _("Some fields are invalid; see errors."),
            code="invalid",
            errors=_flatten(exc.detail),
            headers=headers,
        )
    detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
    extra = getattr(exc, "extra", None)
    wait = getattr(exc, "wait", None)
    if isinstance(exc, exceptions.Throttled) and wait is not None:
        headers["Retry-After"] = str(int(wait) + 1)
    return problem(
        response.status_code,
        str(detail),
        code=code,
        errors=_flatten(exc.detail) if isinstance(exc.detail, dict | list) else None,
        extra=extra,
        headers=headers,
    )
