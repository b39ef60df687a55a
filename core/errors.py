"""Domain errors raised by services and selectors; the API and pages translate them.

Services never import DRF: they raise these, and `core.api.problems` turns them into
problem-details responses with the matching status code.
"""

from __future__ import annotations

from typing import Any


class DomainError(Exception):
    status_code = 400
    code = "invalid"

    def __init__(
        self,
        detail: str,
        *,
        errors: dict[str, list[str]] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors or {}
        self.extra = extra or {}


class Invalid(DomainError):
    """Bad input: field-level messages in `errors`."""

    status_code = 400
    code = "invalid"


class NotFound(DomainError):
    """The object does not exist *or the actor may not see it* (never reveal which)."""

    status_code = 404
    code = "not_found"

    def __init__(self, detail: str = "Not found.", **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)


class Forbidden(DomainError):
    """The actor may see the object but not do this to it."""

    status_code = 403
    code = "forbidden"


class Conflict(DomainError):
    """Valid input that the current state does not allow (e.g. an illegal transition)."""

    status_code = 409
    code = "conflict"


class Unprocessable(DomainError):
    status_code = 422
    code = "unprocessable"


class TooLarge(DomainError):
    status_code = 413
    code = "payload_too_large"


class UnsupportedMedia(DomainError):
    status_code = 415
    code = "unsupported_media_type"


class RateLimited(DomainError):
    status_code = 429
    code = "throttled"

    def __init__(self, detail: str, *, retry_after: int, **kwargs: Any) -> None:
        super().__init__(detail, **kwargs)
        self.retry_after = retry_after
