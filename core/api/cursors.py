"""Keyset pagination for the API: the page-size parameter and opaque cursors."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter

from core.errors import Invalid

CURSOR_PARAM = OpenApiParameter(
    "cursor", OpenApiTypes.STR, description="Opaque cursor from `next_cursor` of the last page."
)
LIMIT_PARAM = OpenApiParameter(
    "limit", OpenApiTypes.INT, description="Page size, 1–100 (default 25)."
)
DEFAULT_LIMIT = 25
MAX_LIMIT = 100


def parse_limit(value: str | None) -> int:
    if value in (None, ""):
        return DEFAULT_LIMIT
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        message = _("Give a number from 1 to %(n)d.") % {"n": MAX_LIMIT}
        raise Invalid(message, errors={"limit": [message]})
    return limit


def encode_cursor(values: list[Any]) -> str:
    raw = json.dumps(
        [v.isoformat() if isinstance(v, datetime) else v for v in values],
        separators=(",", ":"),
    )
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def _bad_cursor() -> Invalid:
    return Invalid(_("The cursor is not valid."), errors={"cursor": [_("Invalid cursor.")]})


def decode_cursor(cursor: str | None, shape: tuple[str, ...]) -> list[Any] | None:
    """Decode a cursor made by `encode_cursor`; `shape` gives each item's type:
    "int", "datetime" or "datetime?" (nullable)."""
    if not cursor:
        return None
    if len(cursor) > 200:
        raise _bad_cursor()
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise _bad_cursor() from None
    if not isinstance(values, list) or len(values) != len(shape):
        raise _bad_cursor()
    out: list[Any] = []
    for value, kind in zip(values, shape, strict=True):
        if kind == "int":
            if not isinstance(value, int) or isinstance(value, bool):
                raise _bad_cursor()
            out.append(value)
        else:
            if value is None and kind.endswith("?"):
                out.append(None)
                continue
            parsed = parse_datetime(value) if isinstance(value, str) else None
            if parsed is None:
                raise _bad_cursor()
            out.append(parsed)
    return out
