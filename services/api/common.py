"""Pieces shared by the requests API: output shapes and schema bits of service requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.urls import reverse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from rest_framework import serializers

from services.models import (
    Attachment,
    Category,
    Department,
    District,
    Event,
    Priority,
    ServiceRequest,
)

REFERENCE_PARAM = OpenApiParameter(
    "reference", OpenApiTypes.STR, OpenApiParameter.PATH, description="Public reference, CD-…"
)
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


def code_name(obj: Category | Department | District | None) -> dict[str, str] | None:
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


def attachment_data(request: ServiceRequest, attachment: Attachment) -> dict[str, Any]:
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
