"""Pieces shared by the requests API: strict input, keyset cursors, output shapes, schema bits."""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Any

from django.urls import reverse
from django.utils.dateparse import parse_datetime
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from portal.api.schema import ProblemSerializer
from portal.errors import Invalid
from services.models import Event, Priority, ServiceRequest

REFERENCE_PARAM = OpenApiParameter(
    "reference", OpenApiTypes.STR, OpenApiParameter.PATH, description="Public reference, CD-…"
)
CURSOR_PARAM = OpenApiParameter(
    "cursor", OpenApiTypes.STR, description="Opaque cursor from `next_cursor` of the last page."
)
LIMIT_PARAM = OpenApiParameter(
    "limit", OpenApiTypes.INT, description="Page size, 1–100 (default 25)."
)
DEFAULT_LIMIT = 25
MAX_LIMIT = 100

PRIORITY_NAMES = {p.value: p.name.lower() for p in Priority}
PRIORITY_VALUES = {name: value for value, name in PRIORITY_NAMES.items()}

ConflictProblemSerializer = inline_serializer(
    name="TransitionConflict",
    fields={
        "type": serializers.CharField(),
        "title": serializers.CharField(),
        "status": serializers.IntegerField(),
        "detail": serializers.CharField(),
        "current_status": serializers.CharField(),
        "version": serializers.IntegerField(),
        "allowed_moves": serializers.ListField(child=serializers.DictField(), required=False),
    },
)


def conflict_response(description: str = "Not allowed in the current status") -> dict:
    return {
        409: OpenApiResponse(response=ConflictProblemSerializer, description=description)
    }


def forbidden_response() -> dict:
    return {403: OpenApiResponse(response=ProblemSerializer, description="Not allowed")}


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know, so a typo is an error rather than silently ignored."""

    def to_internal_value(self, data: Any) -> Any:
        if hasattr(data, "keys"):
            unknown = sorted(set(data.keys()) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [_("Unknown field.")] for name in unknown}
                )
        return super().to_internal_value(data)


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


def attachment_url(*, reference: str, token: str) -> str:
    return reverse(
        "api:request-attachment-file", kwargs={"reference": reference, "token": token}
    )


# --- Output shapes -------------------------------------------------------------------------


class CodeNameSerializer(serializers.Serializer):
    code = serializers.CharField()
    name = serializers.CharField()


_DATETIME = serializers.DateTimeField()


def json_datetime(value: datetime | None) -> str | None:
    """A datetime exactly as DRF's DateTimeField renders it (hot list paths skip the
    serializer machinery; tests check the output equals the OutputSerializer's)."""
    return None if value is None else _DATETIME.to_representation(value)


def code_name(obj: Any) -> dict[str, str] | None:
    return None if obj is None else {"code": obj.code, "name": obj.name}


class AttachmentOutputSerializer(serializers.Serializer):
    token = serializers.CharField()
    url = serializers.CharField()
    content_type = serializers.CharField()
    width = serializers.IntegerField()
    height = serializers.IntegerField()
    size = serializers.IntegerField()
    uploaded_by_staff = serializers.BooleanField()
    created_at = serializers.DateTimeField()


def attachment_data(request: ServiceRequest, attachment: Any) -> dict[str, Any]:
    return {
        "token": attachment.token,
        "url": attachment_url(reference=request.reference, token=attachment.token),
        "content_type": attachment.content_type,
        "width": attachment.width,
        "height": attachment.height,
        "size": attachment.size,
        "uploaded_by_staff": attachment.uploaded_by_staff,
        "created_at": attachment.created_at,
    }


class ActorSerializer(serializers.Serializer):
    role = serializers.CharField(
        help_text="resident, clerk, supervisor, system, staff, or open311 (a partner app's user)"
    )
    department = CodeNameSerializer(allow_null=True)


class PublicEventSerializer(serializers.Serializer):
    """A timeline entry as the resident sees it: staff appear as role and department only."""

    type = serializers.ChoiceField(choices=Event.Type.choices)
    created_at = serializers.DateTimeField()
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    text = serializers.CharField()
    outcome = serializers.CharField(allow_blank=True)
    actor = ActorSerializer()
    version = serializers.IntegerField()


def public_event_data(event: Event) -> dict[str, Any]:
    return {
        "type": event.type,
        "created_at": event.created_at,
        "from_status": event.from_status,
        "to_status": event.to_status,
        "text": event.text,
        "outcome": (event.data or {}).get("outcome", ""),
        "actor": {
            "role": event.actor_role or "system",
            "department": code_name(event.actor_department),
        },
        "version": event.version,
    }


def name_nested_serializers(namespace: dict[str, Any]) -> None:
    """Give each API class's nested serializers a unique OpenAPI component name.

    `QueueApi.OutputSerializer` becomes "QueueOutput" instead of a bare "Output" that clashes
    with every other API class's OutputSerializer.
    """
    from drf_spectacular.utils import extend_schema_serializer
    from rest_framework.views import APIView

    for view_name, view in list(namespace.items()):
        if not (isinstance(view, type) and issubclass(view, APIView)):
            continue
        if view.__module__ != namespace.get("__name__"):
            continue
        prefix = view_name.removesuffix("Api")
        for attr, nested in list(vars(view).items()):
            if isinstance(nested, type) and issubclass(nested, serializers.BaseSerializer):
                extend_schema_serializer(
                    component_name=prefix + attr.removesuffix("Serializer")
                )(nested)
